"""nasharness: does a NAS method rank architectures correctly, and what does it cost?

The public names below are imported on first use (PEP 562), so ``import nasharness`` and ``nasharness --help`` stay
fast and import neither torch nor mlflow.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Budget": "config",
    "RunConfig": "config",
    "RunResult": "results",
    "UserError": "errors",
    "bench_info": "api",
    "bench_prepare": "api",
    "run": "api",
    "train_arch": "api",
    "get_benchmark": "plugins",
    "get_method": "plugins",
    "get_space": "plugins",
    "list_benchmarks": "plugins",
    "list_methods": "plugins",
    "list_spaces": "plugins",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nasharness' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
