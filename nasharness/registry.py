"""One registry per plugin kind. Registries store factories; nothing is constructed at import time.

A name is looked up in four places, in order:

1. the factories registered so far (``Registry.register``, e.g. from a user's own script);
2. the built-in plugins: a table of ``name -> "package.module:Object"`` references given to the registry (data, not
   imports: a built-in's module is imported the first time its name is asked for, exactly like an entry point's);
3. the ``entry_points`` group of the registry (``nasharness.methods``, ``nasharness.benchmarks``,
   ``nasharness.spaces``): an installed package declares ``name = "package.module:Object"`` in its
   ``pyproject.toml`` and the object is imported only when that name is asked for;
4. a ``package.module:Object`` reference, imported as written (nothing to install: the module only has to be
   importable, e.g. on ``PYTHONPATH``).

An unknown name is one :class:`~nasharness.errors.UserError` listing every valid name, the installed plugins' among
them, and how to name an outside plugin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UserError, brief, unknown_name

T = TypeVar("T")

#: ``package.module:Object`` (the object may be dotted: ``module:Outer.Inner``).
_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def is_reference(name: object) -> bool:
    """Whether ``name`` is a ``package.module:Object`` reference rather than a registered name."""
    return isinstance(name, str) and bool(_REFERENCE.match(name.strip()))


def import_reference(reference: str, kind: str) -> object:
    """The object a ``package.module:Object`` reference names; a missing module or attribute is a user error that
    says which part was not found."""
    from importlib import import_module  # noqa: PLC0415

    module_name, _, attr = reference.strip().partition(":")
    try:
        obj: object = import_module(module_name)
    except ImportError as exc:
        raise UserError(f"{kind} {brief(reference)}: cannot import module {module_name!r} ({exc}). Install the package "
                        f"that provides it, or put its folder on PYTHONPATH.") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"{kind} {brief(reference)}: module {module_name!r} has no attribute {attr!r}; check the "
                            f"spelling after the ':'.") from None
    return obj


class Registry(Generic[T]):
    """Maps names to factories. ``get`` raises a :class:`UserError` listing the valid names."""

    def __init__(self, kind: str, builtin: dict[str, str] | None = None, aliases: dict[str, str] | None = None,
                 group: str | None = None, files: str | None = None):
        self.kind = kind
        #: The entry-point group outside packages register under (``nasharness.methods`` ...).
        self.group = group
        self._factories: dict[str, Callable[..., T]] = {}
        #: Built-in plugins as ``package.module:Object`` references, imported on their first lookup only (so listing
        #: names, ``--help`` and the benchmark commands never import a method's torch code).
        self._builtin: dict[str, str] = dict(builtin or {})
        self._aliases: dict[str, str] = dict(aliases or {})
        self._entry_points: dict[str, object] | None = None
        #: ``module:Object`` of a factory taking a file path: names ending ``.yaml``/``.yml``/``.json`` are files
        #: declaring a plugin (a user's own tabular benchmark).
        self._files = files
        #: ``module:Class`` references and schema files resolved so far (not listed among the names: they are
        #: accepted, not registered).
        self._resolved: dict[str, Callable[..., T]] = {}

    def _load(self) -> None:
        """Import every built-in plugin now (they are otherwise imported one by one, when asked for)."""
        for name in list(self._builtin):
            self._resolve_builtin(name)

    def _resolve_builtin(self, name: str) -> str:
        ref = self._builtin.pop(name)
        return self._adopt(name, import_reference(ref, self.kind))

    def register(self, name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            for key in (name, *aliases):
                if key in self._factories or key in self._aliases or key in self._builtin:
                    raise ValueError(f"{self.kind} {key!r} is registered twice")
                if is_reference(key):
                    raise ValueError(f"{self.kind} name {key!r} has the form of a module:object reference")
            self._factories[name] = factory
            for alias in aliases:
                self._aliases[alias] = name
            return factory

        return deco

    # ---- outside plugins --------------------------------------------------------------------------------------
    def entry_points(self) -> dict[str, object]:
        """The installed packages' entry points of this registry's group, by name (not imported yet)."""
        if self._entry_points is None:
            found: dict[str, object] = {}
            if self.group:
                from importlib.metadata import entry_points  # noqa: PLC0415

                for ep in entry_points(group=self.group):
                    found.setdefault(ep.name, ep)
            self._entry_points = found
        return self._entry_points

    def refresh(self) -> None:
        """Forget the entry points read so far (after installing a plugin package in the same process)."""
        self._entry_points = None

    def _adopt(self, name: str, factory: Callable[..., T], listed: bool = True) -> str:
        if not callable(factory):
            raise UserError(f"{self.kind} {brief(name)} names {type(factory).__name__} object {factory!r}, which is "
                            f"not a class or function; point it at the plugin's class.")
        (self._factories if listed else self._resolved)[name] = factory
        return name

    def canonical(self, name: str) -> str:
        key = str(name).strip()
        key = self._aliases.get(key, key)
        if key in self._factories or (key in self._resolved and not self._is_file(key)):
            return key
        if key in self._builtin:
            return self._resolve_builtin(key)
        ep = self.entry_points().get(key)
        if ep is not None:
            try:
                factory = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must be named, not crash the harness
                raise UserError(f"{self.kind} {key!r} comes from the installed entry point {ep.value!r} (group "
                                f"{self.group}), which failed to import: {type(exc).__name__}: {exc}. Fix or "
                                f"reinstall that package.") from exc
            return self._adopt(key, factory)
        if is_reference(key):
            return self._adopt(key, import_reference(key, self.kind), listed=False)
        if self._is_file(key):  # read again at every lookup: an edited schema is never served stale
            return self._adopt(key, import_reference(self._files, self.kind)(key), listed=False)
        raise unknown_name(self.kind, name, self.names(),
                           "An outside plugin is named as package.module:Class, or installed under the entry-point "
                           f"group {self.group!r}" + (", or declared in a .yaml schema file." if self._files else ".")
                           if self.group else "")

    def _is_file(self, key: str) -> bool:
        return bool(self._files) and key.lower().endswith((".yaml", ".yml", ".json"))

    def factory(self, name: str) -> Callable[..., T]:
        key = self.canonical(name)
        return self._factories[key] if key in self._factories else self._resolved[key]

    def get(self, name: str, *args, **kwargs) -> T:
        """Build the plugin ``name`` by calling its factory with the given arguments."""
        return self.factory(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """Every name a lookup accepts: the registered and built-in ones and the installed entry points
        (``module:Class`` references are accepted too but not listed). Imports nothing."""
        return sorted(set(self._factories) | set(self._builtin) | set(self.entry_points()))

    def registered(self) -> list[str]:
        """The registered and built-in names, without reading the installed entry points (cheapest; help texts)."""
        return sorted(set(self._factories) | set(self._builtin))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._factories or name in self._aliases or name in self._builtin
                                          or name in self.entry_points())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
