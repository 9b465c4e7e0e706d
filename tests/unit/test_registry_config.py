import pytest

from nasharness import list_benchmarks, list_methods
from nasharness.config import Budget, RunConfig
from nasharness.errors import ConfigError, UserError
from nasharness.plugins import get_benchmark, get_method, get_space, list_spaces
from nasharness.registry import Registry


def test_unknown_method_lists_valid_names():
    with pytest.raises(UserError, match=r"unknown method 'fairnass'; valid: .*random"):
        get_method("fairnass")


def test_unknown_benchmark_lists_valid_names():
    with pytest.raises(UserError, match=r"unknown benchmark '999'; valid: 101, 201, darts, fairnas-imagenet, "
                                        r"scarlet-imagenet"):
        get_benchmark("999")


def test_registry_stores_factories_lazily_and_rejects_duplicates():
    reg = Registry("thing")
    built = []

    @reg.register("a", aliases=("alpha",))
    def make_a():
        built.append("a")
        return "A"

    assert built == []  # nothing constructed at registration
    assert reg.get("alpha") == "A" and built == ["a"]
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(make_a)


def test_builtin_plugins():
    assert list_methods() == ["darts", "fairdarts", "fairnas", "fisher", "flops", "grad_norm", "grasp", "jacov",
                              "l2_norm", "naswot", "params", "predictor-mse", "random", "renas", "scarlet", "snip",
                              "spos", "synflow", "zc-vote", "zen"]
    assert list_benchmarks() == ["101", "201", "darts", "fairnas-imagenet", "scarlet-imagenet"]
    assert list_spaces() == ["darts", "fairnas-imagenet", "nb101", "nb201", "scarlet-imagenet"]
    assert get_space("scarlet-imagenet").choices_per_layer()[1] == 13


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"budget": "huge"}, "unknown budget 'huge'; valid: ci, cpu, paper"),
        ({"seed": -1}, "seed must be"),
        ({"seed": True}, "seed must be"),
        ({"max_archs": 0}, "max_archs must be"),
        ({"max_archs": -5}, "max_archs must be"),
        ({"max_sim_seconds": -1.0}, "max_sim_seconds must be"),
        ({"max_sim_seconds": float("inf")}, "max_sim_seconds must be"),
        ({"n_boot": -1}, "n_boot"),
        ({"experiment": " "}, "experiment name"),
    ],
)
def test_config_validation(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        RunConfig(method="random", bench="201", **kwargs)


def test_budget_needs_a_limit():
    with pytest.raises(ConfigError, match="neither"):
        Budget("x")
