"""A user's own tabular benchmark: a CSV or parquet file of architectures plus a schema that declares its columns.

Name the schema file wherever a benchmark name is accepted (``--bench my_bench.yaml``, ``benchmarks:`` in a suite,
``RunConfig(bench=...)``), or build :class:`UserTable` in Python. The schema (YAML or JSON)::

    name: my-bench                 # how results and tables name it
    table: archs.csv               # .csv or .parquet, relative to the schema file
    key: arch                      # the column that names each architecture (unique)
    rename:                        # optional: file columns -> <dataset>/<split>@<epochs> metric names
      val_acc_12: cifar10/val@12
      val_acc_200: cifar10/val@200
      test_acc_200: cifar10/test@200
      train_seconds_200: cifar10/train-time-s@200
    datasets:
      cifar10:
        truth: cifar10/test@200    # what the chosen architecture is reported on (higher = better)
        proxy: cifar10/val@12      # what a budgeted search observes (default: the truth)
        proxy_epochs: 12           # epochs of the proxy (its cost is cost * proxy_epochs / cost_epochs)
        cost: cifar10/train-time-s@200   # optional: seconds of one training of cost_epochs epochs
        cost_epochs: 200
        labels: cifar10/val@200    # optional: fully trained labels for predictors (renas, predictor-mse)
    params: params                 # optional: the parameter count (a free baseline)
    flops: flops                   # optional: multiply-adds (a free baseline)
    features: [f0, f1, f2]         # optional: numeric columns the predictors read as the architecture encoding

What it offers follows from what is declared: ``table`` always (random search, and any method that only reads a
table); ``trained-labels`` with ``labels``; ``encoding`` with ``features``. Every mistake in the schema or the file
is one error naming the file, the key and the fix, before any run directory is made.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataError, brief
from ..io import sha256_file
from .base import Protocol, TabularBenchmark

#: A metric name: ``<dataset>/<split>@<epochs>``.
METRIC = re.compile(r"^[^/@\s]+/[^@\s]+@\d+$")
_KEYS = {"name", "table", "key", "rename", "datasets", "params", "flops", "features", "space_size", "description"}
_DATASET_KEYS = {"truth", "proxy", "proxy_epochs", "cost", "cost_epochs", "labels"}


def schema_offers(schema: dict) -> frozenset[str]:
    """What a schema's benchmark offers: ``table``; ``trained-labels`` with any ``labels:``; ``encoding`` with
    ``features:``."""
    offered = {"table"}
    if any("labels" in d for d in schema["datasets"].values()):
        offered.add("trained-labels")
    if schema.get("features"):
        offered.add("encoding")
    return frozenset(offered)


def is_schema_path(name: object) -> bool:
    """Whether a benchmark name is a schema file (``.yaml`` / ``.yml`` / ``.json``)."""
    return isinstance(name, str) and name.strip().lower().endswith((".yaml", ".yml", ".json"))


class UserTable(TabularBenchmark):
    """A tabular benchmark read from a user's file under a declared schema (see the module docstring)."""

    space = "none"
    weight_sharing = None
    search_seconds: dict = {}

    def __init__(self, table, schema: dict, where: str = "schema"):
        self.where = where
        self.schema = schema
        self.name = str(schema["name"])
        self.key_column = str(schema["key"])
        self.datasets = tuple(schema["datasets"])
        self.space_size = int(schema.get("space_size") or len(table))
        self.offers = schema_offers(schema)
        super().__init__(table, {"name": self.name, "schema": where, **schema.get("_meta", {})})
        self._check_columns()

    @property
    def title(self) -> str:
        return self.name

    def _fail(self, what: str) -> DataError:
        return DataError(f"{self.where}: {what}")

    def _check_columns(self) -> None:
        cols = set(self.table.columns)
        if self.key_column not in cols:
            raise self._fail(f"key column {self.key_column!r} is not in the table (columns: "
                             f"{brief(sorted(map(str, cols)), 200)}); set `key:` to the column naming each "
                             f"architecture.")
        keys = self.table[self.key_column].astype(str)
        dup = keys[keys.duplicated()].head(3).tolist()
        if dup:
            raise self._fail(f"key column {self.key_column!r} repeats {dup}: each architecture must be one row.")
        for ds, d in self.schema["datasets"].items():
            for role in ("truth", "proxy", "cost", "labels"):
                col = d.get(role)
                if col is None:
                    continue
                if col not in cols:
                    raise self._fail(f"datasets.{ds}.{role} names column {col!r}, which the table lacks; valid "
                                     f"columns: {brief(sorted(map(str, cols)), 200)} (rename file columns under "
                                     f"`rename:`).")
                if role != "cost" and not METRIC.match(col):
                    raise self._fail(f"datasets.{ds}.{role} is {col!r}; metric names carry the dataset, split and "
                                     f"epoch budget, e.g. '{ds}/val@12'. Map the file's column to such a name under "
                                     f"`rename:`.")
                kind = self.table[col].dtype.kind
                if kind not in "iuf":
                    raise self._fail(f"column {col!r} ({role} of {ds}) is not numeric (dtype {self.table[col].dtype}).")
        for role in ("params", "flops"):
            col = self.schema.get(role)
            if col is not None and col not in cols:
                raise self._fail(f"`{role}: {col}` names a column the table lacks.")
        for col in self.schema.get("features") or []:
            if col not in cols or self.table[col].dtype.kind not in "iufb":
                raise self._fail(f"feature column {col!r} is missing or not numeric; `features:` lists numeric "
                                 f"columns of the table.")

    @property
    def metrics(self) -> list[str]:
        return [c for c in self.table.columns if METRIC.match(str(c)) or c in (self.schema.get("params"),
                                                                            self.schema.get("flops"))]

    def _ds(self, dataset: str) -> dict:
        return self.schema["datasets"][self.check_dataset(dataset)]

    def protocol(self, dataset: str) -> Protocol:
        d = self._ds(dataset)
        return Protocol(dataset, d.get("proxy", d["truth"]), d["truth"], int(d.get("proxy_epochs") or 0),
                        f"{self.name}: a user table ({self.where})", cost=d.get("cost"))

    def trained_protocol(self, dataset: str) -> Protocol:
        d = self._ds(dataset)
        if "labels" not in d:
            raise self._fail(f"datasets.{dataset} declares no `labels:` (fully trained labels), which predictors "
                             f"need.")
        return Protocol(dataset, d["labels"], d["truth"], int(d.get("cost_epochs") or 0), "", cost=d.get("cost"))

    def proxy_cost(self, indices: np.ndarray, protocol: Protocol) -> np.ndarray:
        """Seconds of ``cost`` scaled to the proxy's epochs (``cost * proxy_epochs / cost_epochs``); 0 when no cost
        column is declared."""
        d = self._ds(protocol.dataset)
        if not d.get("cost"):
            return np.zeros(len(indices))
        scale = (d.get("proxy_epochs") or 1) / (d.get("cost_epochs") or d.get("proxy_epochs") or 1)
        return np.nan_to_num(self.query_many(indices, d["cost"])) * scale

    def free_baselines(self, dataset: str) -> dict[str, np.ndarray]:
        out = {}
        for role in ("params", "flops"):
            if self.schema.get(role):
                out[role] = self.column(self.schema[role])
        proxy = self.protocol(dataset).proxy
        if proxy != self.protocol(dataset).final:
            out[proxy] = self.column(proxy)
        return out

    def encode_all(self) -> np.ndarray:
        """The declared feature columns, standardized, as ``[rows, features, 1, 1]`` (the predictors' CNN reads a
        1 x 1 'image' per feature: a multilayer perceptron over the features)."""
        cols = self.schema.get("features") or []
        if not cols:
            raise self._fail("declares no `features:`, so predictors have no architecture encoding.")
        x = self.table[cols].to_numpy(dtype=np.float64)
        x = (x - np.nanmean(x, 0)) / np.where(np.nanstd(x, 0) > 0, np.nanstd(x, 0), 1.0)
        return np.nan_to_num(x).astype(np.float32)[:, :, None, None]


def load_schema(path: str | Path) -> tuple[dict, Path]:
    """The schema at ``path`` (YAML or JSON), checked: the keys, the datasets and the table file."""
    import yaml  # noqa: PLC0415

    path = Path(path).expanduser()
    where = f"benchmark schema {str(path)!r}"
    if not path.is_file():
        raise DataError(f"{where} does not exist; name a YAML/JSON schema file (see docs/plugins.md).")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{where} cannot be read as YAML/JSON ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(raw, dict):
        raise DataError(f"{where} must be a mapping with keys {', '.join(sorted(_KEYS))}.")
    unknown = set(raw) - _KEYS
    if unknown:
        raise DataError(f"{where}: unknown key(s) {sorted(unknown)}; valid: {', '.join(sorted(_KEYS))}.")
    for key in ("name", "table", "key", "datasets"):
        if not raw.get(key):
            raise DataError(f"{where}: `{key}:` is required.")
    if not isinstance(raw["datasets"], dict) or not all(isinstance(d, dict) and d.get("truth")
                                                        for d in raw["datasets"].values()):
        raise DataError(f"{where}: `datasets:` maps each dataset to at least a `truth:` column.")
    for ds, d in raw["datasets"].items():
        bad = set(d) - _DATASET_KEYS
        if bad:
            raise DataError(f"{where}: datasets.{ds} has unknown key(s) {sorted(bad)}; valid: "
                            f"{', '.join(sorted(_DATASET_KEYS))}.")
    table = (path.parent / str(raw["table"])).resolve()
    if not table.is_file() or table.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"{where}: `table: {raw['table']}` must be an existing .csv or .parquet file (relative to "
                        f"the schema); {str(table)!r} is not.")
    return raw, table


def load(path: str | Path) -> UserTable:
    """The user table of a schema file (its rows read, its columns renamed and checked)."""
    import pandas as pd  # noqa: PLC0415

    schema, table_path = load_schema(path)
    where = f"benchmark schema {str(path)!r}"
    try:
        table = pd.read_parquet(table_path) if table_path.suffix.lower() == ".parquet" else pd.read_csv(table_path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{where}: cannot read {str(table_path)!r} ({exc}).") from exc
    table = table.rename(columns={str(k): str(v) for k, v in (schema.get("rename") or {}).items()})
    schema = {**schema, "_meta": {"table": str(table_path), "table_sha256": sha256_file(table_path)}}
    return UserTable(table, schema, where)


class SchemaEntry:
    """The registry's factory for a schema file: what it offers is known from the schema alone (no table read)."""

    tabular = True

    def __init__(self, path: str):
        schema, _ = load_schema(path)
        self.path = path
        self.name = str(schema["name"])
        self.datasets = tuple(schema["datasets"])
        self.offers = schema_offers(schema)
        self.space, self.weight_sharing, self.search_seconds, self.images = "none", None, {}, None
        self.space_size = int(schema.get("space_size") or 0)

    def __call__(self, data_dir=None, **kwargs) -> UserTable:
        return load(self.path)
