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
    experiment: nasharness-ci      # optional MLflow experiment (default nasharness-<suite>)
    device: auto                   # optional
    bootstrap: 200                 # optional bootstrap resamples

Cells are method x benchmark x dataset x seed; a method is paired only with the benchmarks it supports (the
skipped pairs are listed, never silently dropped). A sweep keeps ``sweep.json`` in ``<out>/<suite>/``: the status of
every cell (done / failed with the error), written atomically after each cell. Re-running skips done cells (unless
``force``), resumes a cell killed mid-way from its checkpoint, and retries failed ones.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import BUDGET_NAMES, RunConfig
from .errors import ConfigError, UserError
from .io import atomic_write_json

SUITE_KEYS = ("suite", "description", "budget", "seeds", "methods", "benchmarks", "overrides", "experiment", "device",
              "deterministic",
              "bootstrap")


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
    experiment: str | None = None
    device: str = "auto"
    bootstrap: int = 200
    #: Every cell in deterministic mode (``RunConfig.deterministic``).
    deterministic: bool = False
    description: str = ""
    path: str | None = None

    def __post_init__(self):
        where = f"suite {self.path or self.suite!r}"
        if not isinstance(self.suite, str) or not self.suite.strip() or "/" in self.suite:
            raise ConfigError(f"{where}: 'suite' must be a non-empty name without '/', got {self.suite!r}.")
        if self.budget not in BUDGET_NAMES:
            raise ConfigError(f"{where}: unknown budget {self.budget!r}; valid: {', '.join(BUDGET_NAMES)}.")
        if not self.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise ConfigError(f"{where}: 'seeds' must be a non-empty list of integers >= 0, got {list(self.seeds)!r}.")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"{where}: 'seeds' lists a seed twice: {list(self.seeds)!r}.")
        if not isinstance(self.benchmarks, dict) or not self.benchmarks:
            raise ConfigError(f"{where}: 'benchmarks' must map benchmark names to dataset lists, e.g. "
                              f"{{'201': [cifar10]}}; got {self.benchmarks!r}.")
        if not isinstance(self.overrides, dict) or any(not isinstance(v, dict) for v in self.overrides.values()):
            raise ConfigError(f"{where}: 'overrides' must map method names to {{key: value}} tables, got "
                              f"{self.overrides!r}.")
        if isinstance(self.bootstrap, bool) or not isinstance(self.bootstrap, int) or self.bootstrap < 0:
            raise ConfigError(f"{where}: 'bootstrap' must be an integer >= 0, got {self.bootstrap!r}.")
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
        cells, skipped = [], []
        for m in methods:
            supported = getattr(METHODS.factory(m), "benchmarks", ())
            for b, datasets in self.benchmarks.items():
                bench = BENCHMARKS.canonical(str(b))
                valid = getattr(BENCHMARKS.factory(bench), "datasets", ())
                for d in datasets if isinstance(datasets, list | tuple) else [datasets]:
                    if valid and d not in valid:
                        raise ConfigError(f"suite {self.suite!r}: benchmark {bench} has no dataset {d!r}; valid: "
                                          f"{', '.join(valid)}.")
                if bench not in supported:
                    skipped.append(f"{m} x {bench} (the method supports {', '.join(supported)})")
                    continue
                for d in datasets if isinstance(datasets, list | tuple) else [datasets]:
                    if (getattr(METHODS.factory(m), "kind", "") in ("one-shot", "differentiable") and d != "cifar10"
                            and bench in ("201", "101")):
                        skipped.append(f"{m} x {bench}/{d} (weight-sharing methods train on CIFAR-10 images only)")
                        continue
                    cells += [Cell(m, bench, str(d), int(s)) for s in self.seeds]
        if not cells:
            raise ConfigError(f"suite {self.suite!r} has no runnable cell (skipped: {'; '.join(skipped)}).")
        return cells, skipped

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
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"suite file {str(path)!r} is not valid YAML: {exc}") from exc
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
                         overrides=raw.get("overrides") or {}, experiment=raw.get("experiment"),
                         device=str(raw.get("device", "auto")), bootstrap=raw.get("bootstrap", 200),
                         description=str(raw.get("description", "")), path=str(path))
    config.cells()  # names are checked now, not halfway through a sweep
    return config


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

    @property
    def ok(self) -> bool:
        return not self.failed


def _unfinished(cell_dir: Path) -> bool:
    """A killed run of this cell left a run directory (config, maybe checkpoints) but no result."""
    return cell_dir.is_dir() and any((d / "config.json").exists() and not (d / "result.json").exists()
                                     for d in cell_dir.iterdir() if d.is_dir())


def _finished_result(cell_dir: Path) -> Path | None:
    if not cell_dir.is_dir():
        return None
    done = sorted(d / "result.json" for d in cell_dir.iterdir() if (d / "result.json").exists())
    return done[-1] if done else None


def sweep(suite: SuiteConfig, *, out_dir: str | Path = "runs/sweeps", tracking: bool = True,
          tracking_uri: str | None = None, data_dir: str | None = None, force: bool = False,
          only: Callable[[Cell], bool] | None = None,
          on_cell: Callable[[Cell, str, int, int], None] | None = None, backend: str = "local",
          ray_address: str | None = None, resources: dict | None = None,
          progress: Callable[[int, int], None] | None = None,
          status: Callable[[str], None] | None = None) -> SweepOutcome:
    """Run a suite's cells (``on_cell(cell, status, k, total)`` reports progress): one after another in this process
    (``backend="local"``), or as Ray tasks (``"ray"``: a local Ray started on 127.0.0.1, or the cluster at
    ``ray_address``), each needing ``resources`` ``{"cpus": n, "gpus": m}``. Every cell logs to the same tracking
    URI; only this process writes ``sweep.json``. ``progress`` / ``status``: the running cell's progress callbacks
    (as :func:`nasharness.api.run`'s; local backend)."""
    if backend not in ("local", "ray"):
        raise UserError(f"unknown sweep backend {backend!r}; valid: local, ray.")
    resources = {"cpus": 1, "gpus": 0, **(resources or {})}
    from . import api  # noqa: PLC0415
    from .compare import compare_dirs, write_compare  # noqa: PLC0415

    cells, unsupported = suite.cells()
    if only is not None:
        cells = [c for c in cells if only(c)]
    root = Path(out_dir).expanduser() / suite.suite
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the sweep directory {str(root)!r} ({exc.strerror}); pass a writable "
                        f"--out-dir.") from exc
    state_path = root / "sweep.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("suite_config") not in (None, _jsonable(suite)):
        state["previous_suite_config"] = state["suite_config"]
    state.update({"suite": suite.suite, "suite_config": _jsonable(suite), "cells": state.get("cells", {})})
    outcome = SweepOutcome(suite.suite, str(root.resolve()), unsupported=unsupported)

    parent = _ParentRun(suite, tracking_uri, state.get("parent_run_id")) if tracking else None
    if parent is not None:
        parent.start()
        state["parent_run_id"] = outcome.parent_run_id = parent.run_id
        state["tracking_uri"] = parent.uri
    atomic_write_json(state_path, state)
    todo: list[tuple[int, Cell, RunConfig]] = []
    for k, cell in enumerate(cells, 1):
        cell_dir = root / "cells" / cell.id
        prev = state["cells"].get(cell.id, {})
        if not force and prev.get("status") == "done" and _finished_result(cell_dir):
            outcome.skipped_done.append(cell.id)
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
        if on_cell:
            on_cell(cell, "resuming" if config.resume else "running", k, len(cells))
        state["cells"][cell.id] = {"status": "running", "started": time.time()}
        atomic_write_json(state_path, state)

    def finished(k: int, cell: Cell, t0: float, run_dir: str | None, run_id: str | None, error: str | None,
                 tb: str = "") -> None:
        if error is not None:
            state["cells"][cell.id] = {"status": "failed", "error": error, "traceback": tb, "wall_s": time.time() - t0}
            outcome.failed[cell.id] = error
            if on_cell:
                on_cell(cell, f"FAILED: {error}", k, len(cells))
        else:
            state["cells"][cell.id] = {"status": "done", "run_dir": run_dir, "wall_s": time.time() - t0,
                                       "mlflow_run_id": run_id}
            outcome.done.append(cell.id)
        atomic_write_json(state_path, state)  # after every cell: a killed sweep resumes from here

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
                except Exception as exc:  # noqa: BLE001 - one failing cell must not stop the suite
                    finished(k, cell, t0, None, None, f"{type(exc).__name__}: {exc}", traceback.format_exc(limit=8))
                else:
                    finished(k, cell, t0, result.run_dir, result.tracking.get("run_id"), None)
    finally:
        table = compare_dirs([root / "cells"]) if (root / "cells").exists() else None
        if table is not None and len(table):
            outcome.summary = write_compare(table, root / "summary")
            outcome.table = table
        if parent is not None:
            parent.finish(outcome)
        state["last_sweep"] = {"done": outcome.done, "skipped_done": outcome.skipped_done, "failed": outcome.failed,
                               "finished": time.time()}
        atomic_write_json(state_path, state)
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
