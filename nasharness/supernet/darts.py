"""Networks of the DARTS cell space: the standalone network of a genotype and the differentiable search network.

Operations (DARTS paper, Sec. 3; all convolutions without bias):

* ``sep_conv_kxk``: twice [ReLU, depthwise k x k, pointwise 1x1, BN]; the first depthwise conv carries the stride.
* ``dil_conv_kxk``: ReLU, depthwise k x k with dilation 2, pointwise 1x1, BN.
* ``max_pool_3x3`` / ``avg_pool_3x3``: 3x3 pooling, padding 1 (the average excludes the padding).
* ``skip_connect``: identity; on a stride-2 edge a *factorized reduction* (ReLU, two 1x1 stride-2 convs, one of them
  on the input shifted by one pixel, concatenated, BN).
* ``none``: zero (search only).

A cell first maps its two inputs to C channels (1x1 ReLU-conv-BN, or a factorized reduction when the previous cell
reduced), then computes its intermediate nodes; in a reduction cell the edges from the two inputs have stride 2.

The CIFAR network (:class:`DartsNetwork`): stem 3x3 conv to 3C + BN, ``layers`` cells with reduction cells at depth
``layers // 3`` and ``2 * layers // 3`` (channels double there), global average pooling and a linear classifier; the
auxiliary head (ReLU, 5x5 average pool stride 3, 1x1 conv to 128 + BN + ReLU, 2x2 conv to 768 + BN + ReLU, linear)
reads the output of the cell at ``2 * layers // 3`` during training; drop-path zeroes a whole non-identity edge per
sample with probability ``drop_path`` (rescaling the rest).

The search network (:class:`DartsSearchNetwork`) holds all eight ops on all 14 edges (pools followed by a BN without
affine parameters, all BNs affine-free as in DARTS' search) and mixes them with given weights; the weights (softmax or
sigmoid of the architecture parameters) are passed to ``forward``, so the module's own parameters are only the
network weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..spaces import darts as space
from .counting import layer_madds


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class DilConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_in, kernel, stride, padding, dilation=dilation, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out, affine=affine))


class SepConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(DilConv(c_in, c_in, kernel, stride, padding, 1, affine),
                         DilConv(c_in, c_out, kernel, 1, padding, 1, affine))


class FactorizedReduce(nn.Module):
    """Halves the resolution without losing every other pixel: two 1x1 stride-2 convs, the second on the input shifted
    by one pixel, each giving half the output channels."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"factorized reduction needs an even channel count, got {c_out}")
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def make_op(op: str, c: int, stride: int, affine: bool = True) -> nn.Module:
    if op == "none":
        return Zero(stride)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
    if op == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, padding=1)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    if op.startswith("sep_conv_"):
        k = int(op[-1])
        return SepConv(c, c, k, stride, k // 2, affine)
    if op.startswith("dil_conv_"):
        k = int(op[-1])
        return DilConv(c, c, k, stride, k - 1, 2, affine)
    raise ValueError(f"unknown DARTS op {op!r}")


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole samples of an edge's output with probability ``p``; scale the kept ones by 1 / (1 - p)."""
    keep = 1.0 - p
    mask = torch.bernoulli(torch.full((x.shape[0], 1, 1, 1), keep, device=x.device, dtype=x.dtype))
    return x * mask / keep


def _preprocess(c_pp: int, c_p: int, c: int, reduction_prev: bool, affine: bool = True):
    pre0 = FactorizedReduce(c_pp, c, affine) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, affine)
    return pre0, ReLUConvBN(c_p, c, 1, 1, 0, affine)


class Cell(nn.Module):
    """A derived cell. Isolated nodes (no input from a live node) are not built and not concatenated, nor are edges
    leaving them (see :mod:`nasharness.spaces.darts`); ``drop_isolated=False`` reproduces a naive builder that
    keeps them as zero tensors (only to study counting conventions)."""

    def __init__(self, genotype: space.Genotype, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool,
                 drop_isolated: bool = True):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = _preprocess(c_pp, c_p, c, reduction_prev)
        edges, _ = genotype.cell(reduction)
        live = {0, 1, *genotype.live_nodes(reduction)}
        keep = [(op, t, f) for op, t, f in edges if f in live or not drop_isolated]
        self.edges = [(t, f) for _, t, f in keep]
        self.identity = [op == "skip_connect" and not (reduction and f < 2) for op, _, f in keep]
        self.ops = nn.ModuleList(make_op(op, c, 2 if reduction and f < 2 else 1) for op, _, f in keep)
        self.nodes = sorted({t for t, _ in self.edges})
        self.concat = genotype.output_nodes(reduction, drop_isolated=drop_isolated)
        self.multiplier = len(self.concat)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = {0: self.preprocess0(s0), 1: self.preprocess1(s1)}
        for node in self.nodes:
            total = None
            for k, (t, f) in enumerate(self.edges):
                if t != node or f not in states:
                    continue
                h = self.ops[k](states[f])
                if self.training and drop_prob > 0 and not self.identity[k]:
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            if total is not None:
                states[node] = total
        ref = states[1] if not self.reduction else states[1][:, :, ::2, ::2]
        return torch.cat([states.get(n, torch.zeros_like(ref)) for n in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' CIFAR auxiliary classifier (expects an 8x8 input)."""

    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=False))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def reduction_layers(layers: int) -> tuple[int, int]:
    return layers // 3, 2 * layers // 3


class DartsNetwork(nn.Module):
    """The CIFAR network of one genotype. ``forward`` returns ``(logits, aux_logits)``; ``aux_logits`` is None
    unless training with the auxiliary head."""

    def __init__(self, genotype, channels: int = 36, layers: int = 20, num_classes: int = 10, auxiliary: bool = True,
                 drop_path: float = 0.0, stem_multiplier: int = 3, drop_isolated: bool = True):
        super().__init__()
        self.genotype = space.parse_genotype(genotype)
        self.layers = layers
        self.drop_path = drop_path
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.aux_at = reduction_layers(layers)[1]
        c_aux = None
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            if reduction:
                c *= 2
            cell = Cell(self.genotype, c_pp, c_p, c, reduction, reduction_prev, drop_isolated)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c
            if i == self.aux_at:
                c_aux = c_p
        self.auxiliary_head = AuxiliaryHead(c_aux, num_classes) if auxiliary else None
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x):
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path)
            if i == self.aux_at and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(s1.mean((2, 3))), aux


# ---- the search network ------------------------------------------------------------------------------------------
class MixedOp(nn.Module):
    def __init__(self, c: int, stride: int):
        super().__init__()
        ops = []
        for op in space.PRIMITIVES:
            m = make_op(op, c, stride, affine=False)
            if "pool" in op:
                m = nn.Sequential(m, nn.BatchNorm2d(c, affine=False))
            ops.append(m)
        self.ops = nn.ModuleList(ops)

    def forward(self, x, w):
        # 'none' contributes w * 0: skipped (same value, no work)
        return sum(w[k] * op(x) for k, op in enumerate(self.ops) if k != 0)


class SearchCell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = _preprocess(c_pp, c_p, c, reduction_prev, affine=False)
        self.mixed = nn.ModuleList(MixedOp(c, 2 if reduction and i < 2 else 1) for i, _ in space.EDGES)

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for j in range(2, 2 + space.N_INTERMEDIATE):
            states.append(sum(self.mixed[k](states[i], weights[k]) for k, (i, t) in enumerate(space.EDGES) if t == j))
        return torch.cat(states[2:], dim=1)


class DartsSearchNetwork(nn.Module):
    """DARTS' search network (8 cells, 16 channels in the paper). ``forward(x, (normal_w, reduce_w))``: both
    [14, 8] weight tensors."""

    def __init__(self, channels: int = 16, layers: int = 8, num_classes: int = 10, stem_multiplier: int = 3):
        super().__init__()
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            if reduction:
                c *= 2
            self.cells.append(SearchCell(c_pp, c_p, c, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, space.N_INTERMEDIATE * c
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x, weights):
        normal_w, reduce_w = weights
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce_w if cell.reduction else normal_w)
        return self.classifier(s1.mean((2, 3)))


# ---- counting --------------------------------------------------------------------------------------------------
def count_params(model: nn.Module, *, auxiliary: bool = False) -> int:
    """Trainable parameters (BN affine included); the auxiliary head only with ``auxiliary`` (DARTS' convention
    leaves it out: it is dropped after training)."""
    return sum(p.numel() for n, p in model.named_parameters() if auxiliary or not n.startswith("auxiliary_head."))


def count_madds(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 32, 32), *, auxiliary: bool = False,
                pooling: bool = False) -> int:
    """Multiply-adds of one forward pass at ``input_size``: every conv (k*k*C_in/groups per output element) and
    linear layer (in_features per output); BN, ReLU and additions are not counted. ``pooling`` also counts one
    operation per window element of every pooling layer (k*k per output element; global pooling: H*W per channel),
    as some older counting tools did. ``auxiliary`` runs the auxiliary head too (training mode: dropout-free
    networks only; BN running stats are restored)."""
    counts = {"ops": 0}

    def hook(m, inp, out):
        counts["ops"] += layer_madds(m, out)

    def pool_hook(m, inp, out):
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        counts["ops"] += out[0].numel() * k * k

    def global_pool_hook(m, inp, out):  # the average pool after the last cell: H*W adds per channel
        counts["ops"] += out[0].numel()

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            handles.append(m.register_forward_hook(hook))
        elif pooling and isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
            handles.append(m.register_forward_hook(pool_hook))
    if pooling and isinstance(model, DartsNetwork):
        handles.append(model.cells[-1].register_forward_hook(global_pool_hook))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    was_training = model.training
    drop = getattr(model, "drop_path", 0.0)
    try:
        model.train(auxiliary)
        if hasattr(model, "drop_path"):
            model.drop_path = 0.0
        with torch.no_grad():
            model(torch.zeros((max(2, input_size[0]), *input_size[1:])))  # BN in training mode needs 2 samples
    finally:
        for h in handles:
            h.remove()
        model.load_state_dict(state)
        model.train(was_training)
        if hasattr(model, "drop_path"):
            model.drop_path = drop
    return counts["ops"]



#: The counting conventions of :func:`cost_variants` (all at 36 channels, 20 cells, 10 classes, 32x32 input).
COST_CONVENTIONS = {
    "params": "trainable parameters incl. BN affine, auxiliary head excluded (DARTS' count; ours)",
    "params+aux": "the same with the auxiliary head (the training-time model)",
    "madds": "conv + linear multiply-adds of the inference network (ours); BN, ReLU, additions, pooling excluded",
    "madds+aux": "the same with the auxiliary head run (training mode)",
    "madds+pool": "conv + linear + one op per pooling-window element (older counting tools)",
    "madds+aux+pool": "both of the above",
}


def cost_variants(genotype, channels: int = 36, layers: int = 20, num_classes: int = 10,
                  drop_isolated: bool = True) -> dict[str, int]:
    """A genotype's size under every convention of :data:`COST_CONVENTIONS` (exact integers)."""
    net = DartsNetwork(genotype, channels, layers, num_classes, auxiliary=True, drop_isolated=drop_isolated)
    return {"params": count_params(net), "params+aux": count_params(net, auxiliary=True),
            "madds": count_madds(net), "madds+aux": count_madds(net, auxiliary=True),
            "madds+pool": count_madds(net, pooling=True),
            "madds+aux+pool": count_madds(net, auxiliary=True, pooling=True)}
