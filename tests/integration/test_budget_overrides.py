"""--max-archs / --max-sim-seconds: honoured by every method that can (random, the predictors, the zero-cost proxies),
rejected with a clear error by the others (supernet methods); one budget label for every changed budget."""

import pytest

import nasharness as nh
from nasharness.errors import ConfigError
from nasharness.plugins import BENCHMARKS, METHODS


@pytest.mark.parametrize("method", ["spos", "fairnas", "scarlet", "darts", "fairdarts"])
@pytest.mark.parametrize("option", [{"max_archs": 50}, {"max_sim_seconds": 1e4}])
def test_supernet_methods_reject_table_budgets_with_the_fix(method, option):
    config = nh.RunConfig(method=method, bench="201", tracking=False, **option)
    with pytest.raises(ConfigError, match=r"--max-archs / --max-sim-seconds .* Use --set epochs="):
        METHODS.factory(method)(config)


def test_zero_cost_rejects_simulated_time_but_honours_max_archs(tmp_path):
    with pytest.raises(ConfigError, match="a zero-cost proxy trains nothing"):
        METHODS.factory("synflow")(nh.RunConfig(method="synflow", bench="201", max_sim_seconds=100.0))
    m = METHODS.factory("naswot")(nh.RunConfig(method="naswot", bench="201", max_archs=7))
    assert m.budget(BENCHMARKS.factory("201"), "cifar10").max_archs == 7


@pytest.mark.parametrize("method", ["renas", "predictor-mse"])
def test_predictors_honour_both(tmp_path, method):
    few = nh.run(nh.RunConfig(method=method, bench="201", max_archs=40, overrides={"epochs": "2"}, tracking=False,
                              out_dir=str(tmp_path / "a"), n_boot=0))
    assert few.costs["train_archs"] == 40 and few.budget == "ci+overrides"
    per_arch = few.costs["simulated_train_s"] / 40
    timed = nh.run(nh.RunConfig(method=method, bench="201", max_sim_seconds=20 * per_arch,
                                overrides={"epochs": "2", "train_size": "200"}, tracking=False,
                                out_dir=str(tmp_path / "b"), n_boot=0))
    assert 10 <= timed.costs["train_archs"] < 40  # the draw's prefix whose training fits the simulated time
    assert timed.costs["simulated_train_s"] <= 20 * per_arch
    with pytest.raises(ConfigError, match="pays for 0 fully trained"):
        nh.run(nh.RunConfig(method=method, bench="201", max_sim_seconds=1.0, overrides={"epochs": "2"},
                            tracking=False, out_dir=str(tmp_path / "c"), n_boot=0))


def test_one_budget_label_for_every_changed_budget(tmp_path):
    labels = {}
    for name, kw in {"random": {"max_archs": 30}, "renas": {"overrides": {"epochs": "2", "train_size": "20"}},
                     "spos": {"overrides": {"epochs": "1"}}, "naswot": {"max_archs": 5}}.items():
        labels[name] = METHODS.factory(name)(nh.RunConfig(method=name, bench="201", **kw)).budget(
            BENCHMARKS.factory("201"), "cifar10").name
    assert set(labels.values()) == {"ci+overrides"}, labels
    assert METHODS.factory("random")(nh.RunConfig(method="random", bench="201")).budget(
        BENCHMARKS.factory("201"), "cifar10").name == "ci"
