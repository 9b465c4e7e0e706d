"""Every registered method runs the same tiny scenario end to end, logs to a temporary MLflow store, and produces
every metric the harness promises (ranking with n and CI, chosen-arch truth, regret, costs)."""

import pytest
from mlflow.tracking import MlflowClient

import nasharness as nh
from nasharness.api import supported_benchmarks
from nasharness.plugins import METHODS
from nasharness.tracking import mlflow_key

pytestmark = pytest.mark.integration

#: The tiny one-shot scenario: a 4-channel, 1-cell-per-stage supernet, 1 epoch on 256 images, 8 archs scored.
TINY_ONESHOT = {"channels": "4", "cells_per_stage": "1", "epochs": "1", "batch_size": "64", "n_train": "256",
                "n_valid": "128", "n_archs": "8", "calib_batches": "1", "calib_batch_size": "64", "population": "4",
                "sample_size": "2", "cycles": "3"}


#: The tiny differentiable scenario: the same supernet, 1 epoch with 256 weight and 128 architecture images.
TINY_DIFF = {"channels": "4", "cells_per_stage": "1", "epochs": "1", "batch_size": "64", "n_train": "256",
             "n_valid": "128", "layers": "3"}


def tiny_config(method: str, bench: str, tmp_path, **kw) -> nh.RunConfig:
    cls = METHODS.factory(method)
    kind = getattr(cls, "kind", "")
    extra = {"overrides": TINY_ONESHOT} if kind == "one-shot" else {"overrides": TINY_DIFF} if kind == (
        "differentiable") else (
        {"overrides": {"epochs": "2", "train_size": "30"}} if kind == "predictor" else {"max_archs": 20})
    return nh.RunConfig(method=method, bench=bench, out_dir=str(tmp_path), n_boot=10, device="cpu",
                        **extra, **kw)


@pytest.mark.parametrize("method", METHODS.names())
@pytest.mark.parametrize("bench", ["201", "101"])
def test_conformance(tmp_path, mlflow_uri, method, bench, request):
    cls = METHODS.factory(method)
    if bench not in supported_benchmarks(cls):
        pytest.skip(f"{method} does not run on NAS-Bench-{bench}")
    if getattr(cls, "kind", "") in ("one-shot", "differentiable"):
        request.getfixturevalue("cifar10_images")
    r = nh.run(tiny_config(method, bench, tmp_path, tracking_uri=mlflow_uri, experiment=f"conf-{method}-{bench}"))
    assert r.method == method and r.tracking.get("run_id"), r.tracking
    truths = r.protocol["ranking_truths"]
    for t in truths:
        n = r.protocol["ranking_n"][t]
        assert 2 <= n <= r.n_evaluated
        for k in ("kendall_tau", "spearman", "precision@10", "regret@10", "ndcg@10"):
            assert r.ranking[f"rank/{t}/{k}"]["n"] == n
        assert "ci_low" in r.ranking[f"rank/{t}/kendall_tau"]
    assert r.protocol["final"] in r.truth and r.protocol["final"] in r.regret
    assert {"total/wall_s", "peak_mem_mb", "device_hours", "load/peak_mem_mb", "search/peak_mem_mb",
            "evaluate/peak_mem_mb"} <= set(r.costs)
    assert r.costs["search/peak_mem_mb"] <= r.costs["peak_mem_mb"] + 1  # a phase never exceeds the run's peak
    run = MlflowClient(mlflow_uri).get_run(r.tracking["run_id"])
    for name in r.flat_metrics():
        if r.flat_metrics()[name] == r.flat_metrics()[name]:  # NaN is not logged
            assert mlflow_key(name) in run.data.metrics, name
    assert {"method", "bench", "dataset", "seed", "env/git_commit"} <= set(run.data.params)


@pytest.mark.parametrize("method", ["spos", "fairnas"])
def test_one_shot_same_seed_same_metrics(tmp_path, method, cifar10_images):
    def once(seed, sub):
        r = nh.run(tiny_config(method, "201", tmp_path / sub, seed=seed, tracking=False))
        return r.chosen, r.truth, r.ranking, r.extra, [
            {k: v for k, v in p.items() if "wall" not in k} for p in r.trajectory]

    assert once(1, "a") == once(1, "b")
    assert once(1, "a")[2] != once(2, "c")[2]


def test_one_shot_rejects_datasets_without_images(tmp_path):
    with pytest.raises(nh.UserError, match="only cifar10 images are available"):
        nh.run(tiny_config("spos", "201", tmp_path, dataset="cifar100", tracking=False))
    assert not any(tmp_path.iterdir())  # the rejected run left nothing behind


def test_unknown_set_key_lists_valid_keys(tmp_path):
    with pytest.raises(nh.UserError, match="unknown --set key 'epoch'.*epochs"):
        nh.run(nh.RunConfig(method="spos", bench="201", overrides={"epoch": "3"}, out_dir=str(tmp_path)))
