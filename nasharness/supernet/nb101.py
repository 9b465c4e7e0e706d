"""The NAS-Bench-101 network, as a standalone network for one spec and as a weight-sharing supernet.

Macro skeleton (NB101 paper, Sec. 2.1): stem conv3x3-BN-ReLU 3 -> C (128); 3 stacks of 3 cells; 2x2 max-pool
between stacks, where the cell channels double; global average pool; dense layer. Channel rules inside a cell are
those of :func:`nasharness.spaces.nb101_costs.vertex_channels` (output channels split evenly over the vertices that
feed the output, other vertices take the max of their successors). A vertex sums its inputs: the cell input through
a 1x1 conv-BN-ReLU projection to the vertex's channels, other vertices truncated to its channels; then applies its
op (3x3 or 1x1 conv-BN-ReLU at constant width, or a 3x3 max-pool). The output concatenates the vertices that feed
it, plus a projection of the cell input when there is an input -> output edge.

Weight sharing. The supernet cell has one slot per *vertex position* of a pruned spec (positions 1..5 for interior
vertices, in the spec's topological order; the output has its own slot). Each interior slot holds the three
candidate ops and an input projection, all at the cell's full width ``C_out``; a path with ``c`` channels at a
vertex uses the leading ``c`` output (and input) channels of those weights and BN parameters ("largest weights,
sliced"). The standalone network of a spec is the same code with every weight at its exact size, so its parameter
count is exactly NB101's ``trainable_parameters`` (convs without bias, BN scale and shift).

SCARLET's linearly equivalent transformation: NB101 has no identity *op*; its identities are the edges between
interior vertices (a vertex's output added, truncated, into a later vertex). With ``linear_edges=True`` each such
edge passes through a learnable 1x1 conv (no BN, no ReLU; sliced like the rest) in the supernet. Being linear it
merges into the receiving vertex, so the supernet still denotes the same architectures. Edges into the output
(a concatenation) and the input projections are left unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..spaces import nb101 as space
from ..spaces.nb101_costs import vertex_channels
from . import distributed
from .nb201 import count_params  # noqa: F401 - one parameter counter for both spaces

OP_INDEX = {op: i for i, op in enumerate(space.OPS)}
INTERIOR = space.MAX_VERTICES - 2  # interior vertex positions of a supernet cell


class SlicedConvBN(nn.Module):
    """Conv (no bias) + BN (+ ReLU), at most ``c_in`` -> ``c_out`` channels; a call may use fewer (the leading
    channels of the weights and of every BN tensor). Running statistics of a slice are updated in place."""

    def __init__(self, c_in: int, c_out: int, kernel: int, relu: bool = True, bn: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out) if bn else None
        self.relu = relu

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        w = self.conv.weight
        if c_out != w.shape[0] or x.shape[1] != w.shape[1]:
            w = w[:c_out, :x.shape[1]]
        y = F.conv2d(x, w, None, 1, self.conv.padding)
        if self.bn is not None:
            y = _sliced_bn(self.bn, y, c_out)
        return F.relu(y) if self.relu else y


def _sliced_bn(bn: nn.BatchNorm2d, y: torch.Tensor, c: int) -> torch.Tensor:
    """``bn`` applied to the first ``c`` channels, with the exact semantics of ``nn.BatchNorm2d`` (momentum None =
    cumulative average, batch statistics in training mode, running statistics in eval mode)."""
    factor = distributed.bn_factor(bn)
    full = c == bn.num_features
    mean = bn.running_mean if full else bn.running_mean[:c]
    var = bn.running_var if full else bn.running_var[:c]
    weight = bn.weight if full else bn.weight[:c]
    bias = bn.bias if full else bn.bias[:c]
    if distributed.wants_sync(bn):  # data-parallel training: statistics over the global batch
        return distributed.sync_batch_norm(y, mean, var, weight, bias, factor, bn.eps)
    return F.batch_norm(y, mean, var, weight, bias, bn.training, factor, bn.eps)


class _CellBody(nn.Module):
    """Shared by the standalone and the supernet cell: ``ops[p]`` holds the op modules of vertex position ``p``
    (index by op id), ``proj[p]`` the input projection into position ``p`` (``proj[-1]``: into the output)."""

    c_in: int
    c_out: int
    edge_maps: nn.ModuleDict | None = None

    def run(self, x: torch.Tensor, spec: space.Spec) -> torch.Tensor:
        m = spec.matrix
        n = len(spec.ops)
        out = n - 1
        ch = vertex_channels(self.c_in, self.c_out, spec.numpy())
        tensors: list[torch.Tensor | None] = [x]
        for t in range(1, out):
            total = None
            for src in range(1, t):
                if m[src][t]:
                    h = tensors[src]
                    if self.edge_maps is not None:
                        h = self.edge_maps[f"{src}_{t}"](h, ch[t])
                    elif h.shape[1] != ch[t]:
                        h = h[:, :ch[t]]
                    total = h if total is None else total + h
            if m[0][t]:
                h = self.proj[t - 1](x, ch[t])
                total = h if total is None else total + h
            op = OP_INDEX[spec.ops[t]]
            mod = self.ops[t - 1][op] if isinstance(self.ops[t - 1], nn.ModuleList) else self.ops[t - 1]
            tensors.append(mod(total) if op == OP_INDEX[space.MAXPOOL3X3] else mod(total, ch[t]))
        feeds = [tensors[t] for t in range(1, out) if m[t][out]]
        y = None
        if feeds:
            y = feeds[0] if len(feeds) == 1 else torch.cat(feeds, 1)
        if m[0][out]:
            p = self.proj[-1](x, self.c_out)
            y = p if y is None else y + p
        return y


def _op_module(op: str, c: int) -> nn.Module:
    if op == space.MAXPOOL3X3:
        return nn.MaxPool2d(3, 1, 1)
    return SlicedConvBN(c, c, 3 if op == space.CONV3X3 else 1)


class NB101Cell(_CellBody):
    """A fixed cell: only the modules the spec uses, each at its exact channel count."""

    def __init__(self, spec: space.Spec, c_in: int, c_out: int):
        super().__init__()
        self.spec, self.c_in, self.c_out = spec, c_in, c_out
        m, n = spec.matrix, len(spec.ops)
        ch = vertex_channels(c_in, c_out, spec.numpy())
        self.ops = nn.ModuleList([_op_module(spec.ops[t], ch[t]) for t in range(1, n - 1)])
        self.proj = nn.ModuleList([SlicedConvBN(c_in, ch[t], 1) if m[0][t] else nn.Identity()
                                   for t in range(1, n)])

    def forward(self, x):
        return self.run(x, self.spec)


class MixedNB101Cell(_CellBody):
    """A supernet cell: every interior position holds all three ops and a projection, at full width."""

    def __init__(self, c_in: int, c_out: int, *, linear_edges: bool = False):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.ops = nn.ModuleList([nn.ModuleList([_op_module(op, c_out) for op in space.OPS])
                                  for _ in range(INTERIOR)])
        self.proj = nn.ModuleList([SlicedConvBN(c_in, c_out, 1) for _ in range(INTERIOR + 1)])
        if linear_edges:
            self.edge_maps = nn.ModuleDict({f"{s}_{t}": SlicedConvBN(c_out, c_out, 1, relu=False, bn=False)
                                            for t in range(2, INTERIOR + 1) for s in range(1, t)})

    def forward(self, x, spec: space.Spec):
        if len(spec.ops) > INTERIOR + 2:
            raise ValueError(f"spec has {len(spec.ops)} vertices; the supernet holds at most {INTERIOR + 2}")
        return self.run(x, spec)


class _Macro(nn.Module):
    def __init__(self, stem_channels: int, stacks: int, cells_per_stack: int, num_classes: int, make_cell):
        super().__init__()
        c = stem_channels
        self.stem = SlicedConvBN(3, c, 3)
        self.stem_channels = c
        layers: list[nn.Module] = []
        c_in = c
        for stack in range(stacks):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, 2))
                c *= 2
            for _ in range(cells_per_stack):
                layers.append(make_cell(c_in, c))
                c_in = c
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(c, num_classes)

    def _run(self, x, cell_call):
        x = self.stem(x, self.stem_channels)
        for layer in self.layers:
            x = layer(x) if isinstance(layer, nn.MaxPool2d) else cell_call(layer, x)
        return self.classifier(x.mean((2, 3)))


class NB101Network(_Macro):
    """The standalone NB101 network of one (pruned, valid) spec; NB101's defaults are C=128, 3 stacks x 3 cells."""

    def __init__(self, spec: space.Spec, stem_channels: int = 128, stacks: int = 3, cells_per_stack: int = 3,
                 num_classes: int = 10):
        spec = space.make_spec(spec.matrix, spec.ops)
        super().__init__(stem_channels, stacks, cells_per_stack, num_classes, lambda a, b: NB101Cell(spec, a, b))
        self.spec = spec

    def forward(self, x):
        return self._run(x, lambda cell, h: cell(h))


class NB101Supernet(_Macro):
    """One weight-sharing network for every spec of at most 7 vertices; ``forward(x, spec)`` runs one path."""

    def __init__(self, stem_channels: int = 128, stacks: int = 3, cells_per_stack: int = 3, num_classes: int = 10,
                 *, linear_edges: bool = False):
        super().__init__(stem_channels, stacks, cells_per_stack, num_classes,
                         lambda a, b: MixedNB101Cell(a, b, linear_edges=linear_edges))
        self.linear_edges = linear_edges
        self.config = {"stem_channels": stem_channels, "stacks": stacks, "cells_per_stack": cells_per_stack,
                       "num_classes": num_classes}

    def forward(self, x, spec: space.Spec):
        return self._run(x, lambda cell, h: cell(h, spec))

    def path_keys(self, spec: space.Spec) -> list[str]:
        """The searchable choices a path trains: ``v<position>/<op>`` for each interior vertex."""
        return [f"v{t}/{spec.ops[t]}" for t in range(1, len(spec.ops) - 1)]

    def extract(self, spec: space.Spec) -> NB101Network:
        """The standalone network of ``spec`` with the supernet's (sliced) weights: same function as the path."""
        net = NB101Network(spec, **self.config)
        if self.linear_edges:
            raise ValueError("a supernet with linear edge transforms has no weight-identical standalone network; "
                             "merge the transforms first or extract from a supernet without them")
        src = dict(self.named_parameters()) | dict(self.named_buffers())
        with torch.no_grad():
            for name, dst in list(net.named_parameters()) + list(net.named_buffers()):
                key = _supernet_key(name, spec)
                s = src[key]
                dst.copy_(s[tuple(slice(0, k) for k in dst.shape)] if dst.dim() else s)
        return net


def _supernet_key(name: str, spec: space.Spec) -> str:
    """Map a standalone parameter name to the supernet's: ``layers.i.ops.p.*`` -> ``layers.i.ops.p.<op id>.*``, and the
    output projection to the supernet's output slot."""
    parts = name.split(".")
    if len(parts) > 3 and parts[0] == "layers" and parts[2] == "ops":
        parts.insert(4, str(OP_INDEX[spec.ops[int(parts[3]) + 1]]))
    elif len(parts) > 3 and parts[0] == "layers" and parts[2] == "proj" and int(parts[3]) == len(spec.ops) - 2:
        parts[3] = str(INTERIOR)  # the output's projection has its own slot
    return ".".join(parts)
