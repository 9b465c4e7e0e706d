"""Layering of the package (issue "Contracts and plugins", item 4): no import that runs back up the layers, no import
loops, no import of another module's private names. Pure ``ast``: the package is parsed, never imported.

What counts as an import edge ``A -> B`` (A, B modules of nasharness):

* every ``import``/``from ... import`` anywhere in A, function-local ones included (a lazy import still ties A to B);
  only the bodies of ``if TYPE_CHECKING:`` are left out (they never run). Relative imports are resolved.
* ``from P import n``: an edge to ``P.n`` where that is a submodule, otherwise to ``P`` itself (a package
  ``__init__`` that merely re-exports is the package module ``P``).
* a string literal naming a module of the package, passed to a call (``import_module("nasharness.api")``, cli's
  ``_LazyModule("nasharness.api")``): ``x = f("nasharness.api")`` also makes ``x`` an alias of that module. Computed
  names (``import_module(f".{m}", __name__)``) cannot be followed and are not counted.
* importing ``P.sub`` first runs the ``__init__`` of every package above it. That counts as an edge to ``P`` only
  when ``P/__init__.py`` has a module-level import of the package (otherwise running it imports nothing), and never
  when A lies inside ``P`` (then ``P`` is already imported before A runs).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = "nasharness"

#: Lowest first. A module may import modules of its own layer or a lower one. ``x.*`` is ``x`` and all under it;
#: ``__init__`` is the top-level package (its PEP 562 exports are computed names, so it statically imports nothing).
LAYERS: list[tuple[str, list[str]]] = [
    ("L0 foundations", ["__init__", "errors", "io", "terminal", "paths", "envinfo", "config", "registry", "results",
                        "metrics.*", "tracking.*", "usercache", "report", "report.plots", "report_text", "svgplot"]),
    ("L1 data & spaces", ["spaces.*", "tabular.*", "data.*", "search.*", "bundled"]),
    ("L2 models", ["supernet.*", "predictors.*", "zc.*", "train"]),
    ("L3 contracts, adapters & plugins", ["contracts", "weightsharing.*", "plugins", "benchmarks_builtin"]),
    ("L4 methods", ["methods.*"]),
    ("L5 orchestration", ["api", "verify", "suite", "compare", "regression", "baseline", "report.html",
                          "doctables", "bundle_build"]),
    ("L6 entry points", ["cli", "__main__"]),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / PKG).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def layer_of(module: str) -> int | None:
    rel = "__init__" if module == PKG else module[len(PKG) + 1:]
    for i, (_, patterns) in enumerate(LAYERS):
        for p in patterns:
            if rel == p or (p.endswith(".*") and (rel == p[:-2] or rel.startswith(p[:-1]))):
                return i
    return None


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


class _Scan(ast.NodeVisitor):
    """One module's imports: ``edges`` (target, line, module-level?), ``aliases`` (local name -> module, all scopes
    merged: a name bound to a module anywhere in the file is taken as that module everywhere), ``private``."""

    def __init__(self, module: str):
        self.module, self.depth = module, 0
        self.edges: list[tuple[str, int, bool]] = []
        self.aliases: dict[str, str] = {}
        self.private: list[tuple[int, str]] = []

    def _edge(self, target: str, line: int) -> None:
        self.edges.append((target, line, self.depth == 0))

    def _func(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _func

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
            for child in node.orelse:  # the TYPE_CHECKING body never runs
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name == PKG or a.name.startswith(PKG + "."):
                self._edge(a.name, node.lineno)
                self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else PKG

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            package = self.module.split(".")[:None if _is_package(self.module) else -1]
            base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if not (base == PKG or base.startswith(PKG + ".")):
            return
        for a in node.names:
            sub = f"{base}.{a.name}"
            if sub in MODULES:
                self._edge(sub, node.lineno)
                self.aliases[a.asname or a.name] = sub
            else:
                self._edge(base, node.lineno)
                if _is_private(a.name) and base != self.module:
                    self.private.append((node.lineno, f"from {base} import {a.name}"))

    def visit_Call(self, node: ast.Call) -> None:
        if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in MODULES:
            self._edge(node.args[0].value, node.lineno)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        value, (target, *more) = node.value, node.targets
        if isinstance(value, ast.Call) and value.args and isinstance(value.args[0], ast.Constant) \
                and value.args[0].value in MODULES and not more and isinstance(target, ast.Name):
            self.aliases[target.id] = value.args[0].value
        self.generic_visit(node)


def _private_attributes(tree: ast.AST, scan: _Scan) -> list[tuple[int, str]]:
    """``alias._name`` (also ``alias.sub._name``) where ``alias`` is bound to another module of the package."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain, base = [], node
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in scan.aliases:
            continue
        target = scan.aliases[base.id]
        for attr in reversed(chain):
            if f"{target}.{attr}" in MODULES:
                target = f"{target}.{attr}"
                continue
            if _is_private(attr) and target != scan.module:
                found.add((node.lineno, f"{target}.{attr}"))
            break
    return sorted(found)


def _analyse():
    """``edges[(a, b)]`` = ["file:line", ...]; ``private`` = ["file:line: what", ...]."""
    scans, private = {}, []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        scans[module] = scan = _Scan(module)
        scan.visit(tree)
        where = path.relative_to(ROOT)
        private += [f"{where}:{line}: {module} uses {what}"
                    for line, what in sorted(set(scan.private) | set(_private_attributes(tree, scan)))]
    # packages whose __init__ imports something when run
    importing_inits = {m for m, s in scans.items() if _is_package(m) and any(top for _, _, top in s.edges)}
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, scan in scans.items():
        where = MODULES[module].relative_to(ROOT)
        for target, line, _ in scan.edges:
            targets = [target] if target in MODULES else []  # a name that is no module: not ours to judge
            parts = target.split(".")
            for i in range(1, len(parts)):  # the packages above the target, run first
                parent = ".".join(parts[:i])
                if parent in importing_inits and not (module == parent or module.startswith(parent + ".")):
                    targets.append(parent)
            for t in targets:
                if t != module and f"{where}:{line}" not in edges[(module, t)]:
                    edges[(module, t)].append(f"{where}:{line}")
    return dict(edges), private


EDGES, PRIVATE = _analyse()


GRAPH: dict[str, list[str]] = defaultdict(list)
for _a, _b in sorted(EDGES):
    GRAPH[_a].append(_b)


def _bfs(graph, start: str) -> dict[str, str | None]:
    """Breadth first from ``start``: every module reached -> the module it was reached from."""
    prev, todo = {start: None}, [start]
    for v in todo:
        for w in graph.get(v, ()):
            if w not in prev:
                prev[w] = v
                todo.append(w)
    return prev


def _sccs() -> list[list[str]]:
    """The strongly connected components of more than one module (the package is small: plain reachability)."""
    reach = {v: _bfs(GRAPH, v) for v in MODULES}
    comps = {tuple(sorted(w for w in reach[v] if v in reach[w])) for v in MODULES}
    return sorted(list(c) for c in comps if len(c) > 1)


def _loops(comp: list[str]) -> list[list[str]]:
    """A shortest loop through each edge of the component, each listed once: the readable part of a big component."""
    inner = {v: [w for w in GRAPH.get(v, ()) if w in comp] for v in comp}
    loops = {}
    for a in comp:
        for b in inner[a]:
            prev, path = _bfs(inner, b), [a]
            while path[-1] != b:
                path.append(prev[path[-1]])
            loop = path[::-1] + [b]
            loops.setdefault(frozenset(zip(loop, loop[1:], strict=False)), loop)
    return sorted(loops.values(), key=lambda loop: (len(loop), loop))


def test_no_import_cycles():
    report = []
    for comp in _sccs():
        inner = sorted((a, b) for a, b in EDGES if a in comp and b in comp)
        report.append(f"cycle among {', '.join(comp)}:\n" + "\n".join(
            f"    {a} -> {b}  ({'; '.join(EDGES[(a, b)])})" for a, b in inner) + "\n  its loops:\n" + "\n".join(
            "    " + " -> ".join(loop) for loop in _loops(comp)))
    assert not report, f"{len(report)} import cycle(s):\n" + "\n".join(report)


def test_no_upward_imports():
    unmapped = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unmapped, f"modules in no layer, add each to LAYERS in {Path(__file__).name}: {', '.join(unmapped)}"
    report = []
    for (a, b), places in sorted(EDGES.items()):
        la, lb = layer_of(a), layer_of(b)
        if lb > la:
            report.append(f"{a} ({LAYERS[la][0]}) -> {b} ({LAYERS[lb][0]})  ({'; '.join(places)})")
    assert not report, f"{len(report)} upward import(s):\n" + "\n".join(report)


def test_no_private_imports():
    assert not PRIVATE, f"{len(PRIVATE)} use(s) of another module's private name:\n" + "\n".join(PRIVATE)
