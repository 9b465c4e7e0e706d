"""Tracking faults (issue 19): concurrent runs on one sqlite store, a dead or silent tracking server, SIGINT /
SIGTERM, and reading a store that does not exist. Every run is a `random` run on NB201 (seconds) in a subprocess;
every server listens on 127.0.0.1 only and every wait is bounded."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

RUN = [sys.executable, "-m", "nasharness", "run", "--method", "random", "--bench", "201", "--bootstrap", "0"]
WARNING = "warning: not logged to the MLflow store"


def _env(**extra) -> dict:
    """The test's environment without MLflow / tracking settings (the harness's defaults apply) and without
    pytest's marker (MLflow turns on test-only checks when it sees it)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLFLOW_", "NASHARNESS_TRACKING_")) and k != "PYTEST_CURRENT_TEST"}
    env.update(extra)
    return env


def _start(args, cwd, **env) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=cwd, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{proc.args} did not finish within {timeout} s; stderr: {err[-2000:]}")
    return proc.returncode, out, err


def _runs(uri: str, experiment: str = "nasharness") -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=100) if exp else []


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@contextlib.contextmanager
def _silent_server(limit_s: float = 180):
    """Accepts connections on 127.0.0.1 and never answers (for at most ``limit_s``)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(32)
    srv.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        end = time.monotonic() + limit_s
        while not stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = srv.accept()
                conns.append(conn)
            except TimeoutError:
                continue
            except OSError:
                break

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}", conns
    finally:
        stop.set()
        worker.join(5)
        for c in conns:
            c.close()
        srv.close()


def _assert_kept_for_sync(out: str, err: str, run_root: Path) -> Path:
    """The run printed its JSON, wrote its result, and said on stderr (one line) how to upload it later."""
    (result,) = run_root.glob("*/result.json")
    saved = json.loads(result.read_text())
    assert saved["n_evaluated"] == 100 and saved["chosen"]["arch"].startswith("|")
    assert saved["tracking"]["error"] and "run_id" not in saved["tracking"]
    assert saved["tracking"]["sync"] == f"nasharness sync {result.parent.resolve()}"
    assert json.loads(out)["tracking"]["error"] == saved["tracking"]["error"]
    lines = [line for line in err.splitlines() if line.startswith(WARNING)]
    assert len(lines) == 1, err
    assert f"nasharness sync {result.parent.resolve()}" in lines[0] and saved["tracking"]["uri"] in lines[0]
    assert "Traceback" not in err
    return result.parent


# ---------------------------------------------------------------------------------------- 1. concurrent sqlite


def test_four_runs_at_once_on_a_new_and_an_existing_sqlite_store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"  # a new file in a folder that does not exist yet

    def batch(tag: str, n: int) -> None:
        procs = [_start([*RUN, "--tracking-uri", uri, "--out-dir", str(tmp_path / f"{tag}{i}"), "--json", "-q"],
                        tmp_path) for i in range(n)]
        for p in procs:
            rc, out, err = _finish(p)
            assert rc == 0, err[-3000:]
            assert json.loads(out)["tracking"].get("run_id"), out[-2000:]
            assert WARNING not in err, err[-3000:]

    batch("new", 4)  # 4 processes race on creating the schema and the experiment
    runs = _runs(uri)
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    assert all(r.data.metrics["rank/cifar10/ori-test_at_200/kendall_tau/n"] == 100 for r in runs)
    assert (tmp_path / "store" / "mlflow.db.lock").exists()
    batch("old", 4)  # and 4 concurrent writers on the existing store
    assert len(_runs(uri)) == 8
    batch("single", 1)  # the store is still healthy
    runs = _runs(uri)
    assert len(runs) == 9 and {r.info.status for r in runs} == {"FINISHED"}


# ---------------------------------------------------------------------------------------- 2. dead / silent servers


def test_closed_port_finishes_quickly_and_is_kept_for_sync(tmp_path):
    port = _closed_port()
    t0 = time.monotonic()
    rc, out, err = _finish(_start([*RUN, "--tracking-uri", f"http://127.0.0.1:{port}", "--out-dir",
                                   str(tmp_path / "runs"), "--json", "-q"], tmp_path), timeout=120)
    elapsed = time.monotonic() - t0
    print(f"closed port: run finished in {elapsed:.1f} s")
    assert rc == 0, err[-3000:]
    assert elapsed < 30, f"{elapsed:.1f} s"
    _assert_kept_for_sync(out, err, tmp_path / "runs")


def test_silent_server_is_bounded_and_sync_uploads_later(tmp_path):
    with _silent_server() as (url, conns):
        # per-request timeout (2 s, 1 retry)
        t0 = time.monotonic()
        rc, out, err = _finish(_start([*RUN, "--tracking-uri", url, "--out-dir", str(tmp_path / "a"), "--json",
                                       "-q"], tmp_path, NASHARNESS_TRACKING_TIMEOUT="2"), timeout=120)
        per_request = time.monotonic() - t0
        assert rc == 0, err[-3000:]
        assert per_request < 30, f"{per_request:.1f} s"
        run_dir = _assert_kept_for_sync(out, err, tmp_path / "a")
        # the overall bound on the logging step, with a per-request timeout that alone would take far longer
        t0 = time.monotonic()
        rc, out, err = _finish(_start([*RUN, "--tracking-uri", url, "--out-dir", str(tmp_path / "b"), "--json",
                                       "-q"], tmp_path, NASHARNESS_TRACKING_TIMEOUT="300",
                                      NASHARNESS_TRACKING_DEADLINE="3"), timeout=120)
        overall = time.monotonic() - t0
        assert rc == 0, err[-3000:]
        assert overall < 30, f"{overall:.1f} s"
        _assert_kept_for_sync(out, err, tmp_path / "b")
        assert "did not finish within 3 s" in json.loads(out)["tracking"]["error"]
        assert conns, "the server was never contacted"
    print(f"silent server: run finished in {per_request:.1f} s (timeout 2 s, 1 retry), {overall:.1f} s (deadline 3 s)")
    # the store answers later: sync uploads the kept run
    uri = f"sqlite:///{tmp_path / 'later.db'}"
    rc, out, err = _finish(_start([sys.executable, "-m", "nasharness", "sync", str(run_dir), "--tracking-uri", uri],
                                  tmp_path), timeout=120)
    assert rc == 0, err[-3000:]
    synced = json.loads((run_dir / "result.json").read_text())["tracking"]
    assert synced["uri"] == uri and synced["run_id"] and "error" not in synced
    (run,) = _runs(uri)
    assert run.info.run_id == synced["run_id"] and run.data.metrics["rank/cifar10/ori-test_at_200/kendall_tau/n"] == 100


def test_bad_tracking_limit_is_a_user_error(tmp_path):
    rc, out, err = _finish(_start([*RUN, "--out-dir", str(tmp_path / "runs"), "-q"], tmp_path,
                                  NASHARNESS_TRACKING_TIMEOUT="soon"), timeout=120)
    assert rc == 2 and err.startswith("error: NASHARNESS_TRACKING_TIMEOUT='soon'") and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------------------------------- 3. signals


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_exits_with_its_code_and_says_where_the_run_is(tmp_path, sig, code):
    # a long bootstrap after the search: the signal lands while the run directory exists and result.json does not
    proc = _start([*RUN[:-2], "--bootstrap", "100000", "--no-tracking", "--out-dir", str(tmp_path / "runs"), "-q"],
                  tmp_path)
    try:
        end = time.monotonic() + 90
        while not list((tmp_path / "runs").glob("*/config.json")):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < end, "the run directory never appeared"
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(sig)
        rc, out, err = _finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert rc == code, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"error: interrupted by {sig.name}: the partial run is in {run_dir} (no result.json was "
                     f"written); run the same command with --resume to continue it."], err[-3000:]
    assert "Aborted!" not in err + out
    assert not (run_dir / "result.json").exists() and not list(run_dir.glob("*.tmp"))
    assert (run_dir / "config.json").exists()


# ---------------------------------------------------------------------------------------- 4. reading a missing store


def test_compare_on_a_missing_sqlite_store_does_not_create_it(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from nasharness.cli import cli

    missing = tmp_path / "nope" / "mlflow.db"
    r = CliRunner().invoke(cli, ["compare", "--tracking-uri", f"sqlite:///{missing}"])
    assert r.exit_code == 2, r.output
    assert "does not exist" in r.output and "--tracking-uri" in r.output and "Traceback" not in r.output
    assert not missing.exists() and not missing.parent.exists()
    # the default store (MLFLOW_TRACKING_URI, relative to the working directory) is not created either
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["compare"], env={"MLFLOW_TRACKING_URI": "sqlite:///default.db"})
    assert r.exit_code == 2 and "does not exist" in r.output, r.output
    assert not (tmp_path / "default.db").exists()
