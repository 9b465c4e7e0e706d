"""The free-baseline report: each baseline on the same architectures, the best one, the paired-bootstrap margin."""

import numpy as np
import pytest
from scipy.stats import kendalltau

from nasharness.metrics.baselines import _tau_b, free_baseline_report
from nasharness.metrics.ranking import kendall_tau


def test_scipy_tau_b_used_by_the_bootstrap_equals_ours_with_ties():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 300).astype(float), rng.integers(0, 7, 300).astype(float)
    assert _tau_b(x, y) == pytest.approx(kendall_tau(x, y).value, abs=1e-12)


def test_hand_computed_report_and_verdicts():
    truth = np.arange(40.0)
    perfect = truth.copy()
    reversed_ = -truth
    half = np.r_[np.arange(20.0), np.arange(39.0, 19.0, -1)]  # the top half in reverse order
    rep = free_baseline_report(perfect, truth, {"params": half, "flops": reversed_}, rng=np.random.default_rng(1),
                               n_boot=200)
    kt_half = kendall_tau(half, truth).value
    assert rep["free"]["params"]["kendall_tau"]["value"] == pytest.approx(kt_half)
    assert rep["free"]["flops"]["kendall_tau"]["value"] == pytest.approx(-1.0)
    assert rep["best"] == "params" and rep["n"] == 40
    m = rep["margin"]["kendall_tau"]
    assert m["value"] == pytest.approx(1.0 - kt_half) and m["vs"] == "params"
    assert m["ci_low"] > 0 and rep["verdict"] == "beats"
    lose = free_baseline_report(reversed_, truth, {"params": perfect}, rng=np.random.default_rng(1), n_boot=200)
    assert lose["verdict"] == "loses" and lose["margin"]["kendall_tau"]["value"] == pytest.approx(-2.0)
    same = free_baseline_report(half, truth, {"params": half}, rng=np.random.default_rng(1), n_boot=50)
    assert same["margin"]["kendall_tau"] == {"value": 0.0, "n": 40, "ci_low": 0.0, "ci_high": 0.0, "ci_level": 0.95,
                                             "vs": "params"} and same["verdict"] == "tie"


def test_partial_baselines_are_reported_but_never_the_best_and_nan_pairs_drop():
    truth = np.array([1, 2, 3, 4, np.nan, 6.0])
    scores = np.array([1, 2, 3, 4, 5, 6.0])
    partial = np.array([1, np.nan, 3, 4, 5, 6.0])
    rep = free_baseline_report(scores, truth, {"proxy@12": partial, "params": -scores},
                               rng=np.random.default_rng(0), n_boot=20)
    assert rep["n"] == 5 and "partial" in rep["free"]["proxy@12"] and rep["best"] == "params"
    assert free_baseline_report(scores, truth, {"p": partial}, rng=np.random.default_rng(0))["verdict"] == "undecided"


def test_same_seed_same_margin():
    rng = np.random.default_rng(3)
    t, s, b = rng.normal(size=(3, 500))
    a = free_baseline_report(s + t, t, {"b": b + t}, rng=np.random.default_rng(7), n_boot=50)
    c = free_baseline_report(s + t, t, {"b": b + t}, rng=np.random.default_rng(7), n_boot=50)
    assert a == c
    assert kendalltau(s + t, t).statistic == pytest.approx(kendall_tau(s + t, t).value)


def test_paired_difference_between_two_methods():
    """A ranks with the truth plus small noise, B with much more noise: A > B with the CI above 0; a method against
    a copy of itself differs by exactly 0; two seeds that disagree widen the CI."""
    from nasharness.metrics.baselines import paired_kt_difference

    rng = np.random.default_rng(0)
    t = rng.normal(size=300)
    a = np.stack([t + rng.normal(scale=0.3, size=300) for _ in range(2)])
    b = np.stack([t + rng.normal(scale=3.0, size=300) for _ in range(2)])
    res = paired_kt_difference(a, b, t, rng=np.random.default_rng(1), n_boot=300)
    assert res["verdict"] == "A > B" and res["ci_low"] > 0.2 and res["p_not_greater"] == 0.0
    assert res["difference"] == pytest.approx(res["kt_a"] - res["kt_b"]) and res["n_archs"] == 300
    same = paired_kt_difference(a, a, t, rng=np.random.default_rng(1), n_boot=100)
    assert same["difference"] == 0 and same["verdict"] == "no difference shown"
    assert paired_kt_difference(b, a, t, rng=np.random.default_rng(1), n_boot=300)["verdict"] == "A < B"
    # one good seed and one useless seed of A against B's one middling seed: the seeds' spread shows in the CI
    mixed = np.stack([a[0], rng.normal(size=300)])
    mid = (t + rng.normal(scale=1.0, size=300))[None]
    wide = paired_kt_difference(mixed, mid, t, rng=np.random.default_rng(2), n_boot=300)
    assert wide["ci_high"] - wide["ci_low"] > 0.3 and wide["verdict"] == "no difference shown"
