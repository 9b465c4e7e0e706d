"""DARTS and Fair DARTS end to end: NB201 (whole-space ranking, published collapse point), the DARTS space (derived
genotype, sizes, training the derived network), `nasharness train`, determinism, and crash-resume."""

import json
import subprocess
import sys

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import nasharness as nh
from nasharness.tracking import mlflow_key

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("cifar10_images")]

TINY = {"channels": "4", "cells_per_stage": "1", "epochs": "2", "batch_size": "64", "n_train": "256",
        "n_valid": "128", "layers": "3", "channels_last": "false"}
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def _config(method, bench, tmp_path, **kw):
    overrides = {**TINY, **kw.pop("overrides", {})}
    return nh.RunConfig(method=method, bench=bench, out_dir=str(tmp_path), n_boot=10, device="cpu",
                        overrides=overrides, **{"tracking": False, **kw})


def test_darts_collapse_point_of_the_nb201_paper_is_the_all_skip_cell(nb201):
    """NAS-Bench-201 (Dong & Yang, 2020, Table 5): DARTS-V1/V2 end at 54.30% CIFAR-10 test accuracy — the cell of
    only skip connections."""
    i = nb201.index_of(ALL_SKIP)
    assert nb201.query(i, "cifar10/ori-test@200") == pytest.approx(54.30, abs=0.005)


@pytest.mark.parametrize("method", ["darts", "fairdarts"])
def test_nb201_ranks_the_whole_space_and_logs_weights(tmp_path, method):
    r = nh.run(_config(method, "201", tmp_path))
    for t in ("cifar10-valid/x-valid@200", "cifar10/ori-test@200"):
        assert r.protocol["ranking_n"][t] == 15625 and r.ranking[f"rank/{t}/kendall_tau"]["n"] == 15625
    assert r.chosen["arch"].count("~") == 6 and r.regret["cifar10/ori-test@200"] >= 0
    assert {"cifar100/x-test@200", "ImageNet16-120/x-test@200"} <= set(r.truth)
    weights = json.loads((tmp_path / r.run_dir.split("/")[-1] / "arch_weights.json").read_text())
    assert np.array(weights["per_epoch"]).shape == (2, 1, 6, 5)
    final = np.array(weights["final"][0])
    if method == "darts":
        assert np.allclose(final.sum(1), 1.0)  # softmax per edge
    else:
        assert not np.allclose(final.sum(1), 1.0) and ((final > 0) & (final < 1)).all()
    assert any(a.endswith("arch_weights.png") for a in r.artifacts)
    assert all("train/skip_connects" in p and "train/kt/cifar10-valid/x-valid@200" in p for p in r.trajectory)
    assert r.extra["search/derived/skip_connects"] == r.chosen["arch"].count("skip_connect")


def test_same_seed_same_numbers_other_seed_differs(tmp_path):
    def once(seed, sub):
        r = nh.run(_config("fairdarts", "201", tmp_path / sub, seed=seed))
        return r.chosen, r.ranking, [{k: v for k, v in p.items() if "wall" not in k} for p in r.trajectory]

    assert once(3, "a") == once(3, "b")
    assert once(3, "a")[1] != once(4, "c")[1]


def test_darts_space_search_reports_genotype_sizes_and_trained_accuracy(tmp_path, mlflow_uri):
    r = nh.run(_config("fairdarts", "darts", tmp_path, tracking=True, tracking_uri=mlflow_uri,
                       experiment="darts-space", overrides={"train_derived": "true"}))
    from nasharness.spaces.darts import parse_genotype

    g = parse_genotype(r.chosen["arch"])
    assert r.ranking == {} and r.regret == {} and r.protocol["ranking_truths"] == []
    assert list(r.truth) == ["cifar10/test@1"] and 0 <= r.truth["cifar10/test@1"] <= 100
    assert r.extra["search/derived/params_M@C36-L20"] > 0 and r.extra["search/derived/madds_M@C36-L20-32px"] > 0
    assert r.extra["search/derived/skip_connects/normal"] == g.skip_count(False)
    assert r.budget == "ci+overrides"
    run = MlflowClient(mlflow_uri).get_run(r.tracking["run_id"])
    assert mlflow_key("chosen/cifar10/test@1") in run.data.metrics
    assert run.data.params["chosen_arch"].startswith("Genotype(")
    shape = np.array(json.loads((tmp_path / r.run_dir.split("/")[-1] / "arch_weights.json").read_text())["final"])
    assert shape.shape == (2, 14, 8)


def test_train_derived_is_refused_on_a_tabular_benchmark(tmp_path):
    with pytest.raises(nh.UserError, match="table already gives"):
        nh.run(_config("darts", "201", tmp_path, overrides={"train_derived": "true"}))


def test_train_cli_trains_a_published_cell(tmp_path):
    sets = ["epochs=1", "channels=4", "layers=5", "n_train=128", "n_test=64", "batch_size=32"]
    cmd = [sys.executable, "-m", "nasharness.cli", "train", "--arch", "FairDARTS_a", "--bench", "darts",
           "--no-tracking", "--device", "cpu", "--out-dir", str(tmp_path), "-q", "--json",
           *[a for s in sets for a in ("--set", s)]]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["method"] == "train" and list(r["truth"]) == ["cifar10/test@1"]
    assert r["extra"]["search/derived/params_M@C36-L20"] == pytest.approx(2.360782)  # FairDARTS_a without aux head
    assert r["protocol"]["published_name"] == "FairDARTS_a"
    bad = subprocess.run([*cmd[:5], "NotACell", *cmd[6:]], capture_output=True, text=True)
    assert bad.returncode == 2 and "valid: DARTS_V1" in bad.stderr and "Traceback" not in bad.stderr
    tab = subprocess.run([*cmd[:7], "201", *cmd[8:]], capture_output=True, text=True)
    assert tab.returncode == 2 and "Use --bench darts" in tab.stderr


def test_crashed_search_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from nasharness.methods import differentiable

    cfg = dict(seed=7, overrides={"epochs": "3", "n_train": "192"})
    ref = nh.run(_config("darts", "201", tmp_path / "ref", **cfg))

    calls = {"n": 0}
    real = differentiable.Architect.before_step

    def crash_in_epoch_2(self, *a):
        calls["n"] += 1
        if calls["n"] == 5:  # 3 steps per epoch: epoch 1 is checkpointed, epoch 2 crashes
            raise RuntimeError("simulated crash")
        return real(self, *a)

    monkeypatch.setattr(differentiable.Architect, "before_step", crash_in_epoch_2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        nh.run(_config("darts", "201", tmp_path / "killed", **cfg))
    monkeypatch.setattr(differentiable.Architect, "before_step", real)
    resumed = nh.run(_config("darts", "201", tmp_path / "killed", resume=True, **cfg))
    strip = lambda r: (r.chosen, r.ranking, [{k: v for k, v in p.items() if "wall" not in k}  # noqa: E731
                                             for p in r.trajectory])
    assert strip(resumed) == strip(ref)
