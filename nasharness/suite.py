"""Suites (YAML under ``benchmarks/``) and ``sweep``: run every cell of a suite, resumably, nested in MLflow.

A suite file::

    suite: ci                      # name: the sweep directory and the MLflow tag ``suite``
    description: ...
    budget: ci                     # ci | paper
    seeds: [0, 1]
    methods: all                   # or a list of registered method names
    benchmarks:                    # benchmark -> datasets
      "201": [cifar10]
      "101": [cifar10]
    overrides:                     # optional, per method: --set key=value pairs
      spos: {epochs: 20}
    exclude:                       # optional, per benchmark: methods (or kind:<kind>) not to pair with it
      darts: [kind:zero-cost]
    experiment: nasharness-ci      # optional MLflow experiment (default nasharness-<suite>)
    device: auto                   # optional
    bootstrap: 200                 # optional bootstrap resamples

Cells are method x benchmark x dataset x seed; a method is paired only with the benchmarks it supports (the
skipped pairs are listed, never silently dropped). A sweep keeps ``sweep.json`` in ``<out>/<suite>/``: the status of
every cell (done / failed with the error), written atomically after each cell. Re-running skips done cells (unless
``force``), resumes a cell killed mid-way from its checkpoint, and retries failed ones. A cell is done only while its
``result.json`` parses and is complete; a truncated one is set aside (``result.json.broken``) and the cell re-run.

Everything is checked when the suite is loaded, before anything is written: the name (a plain directory name), unique
YAML keys, devices, the bootstrap range and, for every cell, its run options and the method's budget built from
``overrides``. A tracking store that does not answer never fails a sweep: it is reported on stderr (per cell and in the
summary) and recorded in each run's ``result.json``, for ``nasharness sync``. A full or read-only ``--out-dir`` stops
the sweep with one error (:class:`~nasharness.errors.StorageError`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import BUDGET_NAMES, RunConfig
from .errors import ConfigError, StorageError, UserError
from .io import atomic_write_json

SUITE_KEYS = ("suite", "description", "budget", "seeds", "methods", "benchmarks", "overrides", "exclude", "experiment",
              "device", "deterministic", "bootstrap")
#: A suite name is a directory under ``--out-dir`` and an MLflow tag: letters, digits, ``.``, ``_``, ``-``, starting
#: with a letter or digit (so never ``.``, ``..`` or a hidden name), at most 100 characters.
SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: Devices a suite may name (as ``run --device``).
DEVICE = re.compile(r"auto|cpu|cuda(:[0-9]+)?")
#: Bootstrap resamples a suite may ask for: the range ``run --bootstrap`` accepts (``RunConfig.n_boot``).
MAX_BOOTSTRAP = 100_000


@dataclass(frozen=True)
class Cell:
    method: str
    bench: str
    dataset: str
    seed: int

    @property
    def id(self) -> str:
        return f"{self.method}-{self.bench}-{self.dataset}-s{self.seed}"


@dataclass(frozen=True)
class SuiteConfig:
    suite: str
    budget: str = "ci"
    seeds: tuple[int, ...] = (0, 1)
    methods: tuple[str, ...] = ()  # empty: every registered method
    benchmarks: dict = field(default_factory=lambda: {"201": ("cifar10",)})
    overrides: dict = field(default_factory=dict)
    #: benchmark -> method names or ``kind:<kind>`` entries the suite does not pair with it (listed as skipped).
    exclude: dict = field(default_factory=dict)
    experiment: str | None = None
    device: str = "auto"
    bootstrap: int = 200
    #: Every cell in deterministic mode (``RunConfig.deterministic``).
    deterministic: bool = False
    description: str = ""
    path: str | None = None

    def __post_init__(self):
        where = f"suite {self.path or self.suite!r}"
        if not isinstance(self.suite, str) or not SUITE_NAME.fullmatch(self.suite):
            raise ConfigError(f"{where}: 'suite' must be a plain name (it becomes a directory under --out-dir): "
                              f"letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100 "
                              f"characters, no path separators, not '.' or '..'; got {self.suite!r}. Use e.g. "
                              f"`suite: ci`.")
        if self.budget not in BUDGET_NAMES:
            raise ConfigError(f"{where}: unknown budget {self.budget!r}; valid: {', '.join(BUDGET_NAMES)}.")
        if not self.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"{where}: 'seeds' must be a non-empty list of integers >= 0, got {list(self.seeds)!r}.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"{where}: 'seeds' lists a seed twice: {list(self.seeds)!r}.")
        if not isinstance(self.benchmarks, dict) or not self.benchmarks:
            raise ConfigError(f"{where}: 'benchmarks' must map benchmark names to dataset lists, e.g. "
                              f"{{'201': [cifar10]}}; got {self.benchmarks!r}.")
        if not isinstance(self.exclude, dict) or any(not isinstance(v, list | tuple) or not all(
                isinstance(m, str) for m in v) for v in self.exclude.values()):
            raise ConfigError(f"{where}: 'exclude' must map benchmark names to lists of method names or "
                              f"kind:<kind> entries, e.g. {{darts: [kind:zero-cost]}}; got {self.exclude!r}.")
        if not isinstance(self.overrides, dict) or any(not isinstance(v, dict) for v in self.overrides.values()):
            raise ConfigError(f"{where}: 'overrides' must map method names to {{key: value}} tables, got "
                              f"{self.overrides!r}.")
        if (isinstance(self.bootstrap, bool) or not isinstance(self.bootstrap, int)
                or not 0 <= self.bootstrap <= MAX_BOOTSTRAP):
            raise ConfigError(f"{where}: 'bootstrap' (resamples for the confidence intervals) must be an integer in "
                              f"0..{MAX_BOOTSTRAP:,} (as for `run --bootstrap`), got {self.bootstrap!r}; 200 is the "
                              f"default, 0 turns the intervals off.")
        if not isinstance(self.device, str) or not DEVICE.fullmatch(self.device):
            raise ConfigError(f"{where}: unknown 'device' {self.device!r}; valid: auto, cpu, cuda, cuda:N (N a GPU "
                              f"index, e.g. cuda:0).")
        if self.experiment is not None and (not isinstance(self.experiment, str) or not self.experiment.strip()):
            raise ConfigError(f"{where}: 'experiment' must be a non-empty MLflow experiment name, got "
                              f"{self.experiment!r}; or leave it out (default nasharness-<suite>).")
        if not isinstance(self.deterministic, bool):
            raise ConfigError(f"{where}: 'deterministic' must be true or false, got {self.deterministic!r}.")
        if self.deterministic:  # before any cell's method imports torch (the kernel ISA is fixed when torch loads)
            from .envinfo import pin_kernel_env  # noqa: PLC0415

            pin_kernel_env()

    @property
    def experiment_name(self) -> str:
        return self.experiment or f"nasharness-{self.suite}"

    def cells(self) -> tuple[list[Cell], list[str]]:
        """The cells to run and a description of each method x benchmark pair skipped as unsupported. Checks every
        name against the registries (an unknown one is an error listing the valid names)."""
        from .plugins import BENCHMARKS, METHODS, load_plugins  # noqa: PLC0415

        load_plugins()
        methods = [METHODS.canonical(m) for m in self.methods] if self.methods else METHODS.names()
        for m in self.overrides:
            if METHODS.canonical(m) not in methods:
                raise ConfigError(f"suite {self.suite!r}: overrides are given for {m!r}, which the suite does not run; "
                                  f"remove them or add it to 'methods'.")
        from .contracts import missing_capabilities  # noqa: PLC0415

        excluded = self._excluded(methods)
        cells, skipped = [], []
        for m in methods:
            method_cls = METHODS.factory(m)
            for b, datasets in self.benchmarks.items():
                bench = BENCHMARKS.canonical(str(b))
                entry = BENCHMARKS.factory(bench)
                if m in excluded.get(bench, ()):
                    skipped.append(f"{m} x {bench} (excluded by the suite)")
                    continue
                valid = getattr(entry, "datasets", ())
                for d in datasets if isinstance(datasets, list | tuple) else [datasets]:
                    if valid and d not in valid:
                        raise ConfigError(f"suite {self.suite!r}: benchmark {bench} has no dataset {d!r}; valid: "
                                          f"{', '.join(valid)}.")
                missing = missing_capabilities(method_cls, entry)
                if missing:
                    skipped.append(f"{m} x {bench} (the benchmark does not offer {', '.join(missing)})")
                    continue
                images = getattr(entry, "images", None)
                for d in datasets if isinstance(datasets, list | tuple) else [datasets]:
                    if (getattr(method_cls, "needs_images", False) and images and d != images
                            and getattr(entry, "tabular", True)):
                        skipped.append(f"{m} x {bench}/{d} (the method needs images: only {images} images here)")
                        continue
                    cells += [Cell(m, bench, str(d), int(s)) for s in self.seeds]
        if not cells:
            raise ConfigError(f"suite {self.suite!r} has no runnable cell (skipped: {'; '.join(skipped)}).")
        return cells, skipped

    def _excluded(self, methods: list[str]) -> dict[str, set[str]]:
        """``exclude`` resolved: benchmark -> the suite's method names it is not paired with. Every benchmark must be
        one the suite runs, every entry a registered method or a kind some method has."""
        from .plugins import BENCHMARKS, METHODS  # noqa: PLC0415

        benches = {BENCHMARKS.canonical(str(b)) for b in self.benchmarks}
        kinds = {m: getattr(METHODS.factory(m), "kind", "") for m in METHODS.names()}
        out: dict[str, set[str]] = {}
        for b, entries in self.exclude.items():
            bench = BENCHMARKS.canonical(str(b))
            if bench not in benches:
                raise ConfigError(f"suite {self.suite!r}: 'exclude' names benchmark {b!r}, which the suite does not "
                                  f"run ({', '.join(map(str, self.benchmarks))}); remove it.")
            for e in entries:
                if e.startswith("kind:"):
                    kind = e[len("kind:"):]
                    if kind not in kinds.values():
                        raise ConfigError(f"suite {self.suite!r}: 'exclude' names {e!r}, but no method is of kind "
                                          f"{kind!r}; kinds: {', '.join(sorted(set(kinds.values())))}.")
                    out.setdefault(bench, set()).update(m for m in methods if kinds.get(m) == kind)
                else:
                    out.setdefault(bench, set()).add(METHODS.canonical(e))
        return out

    def run_config(self, cell: Cell, *, out_dir: Path, tracking: bool, tracking_uri: str | None,
                   data_dir: str | None, tags: dict) -> RunConfig:
        over = {str(k): str(v) for k, v in self._overrides_for(cell.method).items()}
        return RunConfig(method=cell.method, bench=cell.bench, dataset=cell.dataset, budget=self.budget,
                         seed=cell.seed, data_dir=data_dir, tracking=tracking, tracking_uri=tracking_uri,
                         experiment=self.experiment_name, out_dir=str(out_dir), n_boot=self.bootstrap, quiet=True,
                         overrides=over, device=self.device, tags=tags, deterministic=self.deterministic)

    def _overrides_for(self, method: str) -> dict:
        from .plugins import METHODS  # noqa: PLC0415

        for k, v in self.overrides.items():
            if METHODS.canonical(k) == method:
                return v
        return {}


def load_suite(path: str | Path) -> SuiteConfig:
    """Read and validate a suite YAML file; every mistake names the file, the key and the fix."""
    import yaml  # noqa: PLC0415

    path = Path(path)
    if not path.is_file():
        raise UserError(f"suite file {str(path)!r} does not exist; suites live under benchmarks/ (e.g. "
                        f"benchmarks/ci.yaml).")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read suite file {str(path)!r} ({exc.strerror or exc}); check its permissions.") \
            from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"suite file {str(path)!r} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset "
                          f"{exc.start}): it looks binary or in another encoding. A suite is a YAML text file, e.g. "
                          f"benchmarks/ci.yaml.") from exc
    try:
        raw = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"suite file {str(path)!r} gives the key {exc.key!r} twice in one mapping (lines "
                          f"{exc.first} and {exc.again}); YAML would silently keep the last one. Keep only one.") \
            from exc
    except yaml.YAMLError as exc:
        msg = " ".join(str(exc).replace('in "<unicode string>", ', "").split())
        raise ConfigError(f"suite file {str(path)!r} is not valid YAML: {msg}. Fix the line it names.") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"suite file {str(path)!r} must be a mapping of keys ({', '.join(SUITE_KEYS)}).")
    unknown = sorted(set(raw) - set(SUITE_KEYS))
    if unknown:
        import difflib  # noqa: PLC0415

        hints = [f"{k!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, SUITE_KEYS, 1)) else repr(k)
                 for k in unknown]
        raise ConfigError(f"suite file {str(path)!r} has unknown key(s) {', '.join(hints)}; valid keys: "
                          f"{', '.join(SUITE_KEYS)}.")
    if "suite" not in raw:
        raise ConfigError(f"suite file {str(path)!r} has no 'suite' name; add e.g. `suite: {path.stem}`.")
    methods = raw.get("methods", "all")
    if methods == "all" or methods is None:
        methods = ()
    elif not isinstance(methods, list):
        raise ConfigError(f"suite file {str(path)!r}: 'methods' must be 'all' or a list of names, got {methods!r}.")
    benches = raw.get("benchmarks", {"201": ["cifar10"]})
    if isinstance(benches, dict):
        benches = {str(k): tuple(v) if isinstance(v, list) else v for k, v in benches.items()}
    seeds = raw.get("seeds", [0, 1])
    config = SuiteConfig(suite=str(raw["suite"]), budget=raw.get("budget", "ci"),
                         seeds=tuple(seeds) if isinstance(seeds, list) else (seeds,),
                         methods=tuple(str(m) for m in methods), benchmarks=benches,
                         overrides=raw.get("overrides") or {}, exclude=raw.get("exclude") or {},
                         experiment=raw.get("experiment"),
                         device=str(raw.get("device", "auto")), bootstrap=raw.get("bootstrap", 200),
                         deterministic=raw.get("deterministic", False),
                         description=str(raw.get("description", "")), path=str(path))
    check_cells(config)  # names, overrides and every cell's run options are checked now, not halfway through a sweep
    return config


class _DuplicateKey(Exception):
    def __init__(self, key, first: int, again: int):
        super().__init__(f"duplicate key {key!r} on lines {first} and {again}")
        self.key, self.first, self.again = key, first, again


@functools.cache
def _unique_key_loader():
    """A SafeLoader that refuses a key given twice in one mapping (plain YAML silently keeps the last one). Built on
    first use: importing this module does not import yaml."""
    import yaml  # noqa: PLC0415

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports unhashable keys
                if key in seen:
                    raise _DuplicateKey(key, seen[key] + 1, key_node.start_mark.line + 1)
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def check_cells(suite: SuiteConfig) -> tuple[list[Cell], list[str]]:
    """Every check a cell would fail at its start, for every cell, before anything is written: the names
    (:meth:`SuiteConfig.cells`), the cell's :class:`RunConfig` (device, bootstrap), and the method's budget built from
    the suite's ``overrides`` (each ``--set`` key against the method's budget fields, each value parsed and
    range-checked). No data is loaded."""
    from .contracts import method_budgets  # noqa: PLC0415
    from .plugins import BENCHMARKS, METHODS  # noqa: PLC0415

    where = f"suite file {suite.path!r}" if suite.path else f"suite {suite.suite!r}"
    cells, skipped = suite.cells()
    seen = set()
    for cell in cells:
        key = (cell.method, cell.bench, cell.dataset)
        if key in seen:
            continue
        seen.add(key)
        try:
            config = suite.run_config(cell, out_dir=Path("."), tracking=False, tracking_uri=None, data_dir=None,
                                      tags={})
            budgets = method_budgets(METHODS.factory(cell.method))
            if config.budget not in budgets:
                raise UserError(f"method {cell.method!r} has no budget {config.budget!r}; it has "
                                f"{', '.join(budgets)}")
            method = METHODS.factory(cell.method)(config)
            method.budget(BENCHMARKS.factory(cell.bench), cell.dataset)
        except UserError as exc:
            given = suite._overrides_for(cell.method)
            hint = (f" (the suite's overrides for {cell.method}: {given}; fix them under 'overrides')" if given
                    else "")
            raise ConfigError(f"{where}: cell {cell.method} x {cell.bench}/{cell.dataset} would fail: {exc}{hint}") \
                from exc
    return cells, skipped


# ---- sweep ------------------------------------------------------------------------------------------------------
@dataclass
class SweepOutcome:
    suite: str
    directory: str
    done: list[str] = field(default_factory=list)
    skipped_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    parent_run_id: str | None = None
    summary: dict[str, str] = field(default_factory=dict)
    #: The comparison table of the sweep's cells (``compare.aggregate``), when any cell finished.
    table: object = None
    #: Cells whose run finished but was not logged to MLflow: cell id -> the tracking error (kept in the run's
    #: ``result.json`` ``tracking`` field; ``nasharness sync`` uploads them later).
    not_logged: dict[str, str] = field(default_factory=dict)
    #: The tracking store's error for the suite's parent run (it did not answer), if any.
    tracking_error: str | None = None
    tracking_uri: str | None = None
    #: Cells re-run because their earlier result.json was unreadable or incomplete.
    rerun_broken: list[str] = field(default_factory=list)
    #: Everything worth a line on stderr, in order (also passed to ``warn`` as it happens).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _unfinished(cell_dir: Path) -> bool:
    """A killed run of this cell left a run directory (config, maybe checkpoints) but no result."""
    return cell_dir.is_dir() and any((d / "config.json").exists() and not (d / "result.json").exists()
                                     for d in cell_dir.iterdir() if d.is_dir())


def _result_problem(path: Path) -> str | None:
    """Why ``path`` is not a complete run result (None: it is one)."""
    from .results import RunResult  # noqa: PLC0415

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"unreadable ({type(exc).__name__}: {exc})"
    if not isinstance(raw, dict):
        return "not a JSON object"
    try:
        result = RunResult(**raw)
    except TypeError as exc:
        return f"incomplete ({exc})"
    if not all(isinstance(getattr(result, k), dict) for k in ("protocol", "chosen", "truth", "ranking", "costs")):
        return "incomplete (a section is not a mapping)"
    return None


def _set_aside_broken(cell_dir: Path) -> list[str]:
    """Rename every unreadable or incomplete ``result.json`` of a cell to ``result.json.broken`` (kept for a look; no
    reader globs that name), which leaves its run directory unfinished: the cell is re-run, resuming there. Returns
    one description per file set aside."""
    found = []
    if not cell_dir.is_dir():
        return found
    for d in sorted(p for p in cell_dir.iterdir() if p.is_dir()):
        f = d / "result.json"
        if f.is_file() and (why := _result_problem(f)):
            try:
                os.replace(f, d / "result.json.broken")
            except OSError as exc:
                raise StorageError(f, exc, "set aside the broken result") from exc
            found.append(f"{f} is {why}; kept as result.json.broken")
    return found


def _finished_result(cell_dir: Path) -> Path | None:
    if not cell_dir.is_dir():
        return None
    done = sorted(d / "result.json" for d in cell_dir.iterdir() if (d / "result.json").exists())
    return done[-1] if done else None


def _inside(path: Path, base: Path, what: str) -> Path:
    """``path`` resolved (symlinks and ``..`` followed); an error unless it lies under ``base``."""
    real, top = path.resolve(), base.resolve()
    if real != top and top not in real.parents:
        raise ConfigError(f"the sweep would write {what} {str(real)!r}, outside --out-dir {str(top)!r} (from "
                          f"{str(path)!r}); nothing was written. Rename the suite or the dataset to a plain name, or "
                          f"remove the symlink that leads out of --out-dir.")
    return real


def sweep(suite: SuiteConfig, *, out_dir: str | Path = "runs/sweeps", tracking: bool = True,
          tracking_uri: str | None = None, data_dir: str | None = None, force: bool = False,
          only: Callable[[Cell], bool] | None = None,
          on_cell: Callable[[Cell, str, int, int], None] | None = None, backend: str = "local",
          ray_address: str | None = None, resources: dict | None = None,
          progress: Callable[[int, int], None] | None = None,
          status: Callable[[str], None] | None = None,
          warn: Callable[[str], None] | None = None) -> SweepOutcome:
    """Run a suite's cells (``on_cell(cell, status, k, total)`` reports progress): one after another in this process
    (``backend="local"``), or as Ray tasks (``"ray"``: a local Ray started on 127.0.0.1, or the cluster at
    ``ray_address``), each needing ``resources`` ``{"cpus": n, "gpus": m}``. Every cell logs to the same tracking
    URI; only this process writes ``sweep.json``. ``progress`` / ``status``: the running cell's progress callbacks
    (as :func:`nasharness.api.run`'s; local backend). ``warn``: each warning as it happens (a tracking store that
    does not answer, a cell not logged, a broken result re-run); they are also in ``SweepOutcome.warnings``.

    A tracking store that does not answer never fails the sweep: the runs are written and each run's ``result.json``
    records the error, for ``nasharness sync``. A full or read-only ``out_dir`` stops the sweep with a
    :class:`StorageError` (the cells done so far stay done)."""
    if backend not in ("local", "ray"):
        raise UserError(f"unknown sweep backend {backend!r}; valid: local, ray.")
    resources = {"cpus": 1, "gpus": 0, **(resources or {})}
    from . import api  # noqa: PLC0415
    from .compare import compare_dirs, write_compare  # noqa: PLC0415

    cells, unsupported = suite.cells()
    if only is not None:
        cells = [c for c in cells if only(c)]
    base = Path(out_dir).expanduser()
    root = base / suite.suite
    # every path this sweep writes, checked before the first is created
    _inside(root, base, "the sweep directory")
    for cell in cells:
        _inside(root / "cells" / cell.id, root, "the cell directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(root, exc, "create the sweep directory") from exc
    state_path = root / "sweep.json"
    outcome = SweepOutcome(suite.suite, str(root.resolve()), unsupported=unsupported)

    def warning(msg: str) -> None:
        outcome.warnings.append(msg)
        if warn:
            warn(msg)

    state, state_lost = {}, False
    if state_path.exists():
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or not isinstance(state.get("cells", {}), dict):
                raise ValueError("not a sweep state object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            state, state_lost = {}, True
            try:
                os.replace(state_path, root / "sweep.json.broken")
            except OSError as err:
                raise StorageError(state_path, err, "set aside the unreadable sweep state") from err
            warning(f"{state_path} is unreadable ({type(exc).__name__}: {exc}); kept as sweep.json.broken and "
                    f"rebuilt: cells with a complete result.json count as done, the others run.")
    if state.get("suite_config") not in (None, _jsonable(suite)):
        state["previous_suite_config"] = state["suite_config"]
    state.update({"suite": suite.suite, "suite_config": _jsonable(suite), "cells": state.get("cells", {})})

    # a truncated or incomplete result.json is not a finished run: set it aside (compare would fail on it) and re-run
    broken: dict[str, list[str]] = {}
    if (root / "cells").is_dir():
        for cell_dir in sorted(p for p in (root / "cells").iterdir() if p.is_dir()):
            if found := _set_aside_broken(cell_dir):
                broken[cell_dir.name] = found
    for cell_id, found in broken.items():
        if cell_id in state["cells"] and state["cells"][cell_id].get("status") == "done":
            state["cells"][cell_id] = {"status": "broken", "error": "; ".join(found)}
        outcome.rerun_broken.append(cell_id)
        warning(f"cell {cell_id}: {'; '.join(found)}; the cell is not done and runs again.")

    parent = _ParentRun(suite, tracking_uri, state.get("parent_run_id")) if tracking else None
    if parent is not None:
        parent.start()
        state["parent_run_id"] = outcome.parent_run_id = parent.run_id
        state["tracking_uri"] = outcome.tracking_uri = parent.uri
        if not parent.ok:
            outcome.tracking_error = parent.error
            state["tracking_error"] = parent.error
            warning(f"the tracking store {parent.uri!r} did not answer ({parent.error}); the cells run without "
                    f"MLflow and each result.json records this, upload them later with `nasharness sync "
                    f"{root / 'cells'}`.")
        else:
            state.pop("tracking_error", None)
    atomic_write_json(state_path, state)
    todo: list[tuple[int, Cell, RunConfig]] = []
    for k, cell in enumerate(cells, 1):
        cell_dir = root / "cells" / cell.id
        prev = state["cells"].get(cell.id, {})
        done = prev.get("status") == "done" or (state_lost and cell.id not in broken)
        if not force and done and _finished_result(cell_dir):
            outcome.skipped_done.append(cell.id)
            if state_lost:
                state["cells"][cell.id] = {"status": "done", "run_dir": str(_finished_result(cell_dir).parent)}
            if on_cell:
                on_cell(cell, "skipped (done)", k, len(cells))
            continue
        tags = {"suite": suite.suite, "cell": cell.id}
        if parent is not None and parent.run_id:
            tags["mlflow.parentRunId"] = parent.run_id
        config = suite.run_config(cell, out_dir=cell_dir, tracking=tracking and parent.ok, tracking_uri=parent.uri
                                  if parent else tracking_uri, data_dir=data_dir, tags=tags)
        if _unfinished(cell_dir) and not force:
            config = dataclasses.replace(config, resume=True)
        todo.append((k, cell, config))

    def started(k: int, cell: Cell, config: RunConfig) -> None:
        what = "re-running (its result.json was broken)" if cell.id in broken else (
            "resuming" if config.resume else "running")
        if on_cell:
            on_cell(cell, what, k, len(cells))
        state["cells"][cell.id] = {"status": "running", "started": time.time()}
        atomic_write_json(state_path, state)

    def not_logged(run_dir: str) -> str | None:
        """The run's tracking error; for a run the sweep kept off MLflow (its store did not answer), record that in
        its result.json so that `nasharness sync` knows to upload it."""
        path = Path(run_dir) / "result.json"
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # a Ray cluster's run directory this machine cannot see
            return None
        t = result.get("tracking") or {}
        if parent is not None and not parent.ok and not t.get("run_id"):
            t = {"uri": parent.uri, "experiment": suite.experiment_name,
                 "error": f"not logged: the sweep's tracking store did not answer ({parent.error})"}
            result["tracking"] = t
            atomic_write_json(path, result)
        return t.get("error")

    def finished(k: int, cell: Cell, t0: float, run_dir: str | None, run_id: str | None, error: str | None,
                 tb: str = "") -> None:
        if error is not None:
            state["cells"][cell.id] = {"status": "failed", "error": error, "traceback": tb, "wall_s": time.time() - t0}
            outcome.failed[cell.id] = error
            if on_cell:
                on_cell(cell, f"FAILED: {error}", k, len(cells))
        else:
            tracking_error = not_logged(run_dir) if tracking else None
            state["cells"][cell.id] = {"status": "done", "run_dir": run_dir, "wall_s": time.time() - t0,
                                       "mlflow_run_id": run_id}
            outcome.done.append(cell.id)
            if tracking_error:
                state["cells"][cell.id]["tracking_error"] = tracking_error
                outcome.not_logged[cell.id] = tracking_error
                if parent is None or parent.ok:  # a parent that failed was reported once, above
                    warning(f"cell {cell.id}: done, but NOT logged to MLflow ({tracking_error}); the result is in "
                            f"{run_dir}, upload it with `nasharness sync {run_dir}`.")
                if on_cell:
                    on_cell(cell, "done (not logged to MLflow)", k, len(cells))
        atomic_write_json(state_path, state)  # after every cell: a killed sweep resumes from here

    failing = None
    try:
        if backend == "ray":
            _run_ray(todo, started, finished, address=ray_address, cpus=resources.get("cpus", 1),
                     gpus=resources.get("gpus", 0))
        else:
            for k, cell, config in todo:
                started(k, cell, config)
                t0 = time.time()
                try:
                    result = api.run(config, progress=progress, status=status)
                except UserError as exc:
                    if not isinstance(exc, StorageError) and not isinstance(exc.__cause__, StorageError):
                        finished(k, cell, t0, None, None, f"{type(exc).__name__}: {exc}",
                                 traceback.format_exc(limit=8))
                        continue
                    # a full or read-only disk: every further cell would fail the same way, so the sweep stops
                    state["cells"][cell.id] = {"status": "failed", "error": str(exc), "wall_s": time.time() - t0}
                    outcome.failed[cell.id] = str(exc)
                    raise
                except Exception as exc:  # noqa: BLE001 - one failing cell must not stop the suite
                    finished(k, cell, t0, None, None, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))
                else:
                    finished(k, cell, t0, result.run_dir, result.tracking.get("run_id"), None)
    except BaseException as exc:
        failing = exc
        raise
    finally:
        def step(fn) -> None:
            """Each closing step on its own: while the sweep already stops with an error (e.g. the disk filled up),
            that one is reported, not a later one, and what can still be recorded is."""
            try:
                fn()
            except UserError:
                if failing is None:
                    raise

        def summarize() -> None:
            table = compare_dirs([root / "cells"]) if (root / "cells").exists() else None
            if table is not None and len(table):
                outcome.summary = write_compare(table, root / "summary")
                outcome.table = table

        def close_parent() -> None:
            if parent is not None:
                parent.finish(outcome)
                if parent.ok and parent.error:
                    warning(f"the suite's MLflow parent run {parent.run_id} was not finished ({parent.error}); the "
                            f"summary is in {root}.")

        def record() -> None:
            state["last_sweep"] = {"done": outcome.done, "skipped_done": outcome.skipped_done,
                                   "failed": outcome.failed, "not_logged": outcome.not_logged,
                                   "finished": time.time()}
            atomic_write_json(state_path, state)

        step(summarize)
        step(close_parent)
        step(record)
    return outcome


def _jsonable(suite: SuiteConfig) -> dict:
    return json.loads(json.dumps(asdict(suite), default=list))


class _ParentRun:
    """The suite's MLflow parent run (re-opened when a sweep is resumed). A store that does not answer turns tracking
    off for the sweep (cells still write their run directories) instead of failing it."""

    def __init__(self, suite: SuiteConfig, tracking_uri: str | None, run_id: str | None):
        self.suite, self.tracking_uri, self.run_id = suite, tracking_uri, run_id
        self.uri: str | None = tracking_uri
        self.ok = False
        self.error: str | None = None
        self._client = None

    def start(self) -> None:
        try:
            import mlflow  # noqa: PLC0415
            from mlflow.tracking import MlflowClient  # noqa: PLC0415

            self.uri = self.tracking_uri or mlflow.get_tracking_uri()
            self._client = MlflowClient(tracking_uri=self.uri)
            exp = self._client.get_experiment_by_name(self.suite.experiment_name)
            exp_id = exp.experiment_id if exp else self._client.create_experiment(self.suite.experiment_name)
            if self.run_id:
                try:
                    run = self._client.get_run(self.run_id)
                    if run.info.experiment_id != exp_id:
                        self.run_id = None
                    else:
                        self._client.update_run(self.run_id, status="RUNNING")
                except Exception:  # noqa: BLE001 - the old parent was deleted: make a new one
                    self.run_id = None
            if not self.run_id:
                run = self._client.create_run(exp_id, run_name=f"suite-{self.suite.suite}",
                                              tags={"suite": self.suite.suite, "kind": "suite"})
                self.run_id = run.info.run_id
                self._client.log_param(self.run_id, "suite_file", self.suite.path or "")
                self._client.log_param(self.run_id, "budget", self.suite.budget)
                self._client.log_param(self.run_id, "seeds", ",".join(map(str, self.suite.seeds)))
            self.ok = True
        except Exception as exc:  # noqa: BLE001
            self.error = f"{type(exc).__name__}: {exc}"
            self.ok = False
            self.run_id = None

    def finish(self, outcome: SweepOutcome) -> None:
        if not self.ok:
            return
        try:
            for path in outcome.summary.values():
                self._client.log_artifact(self.run_id, path)
            self._client.set_terminated(self.run_id, status="FAILED" if outcome.failed else "FINISHED")
        except Exception as exc:  # noqa: BLE001 - the sweep's results are on disk either way
            self.error = f"{type(exc).__name__}: {exc}"


def _ray_cell(config_dict: dict, threads: int) -> dict:
    """One cell inside a Ray worker: the same ``api.run`` as the local backend."""
    import torch  # noqa: PLC0415

    from . import api  # noqa: PLC0415

    torch.set_num_threads(max(1, int(threads)))
    cfg = dict(config_dict)
    cfg["top_k"] = tuple(cfg["top_k"])
    try:
        result = api.run(RunConfig(**cfg))
    except Exception as exc:  # noqa: BLE001 - reported back to the driver, recorded as a failed cell
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=8)}
    return {"run_dir": result.run_dir, "run_id": result.tracking.get("run_id")}


def _run_ray(todo, started, finished, *, address: str | None, cpus: float, gpus: float) -> None:
    try:
        import ray  # noqa: PLC0415
    except ImportError as exc:
        raise UserError("the ray backend needs Ray: `pip install ray` (or use the default local backend).") from exc
    own = not ray.is_initialized()
    if own:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # a private local Ray, bound to the loopback interface only
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False,
                     num_cpus=max(int(cpus), os.cpu_count() or 1))
    try:
        task = ray.remote(num_cpus=cpus, num_gpus=gpus)(_ray_cell)
        pending = {}
        for k, cell, config in todo:
            started(k, cell, config)
            pending[task.remote(config.to_dict(), int(cpus))] = (k, cell, time.time())
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            k, cell, t0 = pending.pop(done[0])
            try:
                out = ray.get(done[0])
            except Exception as exc:  # noqa: BLE001 - a worker that died
                out = {"error": f"{type(exc).__name__}: {exc}", "traceback": ""}
            finished(k, cell, t0, out.get("run_dir"), out.get("run_id"), out.get("error"), out.get("traceback", ""))
    finally:
        if own:
            ray.shutdown()
