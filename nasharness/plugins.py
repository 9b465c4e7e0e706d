"""The registries: one per plugin kind. The built-in plugins are named here as ``package.module:Object`` references
(the form an outside package's entry point takes), so nothing is imported until a name is looked up: listing names,
``import nasharness`` and ``--help`` import no method, and a run imports only the method and benchmark it uses."""

from __future__ import annotations

from .registry import Registry

_M = "nasharness.methods"
METHODS: Registry = Registry("method", {
    "random": f"{_M}.random:RandomSearch", "spos": f"{_M}.spos:SPOS", "fairnas": f"{_M}.fairnas:FairNAS",
    "scarlet": f"{_M}.scarlet:SCARLET", "darts": f"{_M}.darts:DARTS", "fairdarts": f"{_M}.fairdarts:FairDARTS",
    "renas": f"{_M}.renas:ReNAS", "predictor-mse": f"{_M}.predictor_mse:PredictorMSE",
    # zero-cost proxies at initialization
    **{name: f"{_M}.zerocost:{cls}" for name, cls in (
        ("synflow", "Synflow"), ("snip", "Snip"), ("grad_norm", "GradNorm"), ("grasp", "Grasp"), ("fisher", "Fisher"),
        ("jacov", "Jacov"), ("naswot", "Naswot"), ("zen", "Zen"), ("l2_norm", "L2Norm"), ("params", "Params"),
        ("flops", "Flops"), ("zc-vote", "ZcVote"))},
}, group="nasharness.methods")

_B = "nasharness.benchmarks_builtin"
BENCHMARKS: Registry = Registry("benchmark", {
    "201": f"{_B}:NB201", "101": f"{_B}:NB101", "darts": f"{_B}:DARTS", "fairnas-imagenet": f"{_B}:FAIRNAS_IMAGENET",
    "scarlet-imagenet": f"{_B}:SCARLET_IMAGENET",
}, aliases={"nb201": "201", "nasbench201": "201", "nb101": "101", "nasbench101": "101", "darts-cifar10": "darts",
            "fairnas-space": "fairnas-imagenet", "scarlet-space": "scarlet-imagenet"}, group="nasharness.benchmarks",
    files="nasharness.tabular.user:SchemaEntry")

_S = "nasharness.spaces"
SPACES: Registry = Registry("search space", {
    "nb201": f"{_S}:NB201Space", "nb101": f"{_S}:NB101Space", "darts": f"{_S}:darts_space",
    "fairnas-imagenet": f"{_S}:fairnas_space", "scarlet-imagenet": f"{_S}:scarlet_space",
}, group="nasharness.spaces")


def load_plugins() -> None:
    """Import every built-in plugin now (each is otherwise imported on its first lookup)."""
    for registry in (BENCHMARKS, SPACES, METHODS):
        registry._load()


def get_method(name: str):
    return METHODS.factory(name)


def get_benchmark(name: str, data_dir=None, **kwargs):
    return BENCHMARKS.get(str(name), data_dir, **kwargs)


def get_space(name: str):
    return SPACES.get(name)


def list_methods() -> list[str]:
    return METHODS.names()


def list_benchmarks() -> list[str]:
    return BENCHMARKS.names()


def list_spaces() -> list[str]:
    return SPACES.names()
