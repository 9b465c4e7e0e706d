"""The registries: one per plugin kind. Modules register factories on import; nothing is built at import time."""

from __future__ import annotations

from .registry import Registry

METHODS: Registry = Registry("method")
BENCHMARKS: Registry = Registry("benchmark")
SPACES: Registry = Registry("search space")

_LOADED = False


def load_plugins() -> None:
    """Import the modules that register the built-in plugins (cheap: no heavy imports at module level)."""
    global _LOADED
    if _LOADED:
        return
    from . import benchmarks_builtin, methods, spaces  # noqa: F401, PLC0415

    spaces.register_builtin()
    _LOADED = True


def get_method(name: str):
    load_plugins()
    return METHODS.factory(name)


def get_benchmark(name: str, data_dir=None, **kwargs):
    load_plugins()
    return BENCHMARKS.get(str(name), data_dir, **kwargs)


def get_space(name: str):
    load_plugins()
    return SPACES.get(name)


def list_methods() -> list[str]:
    load_plugins()
    return METHODS.names()


def list_benchmarks() -> list[str]:
    load_plugins()
    return BENCHMARKS.names()


def list_spaces() -> list[str]:
    load_plugins()
    return SPACES.names()
