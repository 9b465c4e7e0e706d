"""ReNAS encodings and runs on the real tables."""

import numpy as np
import pytest

import nasharness as nh
from nasharness.predictors.encoding import encode_nb101, encode_nb201
from nasharness.spaces.nb101_costs import network_costs

pytestmark = pytest.mark.integration


def test_nb101_costs_reproduce_every_tabulated_parameter_count(nb101):
    """The per-vertex costs the encoder uses come from NB101's channel rules; summed, they must give the table's
    trainable_parameters for every labeled architecture that has one."""
    t = nb101.table
    have = np.flatnonzero(t["params"].notna().to_numpy())
    assert len(have) == 1052
    for i in have:
        assert network_costs(nb101.spec(int(i)))[2] == int(t["params"].iat[int(i)])


def test_encodings_shape_and_distinctness(nb201, nb101):
    x = np.stack([encode_nb201(a) for _, a in nb201.iter_archs()])
    assert x.shape == (15_625, 14, 8, 8)
    assert len(np.unique(x.reshape(len(x), -1), axis=0)) == 15_625
    e = encode_nb101(nb101.spec(0))
    assert e.shape == (24, 7, 7) and np.isfinite(e).all()
    # something feeds the output, which always sits in the last row/column
    assert e[0, :, -1].sum() >= 1 and e[0, -1].sum() == 0


def _tiny(method, bench, tmp_path, **kw):
    return nh.run(nh.RunConfig(method=method, bench=bench, tracking=False, out_dir=str(tmp_path), n_boot=10,
                               overrides={"epochs": "3", "train_size": "40"}, **kw))


@pytest.mark.parametrize("bench", ["201", "101"])
def test_renas_ranks_every_untrained_arch(tmp_path, bench):
    r = _tiny("renas", bench, tmp_path)
    final = r.protocol["final"]
    universe = r.protocol["labeled_archs"]
    assert r.ranking[f"rank/{final}/kendall_tau"]["n"] == universe - 40 == r.n_evaluated
    assert r.costs["simulated_train_s"] > 0 and r.extra["train_ratio_of_labeled"] == pytest.approx(40 / universe)
    assert r.regret[final] >= 0


def test_renas_same_seed_same_numbers(tmp_path):
    a, b, c = (_tiny("renas", "201", tmp_path / str(i), seed=s) for i, s in enumerate((1, 1, 2)))
    assert a.ranking == b.ranking and a.chosen == b.chosen and a.ranking != c.ranking


def test_nb101_slice_default_uses_the_papers_424(tmp_path):
    r = nh.run(nh.RunConfig(method="predictor-mse", bench="101", tracking=False, out_dir=str(tmp_path), n_boot=0,
                            overrides={"epochs": "1"}))
    assert r.extra["train_ratio_of_labeled"] == pytest.approx(424 / 1342)
    assert any("424 training archs" in n for n in r.notes) and any("1,342 of 423,624" in n for n in r.notes)
