"""The query object shared by tabular benchmarks."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import UserError, brief, unknown_name


@dataclass(frozen=True)
class Protocol:
    """How a budgeted search on this benchmark is scored, for one dataset.

    ``proxy``: the cheap metric a search observes (e.g. 12-epoch validation accuracy);
    ``final``: the truth the chosen architecture is reported on (e.g. 200-epoch test accuracy);
    ``proxy_epochs``: epochs whose simulated training time a proxy query is charged;
    ``note``: anything a reader must know about coverage or substitutions;
    ``cost``: the column of what observing the proxy once costs in simulated seconds, where that is a column (e.g.
    the full training time of fully trained labels).
    """

    dataset: str
    proxy: str
    final: str
    proxy_epochs: int
    note: str = ""
    cost: str | None = None


class TabularBenchmark:
    """A table of architectures (one row each) with metric columns named ``<dataset>/<split>@<epochs>``."""

    name: str = ""
    key_column: str = "arch"
    datasets: tuple[str, ...] = ()
    #: Size of the whole search space (may exceed the rows present; see ``coverage``).
    space_size: int = 0

    def __init__(self, table: pd.DataFrame, meta: dict):
        self.table = table
        self.meta = meta
        self._columns: dict[str, np.ndarray] = {}
        self._row_of_key: dict[str, int] | None = None

    # ---- size and names -------------------------------------------------------------------------------------
    @property
    def title(self) -> str:
        """How messages name the benchmark (``NAS-Bench-201``)."""
        return f"NAS-Bench-{self.name}"

    @property
    def size(self) -> int:
        return len(self.table)

    @property
    def coverage(self) -> float:
        return self.size / self.space_size if self.space_size else 1.0

    @property
    def metrics(self) -> list[str]:
        """Numeric metric columns (accuracies, times, params, latencies)."""
        return [c for c in self.table.columns if "@" in c or c.startswith(("params", "latency-ms/"))]

    def _check_metric(self, metric: str) -> str:
        if metric not in self.table.columns:
            close = difflib.get_close_matches(str(metric), self.metrics, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else "see `nasharness bench info` for all metrics."
            raise UserError(
                f"unknown metric {metric!r} for {self.title}; {hint} Metric names carry the dataset, "
                f"split and epoch budget, e.g. {self.metrics[0]!r}."
            )
        return metric

    def check_dataset(self, dataset: str) -> str:
        if dataset not in self.datasets:
            raise unknown_name(f"dataset for {self.title}", dataset, self.datasets)
        return dataset

    def column(self, metric: str) -> np.ndarray:
        """The metric as a float64 numpy array in row order (cached)."""
        arr = self._columns.get(metric)
        if arr is None:
            arr = self.table[self._check_metric(metric)].to_numpy(dtype=np.float64, na_value=np.nan)
            self._columns[metric] = arr
        return arr

    # ---- lookups ----------------------------------------------------------------------------------------------
    def _key_index(self) -> dict[str, int]:
        if self._row_of_key is None:
            self._row_of_key = {k: i for i, k in enumerate(self.table[self.key_column].tolist())}
        return self._row_of_key

    def normalize_key(self, key: str) -> str:
        """Turn a user spelling of an architecture into the table's key (override per benchmark)."""
        return key

    def index_of(self, arch: str | int | np.integer) -> int:
        """Row index of an architecture given as a row index or as its key (arch string / spec hash)."""
        if isinstance(arch, bool):
            raise UserError(f"architecture index must be an integer or a key string, got {arch!r}.")
        if isinstance(arch, int | np.integer):
            i = int(arch)
            if not 0 <= i < self.size:
                raise UserError(
                    f"architecture index {i} is out of range for {self.title}: valid indices are "
                    f"0..{self.size - 1}."
                )
            return i
        key = self.normalize_key(arch)
        row = self._key_index().get(key)
        if row is None:
            raise UserError(
                f"architecture {brief(arch)} is not in the {self.title} table ({self.size:,} architectures "
                f"present of {self.space_size:,}). {self.missing_hint()}"
            )
        return row

    def row_of(self, key: str) -> int | None:
        """The row of a (normalized) key, or None when the table does not label it."""
        return self._key_index().get(self.normalize_key(key))

    def missing_hint(self) -> str:
        return ""

    def arch_of(self, index: int):
        """Row ``index`` as its search space's architecture (what ``SPACES[bench.space]`` samples and mutates; the
        key string unless the space has its own type)."""
        return self.key_of(index)

    def key_of(self, index: int) -> str:
        return str(self.table[self.key_column].iat[self.index_of(index)])

    def query(self, arch: str | int, metric: str) -> float:
        return float(self.column(metric)[self.index_of(arch)])

    def query_many(self, indices: Sequence[int] | np.ndarray, metric: str) -> np.ndarray:
        """Vectorized lookup: ``metric`` for an array of row indices (bounds-checked)."""
        idx = np.asarray(indices)
        if idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= self.size):
            bad = idx[(idx < 0) | (idx >= self.size)][:5] if idx.dtype.kind in "iu" else idx.ravel()[:5]
            raise UserError(
                f"indices out of range or not integers for {self.title}: {bad.tolist()}; "
                f"valid 0..{self.size - 1}."
            )
        return self.column(metric)[idx]

    def to_frame(self) -> pd.DataFrame:
        return self.table

    # ---- sampling -------------------------------------------------------------------------------------------------
    def sample(
        self, rng: np.random.Generator, n: int, *, among: np.ndarray | None = None, replace: bool = False
    ) -> np.ndarray:
        """``n`` row indices drawn with ``rng`` (without replacement by default), optionally among a subset."""
        pool = np.arange(self.size) if among is None else np.asarray(among)
        if not replace and n > len(pool):
            raise UserError(f"cannot sample {n} distinct architectures from {len(pool)}; ask for at most {len(pool)}.")
        return rng.choice(pool, size=n, replace=replace)

    def iter_archs(self) -> Iterator[tuple[int, str]]:
        yield from enumerate(self.table[self.key_column].tolist())

    # ---- protocol -----------------------------------------------------------------------------------------------
    def protocol(self, dataset: str) -> Protocol:  # pragma: no cover - abstract
        raise NotImplementedError

    def proxy_cost(self, indices: np.ndarray, protocol: Protocol) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def free_baselines(self, dataset: str) -> dict[str, np.ndarray]:
        """Free rankings a search must beat (see :class:`nasharness.contracts.TabularBenchmark`); none by default."""
        return {}

    def info(self) -> dict:
        """Coverage and per-metric availability, for ``nasharness bench info``."""
        avail = {m: int(np.isfinite(self.column(m)).sum()) for m in self.metrics}
        return {
            "benchmark": f"{self.title}",
            "architectures_present": self.size,
            "space_size": self.space_size,
            "coverage": self.coverage,
            "datasets": list(self.datasets),
            "metrics": avail,
            "sources": {k: v.get("path", f"sha256 {v.get('sha256')}")
                        for k, v in self.meta.get("sources", {}).items()},
            "table": ("shipped with the package" if self.meta.get("cache", {}).get("shipped")
                      else "converted into the user cache"),
            "cache": self.meta.get("cache", {}).get("path"),
        }
