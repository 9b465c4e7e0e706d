"""A one-shot run killed with SIGKILL mid-training resumes from its last checkpoint and ends with exactly the
metrics of an uninterrupted run with the same seed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

SETTINGS = ["channels=4", "cells_per_stage=1", "epochs=3", "batch_size=32", "n_train=1536", "n_valid=128",
            "n_archs=8", "calib_batches=1", "calib_batch_size=64", "population=4", "sample_size=2", "cycles=3",
            "channels_last=false"]


def _cmd(out_dir, *extra):
    sets = [a for s in SETTINGS for a in ("--set", s)]
    return [sys.executable, "-m", "nasharness.cli", "run", "-m", "fairnas", "-b", "201", "--seed", "5", "--no-tracking",
            "--device", "cpu", "--bootstrap", "10", "--out-dir", str(out_dir), "-q", *sets, *extra]


def _comparable(result_json):
    r = json.loads(result_json.read_text())
    return {k: r[k] for k in ("chosen", "truth", "regret", "ranking", "extra", "n_evaluated")} | {
        "trajectory": [{k: v for k, v in p.items() if "wall" not in k} for p in r["trajectory"]]}


def test_sigkill_then_resume_equals_uninterrupted(tmp_path, cifar10_images):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref = subprocess.run(_cmd(tmp_path / "ref", "--set", "threads=1"), env=env, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    (ref_result,) = (tmp_path / "ref").glob("*/result.json")

    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(killed_dir, "--set", "threads=1"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list(killed_dir.glob("*/checkpoints/last.pt")):
        assert proc.poll() is None, "the run finished before it could be killed; make the epochs longer"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # the first epoch's checkpoint is complete (atomic rename): we are in epoch 2
    proc.wait()
    assert not list(killed_dir.glob("*/result.json"))

    resumed = subprocess.run(_cmd(killed_dir, "--set", "threads=1", "--resume"), env=env, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr
    (res_result,) = killed_dir.glob("*/result.json")
    assert _comparable(res_result) == _comparable(ref_result)


def test_resume_without_a_run_is_a_clear_error(tmp_path):
    r = subprocess.run(_cmd(tmp_path, "--resume"), capture_output=True, text=True)
    assert r.returncode == 2 and "found no unfinished run" in r.stderr
