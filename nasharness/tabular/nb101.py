"""NAS-Bench-101 as one table keyed by the official spec hash.

Without the official file, the table is the union of the staged public slices (``../shared/data/nb101``):

* ``data-1k.json``: the first 1,000 archs of the full table in hash order (a uniform sample), validation accuracy of
  ONE training repeat (which of the 3 is unknown) at 4/12/36/108 epochs, its training time, params.
* ``nb101_dummy_union.json``: 52 archs with all 3 repeats of validation and test accuracy at 108 epochs.
* ``zc_nasbench101.json``: 500 *unpruned* specs (292 graphs) with the validation accuracy of a randomly drawn repeat.

Columns: ``cifar10/val@E`` / ``cifar10/test@E`` are means over the repeats known for that arch (``…/n_runs`` says
how many); ``…@108/run0..2`` only where the repeat identity is known; ``src/<source>/cifar10/val@108`` keeps each
source's own value so disagreements stay visible (``conflict`` describes them). Every metric name carries the dataset
(CIFAR-10, NB101's only one), the split and the epoch budget. Accuracies are in percent, like NAS-Bench-201 (NB101's
files hold fractions 0..1; the table multiplies by 100 once, so methods and reports compare like with like).
With ``nasharness bench prepare 101 --source nasbench_*.tfrecord`` the full table replaces the slices.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import atomic_write_json, read_checked_sidecar, sha256_file
from ..paths import cache_dir, explicit_data_dir, require_files, resolve_data_dir
from ..spaces import nb101 as space
from .base import Protocol, TabularBenchmark
from .cache import Source, load_or_build, read_table, write_table
from .nb101_tfrecord import iter_records

FORMAT_VERSION = 3  # 3: dataset-qualified column names, accuracies in percent
EPOCHS = (4, 12, 36, 108)
VIS = "nb101/nasbench-vis/data-1k.json"
UNION = "nb101/naslib/nb101_dummy_union.json"
ZC = "nb101/naslib/zc_nasbench101.json"
KNOWN_SHA256 = {
    VIS: "97508235d7b6e1e4cee998629e87ec661d9a27ca882cc31f1503126340d6f1f2",
    UNION: "379e14e13e48720e99734e331f60fa834e7d32b83e2fb833111a06c8958c95b4",
    ZC: "c34840bc9af68b6ebaa7f052e42c1749a9a737d7243078be2a5548052bc5a0c2",
}
_VIS_OPS = {0: space.CONV3X3, 1: space.CONV1X1, 2: space.MAXPOOL3X3}
_ZC_OPS = {0: space.INPUT, 1: space.OUTPUT, 2: space.MAXPOOL3X3, 3: space.CONV1X1, 4: space.CONV3X3}


def _bad(path: Path, what: str) -> DataError:
    return DataError(
        f"NAS-Bench-101 source {str(path)!r} is not the expected file: {what}. Restore the original (see the "
        f"PROVENANCE.md beside it) or point --data-dir at a complete copy."
    )


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise _bad(path, f"it is not valid JSON ({exc})") from exc


def _checked_spec(path: Path, matrix, ops, key: str | None, *, prune: bool) -> space.Spec:
    try:
        spec = space.make_spec(matrix, ops, prune_first=prune)
    except space.SpecError as exc:
        raise _bad(path, f"record {key} holds an invalid spec ({exc})") from exc
    if key is not None and spec.hash() != key:
        raise _bad(path, f"record {key} hashes to {spec.hash()}: key and spec disagree")
    return spec


# ---- converters: one per source ---------------------------------------------------------------------------------
def convert_vis(path: Path) -> dict[str, dict]:
    d = _read_json(path)
    need = ["key", "adjacency", "operations", "final_training_time", "trainable_parameters",
            *(f"{e}_final_validation_accuracy" for e in EPOCHS)]
    if not isinstance(d, dict) or set(need) - set(d):
        raise _bad(path, f"expected parallel columns {need}")
    out = {}
    for i, key in enumerate(d["key"]):
        codes = [int(c) for c in d["operations"][i] if int(c) != -3]  # -3 pads graphs below 7 vertices
        n = len(codes)
        matrix = [[int(v) for v in row[:n]] for row in d["adjacency"][i][:n]]
        try:
            ops = [space.INPUT] + [_VIS_OPS[c] for c in codes[1:-1]] + [space.OUTPUT]
        except KeyError as exc:
            raise _bad(path, f"record {key} has op code {exc}") from exc
        spec = _checked_spec(path, matrix, ops, key, prune=True)
        rec = {"spec": spec, "params": int(d["trainable_parameters"][i]),
               "train-time-s@108": float(d["final_training_time"][i])}
        for e in EPOCHS:
            rec[f"val@{e}"] = float(d[f"{e}_final_validation_accuracy"][i])
        out[key] = rec
    return out


def convert_union(path: Path) -> dict[str, dict]:
    d = _read_json(path)
    if not isinstance(d, dict):
        raise _bad(path, "expected {hash: {fixed, computed}}")
    out = {}
    for key, rec in d.items():
        try:
            fixed, runs = rec["fixed"], rec["computed"]["108"]
            spec = _checked_spec(path, fixed["module_adjacency"], fixed["module_operations"], key, prune=False)
            out[key] = {
                "spec": spec,
                "params": int(fixed["trainable_parameters"]),
                "val@108/runs": [float(r["final_validation_accuracy"]) for r in runs],
                "test@108/runs": [float(r["final_test_accuracy"]) for r in runs],
                "train-time-s@108/runs": [float(r["final_training_time"]) for r in runs],
            }
        except (KeyError, TypeError) as exc:
            raise _bad(path, f"record {key} lacks {exc}") from exc
    return out


def convert_zc(path: Path) -> dict[str, dict]:
    d = _read_json(path)
    try:
        entries = d["nasbench101"]["cifar10"]
    except (KeyError, TypeError) as exc:
        raise _bad(path, "expected {'nasbench101': {'cifar10': {...}}}") from exc
    out: dict[str, dict] = {}
    for raw_key, rec in entries.items():
        codes = [int(x) for x in raw_key.strip("()").split(",")]
        if len(codes) != 56:
            raise _bad(path, f"key {raw_key[:40]}... is not 49 adjacency + 7 op codes")
        matrix = [codes[r * 7:(r + 1) * 7] for r in range(7)]
        ops = [_ZC_OPS[c] for c in codes[49:]]
        spec = _checked_spec(path, matrix, ops, None, prune=True)  # stored unpruned: prune, then hash
        key = spec.hash()
        entry = out.setdefault(key, {"spec": spec, "val@108/samples": [], "zc-params": []})
        entry["val@108/samples"].append(float(rec["val_accuracy"]) / 100.0)  # percent -> fraction
        entry["zc-params"].append(float(rec["params"]) * 1e6)
    return out


def _mean(xs) -> float:
    return float(np.mean(xs)) if len(xs) else float("nan")


def build_slices(paths: Mapping[str, Path]) -> pd.DataFrame:
    vis, union, zc = convert_vis(paths[VIS]), convert_union(paths[UNION]), convert_zc(paths[ZC])
    rows = []
    for key in sorted(set(vis) | set(union) | set(zc)):
        v, u, z = vis.get(key), union.get(key), zc.get(key)
        spec = (v or u or z)["spec"]
        row: dict = {"hash": key, "adjacency": spec.adjacency_string(), "ops": ",".join(spec.ops),
                     "n_vertices": spec.n_vertices, "n_edges": spec.n_edges}
        row["sources"] = ",".join(n for n, s in (("data-1k", v), ("naslib-union", u), ("naslib-zc", z)) if s)
        conflicts = []
        params = [p for p in ((v or {}).get("params"), (u or {}).get("params")) if p is not None]
        if len(set(params)) > 1:
            conflicts.append(f"params differ: data-1k {params[0]} vs naslib {params[1]}")
        row["params"] = params[0] if params else np.nan
        if z:
            zp = sorted(set(round(p) for p in z["zc-params"]))
            row["raw/zc-params"] = float(zp[0]) if len(zp) == 1 else np.nan
            if params and zp and params[0] not in zp:
                conflicts.append(f"naslib-zc params {zp} (computed on the unpruned spec) vs NB101 {params[0]}")
        for e in EPOCHS:
            row[f"val@{e}"], row[f"val@{e}/n_runs"] = np.nan, 0
        if u:
            for name in ("val@108", "test@108", "train-time-s@108"):
                runs = u[f"{name}/runs"]
                for k, x in enumerate(runs):
                    row[f"{name}/run{k}"] = x
                row[name], row[f"{name}/n_runs"] = _mean(runs), len(runs)
            row["src/naslib-union/val@108"] = row["val@108"]
        if v:
            row["src/data-1k/val@108"] = v["val@108"]
            for e in EPOCHS:
                if e != 108 or not u:
                    row[f"val@{e}"], row[f"val@{e}/n_runs"] = v[f"val@{e}"], 1
            if not u:
                row["train-time-s@108"], row["train-time-s@108/n_runs"] = v["train-time-s@108"], 1
            elif not np.isclose(u["val@108/runs"], v["val@108"]).any():
                conflicts.append(f"data-1k val@108 {v['val@108']:.6f} is none of the naslib repeats")
        if z:
            samples = sorted(set(z["val@108/samples"]))
            row["src/naslib-zc/val@108"] = _mean(samples)
            if not (u or v):  # distinct sampled repeats of this arch
                row["val@108"], row["val@108/n_runs"] = _mean(samples), len(samples)
            known = (u or {}).get("val@108/runs") or ([v["val@108"]] if v else [])
            if u and not all(np.isclose(s, known, atol=5e-6).any() for s in samples):
                conflicts.append("a naslib-zc sample is none of the naslib repeats")
        row["conflict"] = "; ".join(conflicts)
        rows.append(row)
    return _finish(pd.DataFrame(rows))


_METRIC = re.compile(r"^(src/[^/]+/)?((?:val|test|train-time-s)@\d+(?:/.*)?)$")


def _finish(df: pd.DataFrame) -> pd.DataFrame:
    """Column order, integer run counts, percent accuracies, dataset-qualified metric names."""
    for c in df.columns:
        if (c.startswith(("val@", "test@")) or re.match(r"^src/[^/]+/val@", c)) and not c.endswith("/n_runs"):
            df[c] = df[c] * 100.0
    df = df.rename(columns=lambda c: (m[1] or "") + "cifar10/" + m[2] if (m := _METRIC.match(c)) else c)
    front = ["hash", "adjacency", "ops", "n_vertices", "n_edges", "params", "sources", "conflict"]
    front = [c for c in front if c in df.columns]
    rest = sorted(c for c in df.columns if c not in front)
    df = df[front + rest].reset_index(drop=True)
    for c in df.columns:
        if c.endswith("/n_runs"):
            df[c] = df[c].fillna(0).astype(np.int64)
    return df


# ---- the official full table ------------------------------------------------------------------------------------
def build_full(path: Path, *, verify_hashes: bool = True, progress=None) -> pd.DataFrame:
    """Convert an official ``nasbench_*.tfrecord`` into the table format (per-run and mean columns)."""
    fixed: dict[str, tuple] = {}
    runs: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for n, rec in enumerate(iter_records(path)):
        if rec.module_hash not in fixed:
            k = int(round(len(rec.adjacency) ** 0.5))
            matrix = [[int(c) for c in rec.adjacency[i * k:(i + 1) * k]] for i in range(k)]
            spec = _checked_spec(path, matrix, rec.operations.split(","),
                                 rec.module_hash if verify_hashes else None, prune=False)
            fixed[rec.module_hash] = (spec, rec.trainable_parameters)
        f = rec.final
        runs[rec.module_hash][rec.epochs].append(
            (f.get("validation_accuracy"), f.get("test_accuracy"), f.get("training_time")))
        if progress and n % 10000 == 0:
            progress(n)
    if not fixed:
        raise _bad(path, "it holds no records")
    epochs = sorted({e for r in runs.values() for e in r})
    rows = []
    for key in sorted(fixed):
        spec, params = fixed[key]
        row = {"hash": key, "adjacency": spec.adjacency_string(), "ops": ",".join(spec.ops),
               "n_vertices": spec.n_vertices, "n_edges": spec.n_edges, "params": params,
               "sources": "official", "conflict": ""}
        for e in epochs:
            rr = runs[key].get(e, [])
            for j, name in enumerate(("val", "test", "train-time-s")):
                vals = [r[j] for r in rr]
                for k, x in enumerate(vals):
                    row[f"{name}@{e}/run{k}"] = x
                row[f"{name}@{e}"], row[f"{name}@{e}/n_runs"] = _mean(vals), len(vals)
        rows.append(row)
    return _finish(pd.DataFrame(rows))


def full_table_paths() -> tuple[Path, Path]:
    return cache_dir() / "nb101-full.parquet", cache_dir() / "nb101-full.json"


def prepare_full(source: str | Path, *, verify_hashes: bool = True, progress=None) -> dict:
    """Convert the official file once into the cache; later ``load()`` calls use it instead of the slices."""
    source = Path(source).expanduser()
    if not source.is_file():
        raise DataError(
            f"NAS-Bench-101 source {str(source)!r} does not exist. Pass the official nasbench_only108.tfrecord "
            f"or nasbench_full.tfrecord with --source PATH."
        )
    table = build_full(source, verify_hashes=verify_hashes, progress=progress)
    table_path, meta_path = full_table_paths()
    write_table(table, table_path)
    meta = {"name": "nb101-full", "format_version": FORMAT_VERSION,
            "sources": {"official": {"path": str(source), "sha256": sha256_file(source)}},
            "n_rows": len(table), "table_sha256": sha256_file(table_path)}
    atomic_write_json(meta_path, meta)
    return meta


class NB101(TabularBenchmark):
    """NAS-Bench-101 on CIFAR-10, keyed by spec hash; rows are sorted by hash (row index = position)."""

    name = "101"
    key_column = "hash"
    datasets = ("cifar10",)
    space_size = space.N_ARCHS

    _madds: np.ndarray | None = None

    @property
    def is_full(self) -> bool:
        return self.meta.get("name") == "nb101-full"

    def normalize_key(self, key) -> str:
        if isinstance(key, space.Spec):
            return key.hash()
        if isinstance(key, tuple) and len(key) == 2:  # (matrix, ops)
            return space.make_spec(*key).hash()
        return str(key).strip().lower()

    def missing_hint(self) -> str:
        if self.is_full:
            return "Check the hash (the key of a pruned spec)."
        return ("Only the staged public slices are loaded; `nasharness bench prepare 101 --source "
                "nasbench_only108.tfrecord` adds the full official table.")

    def arch_of(self, index: int) -> space.Spec:
        return self.spec(index)

    def spec(self, arch) -> space.Spec:
        i = self.index_of(arch)
        return space.from_strings(self.table["adjacency"].iat[i], self.table["ops"].iat[i])

    def protocol(self, dataset: str) -> Protocol:
        self.check_dataset(dataset)
        if self.is_full:
            return Protocol(dataset, "cifar10/val@12", "cifar10/test@108", 12,
                            "NB101 full table: proxy = mean validation accuracy of the 3 repeats at 12 epochs, "
                            "truth = mean test accuracy at 108 epochs")
        return Protocol(
            dataset, "cifar10/val@12", "cifar10/val@108", 12,
            f"only the staged NB101 slices are present ({self.size:,} of {self.space_size:,} archs); the 12-epoch "
            "proxy exists for the 1,000-arch uniform slice, which has no test accuracy, so the truth is val@108 "
            "(one training repeat) and results are among labeled archs only",
        )

    def trained_protocol(self, dataset: str) -> Protocol:
        """Fully trained labels (predictors): 108-epoch validation accuracy and its training time; the truth is the
        108-epoch test accuracy with the full table, else (slices) the validation accuracy itself."""
        self.check_dataset(dataset)
        if self.is_full:
            return Protocol(dataset, "cifar10/val@108", "cifar10/test@108", 108, "", cost="cifar10/train-time-s@108")
        return Protocol(dataset, "cifar10/val@108", "cifar10/val@108", 108,
                        f"only the staged NB101 slices are present ({self.size:,} of {self.space_size:,} archs): the "
                        f"labeled slices are the universe, there is no test accuracy for most of them, so labels and "
                        f"truth are both val@108", cost="cifar10/train-time-s@108")

    def free_baselines(self, dataset: str) -> dict[str, np.ndarray]:
        """Parameter count, multiply-adds (:func:`~nasharness.spaces.nb101_costs.network_costs`) and the 12-epoch
        validation accuracy (where the table has it), one value per row."""
        if self._madds is None:
            from ..spaces.nb101_costs import network_costs  # noqa: PLC0415

            self._madds = np.array([float(np.sum(network_costs(self.spec(i))[1])) for i in range(self.size)])
        return {"params": self.column("params"), "flops": self._madds, "cifar10/val@12": self.column("cifar10/val@12")}

    def proxy_cost(self, indices: np.ndarray, protocol: Protocol) -> np.ndarray:
        """Simulated seconds for the proxy epochs: recorded time at that budget, else scaled from 108 epochs."""
        col = f"cifar10/train-time-s@{protocol.proxy_epochs}"
        if col in self.table.columns:
            t = self.query_many(indices, col)
            if np.isfinite(t).all():
                return t
        return self.query_many(indices, "cifar10/train-time-s@108") * (protocol.proxy_epochs / 108.0)


def sources(root: Path) -> list[Source]:
    require_files(root, "101", [VIS, UNION, ZC])
    return [Source(r, root / r, KNOWN_SHA256[r]) for r in (VIS, UNION, ZC)]


def load(data_dir: str | Path | None = None, *, force: bool = False, full: bool | None = None) -> NB101:
    """The full official table when prepared (``full`` None or True), else the staged slices: converted from the
    sources when a data root is named or a rebuild is forced, else the table shipped with the package."""
    table_path, meta_path = full_table_paths()
    if full is not False and table_path.exists() and meta_path.exists():
        fix = ("Run `nasharness bench prepare 101 --source nasbench_only108.tfrecord` again, or delete both files to "
               "use the staged slices.")
        meta = read_checked_sidecar(table_path, meta_path, "table_sha256", "the full NAS-Bench-101 table", fix)
        meta["cache"] = {"path": str(table_path), "hit": True}
        return NB101(read_table(table_path, "nb101-full"), meta)
    if full:
        raise DataError("the full NAS-Bench-101 table is not prepared; run `nasharness bench prepare 101 --source "
                        "nasbench_only108.tfrecord` first.")
    root = explicit_data_dir(data_dir)
    if root is None and not force:  # no data root named: the slices' table shipped with the package
        from ..bundled import shipped_table  # noqa: PLC0415

        return NB101(*shipped_table("nb101", FORMAT_VERSION))
    root = root or resolve_data_dir(data_dir)
    table, meta = load_or_build("nb101", root, sources(root), build_slices, FORMAT_VERSION, force=force)
    return NB101(table, meta)
