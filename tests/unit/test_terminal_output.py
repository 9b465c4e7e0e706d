"""The formatting layer (nasharness.terminal): number rules by metric kind, table rendering (rich / md / csv / json),
the plain progress lines' rhythm with a fake clock, the run summary without wrapping at 80 columns, method
docstrings as whole sentences, help texts generated from the registries, the one-time cache notice, and the
`compare` and `cache` commands through click's CliRunner."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from nasharness import terminal
from nasharness.cli import cli
from nasharness.results import RunResult
from nasharness.terminal import (
    Column,
    ProgressReporter,
    Table,
    first_sentence,
    fmt_bytes,
    fmt_duration,
    fmt_value,
    kind_of,
)

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


# ---------------------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(("name", "value", "shown"), [
    ("cifar10/ori-test@200", 94.37333333333333, "94.37"),  # NB201 6111's published mean test accuracy
    ("cifar100/x-test@200", 73.21999999999998, "73.22"),
    ("cifar10-valid/x-valid@200/seed777", 91.68399998291015, "91.68"),
    ("cifar10-valid/x-valid@200:e12", 84.384, "84.38"),
    ("cifar10/val@108", 93.04887652397156, "93.05"),
    ("regret/cifar10/ori-test@200", 4.351, "4.35"),
    ("imagenet/val-top1@pretrained", 75.3412, "75.34"),
    ("kendall_tau", 0.14491923, "0.145"),
    ("rank/cifar10/ori-test@200/spearman/ci_low", -0.2, "-0.200"),
    ("pearson", 0.5, "0.500"),
    ("ndcg@10", 0.98765, "0.988"),
    ("precision@10", 0.4, "0.400"),
    ("cifar10-valid/x-valid@200/n_seeds", 3.0, "3"),
    ("cifar10/test@108/n_runs", 0.0, "0"),
    ("n", 15625, "15,625"),
    ("params/cifar10", 1073466.0, "1,073,466"),
    ("search/derived/madds", 574_000_000.0, "574,000,000"),
    ("index", 6111, "6111"),  # an index is pasted back into `bench query`: no separators
    ("seed", 3, "3"),
    ("cifar10-valid/train-time-s@200", 2879.74933385849, "2,880"),
    ("search_wall_s", 48.123, "48.1"),
    ("total/wall_s", 3.14159, "3.14"),
    ("latency-ms/pixel3", 23.584799999999998, "23.58"),
    ("peak_mem_mb", 1479.1, "1,479"),
    ("cifar10/test@108", float("nan"), "–"),
    ("cifar10/test@108", None, "–"),
])
def test_numbers_are_rounded_to_the_digits_their_kind_carries(name, value, shown):
    assert fmt_value(name, value) == shown


def test_numpy_scalars_plain_numbers_and_kinds():
    assert fmt_value("cifar10/ori-test@200", np.float32(94.37333)) == "94.37"
    assert fmt_value("params/cifar10", np.int64(1073466)) == "1,073,466"
    assert fmt_value("params/cifar10", 1073466.0, plain=True) == "1073466"  # CSV: no thousands separators
    assert fmt_value("n_seeds", 1.5) == "1.5"  # a mean of counts keeps its half
    assert [kind_of(n) for n in ("cifar10/ori-test@200", "kendall_tau", "n_archs", "chosen_index",
                                 "cifar10/train-time-s@108", "inherited_eval_archs_per_s")] == \
        ["percent", "corr", "count", "id", "seconds", "rate"]
    assert (fmt_duration(5), fmt_duration(62), fmt_duration(450), fmt_duration(7500)) == ("5s", "1m02s", "7m30s",
                                                                                        "2h05m")
    assert (fmt_bytes(812), fmt_bytes(9_800_000), fmt_bytes(184_320_512), fmt_bytes(1.2e9)) == \
        ("812 B", "9.8 MB", "184 MB", "1.2 GB")


def test_first_sentence_is_whole_and_without_rst_markup():
    from nasharness.methods.darts import DARTS
    from nasharness.methods.fairdarts import FairDARTS

    darts = first_sentence(DARTS.__doc__)
    assert darts == ("Exclusive competition: each edge's ops share one softmax; first-order by default (--set order=2 "
                     "for the unrolled second-order step).")
    fair = first_sentence(FairDARTS.__doc__)
    assert fair.startswith("Collaborative competition: a sigmoid per op") and fair.endswith("pushes each weight to 0 "
                                                                                          "or 1.")
    assert "`" not in darts + fair
    assert first_sentence("Uses :func:`~nasharness.api.run`, e.g. a ``ci`` run. Second sentence.") == \
        "Uses run, e.g. a ci run."
    assert first_sentence(None) == ""


# ---------------------------------------------------------------------------------------------------- tables
def _table() -> Table:
    t = Table([Column("metric", no_wrap=True), Column("value", justify="right")])
    t.add_row("index", 6111, kinds=[None, "index"])
    t.add_row("cifar10/ori-test@200", 94.37333333333333, kinds=[None, "cifar10/ori-test@200"])
    t.add_row("params/cifar10", 1073466.0, kinds=[None, "params/cifar10"])
    t.add_row("cifar10/test@108", float("nan"), kinds=[None, "cifar10/test@108"])
    return t


def test_table_renders_md_csv_and_json():
    t = _table()
    assert t.render("md") == ("| metric | value |\n|---|---:|\n| index | 6111 |\n| cifar10/ori-test@200 | 94.37 |\n"
                              "| params/cifar10 | 1,073,466 |\n| cifar10/test@108 | – |\n")
    assert t.render("csv") == ("metric,value\nindex,6111\ncifar10/ori-test@200,94.37\nparams/cifar10,1073466\n"
                               "cifar10/test@108,\n")
    rows = json.loads(t.render("json"))
    assert rows[1] == {"metric": "cifar10/ori-test@200", "value": 94.37333333333333}  # raw in JSON
    assert rows[2]["value"] == 1073466 and isinstance(rows[2]["value"], int) and rows[3]["value"] is None
    with pytest.raises(ValueError, match="valid: table, md, csv, json"):
        t.render("xml")


def test_table_rich_without_a_terminal_is_plain_and_unwrapped():
    t = Table([Column("metric", no_wrap=True), Column("value")])
    t.add_row("arch", ARCH * 2)
    out = io.StringIO()
    from rich.console import Console

    terminal.emit(t.rich(terminal=False), Console(file=out, width=80))
    assert ARCH * 2 in out.getvalue()  # one line, whole, at 80 columns
    assert all(line == line.rstrip() for line in out.getvalue().splitlines())  # no trailing padding


# ---------------------------------------------------------------------------------------------------- progress
class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _reporter(clock, **kw):
    out = io.StringIO()
    return ProgressReporter(live=False, stream=out, clock=clock, **kw), out


def test_fast_progress_prints_every_5_percent():
    clock = FakeClock()
    rep, out = _reporter(clock)
    with rep:
        rep.status("training the supernet")
        for k in range(1, 1001):
            clock.t = k * 0.01
            rep.progress(k, 1000)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[training the supernet] started"
    steps = [int(re.search(r"step ([\d,]+)/", line).group(1).replace(",", "")) for line in lines[1:]]
    assert steps == list(range(50, 1001, 50))  # 20 lines, not 1000
    assert lines[1].startswith("[training the supernet] step 50/1,000 (5%) elapsed 0s ETA ")
    assert lines[-1] == "[training the supernet] step 1,000/1,000 (100%) elapsed 10s done"


def test_slow_progress_prints_every_30_seconds_with_eta():
    clock = FakeClock()
    rep, out = _reporter(clock)
    rep.status("epoch loop")
    for k in range(1, 10):  # a step every 10 s: 0.1% per step, so the 30 s rule fires first
        clock.t = 10.0 * k
        rep.progress(k, 1000)
    lines = out.getvalue().splitlines()[1:]
    # first update at t=10 (step 1): rate 2 steps / 20 s at t=30 -> 997 left in 9,970 s
    assert lines == ["[epoch loop] step 3/1,000 (0%) elapsed 30s ETA 2h46m",
                     "[epoch loop] step 6/1,000 (1%) elapsed 1m00s ETA 2h45m",
                     "[epoch loop] step 9/1,000 (1%) elapsed 1m30s ETA 2h45m"]


def test_unknown_totals_new_loops_and_quiet():
    clock = FakeClock()
    rep, out = _reporter(clock)
    rep.status("reading records")
    for k in range(1, 7):
        clock.t = 10.0 * k
        rep.progress(k * 100, None)
    assert out.getvalue().splitlines()[1:] == ["[reading records] step 300 elapsed 30s",
                                              "[reading records] step 600 elapsed 1m00s"]
    rep, out = _reporter(clock)
    rep.progress(10, 10)
    rep.progress(1, 20)  # a new loop under the same status starts its own count
    rep.progress(20, 20)
    assert [line.split(" elapsed")[0] for line in out.getvalue().splitlines()] == \
        ["[working] step 10/10 (100%)", "[working] step 1/20 (5%)", "[working] step 20/20 (100%)"]
    rep, out = _reporter(clock, quiet=True)
    rep.status("x")
    rep.progress(5, 5)
    rep.note("cell done")
    assert out.getvalue() == ""


# ---------------------------------------------------------------------------------------------------- run summary
def fake_result(run_dir: str, arch: str = ARCH, index: int = 6111) -> RunResult:
    truth = "cifar10/ori-test@200"
    rank = {f"rank/{truth}/kendall_tau": {"value": 0.1449, "n": 100, "ci_low": 0.0812, "ci_high": 0.2103,
                                          "level": 0.95},
            f"rank/{truth}/spearman": {"value": 0.21512, "n": 100, "ci_low": 0.1, "ci_high": 0.3, "level": 0.95},
            f"rank/{truth}/precision@10": {"value": 0.4, "n": 100}}
    return RunResult(
        method="random", bench="201", dataset="cifar10", seed=0, budget="ci",
        protocol={"proxy": "cifar10-valid/x-valid@12", "final": truth, "proxy_epochs": 12,
                  "ranking_scores": "proxy cifar10-valid/x-valid@12", "ranking_truths": [truth],
                  "best_in_table": 94.37333333333333},
        chosen={"index": index, "arch": arch}, truth={truth: 94.37333333333333, "cifar10-valid/x-valid@12": 84.384},
        regret={truth: 0.0}, ranking=rank,
        costs={"total/wall_s": 3.2, "search/wall_s": 2.9, "peak_mem_mb": 512.3, "simulated_train_s": 20011.5},
        n_evaluated=100, notes=["a note"], run_dir=run_dir, tracking={})


def test_summary_does_not_split_the_arch_or_the_path_at_80_columns():
    from rich.console import Console

    from nasharness.report_text import print_summary

    run_dir = "/tmp/" + "/".join(["a-rather-long-folder-name"] * 5) + "/20260101-000000-random-201-cifar10-s0"
    out = io.StringIO()
    print_summary(fake_result(run_dir), Console(file=out, width=80))  # not a terminal: a log at 80 columns
    text = out.getvalue()
    lines = text.splitlines()
    assert f"chosen arch: {ARCH} (index 6111)" in lines
    assert f"result: {run_dir}/result.json" in lines
    assert re.search(r"chosen cifar10/ori-test@200\s+94\.37$", text, re.M)
    assert re.search(r"kendall_tau vs cifar10/ori-test@200\s+0\.145 \[0\.081, 0\.210\]  n=100$", text, re.M)
    assert "94.3733" not in text and "± 0.000" not in text


def test_run_in_a_pipe_prints_plain_progress_lines_and_an_unwrapped_summary(tmp_path, monkeypatch):
    """`nasharness run` with stdout/stderr not a terminal (CliRunner): steady plain progress lines on stderr with
    phase, step and ETA; the summary at full width (COLUMNS=80 does not wrap the arch string)."""
    from nasharness import api

    genotype = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', "
                "1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
                "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2])")

    def fake_run(config, progress=None, status=None):
        status("training the supernet (10 epochs, 400 steps)")
        for k in range(1, 401):
            progress(k, 400)
        return fake_result(str(tmp_path / "runs" / "x"), arch=genotype, index=-1)

    monkeypatch.setattr(api, "check_config", lambda config: (None, "201"))
    monkeypatch.setattr(api, "run", fake_run)
    r = CliRunner().invoke(cli, ["run", "-m", "random", "-b", "201", "--no-tracking"], env={"COLUMNS": "80"},
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    progress = [line for line in r.stderr.splitlines() if line.startswith("[training the supernet")]
    assert progress[0] == "[training the supernet (10 epochs, 400 steps)] started"
    assert len(progress) == 21 and "step 20/400 (5%)" in progress[1] and " ETA " in progress[1]
    assert progress[-1].startswith("[training the supernet (10 epochs, 400 steps)] step 400/400 (100%)")
    assert f"chosen arch: {genotype}" in r.stdout.splitlines()
    assert "94.37" in r.stdout and "[training" not in r.stdout  # progress never goes to stdout
    quiet = CliRunner().invoke(cli, ["run", "-m", "random", "-b", "201", "--no-tracking", "-q"],
                               catch_exceptions=False)
    assert quiet.exit_code == 0 and "[training" not in quiet.output and "chosen arch" in quiet.stdout


# ---------------------------------------------------------------------------------------------------- registries
def _option(command: str, name: str):
    return next(p for p in cli.commands[command].params if name in p.opts)


def test_help_texts_list_exactly_the_registered_names():
    from nasharness.plugins import BENCHMARKS, METHODS, load_plugins

    before = METHODS.registered()  # the torch-free table --help reads ...
    load_plugins()
    assert before == METHODS.names()  # ... is exactly the registry once every built-in is imported
    bench = re.fullmatch(r"Benchmark: (.*) \(see `nasharness bench list`\)\.", _option("run", "--bench").help)
    assert bench.group(1).split(", ") == BENCHMARKS.names()
    method = re.fullmatch(r"Search method: (.*) \(see `nasharness methods list`\)\.", _option("run", "--method").help)
    assert method.group(1).split(", ") == METHODS.names()
    datasets = dict(part.split(": ") for part in _option("run", "--dataset").help.split("first): ")[1]
                    .rstrip(".").split("; "))
    assert {b: ds.split(", ") for b, ds in datasets.items()} == \
        {b: list(BENCHMARKS.factory(b).datasets) for b in BENCHMARKS.names()}
    # click may wrap a long list at a hyphen ("zc-\nvote"): undo the wrap before comparing
    page = re.sub(r"- (?=[a-z])", "-", " ".join(CliRunner().invoke(cli, ["run", "--help"],
                                                                   terminal_width=200).output.split()))
    assert f"Benchmark: {', '.join(BENCHMARKS.names())} (see" in page and "201 or 101" not in page
    assert f"Search method: {', '.join(METHODS.names())} (see" in page
    assert CliRunner().invoke(cli, ["bench", "list"]).output.split() == BENCHMARKS.names()


def test_methods_list_whole_sentences_no_backticks_and_benchmarks():
    from nasharness.plugins import METHODS

    r = CliRunner().invoke(cli, ["methods", "list"], catch_exceptions=False)
    assert r.exit_code == 0 and "``" not in r.output
    rows = {line.split()[0]: line for line in r.output.splitlines()[2:] if line.strip()}
    assert sorted(rows) == METHODS.names()
    assert "(--set order=2 for the unrolled second-order step)." in rows["darts"]
    assert "pushes each weight to 0 or 1." in rows["fairdarts"] and rows["fairdarts"].rstrip().endswith("201, darts")
    as_json = json.loads(CliRunner().invoke(cli, ["methods", "list", "--format", "json"]).output)
    assert {r["method"]: r["benchmarks"] for r in as_json}["spos"] == "101, 201, fairnas-imagenet, scarlet-imagenet"
    md = CliRunner().invoke(cli, ["methods", "list", "--format", "md"]).output
    assert md.startswith("| method | what it does | benchmarks |\n|---|---|---|\n| darts | Exclusive competition")


# ---------------------------------------------------------------------------------------------------- compare
def _write_result(folder, method: str, seed: int, kt: float, *, ci=(0.05, 0.25)) -> None:
    r = fake_result(str(folder))
    r.method, r.seed = method, seed
    r.ranking["rank/cifar10/ori-test@200/kendall_tau"].update(value=kt, ci_low=ci[0], ci_high=ci[1])
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(json.dumps(r.to_dict()))


def test_compare_single_seed_rows_show_the_value_and_its_ci_not_a_zero_spread(tmp_path):
    _write_result(tmp_path / "a0", "random", 0, 0.5)
    _write_result(tmp_path / "a1", "random", 1, 0.7)
    _write_result(tmp_path / "b0", "spos", 0, 0.1449, ci=(0.0812, 0.2103))

    def compare(*args):
        r = CliRunner().invoke(cli, ["compare", str(tmp_path), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.output

    md = compare("--format", "md")
    (random_row,) = [line for line in md.splitlines() if line.startswith("| random ")]
    (spos_row,) = [line for line in md.splitlines() if line.startswith("| spos ")]
    assert "| 2 | 100 | 0.600 ± 0.141 |" in random_row
    assert "| 1 | 100 | 0.145 [0.081, 0.210] | 0.215 [0.100, 0.300] | 0.400 | 0.00 | 94.37 |" in spos_row
    assert "±" not in spos_row
    table = compare()  # the default: a table (plain, full width without a terminal)
    assert "|" not in table.replace(ARCH, "") and "0.145 [0.081, 0.210]" in table and "0.600 ± 0.141" in table
    assert "one seed: the value, and for rankings its 95% bootstrap CI [low, high]" in table  # the legend
    header = compare("--format", "csv").splitlines()[0].split(",")
    assert "kendall_tau_ci_low" not in header and header[:5] == ["method", "bench", "dataset", "budget", "truth"]
    rows = {r["method"]: r for r in json.loads(compare("--format", "json"))}
    assert rows["spos"]["kendall_tau_ci_low"] == pytest.approx(0.0812) and rows["random"]["kendall_tau_ci_low"] is None
    compare("--out", str(tmp_path / "t.csv"))
    assert (tmp_path / "t.csv").read_text().startswith("method,bench,dataset,budget,truth,")


# ---------------------------------------------------------------------------------------------------- caches
@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(root))
    files = {"nb201-0123456789.parquet": 5000, "nb201-0123456789.json": 100, "nb101-full.parquet": 3000,
             "nb101-full.json": 50, "nb201-official.parquet": 700, "cifar10-6281c828594f8b27-v1.npz": 185_000,
             "imagefolder-0123456789abcdef-r224.npy": 900, "encodings-nb201-abcdef-v1.npy": 40,
             ".cifar10-6281c828594f8b27-v1.npz.k2j3.tmp": 10, "notes.txt": 3,
             "cifar10/cifar-10-batches-py/data_batch_1": 30_000, "cifar10/downloads/cifar-10-python.tar.gz.part": 99,
             "imagenette-val-224-340pc/val/n01440764/a.JPEG": 1234}
    for name, size in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x" * size)
    return root


def test_cache_info_lists_every_entry_with_kind_size_and_rebuild(cache_dir):
    r = CliRunner().invoke(cli, ["cache", "info", "--format", "json"], catch_exceptions=False)
    info = json.loads(r.output)
    assert info["cache_dir"] == str(cache_dir)
    by = {e["name"]: e for e in info["entries"]}
    assert len(by) == 12
    assert {n: e["kind"] for n, e in by.items()} == {
        ".cifar10-6281c828594f8b27-v1.npz.k2j3.tmp": "other", "notes.txt": "other",
        "nb201-0123456789.parquet": "tables", "nb201-0123456789.json": "tables", "nb101-full.parquet": "tables",
        "nb101-full.json": "tables", "nb201-official.parquet": "tables", "encodings-nb201-abcdef-v1.npy": "tables",
        "cifar10-6281c828594f8b27-v1.npz": "images", "imagefolder-0123456789abcdef-r224.npy": "images",
        "imagenette-val-224-340pc": "images", "cifar10": "fetched"}
    assert by["cifar10"]["size_bytes"] == 30_099 and by["cifar10"]["is_dir"]
    assert by["cifar10"]["rebuild"].startswith("nasharness data fetch cifar10")
    assert by["nb101-full.parquet"]["rebuild"] == "nasharness bench prepare 101 --source nasbench_only108.tfrecord"
    table = CliRunner().invoke(cli, ["cache", "info"], catch_exceptions=False).output
    assert f"user cache {cache_dir}: 12 entries, 226 kB" in table
    assert re.search(r"cifar10-6281c828594f8b27-v1\.npz\s+images\s+185 kB\s+decoded CIFAR-10", table)
    assert "nasharness cache clear" in table
    csv_out = CliRunner().invoke(cli, ["cache", "info", "--format", "csv"]).output
    assert csv_out.splitlines()[0] == "name,kind,size,what it is,rebuilt by" and ",fetched,30099," in csv_out


def test_cache_clear_keeps_fetched_data_unless_named(cache_dir):
    no = CliRunner().invoke(cli, ["cache", "clear"], input="n\n")
    assert no.exit_code == 1 and "remove these 9 entries (196 kB)" in no.output and "Aborted" in no.output
    assert (cache_dir / "nb201-0123456789.parquet").exists()  # nothing removed without a yes
    r = CliRunner().invoke(cli, ["cache", "clear", "--yes"], catch_exceptions=False)
    assert r.exit_code == 0 and "removed 9 entries (196 kB)" in r.output
    assert "kept the fetched data (cifar10/" in r.output and "--what fetched" in r.output
    assert sorted(p.name for p in cache_dir.iterdir()) == [".cifar10-6281c828594f8b27-v1.npz.k2j3.tmp", "cifar10",
                                                           "notes.txt"]
    r = CliRunner().invoke(cli, ["cache", "clear", "--what", "fetched", "--what", "other", "-y"],
                           catch_exceptions=False)
    assert "removed 3 entries" in r.output and not list(cache_dir.iterdir())
    again = CliRunner().invoke(cli, ["cache", "clear", "-y"], catch_exceptions=False)
    assert again.exit_code == 0 and "nothing to remove" in again.output
    info = CliRunner().invoke(cli, ["cache", "info"], catch_exceptions=False)
    assert "0 entries" in info.output and "(empty)" in info.output


def test_writing_the_decoded_cifar_cache_says_so_once(tmp_path, monkeypatch, capsys):
    from nasharness.data import cifar

    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    tar = tmp_path / "cifar10-jpg.tar"
    tar.write_bytes(b"not decoded: decode_jpg_tar is replaced below")
    tiny = cifar.Cifar10(np.zeros((4, 32, 32, 3), np.uint8), np.arange(4), np.zeros((2, 32, 32, 3), np.uint8),
                         np.arange(2), source=str(tar))
    monkeypatch.setattr(cifar, "decode_jpg_tar", lambda path: tiny)
    cifar._decoded_tar(tar, None)
    err = capsys.readouterr().err
    (cached,) = (tmp_path / "cache").glob("cifar10-*.npz")
    assert f"wrote the decoded CIFAR-10 images to {cached} (" in err and " kB)" in err
    assert "nasharness cache clear" in err and "nasharness cache info" in err
    cifar._decoded_tar(tar, None)  # read back from the cache: nothing written, nothing said
    terminal.cache_written(cached, "the decoded CIFAR-10 images")  # and never twice for the same file
    assert capsys.readouterr().err == ""
