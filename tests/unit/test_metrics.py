import numpy as np
import pytest
import scipy.stats as ss

from nasharness.errors import UserError
from nasharness.metrics import (
    bootstrap_ci,
    kendall_tau,
    ndcg_at_k,
    pearson,
    precision_at_k,
    ranking_report,
    regret_at_k,
    spearman,
)
from nasharness.metrics.ranking import _count_inversions


@pytest.mark.parametrize("n", [3, 10, 257, 2000])
@pytest.mark.parametrize("ties", [False, True])
def test_correlations_match_scipy(n, ties):
    rng = np.random.default_rng(n)
    a = rng.normal(size=n)
    b = a + rng.normal(size=n)
    if ties:
        a, b = np.round(a, 1), np.round(b)
    assert kendall_tau(a, b).value == pytest.approx(ss.kendalltau(a, b).statistic, abs=1e-12)
    assert spearman(a, b).value == pytest.approx(ss.spearmanr(a, b).statistic, abs=1e-12)
    assert pearson(a, b).value == pytest.approx(ss.pearsonr(a, b).statistic, abs=1e-12)
    assert kendall_tau(a, b).n == n


def test_kendall_hand_worked():
    # one discordant pair of six: (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]).value == pytest.approx(4 / 6)
    # a tie in x: tau-b = (2 - 0) / sqrt((3 - 1) * 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]).value == pytest.approx(2 / np.sqrt(6))
    assert kendall_tau([1, 2, 3], [3, 2, 1]).value == pytest.approx(-1.0)
    assert np.isnan(kendall_tau([1, 1, 1], [1, 2, 3]).value)  # constant input: undefined, not 0


def test_nan_pairs_are_dropped_and_counted():
    r = kendall_tau([1, 2, np.nan, 4, 5], [1, 2, 3, np.nan, 5])
    assert r.n == 3 and r.value == pytest.approx(1.0)


def test_inversion_count_matches_brute_force():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 33, 200):
        y = rng.integers(0, 7, n)
        brute = sum(int(y[i] > y[j]) for i in range(n) for j in range(i + 1, n))
        assert _count_inversions(y) == brute


def test_top_k_metrics_hand_worked():
    pred, true = [4, 3, 2, 1], [1, 2, 3, 4]  # exactly reversed
    assert precision_at_k(pred, true, 2).value == 0.0
    assert precision_at_k(true, true, 2).value == 1.0
    assert regret_at_k(pred, true, 1).value == 3.0  # best is 4, predicted best has 1
    assert regret_at_k(pred, true, 4).value == 0.0
    assert ndcg_at_k(true, true, 3).value == pytest.approx(1.0)
    # gains (true - min) = [0, 1, 2, 3]; predicted top-2 are gains 0 and 1
    expected = (0 / np.log2(2) + 1 / np.log2(3)) / (3 / np.log2(2) + 2 / np.log2(3))
    assert ndcg_at_k(pred, true, 2).value == pytest.approx(expected)
    with pytest.raises(UserError, match="positive integer"):
        precision_at_k(pred, true, 0)


def test_bootstrap_ci_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    a = rng.normal(size=300)
    b = a + rng.normal(size=300)
    r1 = bootstrap_ci(kendall_tau, a, b, rng=np.random.default_rng(7), n_boot=100)
    r2 = bootstrap_ci(kendall_tau, a, b, rng=np.random.default_rng(7), n_boot=100)
    assert r1 == r2
    assert r1.ci_low < r1.value < r1.ci_high and r1.n == 300 and r1.ci_level == 0.95


def test_ranking_report_names_and_n():
    rng = np.random.default_rng(2)
    a = rng.normal(size=120)
    rep = ranking_report(a, a + rng.normal(size=120), ks=(10,), rng=np.random.default_rng(0), n_boot=20)
    assert {"kendall_tau", "spearman", "pearson", "precision@10", "regret@10", "ndcg@10", "regret@1"} <= set(rep)
    assert all(r.n == 120 for r in rep.values())


def test_length_mismatch_is_a_user_error():
    with pytest.raises(UserError, match="same length"):
        kendall_tau([1, 2], [1, 2, 3])
