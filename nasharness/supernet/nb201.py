"""The NAS-Bench-201 macro network, as a standalone network for one cell and as a weight-sharing supernet.

Macro skeleton (NB201 paper, Fig. 1): stem conv3x3(3 -> C) + BN; stage 1: N cells at C; residual reduction block
C -> 2C (stride 2); stage 2: N cells at 2C; reduction 2C -> 4C; stage 3: N cells at 4C; BN + ReLU; global average
pool; linear classifier. Every cell uses the same arch. A cell has nodes 0..3; node j sums ``op(node i)`` over the
edges i -> j. Ops: ``none`` (zero), ``skip_connect`` (identity), ``nor_conv_kxk`` (ReLU, conv k x k without bias, BN),
``avg_pool_3x3`` (3x3 average pool, stride 1, padding 1, padding excluded from the average). The residual block is
ReLU-conv3x3(stride 2)-BN, ReLU-conv3x3-BN, plus a shortcut avg-pool 2x2 then conv1x1 (no BN).

The supernet holds every candidate op on every edge and runs one path (one op index per edge, shared by all cells).
With ``linear_skip=True`` (SCARLET-NAS's linearly equivalent transformation) the ``skip_connect`` choice is a
learnable 1x1 conv without BN or ReLU instead of the identity.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..spaces import nb201 as space
from .pooling import AvgPool3x3

OP_INDEX = {op: i for i, op in enumerate(space.OPS)}
NONE, SKIP = OP_INDEX["none"], OP_INDEX["skip_connect"]


class ReLUConvBN(nn.Module):
    """ReLU -> conv (no bias) -> BN. In eval mode under ``torch.inference_mode`` the BN is folded into the conv on
    the fly (one conv with scaled weights and a bias instead of conv + BN: the same function, less work)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = F.relu(x)
        if self.training or not torch.is_inference_mode_enabled():
            return self.bn(self.conv(x))
        bn = self.bn
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        weight = self.conv.weight * scale[:, None, None, None]
        return F.conv2d(x, weight, bn.bias - bn.running_mean * scale, self.conv.stride, self.conv.padding)


class LinearTransform(nn.Conv2d):
    """SCARLET's stand-in for the identity: a 1x1 conv, no BN, no ReLU (linear, so it can merge into what follows)."""

    def __init__(self, c: int):
        super().__init__(c, c, 1, bias=False)


def make_op(op: str, c: int, *, linear_skip: bool = False, fast_pool: bool = False) -> nn.Module | None:
    """The module of one NB201 op at ``c`` channels (None for ``none``). ``fast_pool``: the average pool as
    :class:`~.pooling.AvgPool3x3` (the same numbers, forward and backward, faster with few channels; the supernet
    uses it)."""
    if op == "none":
        return None
    if op == "skip_connect":
        return LinearTransform(c) if linear_skip else nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3)
    if op == "avg_pool_3x3":
        return AvgPool3x3() if fast_pool else nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {op!r}")


class ResidualReduction(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


def live_nodes(ops: Sequence[str]) -> tuple[bool, bool, bool, bool]:
    """Which nodes can influence the cell output: node 3, and any node with a non-``none`` edge into a live node."""
    live = [False, False, False, True]
    for j in (2, 1, 0):
        live[j] = any(live[dst] and op != "none" for (src, dst), op in zip(space.EDGES, ops, strict=True)
                      if src == j)
    return tuple(live)


def _node_edges() -> tuple[tuple[int, ...], ...]:
    """Per node, the edges whose ops its value depends on (through any path into it), in edge order."""
    deps: list[set[int]] = [set()]
    for j in (1, 2, 3):
        deps.append({d for e, (src, dst) in enumerate(space.EDGES) if dst == j for d in ({e} | deps[src])})
    return tuple(tuple(sorted(d)) for d in deps)


#: ``NODE_EDGES[j]``: the edges node j's value depends on (node 1: edge 0->1; node 2: 0->1, 0->2, 1->2; node 3: all).
NODE_EDGES = _node_edges()


def _cell_forward(x: torch.Tensor, ops: Sequence[str], apply, memo: dict | None = None) -> torch.Tensor:
    """Node j = sum over edges i -> j of ``apply(e, node_i)``, skipping ``none`` edges and nodes whose value cannot
    reach the output (their ops would change nothing but wasted compute; results are identical).

    ``memo`` (a dict for this very input ``x``): node j's value is kept under the ops of ``NODE_EDGES[j]`` and taken
    from there by a later call whose ops agree on those edges (nodes 1 and 2; one entry a node, replaced when the
    ops change). The same ops on the same inputs, summed in the same order: the same numbers."""
    live = live_nodes(ops)
    nodes: list[torch.Tensor | None] = [x]
    for j in (1, 2, 3):
        if not live[j]:
            nodes.append(None)
            continue
        key = tuple(ops[e] for e in NODE_EDGES[j]) if memo is not None and j < 3 else None
        if key is not None and j in memo and memo[j][0] == key:
            nodes.append(memo[j][1])
            continue
        total = None
        for e, (src, dst) in enumerate(space.EDGES):
            if dst != j or ops[e] == "none" or nodes[src] is None:
                continue
            out = apply(e, nodes[src])
            total = out if total is None else total + out
        nodes.append(total if total is not None else torch.zeros_like(x))
        if key is not None:
            memo[j] = (key, nodes[j])
    return nodes[3]


class _Macro(nn.Module):
    """Stem, three stages with two reductions, head. ``make_cell(c)`` builds one cell at ``c`` channels."""

    def __init__(self, channels: int, cells_per_stage: int, num_classes: int, make_cell):
        super().__init__()
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            layers += [make_cell(c) for _ in range(cells_per_stage)]
            if stage < 2:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(c, num_classes)

    def _run(self, x, cell_call, stem: torch.Tensor | None = None):
        """``stem``: the stem's output for ``x``, when already computed."""
        x = self.stem(x) if stem is None else stem
        for layer in self.layers:
            x = cell_call(layer, x) if not isinstance(layer, ResidualReduction) else layer(x)
        x = self.head(x).mean((2, 3))
        return self.classifier(x)


class Cell(nn.Module):
    """A fixed cell: only the chosen op of each edge exists."""

    def __init__(self, ops: Sequence[str], c: int):
        super().__init__()
        self.ops = tuple(ops)
        self.edges = nn.ModuleList([m if (m := make_op(op, c)) is not None else nn.Identity() for op in ops])

    def forward(self, x):
        return _cell_forward(x, self.ops, lambda e, h: self.edges[e](h))


class NB201Network(_Macro):
    """The standalone NB201 network of one arch (the architecture trained in the benchmark)."""

    def __init__(self, arch: str, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10):
        ops = space.parse_arch(arch)
        super().__init__(channels, cells_per_stage, num_classes, lambda c: Cell(ops, c))
        self.arch = arch

    def forward(self, x):
        return self._run(x, lambda cell, h: cell(h))


class MixedCell(nn.Module):
    """A supernet cell: every edge holds all five candidates; ``forward(x, path)`` runs one op per edge."""

    def __init__(self, c: int, *, linear_skip: bool = False):
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList([m if (m := make_op(op, c, linear_skip=linear_skip, fast_pool=True)) is not None
                           else nn.Identity() for op in space.OPS])
            for _ in space.EDGES
        )

    def forward(self, x, path: Sequence[int], memo: dict | None = None):
        """``memo``: see :func:`_cell_forward` (only where every call gets the same input ``x``)."""
        return _cell_forward(x, [space.OPS[i] for i in path], lambda e, h: self.edges[e][path[e]](h), memo)

    def forward_mixed(self, x, weights: torch.Tensor):
        """Differentiable search (DARTS): every edge outputs sum_k weights[e, k] * op_k(input); ``none`` adds zero."""
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(weights[e, k] * self.edges[e][k](nodes[src])
                             for e, (src, dst) in enumerate(space.EDGES) if dst == j
                             for k in range(len(space.OPS)) if k != NONE))
        return nodes[3]


class NB201Supernet(_Macro):
    """One supernet class shared by every one-shot method. A path is 6 op indices (``space.OPS`` order)."""

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10, *,
                 linear_skip: bool = False):
        super().__init__(channels, cells_per_stage, num_classes, lambda c: MixedCell(c, linear_skip=linear_skip))
        self.linear_skip = linear_skip
        self.choices_per_edge = [len(space.OPS)] * len(space.EDGES)

    def forward(self, x, path):
        """``path``: 6 op indices (one-shot), or a [6, 5] tensor of op weights (differentiable search)."""
        if isinstance(path, torch.Tensor):
            return self._run(x, lambda cell, h: cell.forward_mixed(h, path))
        return self._run(x, lambda cell, h: cell(h, path))

    def forward_memo(self, x, path: Sequence[int], memo: dict) -> torch.Tensor:
        """``forward(x, path)``, reusing what an earlier call on the same input ``x`` computed and ``path`` shares with
        it: the stem's output, and in the first cell nodes 1 and 2, whose values depend only on the ops of edges
        0->1 (node 1) and 0->1, 0->2, 1->2 (node 2). ``memo`` is the caller's dict for this ``x`` (empty at first).

        The same modules on the same inputs, summed in the same order: the numbers are those of ``forward``, provided
        the weights and BN statistics of the shared parts did not change between the calls. Inherited-weight
        evaluation holds them (BN re-estimated per arch on the same calibration images gives the shared parts the
        same statistics). The memo keeps one value a node: give the paths in sorted order to reuse the most."""
        stem = memo.get("stem")
        if stem is None:
            stem = memo["stem"] = self.stem(x)
        first = self.layers[0]
        return self._run(x, lambda cell, h: cell(h, path, memo if cell is first else None), stem)

    def path_modules(self, path: Sequence[int]) -> list[nn.Module]:
        """The searchable op modules a path uses (for counting updates and parameters)."""
        return [cell.edges[e][path[e]] for cell in self.layers if isinstance(cell, MixedCell)
                for e in range(len(space.EDGES)) if path[e] != NONE]

    def path_params(self, path: Sequence[int]) -> int:
        """Parameters of the standalone network this path denotes (shared parts + the chosen ops)."""
        shared = sum(p.numel() for n, p in self.named_parameters() if ".edges." not in n)
        return shared + sum(p.numel() for m in self.path_modules(path) for p in m.parameters())


def arch_to_path(arch: str) -> tuple[int, ...]:
    return tuple(OP_INDEX[o] for o in space.parse_arch(arch))


def path_to_arch(path: Sequence[int]) -> str:
    return space.format_arch([space.OPS[i] for i in path])


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
