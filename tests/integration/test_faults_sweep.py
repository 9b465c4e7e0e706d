"""Faults around sweeps and the files the harness writes (issue 19): a tracking store that does not answer, a broken
result.json, unsafe suite names, suites that only fail once they run, and full or read-only filesystems. Every user
or environment fault ends in one paragraph ``error: ...`` and exit code 2, with nothing half-written and earlier
results untouched; a tracking failure is loud but never fails a sweep, and its runs stay uploadable with ``sync``."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from nasharness.cli import cli

pytestmark = pytest.mark.integration

TINY = """\
suite: {name}
budget: ci
seeds: [0]
methods: [random]
benchmarks:
  "201": [cifar10]
bootstrap: 0
"""


def _invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _one_paragraph_error(r, expected: str = "") -> str:
    text = r.output
    assert r.exit_code == 2, text
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, text
    assert expected.lower() in errors[0].lower(), text
    return errors[0]


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*")
            if p.is_file()}


def _no_tmp_files(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def no_retries(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished one-cell sweep (no tracking) to read results from."""
    tmp = tmp_path_factory.mktemp("finished")
    (tmp / "tiny.yaml").write_text(TINY.format(name="tiny"))
    r = _invoke(["sweep", tmp / "tiny.yaml", "--out-dir", tmp / "sweeps", "--no-tracking", "-q"])
    assert r.exit_code == 0, r.output
    return tmp, tmp / "sweeps" / "tiny"


def _mount_tmpfs(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a real full / read-only filesystem needs root to mount a tmpfs")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({r.stderr.strip() or r.returncode})")


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(options)`` -> a fresh tmpfs directory; unmounted afterwards. Skipped where mounting is not allowed."""
    mounted = []

    def mount(options: str) -> Path:
        path = tmp_path / f"mnt{len(mounted)}"
        _mount_tmpfs(path, options)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False)


def _enospc_on(monkeypatch, name: str, code: int = errno.ENOSPC):
    """``os.replace`` onto a file called ``name`` fails as on a full disk (the temporary file has been written)."""
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst).name == name:
            raise OSError(code, os.strerror(code), str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)


# ---- 1. tracking failures are reported and kept for sync -------------------------------------------------------
def test_sweep_reports_an_unreachable_tracking_store_and_sync_uploads_later(tmp_path, no_retries, mlflow_uri):
    (tmp_path / "tiny.yaml").write_text(TINY.format(name="tiny"))
    r = _invoke(["sweep", tmp_path / "tiny.yaml", "--out-dir", tmp_path / "sweeps", "--tracking-uri",
                 "http://127.0.0.1:9"])
    assert r.exit_code == 0, r.output  # tracking never fails a sweep: the results are on disk
    assert "did not answer" in r.stderr and "127.0.0.1:9" in r.stderr
    assert "random-201-cifar10-s0: done (not logged to MLflow)" in r.stderr  # per cell
    assert "1 cell(s) NOT logged to MLflow" in r.stderr and "nasharness sync" in r.stderr  # and in the summary
    root = tmp_path / "sweeps" / "tiny"
    state = json.loads((root / "sweep.json").read_text())
    assert state["tracking_error"] and state["cells"]["random-201-cifar10-s0"]["tracking_error"]
    (result_path,) = root.glob("cells/*/*/result.json")
    tracking = json.loads(result_path.read_text())["tracking"]
    assert tracking["uri"] == "http://127.0.0.1:9" and "did not answer" in tracking["error"]
    assert not tracking.get("run_id")

    up = _invoke(["sync", root / "cells", "--tracking-uri", mlflow_uri])  # the store answers again
    assert up.exit_code == 0, up.output
    tracking = json.loads(result_path.read_text())["tracking"]
    assert tracking["run_id"] and not tracking.get("error")


def test_a_cell_whose_logging_fails_is_reported(tmp_path, monkeypatch, mlflow_uri):
    """The parent run starts, but logging one cell fails: that cell is named on stderr and in the summary."""
    from nasharness import api

    class Refusing:  # whatever the tracker is asked to do, the store does not answer
        uri = None
        run_id = None

        def __init__(self, *a, **k):
            pass

        def __getattr__(self, name):
            raise ConnectionError("the store went away")

        def __enter__(self):
            raise ConnectionError("the store went away")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(api, "MLflowTracker", Refusing)
    (tmp_path / "tiny.yaml").write_text(TINY.format(name="tiny"))
    r = _invoke(["sweep", tmp_path / "tiny.yaml", "--out-dir", tmp_path / "sweeps", "--tracking-uri", mlflow_uri])
    assert r.exit_code == 0, r.output
    (line,) = [s for s in r.stderr.splitlines() if s.startswith("warning: cell random-201-cifar10-s0: done, but NOT "
                                                                 "logged to MLflow")]
    assert "the store went away" in line and "nasharness sync" in line
    (summary,) = [s for s in r.stderr.splitlines() if s.startswith("warning: 1 cell(s) NOT logged to MLflow")]
    assert "the store went away" in summary
    (result_path,) = (tmp_path / "sweeps" / "tiny").glob("cells/*/*/result.json")
    assert "the store went away" in json.loads(result_path.read_text())["tracking"]["error"]


# ---- 1b. a done cell counts only with a complete result.json ---------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "incomplete"])
def test_a_done_cell_with_a_broken_result_is_rerun(tmp_path, damage):
    (tmp_path / "tiny.yaml").write_text(TINY.format(name="tiny"))
    argv = ["sweep", tmp_path / "tiny.yaml", "--out-dir", tmp_path / "sweeps", "--no-tracking", "-q"]
    assert _invoke(argv).exit_code == 0
    root = tmp_path / "sweeps" / "tiny"
    (result_path,) = root.glob("cells/*/*/result.json")
    good = json.loads(result_path.read_text())
    if damage == "truncated":
        result_path.write_text(result_path.read_text()[:300])
    else:
        result_path.write_text(json.dumps({k: v for k, v in good.items() if k != "ranking"}))
    r = _invoke(argv)
    assert r.exit_code == 0, r.output
    assert "random-201-cifar10-s0" in r.stderr and "runs again" in r.stderr
    assert "re-ran 1 cell(s) whose result.json was broken" in r.stderr
    assert "1 run, 0 already done, 0 failed" in r.stdout
    again = json.loads(result_path.read_text())  # re-run (resumed in the same run directory)
    assert again["chosen"] == good["chosen"] and again["ranking"] == good["ranking"]
    assert (result_path.parent / "result.json.broken").exists()  # kept for a look, ignored by readers
    assert json.loads((root / "sweep.json").read_text())["cells"]["random-201-cifar10-s0"]["status"] == "done"
    assert (root / "summary.csv").exists()


def test_an_unreadable_sweep_state_is_rebuilt(finished):
    tmp, root = finished
    state = root / "sweep.json"
    state.write_text(state.read_text()[:40])
    r = _invoke(["sweep", tmp / "tiny.yaml", "--out-dir", tmp / "sweeps", "--no-tracking", "-q"])
    assert r.exit_code == 0, r.output
    assert "sweep.json is unreadable" in r.stderr and "0 run, 1 already done" in r.stdout
    assert json.loads(state.read_text())["cells"]["random-201-cifar10-s0"]["status"] == "done"


# ---- 2. nothing is written outside --out-dir -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", ".", "a/b", "../escape", "/abs", "a\\b", ".hidden", "x" * 101, "semi;colon",
                                  ""])
def test_unsafe_suite_names_are_refused(tmp_path, name):
    (tmp_path / "bad.yaml").write_text(TINY.format(name=json.dumps(name)))
    out = tmp_path / "deep" / "out"
    before = _snapshot(tmp_path)
    r = _invoke(["sweep", tmp_path / "bad.yaml", "--out-dir", out, "--no-tracking"])
    _one_paragraph_error(r, "'suite' must be a plain name")
    assert not (tmp_path / "deep").exists() and _snapshot(tmp_path) == before


def test_a_sweep_path_leading_out_of_the_out_dir_is_refused(tmp_path):
    """Resolved paths are checked: a symlinked suite directory pointing elsewhere is not followed."""
    (tmp_path / "tiny.yaml").write_text(TINY.format(name="tiny"))
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "tiny").symlink_to(elsewhere)
    r = _invoke(["sweep", tmp_path / "tiny.yaml", "--out-dir", out, "--no-tracking"])
    _one_paragraph_error(r, "outside --out-dir")
    assert not any(elsewhere.iterdir())


# ---- 3. suites are fully checked when loaded, before anything is written ---------------------------------------
BAD_SUITES = [
    # (id, suite text or bytes, expected text in the message)
    ("override typo", "suite: s\nmethods: [random, spos]\noverrides:\n  spos: {epoch: 3}\n",
     "unknown --set key 'epoch'"),
    ("override out of range", "suite: s\nmethods: [spos]\noverrides:\n  spos: {epochs: -3}\n", "epochs"),
    ("override value of the wrong type", "suite: s\nmethods: [fairnas]\noverrides:\n  fairnas: {epochs: abc}\n",
     "'abc'"),
    ("override on a method without options", "suite: s\nmethods: [random]\noverrides:\n  random: {epochs: 3}\n",
     "takes no --set"),
    ("unknown device", "suite: s\nmethods: [random]\ndevice: tpu\n", "unknown 'device' 'tpu'"),
    ("malformed cuda device", "suite: s\nmethods: [random]\ndevice: 'cuda:x'\n", "cuda:N"),
    ("bootstrap too large", "suite: s\nmethods: [random]\nbootstrap: 1000000\n", "0..100,000"),
    ("negative bootstrap", "suite: s\nmethods: [random]\nbootstrap: -1\n", "0..100,000"),
    ("duplicate top-level key", "suite: s\nmethods: [random]\nseeds: [0]\nseeds: [1]\n",
     "gives the key 'seeds' twice"),
    ("duplicate nested key", 'suite: s\nmethods: [random]\nbenchmarks:\n  "201": [cifar10]\n  "201": [cifar100]\n',
     "gives the key '201' twice"),
    ("binary file", bytes(range(256)) * 4, "not UTF-8 text"),
    ("binary-looking UTF-8", "suite: s\x00\x01\n", "not valid YAML"),
    ("not a mapping", "- suite\n- s\n", "must be a mapping"),
    ("deterministic not a flag", "suite: s\nmethods: [random]\ndeterministic: maybe\n", "true or false"),
    ("empty experiment", "suite: s\nmethods: [random]\nexperiment: ''\n", "'experiment' must be"),
]


@pytest.mark.parametrize("case", BAD_SUITES, ids=[c[0] for c in BAD_SUITES])
def test_a_bad_suite_fails_before_anything_is_written(tmp_path, case):
    _, content, expected = case
    suite = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        suite.write_bytes(content)
    else:
        suite.write_text(content)
    out = tmp_path / "out"
    r = _invoke(["sweep", suite, "--out-dir", out, "--no-tracking"])
    _one_paragraph_error(r, expected)
    assert not out.exists()  # no sweep directory, no sweep.json


# ---- 4. I/O faults: full or read-only filesystems, a file where a folder should be -----------------------------
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES])
def test_atomic_write_turns_storage_faults_into_one_error(tmp_path, monkeypatch, code):
    from nasharness.errors import StorageError, UserError
    from nasharness.io import atomic_write_text

    target = tmp_path / "table.md"
    target.write_text("old\n")
    _enospc_on(monkeypatch, "table.md", code)
    with pytest.raises(StorageError) as info:
        atomic_write_text(target, "new\n")
    err = info.value
    assert isinstance(err, UserError) and isinstance(err, OSError) and err.errno == code
    assert str(target) in str(err) and os.strerror(code) in str(err) and "choose another directory" in str(err)
    assert target.read_text() == "old\n" and _no_tmp_files(tmp_path)


def test_compare_out_that_cannot_be_written(finished, monkeypatch, tmp_path):
    _, root = finished
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    r = _invoke(["compare", root, "--out", blocker / "table.md"])  # a file where a directory is expected
    _one_paragraph_error(r, str(blocker))
    assert blocker.read_text() == "not a folder\n"

    table = tmp_path / "table.md"
    table.write_text("earlier table\n")
    _enospc_on(monkeypatch, "table.md")
    r = _invoke(["compare", root, "--out", table])
    assert "No space left on device" in _one_paragraph_error(r, str(table))
    assert table.read_text() == "earlier table\n" and _no_tmp_files(tmp_path)


def test_report_update_baseline_and_html_that_cannot_be_written(finished, monkeypatch, tmp_path):
    _, root = finished
    baseline = tmp_path / "baseline.csv"
    assert _invoke(["compare", root, "--out", baseline]).exit_code == 0
    before = baseline.read_bytes()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")

    r = _invoke(["report", "--baseline", baseline, "--current", root, "--html", blocker / "html"])
    _one_paragraph_error(r, str(blocker))
    # checked before the baseline is rewritten: nothing is left half done
    r = _invoke(["report", "--baseline", baseline, "--current", root, "--update-baseline", "--html",
                 blocker / "html"])
    _one_paragraph_error(r, str(blocker))
    assert baseline.read_bytes() == before

    _enospc_on(monkeypatch, "baseline.csv")
    r = _invoke(["report", "--baseline", baseline, "--current", root, "--update-baseline"])
    _one_paragraph_error(r, "No space left on device")
    assert baseline.read_bytes() == before and _no_tmp_files(tmp_path)

    _enospc_on(monkeypatch, "index.html")
    r = _invoke(["report", "--baseline", baseline, "--current", root, "--html", tmp_path / "html"])
    _one_paragraph_error(r, "index.html")
    assert not (tmp_path / "html" / "index.html").exists() and _no_tmp_files(tmp_path)
    assert not [p for p in (tmp_path / "html").iterdir()]  # the scratch plots are gone too


def test_a_run_that_cannot_write_its_result_leaves_no_run_directory(tmp_path, monkeypatch):
    out = tmp_path / "runs"
    assert _invoke(["run", "-m", "random", "-b", "201", "--out-dir", out, "--no-tracking", "-q",
                    "--bootstrap", "0"]).exit_code == 0
    before = _snapshot(out)
    _enospc_on(monkeypatch, "result.json")
    r = _invoke(["run", "-m", "random", "-b", "201", "--seed", "1", "--out-dir", out, "--no-tracking", "-q",
                 "--bootstrap", "0"])
    assert "result.json" in _one_paragraph_error(r, "No space left on device")
    assert _snapshot(out) == before and len(list(out.iterdir())) == 1  # the earlier run only, nothing half made


def test_a_sweep_on_a_full_disk_stops_with_one_error(tmp_path, monkeypatch):
    out = tmp_path / "sweeps"
    two = TINY.format(name="tiny").replace("seeds: [0]", "seeds: [0, 1]")
    (tmp_path / "two.yaml").write_text(two)
    _enospc_on(monkeypatch, "result.json")
    r = _invoke(["sweep", tmp_path / "two.yaml", "--out-dir", out, "--no-tracking", "-q"])
    _one_paragraph_error(r, "No space left on device")
    cells = out / "tiny" / "cells"
    assert not [d for d in cells.rglob("*") if d.is_file()]  # no config.json / plot without its result
    state = json.loads((out / "tiny" / "sweep.json").read_text())
    assert state["cells"]["random-201-cifar10-s0"]["status"] == "failed"
    assert "random-201-cifar10-s1" not in state["cells"]  # the sweep stopped instead of failing every cell


def test_a_real_full_filesystem(tmpfs, finished):
    """A 40 KiB tmpfs holds config.json and maybe the plot, but not result.json (root and mount permitted only)."""
    _, root = finished
    full = tmpfs("size=40k")
    r = _invoke(["run", "-m", "random", "-b", "201", "--out-dir", full / "runs", "--no-tracking", "-q",
                 "--bootstrap", "0"])
    _one_paragraph_error(r, "No space left on device")
    assert not [p for p in full.rglob("*") if p.is_file()]  # nothing half-written, no run directory left
    r = _invoke(["compare", root, "--out", full / "table.json", "--format", "json"])
    assert r.exit_code == 0, r.output  # a small file still fits


def test_a_real_read_only_filesystem(tmpfs, finished):
    tmp, root = finished
    ro = tmpfs("size=64k,ro")
    r = _invoke(["compare", root, "--out", ro / "table.md"])
    assert "Read-only file system" in _one_paragraph_error(r, str(ro / "table.md"))
    r = _invoke(["sweep", tmp / "tiny.yaml", "--out-dir", ro / "sweeps", "--no-tracking", "-q"])
    _one_paragraph_error(r, "Read-only file system")
    r = _invoke(["report", "--baseline", ro / "b.csv", "--current", root, "--update-baseline"])
    _one_paragraph_error(r, "Read-only file system")
    assert not list(ro.iterdir())
