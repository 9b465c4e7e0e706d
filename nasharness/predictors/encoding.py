"""ReNAS-style feature tensors (Xu et al., CVPR 2021): an architecture becomes a stack of V x V matrices — its
adjacency, one matrix per operation type, and per-vertex FLOPs and parameters (one matrix per cell or stage) — so a
small CNN can read topology, operations and cost together.

For every channel the vertex value sits on the diagonal and on the vertex's incoming edges (``M[i, j] = adj[i, j] *
value[j]``, ``M[j, j] = value[j]``). FLOPs (multiply-adds) and parameters are log-scaled (``log1p(x / 1e4)``).

* NB101: vertices are the spec's (padded to 7): 1 adjacency + 5 op types (input, conv3x3, conv1x1, maxpool, output)
  + 9 FLOPs + 9 params matrices (one per cell; costs from :mod:`nasharness.spaces.nb101_costs`) = 24 x 7 x 7.
* NB201: ops live on edges, so the cell becomes a DAG with a vertex per edge op, plus input and output: 8 vertices;
  1 adjacency + 7 op types (input, 5 ops, output) + 3 FLOPs + 3 params matrices (one per stage, C = 16/32/64 at
  32/16/8 px; costs counted from the network's own op modules) = 14 x 8 x 8.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..spaces import nb101 as s101
from ..spaces import nb201 as s201


def _broadcast(adj: np.ndarray, values: np.ndarray) -> np.ndarray:
    m = adj * values[None, :]
    m[np.diag_indices(len(values))] = values
    return m


def _log(x: np.ndarray) -> np.ndarray:
    return np.log1p(np.asarray(x, float) / 1e4)


# ---- NB101 ------------------------------------------------------------------------------------------------------
NB101_TYPES = (s101.INPUT, s101.CONV3X3, s101.CONV1X1, s101.MAXPOOL3X3, s101.OUTPUT)


def encode_nb101(spec: s101.Spec, size: int = 7) -> np.ndarray:
    from ..spaces.nb101_costs import network_costs  # noqa: PLC0415

    n = spec.n_vertices
    adj = np.zeros((size, size))
    adj[:n, :n] = spec.numpy()
    # pad so the output vertex stays last (row/col size-1), matching every spec's layout
    order = list(range(n - 1)) + [size - 1]
    a = np.zeros((size, size))
    for i, oi in enumerate(order):
        for j, oj in enumerate(order):
            a[oi, oj] = adj[i, j]
    params, macs, _ = network_costs(spec)
    chans = [a]
    for t in NB101_TYPES:
        v = np.zeros(size)
        for i, oi in enumerate(order):
            v[oi] = float(spec.ops[i] == t)
        chans.append(_broadcast(a, v))
    for table in (macs, params):
        for c in range(table.shape[0]):
            v = np.zeros(size)
            v[order] = _log(table[c])
            chans.append(_broadcast(a, v))
    return np.stack(chans).astype(np.float32)


# ---- NB201 ------------------------------------------------------------------------------------------------------
NB201_TYPES = ("input", *s201.OPS, "output")


@cache
def _nb201_op_costs(op: str, c: int, hw: int) -> tuple[int, int]:
    """(params, multiply-adds) of one op module, counted from the network's own module definition."""
    from ..supernet.nb201 import make_op  # noqa: PLC0415

    module = make_op(op, c)
    if module is None:
        return 0, 0
    params = sum(p.numel() for p in module.parameters())
    macs = sum(m.weight.numel() * hw * hw for m in module.modules() if hasattr(m, "kernel_size")
               and hasattr(m, "weight") and m.weight is not None)
    return params, macs


def encode_nb201(arch: str) -> np.ndarray:
    ops = s201.parse_arch(arch)
    v = len(ops) + 2  # input, one vertex per edge, output
    adj = np.zeros((v, v))
    for e, (src, dst) in enumerate(s201.EDGES):
        if src == 0:
            adj[0, e + 1] = 1
        for e2, (src2, _) in enumerate(s201.EDGES):
            if src2 == dst:
                adj[e + 1, e2 + 1] = 1
        if dst == 3:
            adj[e + 1, v - 1] = 1
    types = ["input", *ops, "output"]
    chans = [adj]
    for t in NB201_TYPES:
        chans.append(_broadcast(adj, np.array([float(x == t) for x in types])))
    stages = ((16, 32), (32, 16), (64, 8))
    for k in (1, 0):  # multiply-adds first, then params (as for NB101)
        for c, hw in stages:
            vals = np.array([0.0] + [_nb201_op_costs(o, c, hw)[k] for o in ops] + [0.0])
            chans.append(_broadcast(adj, _log(vals)))
    return np.stack(chans).astype(np.float32)


def encode_all(bench) -> np.ndarray:
    """Encodings of every row of a tabular benchmark, in row order: the benchmark's own ``encode_all`` when it has
    one, else the encoder of its search space (``bench.space``)."""
    own = getattr(bench, "encode_all", None)
    if own is not None:
        return own()
    encoder = ENCODERS.get(getattr(bench, "space", None))
    if encoder is None:
        from ..errors import UserError  # noqa: PLC0415

        raise UserError(f"benchmark {bench.name!r} (space {getattr(bench, 'space', None)!r}) has no architecture "
                        f"encoding for predictors; give it an `encode_all()` method returning one feature array per "
                        f"row, or use a method that needs none (random).")
    return encoder(bench)


#: The encoder of each search space's table rows.
ENCODERS = {"nb201": lambda bench: np.stack([encode_nb201(a) for _, a in bench.iter_archs()]),
            "nb101": lambda bench: np.stack([encode_nb101(bench.spec(i)) for i in range(bench.size)])}


ENCODING_VERSION = 1


def cached_encodings(bench) -> np.ndarray:
    """``encode_all(bench)``, cached beside the table (keyed by the table's checksum and the encoder version)."""
    from ..io import atomic_write  # noqa: PLC0415
    from ..paths import cache_dir  # noqa: PLC0415

    key = str(bench.meta.get("table_sha256", "nokey"))[:16]
    path = cache_dir() / f"encodings-{getattr(bench, 'space', bench.name)}-{key}-v{ENCODING_VERSION}.npy"
    if path.exists():
        try:
            x = np.load(path, allow_pickle=False)
            if x.shape[0] == bench.size:
                return x
        except (OSError, ValueError):
            pass  # rebuilt below
    x = encode_all(bench)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, x, allow_pickle=False)

    atomic_write(path, write)
    return x
