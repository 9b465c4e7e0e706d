"""The NAS-Bench-101 cell space: DAG specs of at most 7 vertices and 9 edges between ``input`` and ``output``.

Implements the official rules independently: validation, pruning of vertices off every input->output path, and the
iterated-md5 graph hash that keys the dataset (isomorphic specs get the same hash).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UserError

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9
#: Number of unique (pruned, non-isomorphic) valid specs, as in the NB101 paper.
N_ARCHS = 423_624


class SpecError(UserError):
    """An NB101 spec that breaks one of the space's rules."""


def _md5(s: str) -> str:
    return hashlib.md5(s.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Spec:
    """A *pruned, validated* NB101 cell. Build with :func:`make_spec`; ``matrix`` is a tuple of row tuples."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def n_vertices(self) -> int:
        return len(self.ops)

    @property
    def n_edges(self) -> int:
        return int(sum(map(sum, self.matrix)))

    def numpy(self) -> np.ndarray:
        return np.array(self.matrix, dtype=np.int8)

    def hash(self) -> str:
        return spec_hash(self.matrix, self.ops)

    def adjacency_string(self) -> str:
        return "".join(str(v) for row in self.matrix for v in row)


def _as_int_matrix(matrix) -> list[list[int]]:
    try:
        arr = np.asarray(matrix)
        if hasattr(matrix, "detach"):  # a torch tensor
            arr = np.asarray(matrix.detach().cpu().numpy())
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a user error here
        raise SpecError(f"NB101 adjacency must be a square 0/1 matrix, got {matrix!r}.") from exc
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise SpecError(f"NB101 adjacency must be a square matrix of at least 2x2, got shape {arr.shape}.")
    if not np.isin(arr, (0, 1)).all():
        raise SpecError(f"NB101 adjacency entries must be 0 or 1, got values {sorted(set(arr.ravel().tolist()))}.")
    # Python ints, never numpy scalars or floats: the official hash formats them with str().
    return [[int(v) for v in row] for row in arr.tolist()]


def prune(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> tuple[list[list[int]], list[str]]:
    """Remove vertices not on any input->output path (``ModelSpec._prune``). Raises if output is unreachable."""
    n = len(ops)
    fwd = {0}
    for v in range(1, n):
        if any(matrix[u][v] and u in fwd for u in range(v)):
            fwd.add(v)
    bwd = {n - 1}
    for v in range(n - 2, -1, -1):
        if any(matrix[v][w] and w in bwd for w in range(v + 1, n)):
            bwd.add(v)
    if n - 1 not in fwd:
        raise SpecError("NB101 spec is invalid: the output is unreachable from the input (no input->output path).")
    keep = sorted(fwd & bwd)
    return [[matrix[i][j] for j in keep] for i in keep], [ops[i] for i in keep]


def make_spec(matrix, ops: Sequence[str], *, prune_first: bool = True) -> Spec:
    """Validate (and by default prune) an NB101 spec; every broken rule is a :class:`SpecError` naming it."""
    m = _as_int_matrix(matrix)
    ops = [str(o) for o in ops]
    n = len(m)
    if len(ops) != n:
        raise SpecError(f"NB101 spec has a {n}x{n} matrix but {len(ops)} ops; give one op per vertex.")
    if n > MAX_VERTICES:
        raise SpecError(f"NB101 spec has {n} vertices; the space allows at most {MAX_VERTICES}.")
    if any(m[i][j] for i in range(n) for j in range(i + 1)):
        raise SpecError("NB101 adjacency must be strictly upper-triangular (edges go from lower to higher vertex).")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise SpecError(f"NB101 ops must start with {INPUT!r} and end with {OUTPUT!r}; got {ops[0]!r} ... {ops[-1]!r}.")
    bad = [o for o in ops[1:-1] if o not in OPS]
    if bad:
        raise SpecError(f"unknown NB101 operation(s) {bad}; valid: {', '.join(OPS)}.")
    if prune_first:
        m, ops = prune(m, ops)
    edges = sum(map(sum, m))
    if edges > MAX_EDGES:
        raise SpecError(f"NB101 spec has {edges} edges after pruning; the space allows at most {MAX_EDGES}.")
    return Spec(tuple(tuple(r) for r in m), tuple(ops))


def spec_hash(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """The NB101 dataset key of a *pruned* spec (iterated md5 over in/out-neighbour hashes)."""
    n = len(ops)
    labels = [-1] + [OPS.index(o) for o in ops[1:-1]] + [-2]
    in_deg = [sum(int(matrix[u][v]) for u in range(n)) for v in range(n)]
    out_deg = [sum(int(x) for x in matrix[v]) for v in range(n)]
    hashes = [_md5(str((out_deg[v], in_deg[v], labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[u] for u in range(n) if matrix[u][v]))
                + "|"
                + "".join(sorted(hashes[w] for w in range(n) if matrix[v][w]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


#: Vertex counts of the NB101 space, estimated from the 1,000-arch uniform slice (first 1,000 in hash order: 842
#: have 7 vertices, 149 six, 8 five, 1 four), add-one smoothed so that small graphs still occur.
VERTEX_WEIGHTS = {2: 1, 3: 1, 4: 2, 5: 9, 6: 150, 7: 843}


def _all_on_path(m: np.ndarray) -> np.ndarray:
    """For a batch of adjacency matrices [B, n, n] (bool): does every vertex lie on an input -> output path?"""
    b, n, _ = m.shape
    fwd = np.zeros((b, n), bool)
    fwd[:, 0] = True
    for v in range(1, n):
        fwd[:, v] = (m[:, :v, v] & fwd[:, :v]).any(1)
    bwd = np.zeros((b, n), bool)
    bwd[:, -1] = True
    for v in range(n - 2, -1, -1):
        bwd[:, v] = (m[:, v, v + 1:] & bwd[:, v + 1:]).any(1)
    return fwd.all(1) & bwd.all(1)


def sample_matrix(rng: np.random.Generator, batch: int = 256) -> np.ndarray:
    """A random valid, already-pruned adjacency matrix, close to the space's own distribution.

    The vertex count n is drawn from :data:`VERTEX_WEIGHTS`; then a DAG on n vertices uniformly among those with at
    most 9 edges in which every vertex lies on an input -> output path (so nothing is pruned), by batched rejection.
    78% of drawn graphs have 9 edges and 18% have 8, as do 77.5% and 17.9% of the uniform slice. (Drawing each of the
    21 edges with probability 1/2 and pruning, as NB101's random-search example does, gives 0.2% 7-vertex graphs
    against 84% in the space.)
    """
    ns = sorted(VERTEX_WEIGHTS)
    p = np.array([VERTEX_WEIGHTS[k] for k in ns], float)
    n = int(rng.choice(ns, p=p / p.sum()))
    rows, cols = np.triu_indices(n, 1)
    pairs = len(rows)
    wk = np.array([math.comb(pairs, k) for k in range(min(MAX_EDGES, pairs) + 1)], float)
    while True:
        k = rng.choice(len(wk), size=batch, p=wk / wk.sum())
        order = np.argsort(rng.random((batch, pairs)), axis=1)
        on = np.zeros((batch, pairs), bool)
        np.put_along_axis(on, order, np.arange(pairs)[None, :] < k[:, None], axis=1)
        m = np.zeros((batch, n, n), bool)
        m[:, rows, cols] = on
        ok = np.flatnonzero(_all_on_path(m))
        if len(ok):
            return m[ok[0]].astype(np.int8)


def from_strings(adjacency: str, ops: str) -> Spec:
    """Spec from the table's storage form: a row-major 0/1 string and a comma-separated op list."""
    k = len(ops.split(","))
    rows = [[int(c) for c in adjacency[i * k:(i + 1) * k]] for i in range(k)]
    return make_spec(rows, ops.split(","), prune_first=False)
