"""The ``nasharness`` command line: parse, validate, call the library, print. Nothing else lives here."""

from __future__ import annotations

import json
import sys

import click

from .config import BUDGET_NAMES, DEFAULT_METHOD_BUDGETS, RunConfig
from .errors import UserError


class _LazyModule:
    """``api`` imported on first use: ``nasharness --help`` and the bench commands import neither torch, mlflow nor
    pandas before they need them (a test checks ``sys.modules``)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        from importlib import import_module  # noqa: PLC0415

        return getattr(import_module(self._name), attr)


api = _LazyModule("nasharness.api")


class _Group(click.Group):
    """Turns UserError into a one-paragraph message and exit code 2 (never a traceback for user mistakes)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def _console(quiet: bool):
    from rich.console import Console  # noqa: PLC0415

    return Console(stderr=True, quiet=quiet)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nasharness")
def cli():
    """Benchmark NAS methods honestly: ranking correlation and cost, logged to MLflow."""


def _method_names() -> list[str]:
    """Method names without importing the methods (torch): the built-in table plus anything registered so far."""
    from .plugins import METHODS  # noqa: PLC0415

    return METHODS.registered()


def _bench_datasets() -> dict[str, tuple[str, ...]]:
    """Each registered benchmark's datasets, the first being the default (the benchmark registry is torch-free)."""
    from .plugins import BENCHMARKS  # noqa: PLC0415

    return {name: tuple(getattr(BENCHMARKS.factory(name), "datasets", ())) for name in BENCHMARKS.names()}


def _format_option(default: str = "table"):
    from .terminal import FORMATS  # noqa: PLC0415

    return click.option("--format", "fmt", type=click.Choice(FORMATS), default=default, show_default=True,
                        help="table: a table (full width when stdout is not a terminal); md, csv, json: for files "
                             "and scripts.")


METHOD_HELP = f"Search method: {', '.join(_method_names())} (see `nasharness methods list`)."
BENCH_HELP = f"Benchmark: {', '.join(_bench_datasets())} (see `nasharness bench list`)."
DATASET_HELP = "Dataset (default: the benchmark's first): " + "; ".join(
    f"{b}: {', '.join(ds)}" for b, ds in _bench_datasets().items()) + "."


@cli.command()
@click.option("--method", "-m", required=True, metavar="NAME", help=METHOD_HELP)
@click.option("--bench", "-b", required=True, metavar="NAME", help=BENCH_HELP)
@click.option("--dataset", "-d", default=None, help=DATASET_HELP)
@click.option("--budget", type=click.Choice(BUDGET_NAMES), default="ci", show_default=True,
              help="Named budget: ci (small, CPU), cpu (NB201 one-shot: the CPU study budget, about an hour) or "
                   "paper (published scale).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--max-archs", type=int, default=None, help="Override: at most this many architectures.")
@click.option("--max-sim-seconds", type=float, default=None, help="Override: simulated training-time budget (s).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Data root (default: NASHARNESS_DATA_DIR, else ../shared/data beside the checkout).")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or MLflow's "
              "local default). Logging is bounded: NASHARNESS_TRACKING_TIMEOUT s per request (10), "
              "NASHARNESS_TRACKING_RETRIES (1), NASHARNESS_TRACKING_DEADLINE s in all (120); a run that could not be "
              "logged says so on stderr and `nasharness sync RUN_DIR` uploads it later.")
@click.option("--experiment", default="nasharness", show_default=True, help="MLflow experiment name.")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow (the run directory is still written).")
@click.option("--out-dir", default="runs", show_default=True, help="Where run directories (result.json) go.")
@click.option("--bootstrap", "n_boot", type=int, default=200, show_default=True,
              help="Bootstrap resamples for confidence intervals (0 = none).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one budget setting, e.g. --set epochs=10 --set n_archs=200 (one-shot methods: supernet "
                   "and evaluation fields; see docs/oneshot.md, docs/differentiable.md, docs/zerocost.md).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N (one-shot methods).")
@click.option("--dataset-root", type=click.Path(), default=None,
              help="Images: a cifar-10-batches-py folder, or a folder with cifar10-jpg.tar (default: the data root).")
@click.option("--resume", is_flag=True, help="Continue the newest unfinished run with the same options from its last "
              "checkpoint.")
@click.option("--max-madds", default=None, help="ImageNet spaces: pick the most accurate Pareto architecture within "
              "this many multiply-adds at 224x224 (e.g. 350M); a zero-cost proxy on a space without a table: the "
              "best-scored candidate within it.")
@click.option("--train-derived", is_flag=True, help="DARTS space (differentiable search or a zero-cost proxy): also "
              "train the derived or picked network from scratch at the budget's training recipe and report its test "
              "accuracy.")
@click.option("--deterministic", is_flag=True, help="Pin one thread, AVX2 kernels and deterministic algorithms: the "
              "same numbers on any x86-64 machine and thread setting, at a cost in speed "
              "(docs/reproducibility.md).")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def run(method, bench, dataset, budget, seed, max_archs, max_sim_seconds, data_dir, tracking_uri, experiment,
        no_tracking, out_dir, n_boot, overrides, device, dataset_root, resume, max_madds, train_derived, deterministic,
        as_json, quiet):
    """Run one search method on one benchmark and score its ranking against the table's truth."""
    parsed = _parse_sets(overrides)
    if max_madds is not None:
        parsed["max_madds"] = max_madds
    if train_derived:
        parsed["train_derived"] = "true"
    config = RunConfig(method=method, bench=bench, dataset=dataset, budget=budget, seed=seed, data_dir=data_dir,
                       tracking=not no_tracking, tracking_uri=tracking_uri, experiment=experiment, out_dir=out_dir,
                       max_archs=max_archs, max_sim_seconds=max_sim_seconds, n_boot=n_boot, quiet=quiet,
                       overrides=parsed, device=device, dataset_root=dataset_root, resume=resume,
                       deterministic=deterministic)
    import os  # noqa: PLC0415

    if config.tracking:  # a bad NASHARNESS_TRACKING_* value is a user mistake: exit 2 before the run, not after
        from .tracking.store import limits  # noqa: PLC0415

        limits()
    worker = os.environ.get("RANK", "0") != "0"  # a torchrun worker other than rank 0: rank 0 reports
    before = _run_dirs(config)
    try:
        result = _run_with_progress(config, quiet or worker)
    except Interrupted as exc:
        if not worker:
            exc.where = _interrupted_run(config, before)
        raise
    if worker:
        return
    if result.tracking.get("error"):  # on stderr whatever --json / --quiet say: the run is not in the store yet
        click.echo(_tracking_failure_line(result), err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    from .report_text import print_summary  # noqa: PLC0415

    print_summary(result)  # the summary goes to stdout even with --quiet (which silences progress)
    from .baseline import compare_with_baseline  # noqa: PLC0415

    line = compare_with_baseline(result)
    if line:
        click.echo(line)


def _tracking_failure_line(result) -> str:
    t = result.tracking
    err = " ".join(str(t.get("error", "")).split())
    if len(err) > 400:
        err = err[:399] + "…"
    return (f"warning: not logged to the MLflow store {t.get('uri')!r}: {err} -- the result is safe in "
            f"{result.run_dir}/result.json; upload it later with `nasharness sync {result.run_dir}`.")


def _run_dirs(config: RunConfig) -> set:
    out = config.out_path
    return {p.name for p in out.iterdir() if p.is_dir()} if out.is_dir() else set()


def _interrupted_run(config: RunConfig, before: set):
    """The run directory an interrupted ``run`` was writing: the one it made (not there before), else with
    ``--resume`` the unfinished one it continued; None when it was stopped before making one."""
    out = config.out_path
    made = sorted(n for n in _run_dirs(config) - before if (out / n / "config.json").exists())
    if made:
        return out / made[-1]
    if config.resume:
        return api.resumable_run_dir(config)
    return None


def _parse_sets(items) -> dict:
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set expects KEY=VALUE, got {item!r}; e.g. --set epochs=10.")
        parsed[key.strip()] = value.strip()
    return parsed


@cli.command()
@click.option("--arch", required=True, help="A published cell (FairDARTS_a ... FairDARTS_g, DARTS_V1, DARTS_V2) or a "
              "genotype string Genotype(normal=[('sep_conv_3x3', 2, 0), ...], normal_concat=[...], reduce=[...], "
              "reduce_concat=[...]).")
@click.option("--bench", "-b", default="darts", show_default=True, help="The space of the architecture (darts).")
@click.option("--budget", type=click.Choice(DEFAULT_METHOD_BUDGETS), default="ci", show_default=True,
              help="ci: the recipe at toy scale (CPU minutes); paper: 36 channels, 20 cells, 600 epochs, cutout, "
                   "auxiliary head, drop-path 0.2.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a training setting, e.g. --set epochs=20 --set channels=16 --set n_train=10000.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Data root (as for `run`).")
@click.option("--dataset-root", type=click.Path(), default=None, help="CIFAR-10 images (as for `run`).")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI.")
@click.option("--experiment", default="nasharness", show_default=True, help="MLflow experiment name.")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow (the run directory is still written).")
@click.option("--out-dir", default="runs", show_default=True, help="Where run directories go.")
@click.option("--resume", is_flag=True, help="Continue the newest unfinished training with the same options.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def train(arch, bench, budget, seed, overrides, device, data_dir, dataset_root, tracking_uri, experiment, no_tracking,
          out_dir, resume, as_json, quiet):
    """Train one DARTS-space architecture from scratch on CIFAR-10 and report its test accuracy and size."""
    from .terminal import ProgressReporter  # noqa: PLC0415
    train_arch = api.train_arch

    with ProgressReporter(quiet=quiet) as reporter:
        reporter.status("training")
        result = train_arch(arch, bench=bench, budget=budget, seed=seed, overrides=_parse_sets(overrides),
                            device=device, data_dir=data_dir, dataset_root=dataset_root, out_dir=out_dir,
                            tracking=not no_tracking, tracking_uri=tracking_uri, experiment=experiment,
                            resume=resume, **reporter.callbacks())
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    from .report_text import print_summary  # noqa: PLC0415

    print_summary(result)


@cli.command()
@click.option("--model", required=True, help="fairnas_a|b|c, scarlet_a|b|c, fairnas_a_se1.0 ... fairnas_c_se0.5 "
              "(FairNAS_A spellings accepted).")
@click.option("--val-dataset-root", required=True, type=click.Path(),
              help="ImageNet-layout root with val/<wnid>/*.JPEG (or valid/).")
@click.option("--pretrained-path", required=True, type=click.Path(),
              help="A released checkpoint (their key layout is mapped) or one of ours.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=100, show_default=True)
@click.option("--synsets", type=click.Path(dir_okay=False), default=None,
              help="The 1,000 ILSVRC-2012 wnids in class-index order (for a subset without classes.json).")
@click.option("--max-per-class", type=click.IntRange(1), default=None, help="Evaluate at most this many images per "
              "class.")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI.")
@click.option("--experiment", default="nasharness", show_default=True, help="MLflow experiment name.")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow (the run directory is still written).")
@click.option("--out-dir", default="runs", show_default=True, help="Where run directories go.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def verify(model, val_dataset_root, pretrained_path, device, batch_size, synsets, max_per_class, tracking_uri,
           experiment, no_tracking, out_dir, as_json, quiet):
    """Top-1/top-5 of a published ImageNet model on an ImageNet-layout validation folder (the papers' verify.py)."""
    from .terminal import ProgressReporter, fmt_value  # noqa: PLC0415
    from .verify import verify as run_verify  # noqa: PLC0415

    with ProgressReporter(quiet=quiet) as reporter:
        reporter.status(f"evaluating {model}")
        result = run_verify(model, val_dataset_root, pretrained_path, device=device, batch_size=batch_size,
                            synsets=synsets, max_per_class=max_per_class, out_dir=out_dir, tracking=not no_tracking,
                            tracking_uri=tracking_uri, experiment=experiment, progress=reporter.progress)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    for name, v in result.truth.items():
        click.echo(f"{name}: {fmt_value(name, v)}")
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"result: {result.run_dir}/result.json")


@cli.group()
def imagenet():
    """ImageNet data preparation."""


@imagenet.command("prepare-val")
@click.argument("root", type=click.Path())
@click.option("--labels", required=True, type=click.Path(dir_okay=False),
              help="'<file> <wnid>' lines (or LOC_val_solution.csv), or the devkit's "
                   "ILSVRC2012_validation_ground_truth.txt with --meta/--synsets.")
@click.option("--meta", type=click.Path(dir_okay=False), default=None, help="The devkit's meta.mat (ID -> wnid).")
@click.option("--synsets", type=click.Path(dir_okay=False), default=None,
              help="wnids in ILSVRC2012_ID order, one per line (instead of --meta).")
def imagenet_prepare_val(root, labels, meta, synsets):
    """Move ILSVRC2012 validation images from ROOT/val/*.JPEG into ROOT/val/<wnid>/ (safe to re-run)."""
    from .data.imagenet import prepare_val  # noqa: PLC0415

    out = prepare_val(root, labels, synsets=synsets, meta=meta)
    click.echo(json.dumps(out, indent=2))
    if out["missing"]:
        raise UserError(f"{out['missing']:,} labelled image(s) are not in place (e.g. "
                        f"{', '.join(out['missing_examples'])}); they are missing from {root!r}.")


def _run_with_progress(config: RunConfig, quiet: bool):
    """Progress of the long phases (training steps, evaluated archs) with their status: a bar in a terminal, plain
    lines with step and ETA otherwise (:class:`nasharness.terminal.ProgressReporter`)."""
    from .terminal import ProgressReporter  # noqa: PLC0415

    api.check_config(config)  # name errors before any progress output
    with ProgressReporter(quiet=quiet) as reporter:
        return api.run(config, **reporter.callbacks())


@cli.group()
def bench():
    """Tabular benchmarks: list, info, prepare."""


@bench.command("list")
def bench_list():
    """List registered benchmarks."""
    from .plugins import BENCHMARKS  # noqa: PLC0415

    for name in BENCHMARKS.names():
        click.echo(name)


@bench.command("info")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@_format_option()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (the same as --format json).")
def bench_info(name, data_dir, fmt, as_json):
    """Coverage of a benchmark and how many architectures have each metric."""
    from .terminal import Column, Table, fmt_num, print_table  # noqa: PLC0415

    info = api.bench_info(name, data_dir)
    if as_json or fmt == "json":
        click.echo(json.dumps(info, indent=2))
        return
    if "architectures_present" not in info:  # a space without a table
        for k, v in info.items():
            click.echo(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else fmt_num(v, 'count')}")
        return
    if fmt != "csv":
        click.echo(f"{info['benchmark']}: {fmt_num(info['architectures_present'], 'count')} of "
                   f"{fmt_num(info['space_size'], 'count')} architectures present ({100 * info['coverage']:.2f}% "
                   f"coverage); datasets: {', '.join(info['datasets'])}")
        click.echo(f"table: {info['cache']} ({info['table']})")
    table = Table([Column("metric", no_wrap=True), Column("architectures that have it", kind="count",
                                                          justify="right")])
    for m, n in info["metrics"].items():
        table.add_row(m, n)
    print_table(table, fmt)


@bench.command("query")
@click.argument("name")
@click.argument("arch")
@click.option("--metric", "metrics", multiple=True, help="Metric(s) to show (default: all).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@_format_option()
def bench_query(name, arch, metrics, data_dir, fmt):
    """Look up one architecture: ARCH is an index, an NB201 arch string or an NB101 spec hash. Values are rounded to
    the digits they carry (accuracies 2 decimals, counts integers); --format json gives them unrounded."""
    from .terminal import Column, Table, json_value, kind_of, print_table  # noqa: PLC0415

    row = api.bench_query(name, arch, list(metrics), data_dir)
    if fmt == "json":
        click.echo(json.dumps({k: json_value(v, kind_of(k)) for k, v in row.items()}, indent=2, default=str))
        return
    if fmt == "table":  # the arch string on a line of its own: whole, whatever the terminal's width
        click.echo(f"index {row.pop('index')}  arch {row.pop('arch')}")
    table = Table([Column("metric", no_wrap=True), Column("value", justify="right")])
    for k, v in row.items():
        table.add_row(k, v, kinds=[None, k])
    print_table(table, fmt)


@bench.command("prepare")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--source", type=click.Path(), default=None,
              help="An official file: NB101's nasbench_only108.tfrecord / nasbench_full.tfrecord, NB201's "
                   "NAS-Bench-201-v1_1-096897.pth (or v1.0) or NATS-Bench's NATS-tss-v1_0-3ffb9-simple folder.")
@click.option("--force", is_flag=True, help="Rebuild the cache even if it is up to date (or damaged).")
@click.option("--quiet", "-q", is_flag=True)
def bench_prepare(name, data_dir, source, force, quiet):
    """Convert a benchmark's sources into the compact cached table."""
    console = _console(quiet)
    with console.status(f"preparing {name}") as status:
        meta = api.bench_prepare(name, data_dir, source=source, force=force,
                                 progress=lambda n: status.update(f"read {n:,} records"))
    click.echo(f"{meta.get('name')}: {meta.get('n_rows'):,} rows -> {meta.get('cache', {}).get('path', '')}".rstrip())


@cli.group()
def methods():
    """Search methods."""


@methods.command("list")
@_format_option()
def methods_list(fmt):
    """List registered methods: what each does (its docstring's first sentence) and the benchmarks it runs on."""
    from .plugins import METHODS, load_plugins  # noqa: PLC0415
    from .terminal import Column, Table, first_sentence, print_table  # noqa: PLC0415

    load_plugins()
    table = Table([Column("method", no_wrap=True), Column("what it does"), Column("benchmarks", max_width=18)])
    for name in METHODS.names():
        cls = METHODS.factory(name)
        table.add_row(name, first_sentence(cls.__doc__), ", ".join(api.supported_benchmarks(cls)))
    print_table(table, fmt)


@cli.command()
@click.argument("suite_file", type=click.Path(dir_okay=False))
@click.option("--out-dir", default="runs/sweeps", show_default=True, help="Sweep directories go here (<out>/<suite>).")
@click.option("--force", is_flag=True, help="Re-run cells that are already done.")
@click.option("--only", "only", multiple=True, metavar="METHOD",
              help=f"Run only these methods' cells ({', '.join(_method_names())}).")
@click.option("--tracking-uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or local).")
@click.option("--no-tracking", is_flag=True, help="Do not log to MLflow (run directories are still written).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: cells one after another here; ray: cells as Ray tasks.")
@click.option("--address", "ray_address", default=None, help="Ray cluster address (default: a private local Ray on "
              "127.0.0.1).")
@click.option("--cpus-per-cell", type=float, default=1, show_default=True, help="Ray: CPUs each cell needs.")
@click.option("--gpus-per-cell", type=float, default=0, show_default=True, help="Ray: GPUs each cell needs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output (cell lines included).")
def sweep(suite_file, out_dir, force, only, tracking_uri, no_tracking, data_dir, backend, ray_address, cpus_per_cell,
          gpus_per_cell, quiet):
    """Run every cell of a suite (benchmarks/ci.yaml, benchmarks/paper.yaml): one MLflow parent run, a child run per
    cell; done cells are skipped, a killed cell resumes, a failing cell is recorded and the rest go on (exit 1)."""
    from . import suite as suites  # noqa: PLC0415
    from .compare import to_terminal  # noqa: PLC0415
    from .plugins import METHODS, load_plugins  # noqa: PLC0415
    from .terminal import ProgressReporter, print_table  # noqa: PLC0415

    suite = suites.load_suite(suite_file)
    load_plugins()
    wanted = {METHODS.canonical(m) for m in only}
    with ProgressReporter(quiet=quiet) as reporter:

        def on_cell(cell, status, k, total):
            reporter.note(f"[{k}/{total}] {cell.id}: {status}")

        def warn(message):  # shown even with --quiet: a warning is not progress
            if quiet:
                click.echo(f"warning: {message}", err=True)
            else:
                reporter.note(f"warning: {message}")

        outcome = suites.sweep(suite, out_dir=out_dir, tracking=not no_tracking, tracking_uri=tracking_uri,
                               data_dir=data_dir, force=force, only=(lambda c: c.method in wanted) if wanted else None,
                               on_cell=on_cell, backend=backend, ray_address=ray_address,
                               resources={"cpus": cpus_per_cell, "gpus": gpus_per_cell}, warn=warn,
                               **reporter.callbacks())
    for line in outcome.unsupported:
        click.echo(f"not run (unsupported): {line}", err=True)
    if outcome.table is not None:
        print_table(to_terminal(outcome.table))
    click.echo(f"sweep {outcome.suite}: {len(outcome.done)} run, {len(outcome.skipped_done)} already done, "
               f"{len(outcome.failed)} failed -> {outcome.directory}" +
               (f"; MLflow parent run {outcome.parent_run_id}" if outcome.parent_run_id else ""))
    for cell, err in outcome.failed.items():
        click.echo(f"FAILED {cell}: {err}", err=True)
    if outcome.rerun_broken:
        click.echo(f"re-ran {len(outcome.rerun_broken)} cell(s) whose result.json was broken: "
                   f"{', '.join(outcome.rerun_broken)}", err=True)
    if outcome.not_logged:
        why = (f"the tracking store {outcome.tracking_uri!r} did not answer ({outcome.tracking_error})"
               if outcome.tracking_error else "; ".join(sorted(set(outcome.not_logged.values()))))
        click.echo(f"warning: {len(outcome.not_logged)} cell(s) NOT logged to MLflow: {why}. Their results are safe "
                   f"(each result.json records the error); upload them when the store answers with `nasharness sync "
                   f"{outcome.directory}/cells`.", err=True)
    elif outcome.tracking_error:
        click.echo(f"warning: the tracking store {outcome.tracking_uri!r} did not answer ({outcome.tracking_error}); "
                   f"nothing was logged to MLflow.", err=True)
    if outcome.failed:
        sys.exit(1)


@cli.command()
@click.argument("runs", nargs=-1, type=click.Path())
@click.option("--tracking-uri", default=None, help="Read runs from this MLflow store (when no RUNS are given).")
@click.option("--experiment", default=None, help="MLflow experiment (default: all).")
@click.option("--suite", default=None, help="Only runs tagged with this suite.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Only runs with this MLflow tag.")
@_format_option()
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the table to this file (in "
              "--format; with the default table format: csv or json by the file's suffix, else md).")
def compare(runs, tracking_uri, experiment, suite, tags, fmt, out):
    """Side-by-side table of runs: one row per method x benchmark x dataset, mean ± std over seeds with n (one
    seed: the value and its bootstrap CI). RUNS are run or sweep directories; without them, runs are read from the
    MLflow store."""
    from .compare import render, to_terminal  # noqa: PLC0415
    from .io import atomic_write_text  # noqa: PLC0415
    from .terminal import print_table  # noqa: PLC0415

    parsed = {}
    for t in tags:
        k, sep, v = t.partition("=")
        if not sep:
            raise UserError(f"--tag expects KEY=VALUE, got {t!r}.")
        parsed[k] = v
    table, _ = api.compare_runs(list(runs) or None, tracking_uri=tracking_uri, experiment=experiment, suite=suite,
                                tags=parsed)
    if out:
        suffix = out.rsplit(".", 1)[-1].lower() if "." in out else ""
        atomic_write_text(out, render(table, fmt if fmt != "table" else suffix if suffix in ("csv", "json") else "md"))
    if fmt == "table":
        print_table(to_terminal(table))
    else:
        click.echo(render(table, fmt))


@cli.command()
@click.option("--baseline", required=True, type=click.Path(dir_okay=False), help="The committed baseline CSV.")
@click.option("--current", type=click.Path(), default=None,
              help="Current results: a sweep/run directory or a comparison CSV (default: runs/sweeps/<baseline stem>).")
@click.option("--update-baseline", is_flag=True, help="Rewrite the baseline from the current results.")
@click.option("--html", "html_dir", type=click.Path(file_okay=False), default=None,
              help="Also write a self-contained HTML page (tables + plots) into this folder.")
def report(baseline, current, update_baseline, html_dir):
    """Regression table against a baseline: deltas and a verdict per row; exit 1 when a quantity regresses beyond
    its noise band (or a baseline row is missing)."""
    if html_dir:  # before the baseline is rewritten: an unwritable --html folder must not leave half the job done
        from .io import check_writable_dir  # noqa: PLC0415

        check_writable_dir(html_dir)
    out = api.report(baseline, current=current, update_baseline=update_baseline, html_dir=html_dir)
    click.echo(out.markdown)
    if out.html:
        click.echo(f"HTML report: {out.html}", err=True)
    if out.failed:
        sys.exit(1)


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--tracking-uri", default=None, help="Target MLflow store (default: the run's own, else "
              "MLFLOW_TRACKING_URI or the local default).")
@click.option("--experiment", default=None, help="Target experiment (default: the run's own).")
@click.option("--force", is_flag=True, help="Upload even if the run was already logged to that store.")
def sync(run_dirs, tracking_uri, experiment, force):
    """Upload finished runs (RUN_DIRS: run directories, or folders holding them, e.g. a sweep) to MLflow — for runs
    whose tracking store did not answer."""
    from pathlib import Path  # noqa: PLC0415

    dirs = []
    for d in run_dirs:
        p = Path(d)
        if not p.exists():
            raise UserError(f"{d!r} does not exist; pass a run directory (runs/<run>) or a folder of runs.")
        dirs += [p] if (p / "result.json").exists() else sorted(f.parent for f in p.rglob("result.json"))
    if not dirs:
        raise UserError(f"no finished run (result.json) under {', '.join(run_dirs)}.")
    for d in dirs:
        r = api.sync(d, tracking_uri=tracking_uri, experiment=experiment, force=force)
        click.echo(f"{d}: {r.tracking.get('uri')} run {r.tracking.get('run_id')}")


class Interrupted(BaseException):
    """SIGINT or SIGTERM, raised in the main thread by :func:`main`'s handlers. A BaseException (like
    KeyboardInterrupt), so ``except Exception`` blocks do not swallow it and click does not turn it into "Aborted!";
    atomic writes in progress remove their temporary file on the way out. ``where``: the run directory (``run``)."""

    def __init__(self, signum: int):
        import signal  # noqa: PLC0415

        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.where = None

    def message(self) -> str:
        if self.where is None:
            return f"interrupted by {self.name}."
        from pathlib import Path  # noqa: PLC0415

        where = Path(self.where)
        if (where / "result.json").exists():  # stopped while logging: the result itself is complete
            return (f"interrupted by {self.name} after the run finished: its result is in {where}/result.json; "
                    f"`nasharness sync {where}` uploads it to the tracking store.")
        return (f"interrupted by {self.name}: the partial run is in {where} (no result.json was written); run the "
                f"same command with --resume to continue it.")


def main(argv=None):
    """Console-script entry point. SIGINT exits 130 and SIGTERM 143, each with one line saying where the partial
    run is (no traceback, no click "Aborted!")."""
    import signal  # noqa: PLC0415

    def interrupted(signum, frame):
        raise Interrupted(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, interrupted)
        except (ValueError, OSError):  # not the main thread: leave the handlers alone
            pass
    try:
        cli.main(args=argv, prog_name="nasharness", standalone_mode=True)
    except Interrupted as exc:
        for sig in previous:  # a second signal during the message does not raise again
            signal.signal(sig, signal.SIG_IGN)
        click.echo(f"error: {exc.message()}", err=True)
        sys.exit(128 + exc.signum)
    except KeyboardInterrupt:  # pragma: no cover - handlers could not be installed
        sys.exit(130)
    finally:
        for sig, handler in previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError, TypeError):  # pragma: no cover
                pass


if __name__ == "__main__":  # pragma: no cover
    main()


# ------------------------------------------------------------------------------------------ data fetch / data info


@cli.group()
def data():
    """Datasets nasharness can download on request (the only commands that use the network)."""


@data.command("fetch")
@click.argument("dataset", type=click.Choice(["cifar10"]))
@click.option("--dest", type=click.Path(file_okay=False), default=None,
              help="Install under DIR/cifar-10-batches-py (default: the user cache, NASHARNESS_CACHE_DIR/cifar10).")
@click.option("--url", default=None, help="Download from this address instead (default: NASHARNESS_CIFAR10_URL, "
              "else the authors' https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz). The published checksum "
              "is still verified (NASHARNESS_CIFAR10_MD5 overrides it for a mirror of a different archive).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def data_fetch(dataset, dest, url, quiet):
    """Download, verify and install DATASET (cifar10: the official python archive, about 163 MB); an interrupted
    download resumes when run again, and an installed, verified copy makes this a no-op. Prints the installed path."""
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from .data.fetch import fetch_cifar10  # noqa: PLC0415

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=_console(quiet), transient=True, disable=quiet) as bar:
        task = bar.add_task(f"fetching {dataset}", total=None)
        path = fetch_cifar10(dest, url=url, progress=lambda done, total: bar.update(task, completed=done,
                                                                                    total=total))
    click.echo(str(path))


@data.command("info")
@click.option("--dest", type=click.Path(file_okay=False), default=None, help="Where fetch installed (as for fetch).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def data_info(dest, as_json):
    """What `data fetch` has installed: path, size and whether every file still matches its recorded sha256."""
    from .data.fetch import cifar10_info  # noqa: PLC0415

    info = cifar10_info(dest)
    if as_json:
        click.echo(json.dumps({"cifar10": info}, indent=2))
        return
    if info["installed"]:
        state = "verified" if info["verified"] else "NOT verified (files changed; run `nasharness data fetch cifar10`)"
        click.echo(f"cifar10: {info['path']} ({info['size_bytes'] / 1e6:.1f} MB, fetched {info['fetched_at']}, "
                   f"{state})")
    else:
        click.echo(f"cifar10: not installed under {info['dest']} (run `nasharness data fetch cifar10`)"
                   + (f"; {info['note']}" if info.get("note") else ""))
    if info["partial_download_bytes"]:
        click.echo(f"  partial download: {info['partial_download_bytes']:,} bytes (the same fetch command resumes it)")


# ------------------------------------------------------------------------------------------ cache info / cache clear


@cli.group()
def cache():
    """The user cache (NASHARNESS_CACHE_DIR, else ~/.cache/nasharness): converted tables, decoded images, downloads."""


@cache.command("info")
@_format_option()
def cache_info(fmt):
    """Every file and folder in the user cache: what it is, its size, and what rebuilds it."""
    from .paths import cache_dir  # noqa: PLC0415
    from .terminal import Column, Table, fmt_bytes, print_table  # noqa: PLC0415
    from .usercache import entries  # noqa: PLC0415

    found = entries()
    if fmt == "json":
        click.echo(json.dumps({"cache_dir": str(cache_dir()), "entries": [e.to_dict() for e in found]}, indent=2))
        return
    table = Table([Column("name", no_wrap=True), Column("kind", no_wrap=True), Column("size", kind="bytes",
                                                                                   justify="right"),
                   Column("what it is"), Column("rebuilt by")])
    for e in found:
        table.add_row(e.name + ("/" if e.is_dir else ""), e.kind, e.size_bytes, e.what, e.rebuild)
    if fmt in ("table", "md"):
        total = sum(e.size_bytes for e in found)
        click.echo(f"user cache {cache_dir()}: {len(found)} entries, {fmt_bytes(total)}"
                   + ("" if found else " (empty)"))
    if found or fmt == "csv":
        print_table(table, fmt)
    if fmt == "table" and found:
        click.echo("remove with `nasharness cache clear [--what tables|images|fetched|other|all]` (all: tables and "
                   "images; fetched data only when named)")


@cache.command("clear")
@click.option("--what", "what", multiple=True, type=click.Choice(["tables", "images", "fetched", "other", "all"]),
              default=("all",), show_default=True,
              help="What to remove (repeatable): tables, images, other (leftovers, unrecognised files), fetched "
                   "(downloads: only when named, they cost a download), all (tables and images).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(what, yes):
    """Remove caches; each is rebuilt when next needed (`nasharness cache info` says by what)."""
    from .paths import cache_dir  # noqa: PLC0415
    from .terminal import fmt_bytes  # noqa: PLC0415
    from .usercache import clear, entries, parse_what  # noqa: PLC0415

    kinds = parse_what(what)
    doomed = [e for e in entries() if e.kind in kinds]
    if not doomed:
        click.echo(f"nothing to remove ({', '.join(kinds)}) in {cache_dir()}")
    else:
        size = fmt_bytes(sum(e.size_bytes for e in doomed))
        if not yes:
            for e in doomed:
                click.echo(f"  {e.name}{'/' if e.is_dir else ''}  ({e.kind}, {fmt_bytes(e.size_bytes)})")
            click.confirm(f"remove these {len(doomed)} entries ({size}) from {cache_dir()}?", abort=True)
        removed, _ = clear(kinds)
        click.echo(f"removed {len(removed)} entries ({size}) from {cache_dir()}")
    kept = [e for e in entries() if e.kind == "fetched"]
    if kept and "fetched" not in kinds:
        click.echo(f"kept the fetched data ({', '.join(e.name + '/' for e in kept)}, "
                   f"{fmt_bytes(sum(e.size_bytes for e in kept))}): remove it with --what fetched")
