"""Sweeps end to end on a tiny suite: MLflow parent/child runs, skipping done cells, surviving a failing cell,
compare from the store and from directories, and the regression report's exit codes through the CLI."""

import json
import re

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from nasharness.cli import cli
from nasharness.compare import aggregate, records_from_dirs, records_from_mlflow

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("cifar10_images")]

TINY = """
suite: tiny
budget: ci
seeds: [0, 1]
methods: [random, fairnas, predictor-mse]
benchmarks:
  "201": [cifar10]
  "101": [cifar10]
overrides:
  fairnas: {channels: 4, cells_per_stage: 1, epochs: 2, batch_size: 64, n_train: 256, n_valid: 128, n_archs: 8,
            calib_batches: 1, calib_batch_size: 64, population: 4, sample_size: 2, cycles: 3, track_every: 1,
            track_archs: 6}
  predictor-mse: {epochs: 2, train_size: %s}
bootstrap: 10
device: cpu
"""


def _invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def swept(tmp_path_factory, cifar10_images):
    tmp = tmp_path_factory.mktemp("sweep")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    # predictor-mse on NB101 with 100,000 training archs cannot run: that cell must fail, the rest go on
    (tmp / "tiny.yaml").write_text(TINY % "30")
    (tmp / "bad.yaml").write_text(TINY % "100000")
    first = _invoke(["sweep", str(tmp / "bad.yaml"), "--out-dir", str(tmp / "sweeps"), "--tracking-uri", uri])
    return tmp, uri, first


def test_a_failing_cell_is_recorded_and_the_rest_go_on(swept):
    tmp, uri, first = swept
    assert first.exit_code == 1
    state = json.loads((tmp / "sweeps" / "tiny" / "sweep.json").read_text())
    status = {k: v["status"] for k, v in state["cells"].items()}
    assert len(status) == 12
    assert {k for k, v in status.items() if v == "failed"} == {"predictor-mse-101-cifar10-s0",
                                                               "predictor-mse-101-cifar10-s1",
                                                               "predictor-mse-201-cifar10-s0",
                                                               "predictor-mse-201-cifar10-s1"}
    assert "leaves none to rank" in state["cells"]["predictor-mse-201-cifar10-s0"]["error"]


def test_parent_and_child_runs_in_mlflow(swept):
    tmp, uri, _ = swept
    state = json.loads((tmp / "sweeps" / "tiny" / "sweep.json").read_text())
    client = MlflowClient(uri)
    parent = client.get_run(state["parent_run_id"])
    assert parent.data.tags["suite"] == "tiny" and parent.info.status == "FAILED"  # a cell failed
    exp = client.get_experiment_by_name("nasharness-tiny")
    children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 8 and {r.data.tags["cell"] for r in children} >= {"fairnas-101-cifar10-s1"}
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.md", "summary.csv", "summary.json"} <= arts


def test_rerun_skips_done_cells_and_retries_failed_ones(swept):
    tmp, uri, _ = swept
    (tmp / "sweeps" / "tiny" / "cells" / "random-201-cifar10-s0").rename(tmp / "moved")  # pretend it never ran
    again = _invoke(["sweep", str(tmp / "tiny.yaml"), "--out-dir", str(tmp / "sweeps"), "--tracking-uri", uri])
    assert again.exit_code == 0, again.output
    assert "5 run, 7 already done, 0 failed" in again.output  # random-201-s0 and the 4 predictor cells
    state = json.loads((tmp / "sweeps" / "tiny" / "sweep.json").read_text())
    assert all(v["status"] == "done" for v in state["cells"].values())


def test_compare_reads_the_store_and_directories_alike(swept):
    tmp, uri, _ = swept
    from_dirs = aggregate(records_from_dirs([tmp / "sweeps" / "tiny"]))
    from_store = aggregate(records_from_mlflow(uri, "nasharness-tiny", suite="tiny"))
    cols = ["method", "bench", "kendall_tau_mean", "regret_mean", "n_seeds"]
    assert from_dirs[cols].round(9).equals(from_store[cols].round(9))
    assert len(from_dirs) == 6 and set(from_dirs["n_seeds"]) == {2}
    out = _invoke(["compare", "--tracking-uri", uri, "--experiment", "nasharness-tiny", "--format", "json"])
    rows = json.loads(out.output)
    assert {(r["method"], r["bench"]) for r in rows} == {(m, b) for m in ("random", "fairnas", "predictor-mse")
                                                         for b in ("201", "101")}
    md = _invoke(["compare", str(tmp / "sweeps" / "tiny"), "--format", "md"]).output
    # a method that does not beat the free baselines in every seed is marked "(beats free k/n)"
    assert re.search(r"\| fairnas( \(beats free \d/2\))? \| 101 / cifar10 \| `cifar10/val@108` \| 2 \|", md), md
    table = _invoke(["compare", str(tmp / "sweeps" / "tiny")]).output  # the default: a table, not raw markdown
    assert "| fairnas" not in table and any(line.split()[:1] == ["fairnas"] and "101 / cifar10" in line
                                             for line in table.splitlines())


def test_report_exit_codes_update_and_html(swept):
    tmp, _, _ = swept
    cur = str(tmp / "sweeps" / "tiny")
    base = tmp / "baseline.csv"
    assert _invoke(["report", "--baseline", str(base), "--current", cur, "--update-baseline"]).exit_code == 0
    ok = _invoke(["report", "--baseline", str(base), "--current", cur, "--html", str(tmp / "html")])
    assert ok.exit_code == 0 and "No regression beyond the noise band." in ok.output
    page = (tmp / "html" / "index.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "Kendall tau" in page  # bars x2 + KT-vs-epoch curves
    # a baseline that claims random ranked much better: the report must fail on it
    import pandas as pd

    doctored = pd.read_csv(base, dtype={"bench": str})
    doctored.loc[doctored["method"] == "random", "kendall_tau_mean"] += 0.3
    doctored.to_csv(tmp / "doctored.csv", index=False)
    bad = _invoke(["report", "--baseline", str(tmp / "doctored.csv"), "--current", cur])
    assert bad.exit_code == 1 and "**REGRESSED**" in bad.output and "regression(s)" in bad.output
    missing = _invoke(["report", "--baseline", str(tmp / "nope.csv"), "--current", cur])
    assert missing.exit_code == 2 and "--update-baseline" in missing.output


def test_ray_backend_runs_cells_as_tasks(tmp_path):
    """`sweep --backend ray`: a private local Ray on 127.0.0.1 with 2 workers; every cell logs to the same store."""
    pytest.importorskip("ray")
    (tmp_path / "r.yaml").write_text("suite: raytiny\nbudget: ci\nseeds: [0, 1]\nmethods: [random, renas]\n"
                                     "benchmarks: {'201': [cifar10], '101': [cifar10]}\n"
                                     "overrides: {renas: {epochs: 2, train_size: 30}}\nbootstrap: 10\n")
    uri = f"sqlite:///{tmp_path / 'ray.db'}"
    r = _invoke(["sweep", str(tmp_path / "r.yaml"), "--out-dir", str(tmp_path / "sweeps"), "--tracking-uri", uri,
                 "--backend", "ray", "--cpus-per-cell", "1"])
    assert r.exit_code == 0, r.output
    assert "8 run, 0 already done, 0 failed" in r.output
    state = json.loads((tmp_path / "sweeps" / "raytiny" / "sweep.json").read_text())
    assert {v["status"] for v in state["cells"].values()} == {"done"}
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("nasharness-raytiny")
    kids = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{state['parent_run_id']}'")
    assert len(kids) == 8
    # the same numbers as the local backend would give (runs are deterministic per seed)
    table = aggregate(records_from_dirs([tmp_path / "sweeps" / "raytiny"]))
    assert len(table) == 4 and set(table["n_seeds"]) == {2}


def test_a_killed_sweep_resumes_without_redoing_finished_cells(tmp_path):
    """SIGKILL the sweep while a cell trains; the re-run skips the finished cells and resumes the killed one from its
    checkpoint."""
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "k.yaml").write_text(
        "suite: killme\nbudget: ci\nseeds: [0]\nmethods: [random, spos]\nbenchmarks: {'201': [cifar10]}\n"
        "overrides: {spos: {channels: 4, cells_per_stage: 1, epochs: 30, batch_size: 64, n_train: 512, n_valid: 64,"
        " n_archs: 8, calib_batches: 1, calib_batch_size: 64, population: 2, sample_size: 1, cycles: 1,"
        " track_every: 0}}\nbootstrap: 0\ndevice: cpu\n")
    cmd = [sys.executable, "-m", "nasharness", "sweep", str(tmp_path / "k.yaml"), "--out-dir", str(tmp_path / "sw"),
           "--no-tracking"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt_dir = tmp_path / "sw" / "killme" / "cells" / "spos-201-cifar10-s0"
    deadline = time.time() + 300
    while time.time() < deadline and not list(ckpt_dir.glob("*/checkpoints/last.pt")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(ckpt_dir.glob("*/checkpoints/last.pt")), "the spos cell never checkpointed"
    state = json.loads((tmp_path / "sw" / "killme" / "sweep.json").read_text())
    assert state["cells"]["random-201-cifar10-s0"]["status"] == "done"
    assert state["cells"]["spos-201-cifar10-s0"]["status"] == "running"  # killed mid-cell
    random_result = next((tmp_path / "sw" / "killme" / "cells" / "random-201-cifar10-s0").glob("*/result.json"))
    before = random_result.read_bytes()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "random-201-cifar10-s0: skipped (done)" in again.stderr
    assert "spos-201-cifar10-s0: resuming" in again.stderr
    assert "1 run, 1 already done, 0 failed" in again.stdout
    assert random_result.read_bytes() == before  # the finished cell was not redone
    (run_dir,) = ckpt_dir.iterdir()  # the killed cell's own directory was continued, not a new one made
    assert json.loads((run_dir / "result.json").read_text())["costs"]["epochs"] == 30
