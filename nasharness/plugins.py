"""The registries: one per plugin kind. Modules register factories on import; nothing is built at import time."""

from __future__ import annotations

from .registry import Registry


def _load_methods() -> None:
    from .methods import load_builtin  # noqa: PLC0415

    load_builtin()


def _load_benchmarks() -> None:
    from . import benchmarks_builtin  # noqa: F401, PLC0415


def _load_spaces() -> None:
    from . import spaces  # noqa: PLC0415

    spaces.register_builtin()


# Each registry imports its own built-in modules on first lookup: listing or loading a benchmark never imports the
# methods (torch), and `import nasharness` imports none of them.
METHODS: Registry = Registry("method", loader=_load_methods)
BENCHMARKS: Registry = Registry("benchmark", loader=_load_benchmarks)
SPACES: Registry = Registry("search space", loader=_load_spaces)


def load_plugins() -> None:
    """Register every built-in plugin now (each registry otherwise does so on its first lookup)."""
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
