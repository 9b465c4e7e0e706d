"""The NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 operations per edge (15,625 cells).

Arch strings follow the official format ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``: the j-th ``+``-separated group lists
the edges into node j, ``op~i`` being the operation on edge i -> j. As an op list, the edge order is
(0->1, 0->2, 1->2, 0->3, 1->3, 2->3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import UserError, brief, shorten

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
N_ARCHS = 5**6
#: The datasets NB201 trains every cell on, and their classes.
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
N_CLASSES = {"cifar10": 10, "cifar10-valid": 10, "cifar100": 100, "ImageNet16-120": 120}
#: The number of distinct cells once equivalent computations are merged (NAS-Bench-201 paper, Sec. 2).
N_UNIQUE = 6466
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
_OP = r"([a-z0-9_]+)"
_ARCH_RE = re.compile(rf"^\|{_OP}~0\|\+\|{_OP}~0\|{_OP}~1\|\+\|{_OP}~0\|{_OP}~1\|{_OP}~2\|$")
_FORMAT_HELP = "expected the form |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops from " + ", ".join(OPS)


def parse_arch(arch: str) -> tuple[str, ...]:
    """Arch string -> tuple of 6 ops in edge order; a clear error for anything malformed."""
    if not isinstance(arch, str):
        raise UserError(f"NB201 arch must be a string, got {type(arch).__name__} {brief(arch)}; {_FORMAT_HELP}.")
    m = _ARCH_RE.match(arch.strip())
    if not m:
        raise UserError(f"malformed NB201 arch string {brief(arch)}; {_FORMAT_HELP}.")
    ops = m.groups()
    bad = [o for o in ops if o not in OPS]
    if bad:
        raise UserError(f"unknown NB201 operation(s) {shorten(', '.join(map(repr, bad)))} in {brief(arch)}; "
                        f"valid: {', '.join(OPS)}.")
    return ops


def format_arch(ops: Sequence[str]) -> str:
    """Tuple of 6 ops in edge order -> arch string."""
    ops = tuple(ops)
    if len(ops) != 6 or any(o not in OPS for o in ops):
        raise UserError(f"an NB201 op list has 6 entries from {', '.join(OPS)}; got {list(ops)!r}.")
    return f"|{ops[0]}~0|+|{ops[1]}~0|{ops[2]}~1|+|{ops[3]}~0|{ops[4]}~1|{ops[5]}~2|"


def canonical_string(arch: str) -> str:
    """A string shared by exactly the cells that compute the same function (the NATS-Bench 'unique string').

    Each node is the sum of its incoming edge terms. A term is ``#`` for ``none`` (zero), the source node's own
    expression for ``skip_connect``, and ``(<source>)@op`` for a parametric/pooling op, except that an op applied to a
    node that is exactly zero stays zero. Terms are sorted, so the order of summation does not matter. Verified to
    reproduce NATS-Bench's ``get_unique_str`` for all 15,625 cells (6,466 classes), see the integration tests.
    """
    ops = parse_arch(arch)
    expr = ["0"]
    for j in (1, 2, 3):
        terms = []
        for (src, dst), op in zip(EDGES, ops, strict=True):
            if dst != j:
                continue
            e = expr[src]
            if op == "none" or (op != "skip_connect" and e == "#"):
                terms.append("#")
            elif op == "skip_connect":
                terms.append(e)
            else:
                terms.append(f"({e})@{op}")
        expr.append("+".join(sorted(terms)))
    return expr[3]


def output_connected(arch: str) -> bool:
    """False when every path from the cell input to its output goes through a ``none`` edge (chance accuracy)."""
    ops = parse_arch(arch)
    reach = {0}
    for j in (1, 2, 3):
        if any(src in reach and op != "none" for (src, dst), op in zip(EDGES, ops, strict=True) if dst == j):
            reach.add(j)
    return 3 in reach


def n_params(arch: str, n_classes: int, channels: int = 16, cells_per_stage: int = 5) -> int:
    """Trainable parameters of the NB201 macro network for ``arch`` (BN affine parameters included).

    stem conv3x3 + BN; 3 stages of ``cells_per_stage`` cells at C, 2C, 4C; two residual reduction blocks
    (conv3x3 stride 2 + conv3x3, each BN, and a 1x1 shortcut conv); final BN, global pool and a linear classifier.
    ``nor_conv_kxk`` is ReLU-Conv(no bias)-BN, so it adds k*k*C*C + 2C per cell.
    """
    ops = parse_arch(arch)
    total = 3 * channels * 9 + 2 * channels
    c = channels
    for stage in range(3):
        per_cell = sum({"nor_conv_3x3": 9 * c * c + 2 * c, "nor_conv_1x1": c * c + 2 * c}.get(o, 0) for o in ops)
        total += cells_per_stage * per_cell
        if stage < 2:
            total += (9 * c * 2 * c + 4 * c) + (9 * 2 * c * 2 * c + 4 * c) + c * 2 * c
            c *= 2
    total += 2 * c + c * n_classes + n_classes
    return total


def cell_madds(arch: str, cells_per_stage: int = 5,
               stages: tuple[tuple[int, int], ...] = ((16, 32), (32, 16), (64, 8))) -> int:
    """Multiply-adds of the cells of an NB201 network (C = 16/32/64 at 32/16/8 px, ``cells_per_stage`` cells per
    stage): a ``k x k`` convolution costs ``C * C * k * k * hw * hw``; pooling, skip and none cost none. The stem, the
    reduction blocks and the classifier are the same for every cell, so this ranks cells exactly as the whole
    network's multiply-adds do."""
    kernel = {"nor_conv_3x3": 9, "nor_conv_1x1": 1}
    per_cell = sum(kernel.get(op, 0) for op in parse_arch(arch))
    return cells_per_stage * per_cell * sum(c * c * hw * hw for c, hw in stages)
