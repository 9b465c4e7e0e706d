"""One registry per plugin kind. Registries store factories; nothing is constructed at import time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories. ``get`` raises a :class:`UserError` listing the valid names."""

    def __init__(self, kind: str, loader: Callable[[], None] | None = None):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._aliases: dict[str, str] = {}
        #: Imports the modules that register the built-in plugins, on the first lookup (not at import time, so that
        #: e.g. the benchmark registry never imports the methods' torch code).
        self._loader = loader

    def _load(self) -> None:
        loader, self._loader = self._loader, None
        if loader is not None:
            loader()

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            for key in (name, *aliases):
                if key in self._factories or key in self._aliases:
                    raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._factories[name] = factory
            for alias in aliases:
                self._aliases[alias] = name
            return factory

        return deco

    def canonical(self, name: str) -> str:
        self._load()
        key = str(name).strip()
        key = self._aliases.get(key, key)
        if key not in self._factories:
            raise unknown_name(self.kind, name, self.names())
        return key

    def factory(self, name: str) -> Callable[..., T]:
        return self._factories[self.canonical(name)]

    def get(self, name: str, *args, **kwargs) -> T:
        """Build the plugin ``name`` by calling its factory with the given arguments."""
        return self.factory(name)(*args, **kwargs)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._factories)

    def registered(self) -> list[str]:
        """The names registered so far, without loading the built-in modules (cheap; for help texts)."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and (name in self._factories or name in self._aliases)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
