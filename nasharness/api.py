"""Library entry points. The CLI only parses arguments and calls these."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import RunConfig
from .envinfo import MemoryMonitor, environment, peak_rss_mb, pin_deterministic, pin_kernel_env, reset_peak_rss
from .errors import UserError
from .io import atomic_write_json
from .methods.base import SearchContext
from .metrics import ranking_report
from .plugins import BENCHMARKS, METHODS, get_benchmark, get_method, load_plugins
from .results import RunResult
from .tracking import MLflowTracker, NullTracker


def check_config(config: RunConfig):
    """Resolve and cross-check the plugin names of a config (cheap; no data is loaded). In deterministic mode the
    kernel ISA is pinned first, before the method's module imports torch."""
    if config.deterministic:
        pin_kernel_env()
    from .contracts import method_budgets, missing_capabilities  # noqa: PLC0415

    load_plugins()
    method_cls = get_method(config.method)
    lacking = [a for a in ("budget", "search") if not callable(getattr(method_cls, a, None))]
    if lacking:
        raise UserError(f"method {config.method!r} names {method_cls!r}, which does not meet the Method contract (it "
                        f"has no {' or '.join(lacking)}); see nasharness/contracts.py and docs/plugins.md.")
    budgets = method_budgets(method_cls)
    if config.budget not in budgets:
        raise UserError(f"method {config.method!r} has no budget {config.budget!r}; it has {', '.join(budgets)} "
                        f"(--budget).")
    bench = BENCHMARKS.canonical(config.bench)
    missing = missing_capabilities(method_cls, BENCHMARKS.factory(bench))
    if missing:
        raise UserError(f"method {config.method!r} does not run on benchmark {bench!r}: it needs "
                        f"{', '.join(missing)}, which the benchmark does not offer. Benchmarks it runs on: "
                        f"{', '.join(supported_benchmarks(method_cls)) or 'none registered'}.")
    return method_cls, bench


def supported_benchmarks(method_cls) -> list[str]:
    """The registered benchmarks that offer everything ``method_cls.requires``."""
    from .contracts import missing_capabilities  # noqa: PLC0415

    return [b for b in BENCHMARKS.names() if not missing_capabilities(method_cls, BENCHMARKS.factory(b))]


def _slug(name: str) -> str:
    """A name fit for a directory (a ``module:Class`` plugin reference): letters, digits, ``.``, ``_``, ``-``."""
    import re  # noqa: PLC0415

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _config_key(config: RunConfig) -> dict:
    """The parts of a config that must match for ``--resume`` to continue a run."""
    d = config.to_dict()
    for k in ("quiet", "resume", "tracking", "tracking_uri", "experiment", "out_dir", "tags"):
        d.pop(k, None)
    return d


def _prepare_run_dir(config: RunConfig, method: str, bench: str, dataset: str) -> Path:
    """A new run directory with ``config.json``, or with ``resume`` the newest unfinished one with the same config."""
    out = config.out_path
    key = _config_key(config)
    if config.resume and out.is_dir():
        for d in sorted((p for p in out.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True):
            cfg, done = d / "config.json", d / "result.json"
            if cfg.exists() and not done.exists():
                try:
                    saved = json.loads(cfg.read_text())
                except ValueError:
                    continue
                if {"deterministic": False, **saved} == key:  # runs from before the option match its default
                    return d
    if config.resume:
        raise UserError(f"--resume found no unfinished run with this configuration under {str(out)!r}; run without "
                        f"--resume to start one (or pass the same --out-dir and options as the killed run).")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{stamp}-{_slug(method)}-{_slug(bench)}-{dataset}-s{config.seed}-{uuid.uuid4().hex[:6]}"
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        atomic_write_json(run_dir / "config.json", key)
    except OSError as exc:
        raise UserError(f"cannot create the run directory {str(run_dir)!r} ({exc.strerror}); pass a writable "
                        f"--out-dir.") from exc
    return run_dir


def resumable_run_dir(config: RunConfig) -> Path | None:
    """The newest unfinished run directory with this configuration (what ``--resume`` continues), or None."""
    import dataclasses  # noqa: PLC0415

    try:
        return _prepare_run_dir(dataclasses.replace(config, resume=True), "", "", "")
    except (UserError, OSError):
        return None


@contextmanager
def standalone_run_dir(config: RunConfig, method: str, bench: str, dataset: str):
    """The run directory of a job outside :func:`run` (``train``, ``verify``): new, or with ``resume`` the unfinished
    one; removed again when a user error stops the job before anything but its config was written."""
    run_dir = _prepare_run_dir(config, method, bench, dataset)
    try:
        yield run_dir
    except UserError:
        _discard_if_empty(run_dir)
        raise


def _discard_if_empty(run_dir: Path) -> None:
    """Remove a run directory that holds nothing but its config (no checkpoint worth resuming)."""
    if {p.name for p in run_dir.iterdir()} <= {"config.json"}:
        for p in run_dir.iterdir():
            p.unlink()
        run_dir.rmdir()


def run(config: RunConfig, *, progress: Callable[[int, int], None] | None = None,
        status: Callable[[str], None] | None = None) -> RunResult:
    """Run one search on one benchmark, score it against the table's truth, write and log the result."""
    method_cls, bench_name = check_config(config)
    pin_notes = pin_deterministic() if config.deterministic else []  # after check_config pinned the kernel ISA
    reset_peak_rss()  # this run's own peak, also when a sweep runs many in one process
    mem = MemoryMonitor().__enter__()
    try:
        return _run(config, method_cls, bench_name, mem, progress, status, pin_notes)
    except UserError as exc:  # a full / read-only disk before result.json: leave no run directory without its result
        import shutil  # noqa: PLC0415

        from .errors import StorageError  # noqa: PLC0415

        store = exc if isinstance(exc, StorageError) else exc.__cause__
        if isinstance(store, StorageError):  # keep a directory with checkpoints (resumable), drop config + plots
            for d in (p for p in Path(store.path).parents if p.parent == config.out_path):
                if d.is_dir() and not (d / "result.json").exists() and all(
                        f.name == "config.json" or f.suffix in (".png", ".tmp") for f in d.iterdir()):
                    shutil.rmtree(d, ignore_errors=True)
        raise
    finally:
        mem.__exit__()


def _run(config, method_cls, bench_name, mem, progress, status, pin_notes) -> RunResult:
    say = status or (lambda msg: None)
    phases: dict[str, float] = {}
    t_all = time.perf_counter()

    t0 = time.perf_counter()
    mem.phase("load")
    say(f"loading benchmark {bench_name}")
    bench = get_benchmark(bench_name, config.data_dir)
    phases["load"] = time.perf_counter() - t0
    dataset = bench.check_dataset(config.dataset or bench.datasets[0])
    method = method_cls(config)
    proto = method.protocol(bench, dataset) if hasattr(method, "protocol") else bench.protocol(dataset)
    budget = method.budget(bench, dataset)
    method_name = METHODS.canonical(config.method)
    rank = _join_process_group(config, method)
    run_dir = _shared_run_dir(config, method_name, bench_name, dataset, rank)
    search_seed, boot_seed, baseline_seed = np.random.SeedSequence(config.seed).spawn(3)

    t0 = time.perf_counter()
    say(f"searching with {method_name}")
    mem.phase("search")
    sub_phases = ["search"]

    def phase(name: str) -> None:  # a method's own phases (supernet_train, ...) inside the search
        sub_phases.append(name)
        mem.phase(name)

    ctx = SearchContext(bench, proto, budget, np.random.default_rng(search_seed), config,
                        progress or (lambda a, t: None), say, run_dir, config.resume, phase)
    try:
        outcome = method.search(ctx)
    except UserError:
        _discard_if_empty(run_dir)  # a rejected input leaves no half-made run behind
        raise
    phases["search"] = time.perf_counter() - t0
    phases.update(outcome.phases)

    t0 = time.perf_counter()
    mem.phase("evaluate")
    notes = [*pin_notes, *outcome.notes]
    if getattr(bench, "tabular", True):
        scored = _score_on_table(bench, proto, outcome, config, boot_seed, method_name, bench_name, run_dir, notes,
                                 baseline_seed)
    else:  # a space without a table: the method's own measurements are the truth
        scored = {"chosen": {"index": -1, "arch": outcome.chosen_arch}, "truth": dict(outcome.truth), "regret": {},
                  "ranking": {}, "rank_sets": {}, "best_in_table": None, "labeled": 0,
                  "artifacts": list(outcome.artifacts)}
    phases["evaluate"] = time.perf_counter() - t0
    phases["total"] = time.perf_counter() - t_all
    if proto.note:
        notes.append(proto.note)
    costs = {f"{k}/wall_s": round(v, 4) for k, v in phases.items()}
    mem.phase("end")
    peaks = {k: v for k, v in mem.peaks.items() if k not in ("start", "end")}
    peaks["search"] = max(peaks.get(k, 0.0) for k in sub_phases)  # the search phase includes the method's own
    costs.update({f"{k}/peak_mem_mb": round(v, 1) for k, v in peaks.items()})
    costs.update({"simulated_train_s": outcome.sim_seconds, "peak_mem_mb": round(peak_rss_mb(), 1),
                  "device_hours": phases["total"] / 3600.0})
    costs.update(outcome.costs)
    result = RunResult(
        method=method_name, bench=bench_name, dataset=dataset, seed=config.seed, budget=budget.name,
        protocol={"benchmark": bench.title if getattr(bench, "tabular", True) else f"the {bench.name} space",
                  "proxy": proto.proxy, "final": proto.final, "proxy_epochs": proto.proxy_epochs,
                  "ranking_scores": outcome.score_name,
                  "ranking_truths": outcome.rank_truths if outcome.rank_truths is not None else [proto.final],
                  "ranking_n": scored["rank_sets"],
                  "budget": {"max_archs": budget.max_archs, "max_sim_seconds": budget.max_sim_seconds},
                  "best_in_table": scored["best_in_table"], "labeled_archs": scored["labeled"],
                  "space_size": bench.space_size, **outcome.params},
        chosen=scored["chosen"], truth=scored["truth"], regret=scored["regret"], ranking=scored["ranking"],
        costs=costs, n_evaluated=int(outcome.metrics.get("search/n_evaluations", len(outcome.scored))),
        notes=notes, trajectory=outcome.trajectory, config=config.to_dict(),
        env=environment(images_sha256=outcome.params.get("images_sha256"), deterministic=config.deterministic),
        extra={**outcome.metrics, **scored.get("extra", {})}, artifacts=scored["artifacts"],
        baselines=scored.get("baselines", {}),
    )
    if rank != 0:  # data-parallel worker: rank 0 writes and logs the (identical) result
        result.run_dir = str(run_dir.resolve())
        return result
    return write_and_log(result, config, run_dir)


def _score_on_table(bench, proto, outcome, config, boot_seed, method_name, bench_name, run_dir, notes,
                    baseline_seed=None) -> dict:
    """Truth, regret and ranking metrics of a search on a tabular benchmark, plus its plots."""
    chosen = outcome.chosen
    report = outcome.report or [proto.final, proto.proxy]
    truth_metrics = {m: float(bench.query(chosen, m)) for m in report}
    # The candidates a search on this protocol can pick from: labeled with both the proxy and the truth.
    labeled = np.isfinite(bench.column(proto.final)) & np.isfinite(bench.column(proto.proxy))
    regret = {}
    best_in_table = {}
    for m in outcome.regret_on or [proto.final]:
        col = bench.column(m)
        best_in_table[m] = float(col[labeled].max())
        regret[m] = best_in_table[m] - truth_metrics[m]
    ranking = {}
    rank_sets = {}
    extra = {}
    from .metrics.ranking import degenerate_scores  # noqa: PLC0415

    degenerate = degenerate_scores(outcome.scores)
    if degenerate:  # a diverged run must not finish looking like a normal result
        notes.append(degenerate)
        extra["ranking/degenerate"] = 1.0
    from .metrics.baselines import free_baseline_report  # noqa: PLC0415

    free = bench.free_baselines(proto.dataset) if hasattr(bench, "free_baselines") else {}
    baselines: dict = {}
    for t in outcome.rank_truths or [proto.final]:
        truth = bench.column(t)[outcome.scored]
        keep = np.isfinite(truth) & outcome.rank_subsets.get(t, True)
        rank_sets[t] = int(keep.sum())
        ranks = ranking_report(np.asarray(outcome.scores)[keep], truth[keep], ks=config.top_k,
                               rng=np.random.default_rng(boot_seed), n_boot=config.n_boot)
        ranking.update({f"rank/{t}/{k}": r.to_dict() for k, r in ranks.items()})
        if free:
            idx = outcome.scored[keep]
            baselines[t] = free_baseline_report(np.asarray(outcome.scores, float)[keep], truth[keep],
                                                {name: col[idx] for name, col in free.items()},
                                                rng=np.random.default_rng(baseline_seed), n_boot=config.n_boot)
    artifacts = list(outcome.artifacts)
    try:
        from .report.plots import ranking_scatter  # noqa: PLC0415

        t = (outcome.rank_truths or [proto.final])[0]
        keep = np.isfinite(bench.column(t)[outcome.scored]) & outcome.rank_subsets.get(t, True)
        artifacts.append(str(ranking_scatter(
            np.asarray(outcome.scores, float)[keep], bench.column(t)[outcome.scored][keep],
            xlabel=outcome.score_name,
            ylabel=f"true {t}", title=f"{method_name} on {bench.title} (seed {config.seed})",
            path=run_dir / "ranking_scatter.png", kendall=ranking[f"rank/{t}/kendall_tau"]["value"])))
        curve = [(p["step"], p[k]) for p in outcome.trajectory for k in p if k.startswith("train/kt/")]
        if curve:
            from .report.plots import kt_curve  # noqa: PLC0415

            kt_key = next(k for p in outcome.trajectory for k in p if k.startswith("train/kt/"))
            artifacts.append(str(kt_curve({f"seed {config.seed}": curve}, ylabel=f"Kendall tau vs {kt_key[9:]}",
                                          title=f"{method_name} on {bench.title}: ranking during training",
                                          path=run_dir / "kt_vs_epoch.png")))
    except ImportError:  # matplotlib is optional for library users
        pass
    if bench.coverage < 1:
        notes.append(f"regret is relative to the best of the {int(labeled.sum()):,} architectures labeled with "
                     f"{' and '.join(dict.fromkeys([proto.proxy, proto.final]))}, not the whole space of "
                     f"{bench.space_size:,}")
    return {"chosen": {"index": chosen, "arch": bench.key_of(chosen)}, "truth": truth_metrics, "regret": regret,
            "ranking": ranking, "rank_sets": rank_sets, "best_in_table": best_in_table.get(proto.final),
            "labeled": int(labeled.sum()), "artifacts": artifacts, "extra": extra, "baselines": baselines}


def _join_process_group(config: RunConfig, method) -> int:
    """Under ``torchrun`` (WORLD_SIZE > 1) a one-shot run trains data-parallel: join the process group (gloo on CPU,
    NCCL on CUDA) and return this process's rank; 0 otherwise."""
    import os  # noqa: PLC0415

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    if getattr(method, "kind", "") != "one-shot":
        raise UserError(f"method {config.method!r} does not train a supernet; run it without torchrun (WORLD_SIZE="
                        f"{os.environ['WORLD_SIZE']}).")
    from .supernet import distributed  # noqa: PLC0415
    from .supernet.device import resolve_device  # noqa: PLC0415

    distributed.init_from_env(resolve_device(config.device))
    return distributed.world()[0]


def _shared_run_dir(config: RunConfig, method: str, bench: str, dataset: str, rank: int) -> Path:
    """Rank 0 makes (or, with --resume, finds) the run directory; the other ranks are told its path."""
    if rank == 0 and not _distributed():
        return _prepare_run_dir(config, method, bench, dataset)
    import torch.distributed as dist  # noqa: PLC0415

    box = [str(_prepare_run_dir(config, method, bench, dataset)) if rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])


def _distributed() -> bool:
    from .supernet.distributed import active  # noqa: PLC0415

    return active()


def write_and_log(result: RunResult, config: RunConfig, run_dir: Path) -> RunResult:
    """Write ``result.json`` atomically into ``run_dir`` (first: the result is safe whatever tracking does), then log
    it to the tracking store within the bounded time, recording where it went (or why not, for ``sync``)."""
    result.run_dir = str(run_dir.resolve())
    path = run_dir / "result.json"
    atomic_write_json(path, result.to_dict())  # first: the result is safe whatever tracking does
    if config.tracking:
        from .tracking.store import limits, run_bounded  # noqa: PLC0415

        tracker = None
        try:
            bound = limits()["deadline_s"]
            tracker = MLflowTracker(config.experiment, config.tracking_uri,
                                    run_name=f"{result.method}-{result.bench}-{result.dataset}-s{result.seed}",
                                    tags=config.tags, deadline=time.monotonic() + bound)
            tracker.resolve()  # the mlflow import in this thread, outside the bound

            def upload() -> None:
                with tracker:
                    _log(tracker, result)
                    tracker.log_artifact(path)
                    for art in result.artifacts:
                        tracker.log_artifact(art)

            run_bounded(upload, bound, f"logging to {tracker.uri!r}", on_timeout=tracker.cancel)
            result.tracking = {"uri": tracker.uri, "experiment": config.experiment, "run_id": tracker.run_id}
        except Exception as exc:  # noqa: BLE001 - any tracking failure must not lose the result: kept for sync
            uri = (tracker.uri if tracker is not None else None) or config.tracking_uri
            result.tracking = {"uri": uri, "experiment": config.experiment, "error": f"{type(exc).__name__}: {exc}",
                               "sync": f"nasharness sync {result.run_dir}",
                               **({"partial_run_id": tracker.run_id} if tracker is not None and tracker.run_id else {})}
        atomic_write_json(path, result.to_dict())
    return result


def sync(run_dir: str | Path, *, tracking_uri: str | None = None, experiment: str | None = None,
         force: bool = False) -> RunResult:
    """Upload a finished run directory's result (metrics, params, artifacts) to a tracking store — for runs whose store
    was unreachable, or to copy runs into another store. A run already logged to that store is left alone unless
    ``force``. The result's ``tracking`` field records where it went."""
    import dataclasses  # noqa: PLC0415

    run_dir = Path(run_dir).expanduser()
    path = run_dir / "result.json"
    if not path.is_file():
        raise UserError(f"{str(run_dir)!r} holds no result.json: it is not a finished run directory (an unfinished run "
                        f"continues with `nasharness run ... --resume`).")
    result = RunResult.load(path)
    cfg = dict(result.config)
    cfg["top_k"] = tuple(cfg.get("top_k", (10, 50)))
    config = dataclasses.replace(RunConfig(**cfg), tracking=True,
                                 tracking_uri=tracking_uri or cfg.get("tracking_uri"),
                                 experiment=experiment or cfg.get("experiment") or "nasharness")
    done = result.tracking.get("run_id") and not result.tracking.get("error")
    if done and not force and (config.tracking_uri in (None, result.tracking.get("uri"))):
        return result
    # artifacts travel with the directory: re-point them if it was moved
    result.artifacts = [a if Path(a).exists() else str(run_dir / Path(a).name) for a in result.artifacts
                        if Path(a).exists() or (run_dir / Path(a).name).exists()]
    out = write_and_log(result, config, run_dir)
    if out.tracking.get("error"):
        raise UserError(f"could not upload {str(run_dir)!r} to {out.tracking.get('uri')!r}: {out.tracking['error']}. "
                        f"The run directory is unchanged apart from this note; try again when the store answers.")
    return out


def _log(tracker, result: RunResult) -> None:
    tracker.set_tags({"method": result.method, "bench": result.bench, "dataset": result.dataset,
                      "budget": result.budget, "git_commit": result.env.get("git_commit", "unknown")})
    params = {"method": result.method, "bench": result.bench, "dataset": result.dataset, "seed": result.seed,
              "budget": result.budget, "chosen_arch": result.chosen["arch"], "chosen_index": result.chosen["index"],
              "run_dir": result.run_dir, **{f"protocol/{k}": v for k, v in result.protocol.items()},
              **{f"config/{k}": v for k, v in result.config.items()},
              **{f"env/{k}": v for k, v in result.env.items()}}
    tracker.log_params(params)
    tracker.log_metrics(result.flat_metrics())
    for point in result.trajectory:  # anytime performance, step = evaluation number
        tracker.log_metrics({f"trajectory/{k}": v for k, v in point.items() if k != "step"}, step=point["step"])


def bench_info(name: str, data_dir=None) -> dict:
    return get_benchmark(name, data_dir).info()


def bench_query(name: str, arch: str, metrics: list[str] | None = None, data_dir=None) -> dict:
    """One architecture's row: by index (digits) or key (NB201 arch string / NB101 hash)."""
    bench = get_benchmark(name, data_dir)
    if not getattr(bench, "tabular", True):
        raise UserError(f"{name!r} is a search space without a table: there is nothing to look up. Measure an "
                        f"architecture by training it (`nasharness train --arch ...` for the DARTS space).")
    i = bench.index_of(_parse_index(arch, bench))
    names = list(metrics) if metrics else bench.metrics
    out = {"index": i, "arch": bench.key_of(i)}
    out.update({m: bench.query(i, m) for m in names})
    return out


def _parse_index(arch, bench) -> str | int:
    """A row index when ``arch`` is an (optionally negative) run of ASCII digits, else the key itself. ``str.isdigit``
    also accepts '²' and other Unicode digits that ``int`` rejects, and a huge run of digits exceeds ``int``'s limit:
    both are user errors naming the valid range."""
    import re  # noqa: PLC0415

    from .errors import brief  # noqa: PLC0415

    text = str(arch).strip()
    valid = f"valid indices are 0..{bench.size - 1}, or give the architecture's key"
    if re.fullmatch(r"-?[0-9]+", text):
        if len(text.lstrip("-")) > 18:  # far beyond any table, and beyond what int() may parse at 4,300 digits
            try:
                if bench.row_of(text) is not None:  # an NB101 hash may be all decimal digits
                    return text
            except UserError:
                pass
            raise UserError(f"architecture index {brief(text, 40)} is out of range for {bench.title}: "
                            f"{valid}.")
        return int(text)
    if text and any(c.isdigit() for c in text) and all(c.isdigit() or c == "-" for c in text):
        raise UserError(f"architecture index {brief(text, 40)} is not written in ASCII digits 0-9; {valid}.")
    return arch


def bench_prepare(name: str, data_dir=None, *, source: str | None = None, force: bool = False,
                  progress=None) -> dict:
    """Convert a benchmark's sources into the cache: the staged sources under the data root, or (``source``) an
    official file — NB101's ``.tfrecord``, NB201's ``.pth`` or NATS-Bench's ``NATS-tss-v1_0-3ffb9-simple`` folder."""
    canonical = BENCHMARKS.canonical(name)
    if source is not None:
        prepare = getattr(BENCHMARKS.factory(canonical), "prepare_source", None)
        if prepare is None:
            raise UserError(f"--source is for an official NAS-Bench-101 or -201 file (a benchmark's own source, e.g. "
                            f"NAS-Bench-101's .tfrecord); benchmark {canonical!r} has none.")
        return prepare(source, data_dir, force, progress)
    bench = get_benchmark(canonical, data_dir, force=force)
    if not getattr(bench, "tabular", True):
        raise UserError(f"{canonical!r} is a search space without a table: there is nothing to prepare.")
    return {k: v for k, v in bench.meta.items() if k != "columns"}


def compare_runs(paths: list[str] | None = None, *, tracking_uri: str | None = None, experiment: str | None = None,
                 suite: str | None = None, tags: dict | None = None):
    """The side-by-side table (and its per-run records): from run/sweep directories when ``paths`` are given, else
    from the MLflow store (filtered by experiment, suite tag and other tags)."""
    from .compare import aggregate, records_from_dirs, records_from_mlflow  # noqa: PLC0415

    records = records_from_dirs(paths) if paths else records_from_mlflow(tracking_uri, experiment, suite, tags)
    return aggregate(records), records


@dataclass
class ReportOutcome:
    markdown: str
    failed: list
    rows: list
    table: object
    baseline_path: str
    current_source: str
    updated: bool = False
    html: str | None = None


def report(baseline: str | Path, *, current: str | Path | None = None, update_baseline: bool = False,
           html_dir: str | Path | None = None) -> ReportOutcome:
    """Compare the current suite results (a sweep/run directory or a comparison CSV; default
    ``runs/sweeps/<baseline file stem>``) with the baseline CSV. ``update_baseline`` rewrites the baseline."""
    from .compare import aggregate, read_table_csv, records_from_dirs, render  # noqa: PLC0415
    from .io import atomic_write_text  # noqa: PLC0415
    from .regression import compare_to_baseline, environment_note, failed, to_markdown  # noqa: PLC0415

    baseline = Path(baseline)
    current = Path(current) if current else Path("runs/sweeps") / baseline.stem
    records = []
    if current.suffix == ".csv":
        table = read_table_csv(current)
    else:
        records = records_from_dirs([current])
        table = aggregate(records)
    if update_baseline:
        atomic_write_text(baseline, render(table, "csv"))
        md = f"Baseline {baseline} rewritten from {current} ({len(table)} rows).\n"
        out = ReportOutcome(md, [], [], table, str(baseline), str(current), updated=True)
    else:
        base_table = read_table_csv(baseline)
        rows = compare_to_baseline(base_table, table)
        out = ReportOutcome(to_markdown(rows, environment_note(base_table, table)), failed(rows), rows, table,
                            str(baseline), str(current))
    if html_dir:
        from .report.html import write_html  # noqa: PLC0415

        out.html = str(write_html(html_dir, table, regression_md_rows=out.rows if not out.updated else None,
                                  records=records, title=f"nasharness report: {current} vs {baseline}"))
    return out


# ---- other jobs logged as runs ----------------------------------------------------------------------------------
def train_arch(arch: str, *, bench: str = "darts", budget: str = "ci", seed: int = 0, overrides: dict | None = None,
               device: str = "auto", data_dir=None, dataset_root=None, out_dir: str = "runs", tracking: bool = True,
               tracking_uri: str | None = None, experiment: str = "nasharness", resume: bool = False,
               progress=None, status=None):
    """Train one DARTS-space architecture (a published name like ``FairDARTS_a`` or a genotype string) from scratch
    and log it like any run (method ``train``). Returns the :class:`~nasharness.results.RunResult`."""
    import dataclasses  # noqa: PLC0415

    from .contracts import offers  # noqa: PLC0415
    from .envinfo import peak_rss_mb, reset_peak_rss  # noqa: PLC0415
    from .spaces.darts import parse_genotype  # noqa: PLC0415
    from .supernet.device import resolve_device  # noqa: PLC0415
    from .train import describe_genotype, protocol_note, train_config, train_network, truth_name  # noqa: PLC0415

    load_plugins()
    if "trains-derived" not in offers(BENCHMARKS.factory(bench)):
        raise UserError(f"`train --arch` trains DARTS-space cells; benchmark {bench!r} does not train architectures "
                        f"from scratch (look a table's architectures up with `nasharness bench query`). Use --bench "
                        f"darts.")
    genotype = parse_genotype(arch)
    cfg = train_config(budget, dict(overrides or {}))
    config = RunConfig(method="train", bench="darts", dataset="cifar10", budget=budget, seed=seed, data_dir=data_dir,
                       tracking=tracking, tracking_uri=tracking_uri, experiment=experiment, out_dir=out_dir,
                       resume=resume, device=device, dataset_root=dataset_root,
                       overrides={**dict(overrides or {}), "arch": repr(genotype)})
    reset_peak_rss()
    t0 = time.perf_counter()
    with standalone_run_dir(config, "train", "darts", "cifar10") as run_dir:
        out = train_network(genotype, cfg, seed=seed, device=resolve_device(device), data_dir=data_dir,
                            dataset_root=dataset_root, checkpoint=run_dir / "checkpoints" / "last.pt", resume=resume,
                            progress=progress, status=status)
    total = time.perf_counter() - t0
    name = truth_name(cfg)
    sizes = describe_genotype(genotype)
    published = arch if isinstance(arch, str) and not arch.strip().startswith("Genotype") else None
    result = RunResult(
        method="train", bench="darts", dataset="cifar10", seed=seed,
        budget=RunConfig(method="train", bench="darts", budget=budget, overrides=dict(overrides or {})).budget_label,
        protocol={"proxy": "none", "final": name, "proxy_epochs": cfg.epochs, "ranking_truths": [],
                  "note": protocol_note(cfg), "train": json.dumps(dataclasses.asdict(cfg)),
                  "published_name": published or ""},
        chosen={"index": -1, "arch": repr(genotype)}, truth={name: out["test_acc"]}, regret={}, ranking={},
        costs={"train/wall_s": out["train_wall_s"], "eval/wall_s": out["eval_wall_s"], "total/wall_s": total,
               "device_hours": total / 3600.0, "epochs": cfg.epochs, "peak_mem_mb": round(peak_rss_mb(), 1),
               "params": float(out["params"]), "params_with_aux": float(out["params_with_aux"])},
        n_evaluated=1, notes=[protocol_note(cfg)],
        trajectory=[{"step": h["epoch"], **{f"train/{k}": v for k, v in h.items() if k != "epoch"}}
                    for h in out["history"]],
        config=config.to_dict(), env=environment(), extra=sizes)
    return write_and_log(result, config, run_dir)


__all__ = ["NullTracker", "bench_info", "bench_prepare", "bench_query", "compare_runs", "report", "run",
           "supported_benchmarks", "sync", "train_arch", "write_and_log"]

