"""The scoring study of a one-shot run: every BN mode's per-image pass from the supernet as training left it, and the
scoring-choices table built from it (benchmarks/oneshot_study.py), checked against ordinary runs of each mode."""

from __future__ import annotations

import csv
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

import nasharness as nh
from nasharness.errors import ConfigError, UserError
from nasharness.metrics.ranking import kendall_tau
from nasharness.weightsharing.scoring import load_study, scoring_rows

ROOT = Path(__file__).resolve().parents[2]
TINY = {"epochs": "1", "n_archs": "12", "population": "4", "sample_size": "2", "cycles": "2", "track_every": "1",
        "track_archs": "6"}


def _run(tmp_path, name, **over):
    return nh.run(nh.RunConfig(method="spos", bench="201", seed=3, tracking=False, quiet=True, n_boot=50,
                               out_dir=str(tmp_path / name), overrides={**TINY, **over}))


def _eval_scores(result, key="supernet_acc") -> np.ndarray:
    rows = json.loads((Path(result.run_dir) / "eval_set_scores.json").read_text())["archs"]
    return np.array([r[key] for r in rows])


@pytest.fixture(scope="module")
def studied(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    r = _run(tmp, "study", study_bn_modes="recalibrate,running,train")
    return tmp, r, load_study(Path(r.run_dir) / "scoring_study.npz")


def test_each_mode_equals_an_ordinary_run_of_that_mode(studied):
    """The same seed trains the same supernet; the study's pass of each BN mode is what a run with that bn_mode
    scores, so the study's "running" pass really starts from the running statistics training left."""
    tmp, r, study = studied
    idx = study["index"]
    assert list(study["modes"]) == ["recalibrate", "running", "train"]
    assert study["correct_recalibrate"].shape == study["loss_recalibrate"].shape == (12, 500)
    np.testing.assert_array_equal(100.0 * study["correct_recalibrate"].sum(1) / 500, _eval_scores(r))
    for mode in ("running", "train"):
        other = _run(tmp, mode, bn_mode=mode)
        np.testing.assert_array_equal(100.0 * study["correct_" + mode].sum(1) / 500, _eval_scores(other))
    loss_run = _run(tmp, "loss", score="loss")
    np.testing.assert_allclose(-study["loss_recalibrate"].astype(np.float64).mean(1),
                               _eval_scores(loss_run, "supernet_neg_loss"), rtol=1e-6)
    assert loss_run.protocol["ranking_scores"].startswith("minus the supernet inherited-weight cross-entropy")
    assert len(idx) == 12 and np.all(np.diff(idx) > 0)
    # the study's own ranking of the default mode is the run's
    kt = [row for row in scoring_rows(study, nh.get_benchmark("201").column("cifar10-valid/x-valid@200"), {},
                                      sizes=[500], n_boot=0)
          if row["bn_mode"] == "recalibrate" and row["score"] == "accuracy"][0]
    assert kt["kendall_tau"] == pytest.approx(r.ranking["rank/cifar10-valid/x-valid@200/kendall_tau"]["value"])


def test_scoring_table_rows_and_free_baselines(studied):
    _, r, study = studied
    bench = nh.get_benchmark("201")
    truth = bench.column("cifar10-valid/x-valid@200")
    rows = scoring_rows(study, truth, bench.free_baselines("cifar10"), sizes=[50, 500], n_boot=50)
    sup = [x for x in rows if x["kind"] == "supernet"]
    assert len(sup) == 3 * 2 * 2  # modes x sizes x scores
    assert {x["n_archs"] for x in rows} == {12}
    for x in sup:
        assert -1 <= x["kt_ci_low"] <= x["kt_ci_high"] <= 1 and 0 <= x["tied_pairs"] <= 1
        assert x["kt_draws_low"] <= x["kendall_tau"] <= x["kt_draws_high"]
        if x["n_images"] == 500:  # every image: one draw, its value inside its bootstrap CI
            assert x["image_draws"] == 1 and x["kt_draws_low"] == x["kendall_tau"] == x["kt_draws_high"]
            assert x["kt_ci_low"] <= x["kendall_tau"] <= x["kt_ci_high"]
        else:  # 50 images: 20 random subsets, the mean over them by hand
            assert x["image_draws"] == 20 and x["kt_draws_low"] < x["kt_draws_high"]
    pick = np.random.default_rng([0, 1])
    subsets = [np.sort(pick.choice(500, 50, replace=False)) for _ in range(20)]
    by_hand = np.mean([kendall_tau(100.0 * study["correct_running"][:, j].mean(1), truth[study["index"]]).value
                       for j in subsets])
    row = next(x for x in sup if (x["bn_mode"], x["score"], x["n_images"]) == ("running", "accuracy", 50))
    assert row["kendall_tau"] == pytest.approx(by_hand)
    # accuracies over 50 images tie far more often than losses do
    acc50 = [x for x in sup if x["n_images"] == 50 and x["score"] == "accuracy"]
    loss50 = [x for x in sup if x["n_images"] == 50 and x["score"] == "loss"]
    assert sum(x["tied_pairs"] for x in acc50) > sum(x["tied_pairs"] for x in loss50)
    free = {x["score"]: x for x in rows if x["kind"] == "free"}
    want = r.baselines["cifar10-valid/x-valid@200"]["free"]["params"]["kendall_tau"]
    assert free["params"]["kendall_tau"] == pytest.approx(want["value"])
    with pytest.raises(UserError, match="outside 1..500"):
        scoring_rows(study, truth, {}, sizes=[501])


def test_study_settings_are_checked():
    with pytest.raises(ConfigError, match="study_bn_modes: 'batch' is not a BN mode"):
        nh.run(nh.RunConfig(method="spos", bench="201", tracking=False, overrides={"study_bn_modes": "train,batch"}))
    with pytest.raises(ConfigError, match="score must be one of accuracy, loss"):
        nh.run(nh.RunConfig(method="spos", bench="201", tracking=False, overrides={"score": "top5"}))
    with pytest.raises(UserError, match="method 'random' has no budget 'cpu'; it has ci, paper"):
        nh.run(nh.RunConfig(method="random", bench="201", budget="cpu", tracking=False))
    with pytest.raises(UserError, match="benchmark '101' has no one-shot budget 'cpu'"):
        nh.run(nh.RunConfig(method="spos", bench="101", budget="cpu", tracking=False))


@pytest.mark.slow  # two supernet runs (one of them FairNAS) and the tables; the library parts are tested above
def test_the_study_script_writes_both_tables_and_resumes(tmp_path):
    scoring, curve, paired = tmp_path / "scoring.csv", tmp_path / "curve.csv", tmp_path / "paired.csv"
    sets = sum((["--set", f"{k}={v}"] for k, v in TINY.items()), [])
    argv = ["--budget", "ci", "--seeds", "0", "--cell", "spos", "--cell", "fairnas", *sets, "--runs",
            str(tmp_path / "runs"), "--scoring", str(scoring), "--curve", str(curve), "--paired", str(paired)]
    main = runpy.run_path(str(ROOT / "benchmarks" / "oneshot_study.py"))["main"]
    assert main([*argv, "--resume"]) == 0  # nothing to continue yet: it starts the runs
    rows = list(csv.DictReader(open(scoring)))
    assert {r["bn_mode"] for r in rows} == {"recalibrate", "train", "running", ""}
    assert {r["kind"] for r in rows} == {"supernet", "free"}
    # 5,000 images / 128 a step, 1 path (SPOS) or 5 (FairNAS) a step
    assert {r["cell"]: int(r["passes"]) for r in rows} == {"spos": 39, "fairnas": 195}
    points = list(csv.DictReader(open(curve)))
    assert [int(p["epoch"]) for p in points] == [1, 1] and int(points[0]["probe_n"]) == 6
    pair, *free = list(csv.DictReader(open(paired)))
    assert (pair["cell_a"], pair["cell_b"], pair["passes_a"], pair["passes_b"]) == ("fairnas", "spos", "195", "39")
    assert [(f["cell_a"], f["cell_b"]) for f in free] == [("spos", "params (free)"), ("fairnas", "params (free)")]
    bench = nh.get_benchmark("201")
    scored = json.loads(next((tmp_path / "runs").rglob("eval_set_scores.json")).read_text())["archs"]
    idx = [r["index"] for r in scored]
    kt_params = kendall_tau(bench.free_baselines("cifar10")["params"][idx],
                            bench.column("cifar10-valid/x-valid@200")[idx])
    assert float(free[0]["kt_b"]) == pytest.approx(kt_params.value, abs=1e-4)
    assert float(pair["difference"]) == pytest.approx(float(pair["kt_a"]) - float(pair["kt_b"]), abs=2e-4)
    assert float(pair["ci_low"]) <= float(pair["difference"]) <= float(pair["ci_high"])
    before = scoring.read_text()
    run_dirs = sorted((tmp_path / "runs").rglob("result.json"))
    assert main([*argv, "--resume"]) == 0  # a finished run is reused, not trained again
    assert sorted((tmp_path / "runs").rglob("result.json")) == run_dirs
    assert scoring.read_text() == before
