"""The DARTS CIFAR-10 cell space (Liu et al., ICLR 2019): genotypes, parsing rules and published cells.

A cell has two inputs (nodes 0 and 1: the outputs of the two previous cells) and four intermediate nodes (2..5);
every intermediate node j may take an edge from every earlier node, 2 + 3 + 4 + 5 = 14 edges, each carrying one of
eight operations. The cell output concatenates the intermediate nodes along channels. Networks stack normal cells
and two reduction cells (at 1/3 and 2/3 of the depth); all normal cells share one genotype and all reduction cells
another.

A :class:`Genotype` lists each cell's chosen edges as ``(op, to_node, from_node)`` triples (the FairDARTS layout; the
DARTS layout — two ``(op, from_node)`` pairs per node in node order — converts with :func:`from_pairs`), plus the
nodes whose outputs are concatenated. DARTS' parse rule keeps exactly two edges per node; FairDARTS' keeps the edges
whose sigmoid weight exceeds a threshold (at most two per node), so a node can end up with no input. Such an
*isolated* node does not exist in the network: it is not computed, edges leaving it are ignored, and it is left out
of the concatenation (the FairDARTS README: "the isolated nodes are ignored after parsing the genotypes").

The string form of a genotype is its ``repr``: ``Genotype(normal=[('sep_conv_3x3', 2, 0), ...], normal_concat=[2, 3,
4, 5], reduce=[...], reduce_concat=[...])``; :func:`parse_genotype` reads it back (and the names of the published
genotypes, e.g. ``FairDARTS_a``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, UserError, brief, shorten

PRIMITIVES: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                               "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
N_INTERMEDIATE = 4
#: Edges (from, to) of a cell in the order of the architecture-weight rows: node 2's inputs 0, 1; node 3's 0, 1, 2; ...
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for j in range(2, 2 + N_INTERMEDIATE) for i in range(j))
PARAMETRIC = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")

Edge = tuple[str, int, int]  # (op, to_node, from_node)


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self):
        for kind in ("normal", "reduce"):
            edges = getattr(self, kind)
            object.__setattr__(self, kind, tuple((str(o), int(t), int(f)) for o, t, f in edges))
            concat = tuple(int(n) for n in getattr(self, f"{kind}_concat"))
            object.__setattr__(self, f"{kind}_concat", concat)
            for op, to, frm in getattr(self, kind):
                if op not in PRIMITIVES or op == "none":
                    raise UserError(f"genotype {kind} cell: unknown or 'none' operation {op!r}; valid: "
                                    f"{', '.join(PRIMITIVES[1:])}.")
                if not 2 <= to < 2 + N_INTERMEDIATE or not 0 <= frm < to:
                    raise UserError(f"genotype {kind} cell: edge ({op!r}, to {to}, from {frm}) is not an edge of the "
                                    f"DARTS cell (to in 2..5, from < to).")
            if not edges:
                raise UserError(f"genotype {kind} cell has no edges; a cell needs at least one operation.")
            bad = [n for n in concat if not 2 <= n < 2 + N_INTERMEDIATE]
            if bad or not concat:
                raise UserError(f"genotype {kind}_concat {list(concat)} must list intermediate nodes in 2..5.")

    def __repr__(self) -> str:
        def edges(es):
            return "[" + ", ".join(f"({o!r}, {t}, {f})" for o, t, f in es) + "]"
        return (f"Genotype(normal={edges(self.normal)}, normal_concat={list(self.normal_concat)}, "
                f"reduce={edges(self.reduce)}, reduce_concat={list(self.reduce_concat)})")

    def cell(self, reduction: bool) -> tuple[tuple[Edge, ...], tuple[int, ...]]:
        return (self.reduce, self.reduce_concat) if reduction else (self.normal, self.normal_concat)

    def live_nodes(self, reduction: bool) -> list[int]:
        """Intermediate nodes that exist (have an input from the cell inputs or another live node), ascending."""
        edges, _ = self.cell(reduction)
        live = {0, 1}
        for node in range(2, 2 + N_INTERMEDIATE):
            if any(t == node and f in live for _, t, f in edges):
                live.add(node)
        return sorted(live - {0, 1})

    def output_nodes(self, reduction: bool, *, drop_isolated: bool = True) -> list[int]:
        """Nodes concatenated into the cell output: the concat list, without isolated nodes unless told otherwise."""
        _, concat = self.cell(reduction)
        live = set(self.live_nodes(reduction))
        return [n for n in concat if n in live or not drop_isolated]

    def skip_count(self, reduction: bool = False) -> int:
        """Number of ``skip_connect`` edges that are used (from a live node) — DARTS' failure mode is many."""
        edges, _ = self.cell(reduction)
        live = {0, 1, *self.live_nodes(reduction)}
        return sum(op == "skip_connect" and f in live for op, _, f in edges)

    def canonical(self) -> Genotype:
        """The same network with isolated nodes removed and the live ones renumbered 2, 3, ...; two genotypes that
        build the same network have the same canonical form (edges sorted by node, then input, then op)."""
        out = {}
        for kind, red in (("normal", False), ("reduce", True)):
            live = self.live_nodes(red)
            new = {0: 0, 1: 1, **{n: 2 + k for k, n in enumerate(live)}}
            edges, concat = self.cell(red)
            out[kind] = tuple(sorted((o, new[t], new[f]) for o, t, f in edges if t in new and f in new))
            out[f"{kind}_concat"] = tuple(new[n] for n in concat if n in new and n >= 2)
        return Genotype(**out)


def from_pairs(normal: Sequence[tuple[str, int]], normal_concat: Sequence[int], reduce: Sequence[tuple[str, int]],
               reduce_concat: Sequence[int]) -> Genotype:
    """A genotype in the DARTS layout (two ``(op, from)`` pairs per intermediate node, in node order)."""
    def triples(pairs):
        return tuple((op, 2 + k // 2, frm) for k, (op, frm) in enumerate(pairs))
    return Genotype(triples(normal), tuple(normal_concat), triples(reduce), tuple(reduce_concat))


# ---- published cells (transcribed from the papers' released genotype lists; facts, re-typed here) ---------------
_ALL = (2, 3, 4, 5)
PUBLISHED: dict[str, Genotype] = {
    # Liu et al., DARTS (first order), 3.3M params in the paper's table
    "DARTS_V1": from_pairs(
        [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1), ("skip_connect", 0),
         ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)], _ALL,
        [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0), ("max_pool_3x3", 0),
         ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)], _ALL),
    # Liu et al., DARTS (second order), 3.3M params
    "DARTS_V2": from_pairs(
        [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 1),
         ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)], _ALL,
        [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1), ("max_pool_3x3", 0),
         ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)], _ALL),
    # Chu et al., Fair DARTS (threshold 0.85, at most two inputs per node). Node numbering as released by the authors
    # (isolated nodes keep their number; e.g. FairDARTS_a's normal node 3 has no input).
    "FairDARTS_a": Genotype(
        (("sep_conv_3x3", 2, 0), ("sep_conv_5x5", 2, 1), ("max_pool_3x3", 4, 0), ("sep_conv_3x3", 5, 0)), _ALL,
        (("max_pool_3x3", 2, 0), ("avg_pool_3x3", 2, 1), ("avg_pool_3x3", 3, 0), ("dil_conv_5x5", 3, 1),
         ("avg_pool_3x3", 4, 0), ("sep_conv_5x5", 4, 1), ("skip_connect", 5, 0), ("skip_connect", 5, 1)), _ALL),
    "FairDARTS_b": Genotype(
        (("sep_conv_3x3", 2, 0), ("sep_conv_3x3", 2, 1), ("sep_conv_3x3", 3, 1), ("dil_conv_3x3", 4, 0),
         ("sep_conv_5x5", 4, 1), ("dil_conv_5x5", 5, 1)), _ALL,
        (("skip_connect", 2, 0), ("dil_conv_3x3", 2, 1), ("skip_connect", 3, 0), ("dil_conv_3x3", 3, 1),
         ("max_pool_3x3", 4, 0), ("sep_conv_3x3", 4, 1), ("skip_connect", 5, 2), ("max_pool_3x3", 5, 0)), _ALL),
    "FairDARTS_c": Genotype(
        (("max_pool_3x3", 2, 0), ("sep_conv_5x5", 2, 1), ("dil_conv_3x3", 4, 0), ("dil_conv_5x5", 4, 2),
         ("skip_connect", 5, 3), ("sep_conv_3x3", 5, 0)), _ALL,
        (("dil_conv_3x3", 2, 1), ("dil_conv_5x5", 2, 0), ("dil_conv_3x3", 3, 0), ("sep_conv_3x3", 3, 1),
         ("sep_conv_5x5", 4, 0), ("sep_conv_5x5", 4, 3), ("sep_conv_5x5", 5, 0), ("skip_connect", 5, 1)), _ALL),
    "FairDARTS_d": Genotype(
        (("sep_conv_3x3", 2, 0), ("sep_conv_5x5", 2, 1), ("dil_conv_3x3", 3, 1), ("max_pool_3x3", 3, 0),
         ("dil_conv_3x3", 4, 0), ("dil_conv_3x3", 4, 1), ("sep_conv_3x3", 5, 0), ("dil_conv_5x5", 5, 1)), _ALL,
        (("max_pool_3x3", 2, 0), ("sep_conv_5x5", 2, 1), ("avg_pool_3x3", 3, 0), ("dil_conv_5x5", 3, 2),
         ("dil_conv_3x3", 4, 3), ("avg_pool_3x3", 4, 0), ("avg_pool_3x3", 5, 0), ("skip_connect", 5, 3)), _ALL),
    "FairDARTS_e": Genotype(
        (("sep_conv_3x3", 2, 0), ("sep_conv_3x3", 2, 1), ("dil_conv_3x3", 4, 1), ("dil_conv_3x3", 4, 2),
         ("dil_conv_3x3", 5, 0), ("dil_conv_5x5", 5, 1)), _ALL,
        (("max_pool_3x3", 2, 1), ("max_pool_3x3", 2, 0), ("max_pool_3x3", 3, 1), ("max_pool_3x3", 3, 0),
         ("sep_conv_5x5", 4, 1), ("max_pool_3x3", 4, 0), ("avg_pool_3x3", 5, 0), ("dil_conv_5x5", 5, 1)), _ALL),
    "FairDARTS_f": Genotype(
        (("max_pool_3x3", 2, 0), ("sep_conv_3x3", 2, 1), ("dil_conv_3x3", 3, 1), ("sep_conv_5x5", 4, 1),
         ("sep_conv_3x3", 5, 0), ("sep_conv_3x3", 5, 1)), _ALL,
        (("max_pool_3x3", 2, 0), ("max_pool_3x3", 2, 1), ("max_pool_3x3", 3, 0), ("dil_conv_3x3", 3, 1),
         ("dil_conv_3x3", 4, 2), ("max_pool_3x3", 4, 0), ("max_pool_3x3", 5, 0), ("sep_conv_3x3", 5, 1)), _ALL),
    "FairDARTS_g": Genotype(
        (("sep_conv_3x3", 2, 0), ("sep_conv_3x3", 2, 1), ("skip_connect", 4, 3), ("sep_conv_5x5", 4, 1),
         ("dil_conv_3x3", 5, 0), ("sep_conv_3x3", 5, 1)), _ALL,
        (("avg_pool_3x3", 2, 1), ("skip_connect", 2, 0), ("skip_connect", 3, 2), ("max_pool_3x3", 3, 1),
         ("sep_conv_5x5", 4, 3), ("max_pool_3x3", 4, 0), ("dil_conv_3x3", 5, 1), ("dil_conv_3x3", 5, 4)), _ALL),
}
#: Published cost figures: (params in M, multiply-adds in M) at 36 channels, 20 layers, 10 classes, 32x32, as the
#: FairDARTS README tables print them (DARTS_V2 from the same README's comparison table).
PUBLISHED_COSTS: dict[str, tuple[str, str]] = {
    "FairDARTS_a": ("2.83", "373"), "FairDARTS_b": ("3.88", "536"), "FairDARTS_c": ("2.59", "400"),
    "FairDARTS_d": ("3.84", "532"), "FairDARTS_e": ("3.12", "414"), "FairDARTS_f": ("3.62", "497"),
    "FairDARTS_g": ("3.38", "453"), "DARTS_V2": ("3.36", "522"),
}


def _lookup(name: str) -> Genotype | None:
    for key, g in PUBLISHED.items():
        if key.lower() == name.lower().replace("-", "_"):
            return g
    return None


def parse_genotype(text: str | Genotype) -> Genotype:
    """A published name (``FairDARTS_a``, case-insensitive, ``-`` or ``_``) or a genotype string (its ``repr``; the
    DARTS pair layout is accepted too)."""
    return _check_outputs(_parse_genotype(text))


def _check_outputs(g: Genotype) -> Genotype:
    """Every cell must concatenate at least one live node: a cell whose output nodes are all isolated (no path from
    the cell inputs) has no output at all, and no network can be built from it."""
    for kind, red in (("normal", False), ("reduce", True)):
        if not g.output_nodes(red):
            _, concat = g.cell(red)
            raise ConfigError(
                f"genotype {kind} cell: its output node(s) {list(concat)} are all isolated (no edge reaches them from "
                f"the cell inputs 0/1 through live nodes; live: {g.live_nodes(red) or 'none'}), so the cell has no "
                f"output. Add an edge into one of them from a live node, or list a live node in {kind}_concat.")
    return g


def _parse_genotype(text: str | Genotype) -> Genotype:
    if isinstance(text, Genotype):
        return text
    if not isinstance(text, str):
        raise UserError(f"a DARTS architecture is a published name or a genotype string, got {type(text).__name__}.")
    found = _lookup(text.strip())
    if found is not None:
        return found
    m = re.fullmatch(r"\s*Genotype\((.*)\)\s*", text, re.S)
    if not m:
        raise UserError(f"unknown DARTS architecture {brief(text)}: not a published name (valid: "
                        f"{', '.join(PUBLISHED)}) and not a genotype string of the form "
                        f"Genotype(normal=[('sep_conv_3x3', 2, 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], "
                        f"reduce_concat=[...]).")
    try:
        tree = ast.parse(f"f({m.group(1)})", mode="eval").body
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords}
        if set(kwargs) != {"normal", "normal_concat", "reduce", "reduce_concat"} or tree.args:
            raise ValueError("needs exactly the keywords normal, normal_concat, reduce, reduce_concat")
        kwargs = {k: list(v) for k, v in kwargs.items()}
        if all(len(e) == 2 for e in kwargs["normal"] + kwargs["reduce"]):
            return from_pairs(**kwargs)
        if any(len(e) != 3 for e in kwargs["normal"] + kwargs["reduce"]):
            raise ValueError("edges are (op, to_node, from_node) triples (or all (op, from_node) pairs)")
        return Genotype(**kwargs)
    except (SyntaxError, ValueError, TypeError) as exc:
        raise UserError(f"malformed genotype string {brief(text)}: {shorten(str(exc))}.") from exc


# ---- parse rules: architecture weights [14 edges x 8 ops] -> genotype -------------------------------------------
def _check_weights(weights: np.ndarray) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(EDGES), len(PRIMITIVES)):
        raise ValueError(f"architecture weights must be [{len(EDGES)} edges x {len(PRIMITIVES)} ops], got {w.shape}")
    return w


def parse_top2(weights: np.ndarray) -> list[Edge]:
    """DARTS' rule: per node keep the two incoming edges with the strongest non-``none`` op, each with that op."""
    w = _check_weights(weights)
    out: list[Edge] = []
    for node in range(2, 2 + N_INTERMEDIATE):
        rows = [(k, i) for k, (i, j) in enumerate(EDGES) if j == node]
        best = sorted(rows, key=lambda r: (-w[r[0], 1:].max(), r[1]))[:2]
        out += [(PRIMITIVES[1 + int(w[k, 1:].argmax())], node, i) for k, i in sorted(best, key=lambda r: r[1])]
    return out


def parse_threshold(weights: np.ndarray, threshold: float = 0.85, max_inputs: int = 2) -> list[Edge]:
    """FairDARTS' ``threshold_sparse`` rule: per edge the strongest non-``none`` op; keep it if its (sigmoid) weight
    exceeds ``threshold``; per node at most ``max_inputs`` such edges (the strongest). A node may get none."""
    w = _check_weights(weights)
    out: list[Edge] = []
    for node in range(2, 2 + N_INTERMEDIATE):
        rows = [(k, i) for k, (i, j) in enumerate(EDGES) if j == node and w[k, 1:].max() > threshold]
        best = sorted(rows, key=lambda r: (-w[r[0], 1:].max(), r[1]))[:max_inputs]
        out += [(PRIMITIVES[1 + int(w[k, 1:].argmax())], node, i) for k, i in sorted(best, key=lambda r: r[1])]
    return out


def derive(normal_w: np.ndarray, reduce_w: np.ndarray, rule: str = "top2", threshold: float = 0.85) -> Genotype:
    """A genotype from the two cells' architecture weights (``rule``: ``top2`` or ``threshold``). A thresholded cell
    with no live node (every edge below the threshold, or only edges out of isolated nodes) also gets its strongest
    edge from a cell input, so the network stays connected (the run's notes show the genotype)."""
    cells = []
    for w in (normal_w, reduce_w):
        edges = parse_top2(w) if rule == "top2" else parse_threshold(w, threshold)
        probe = Genotype(tuple(edges) or (("skip_connect", 2, 0),), _ALL, (("skip_connect", 2, 0),), _ALL)
        if not edges or not probe.live_nodes(False):
            w = np.asarray(w)
            k = max((k for k, (i, _) in enumerate(EDGES) if i < 2), key=lambda k: w[k, 1:].max())
            i, j = EDGES[k]
            edges = sorted({*edges, (PRIMITIVES[1 + int(w[k, 1:].argmax())], j, i)}, key=lambda e: (e[1], e[2]))
        cells.append(tuple(edges))
    return Genotype(cells[0], _ALL, cells[1], _ALL)


class DartsSpace:
    """The DARTS cell space. ``sample``: two distinct inputs per node, uniform non-``none`` ops (the DARTS layout);
    ``mutate``: change one edge's op or one edge's input node."""

    name = "darts"

    def sample(self, rng: np.random.Generator) -> Genotype:
        cells = []
        for _ in range(2):
            edges = []
            for node in range(2, 2 + N_INTERMEDIATE):
                for frm in sorted(rng.choice(node, 2, replace=False)):
                    edges.append((PRIMITIVES[1 + int(rng.integers(len(PRIMITIVES) - 1))], node, int(frm)))
            cells.append(tuple(edges))
        return Genotype(cells[0], _ALL, cells[1], _ALL)

    def mutate(self, g: Genotype, rng: np.random.Generator) -> Genotype:
        kind = "normal" if rng.random() < 0.5 else "reduce"
        edges = list(getattr(g, kind))
        k = int(rng.integers(len(edges)))
        op, to, frm = edges[k]
        taken = {f for _, t, f in edges if t == to}
        free = [f for f in range(to) if f not in taken]
        if free and rng.random() < 0.5:
            edges[k] = (op, to, int(rng.choice(free)))
        else:
            edges[k] = ([o for o in PRIMITIVES[1:] if o != op][int(rng.integers(len(PRIMITIVES) - 2))], to, frm)
        return Genotype(**{**{f: getattr(g, f) for f in ("normal", "normal_concat", "reduce", "reduce_concat")},
                           kind: tuple(edges)})

    def validate(self, arch) -> Genotype:
        return parse_genotype(arch)
