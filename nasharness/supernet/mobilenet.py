"""Networks of the FairNAS / SCARLET ImageNet spaces: the standalone network of an architecture, the weight-sharing
supernet, and the FairNAS-SE family (the released EfficientNet-style re-implementation with SE and swish).

Block (inverted residual): 1x1 expansion conv + BN + act, k x k depthwise conv (stride) + BN + act, optional
squeeze-and-excitation, 1x1 projection conv + BN, residual when stride 1 and widths match. Activations: ReLU6
(FairNAS), h-swish (SCARLET), swish (FairNAS-SE). SE forms:

* ``scarlet``: on the expanded features, reduction 4 of the expanded width (floor), ReLU, h-sigmoid gate.
* ``ratio``: reduced width = round(block input width x ratio), the block's activation inside, sigmoid gate (the
  FairNAS-SE models, ratio 1.0 or 0.5).

Module names are our own; :func:`map_original_state_dict` translates the released checkpoints' key layouts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from ..spaces import mobilenet as space
from ..spaces.mobilenet import Block, MobileSpace
from .counting import layer_madds
from .nb201 import count_params  # noqa: F401 - re-exported: the one parameter counter


def _act(name: str) -> nn.Module:
    return {"relu6": nn.ReLU6, "hswish": nn.Hardswish, "swish": nn.SiLU, "relu": nn.ReLU}[name]()


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduced: int, act: str, gate: str):
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act = _act(act)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid() if gate == "hsigmoid" else nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.expand(self.act(self.reduce(x.mean((2, 3), keepdim=True)))))


class MBBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expansion: int, act: str,
                 se: str | None = None, se_ratio: float = 0.25):
        super().__init__()
        mid = int(round(c_in * expansion))
        self.residual = stride == 1 and c_in == c_out
        self.pw = nn.Conv2d(c_in, mid, 1, bias=False)
        self.pw_bn = nn.BatchNorm2d(mid)
        self.dw = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self.dw_bn = nn.BatchNorm2d(mid)
        self.act1, self.act2 = _act(act), _act(act)
        if se == "scarlet":
            self.se = SqueezeExcite(mid, mid // 4, "relu", "hsigmoid")
        elif se == "ratio":
            self.se = SqueezeExcite(mid, max(1, int(round(c_in * se_ratio))), act, "sigmoid")
        else:
            self.se = None
        self.pwl = nn.Conv2d(mid, c_out, 1, bias=False)
        self.pwl_bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        h = self.act1(self.pw_bn(self.pw(x)))
        h = self.act2(self.dw_bn(self.dw(h)))
        if self.se is not None:
            h = self.se(h)
        h = self.pwl_bn(self.pwl(h))
        return x + h if self.residual else h


class ConvBNAct(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, act: str | None, groups: int = 1):
        layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
        super().__init__(*layers, *([_act(act)] if act else []))


class SeparableHead(nn.Module):
    """The fixed depthwise-separable conv after the stem (32 -> 16): dw3x3 + BN + act, pw1x1 + BN."""

    def __init__(self, c_in: int, c_out: int, act: str):
        super().__init__()
        self.dw = ConvBNAct(c_in, c_in, 3, 1, act, groups=c_in)
        self.pw = ConvBNAct(c_in, c_out, 1, 1, None)

    def forward(self, x):
        return self.pw(self.dw(x))


class _Skeleton(nn.Module):
    """Stem, separable conv, ``layers`` (built by the subclass), 1x1 conv to 1280, pooling, classifier."""

    def __init__(self, num_classes: int, dropout: float, stem_act: str = "relu6"):
        super().__init__()
        self.stem = ConvBNAct(3, space.STEM, 3, 2, stem_act)
        self.sep = SeparableHead(space.STEM, space.FIRST, stem_act)
        self.head = ConvBNAct(space.CHANNELS[-1], space.LAST, 1, 1, stem_act)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.classifier = nn.Linear(space.LAST, num_classes)

    def _features(self, x):
        return self.sep(self.stem(x))

    def _head(self, x):
        return self.classifier(self.dropout(self.head(x).mean((2, 3))))


def make_block(sp: MobileSpace, layer: int, b: Block) -> nn.Module:
    if b.identity:
        return nn.Identity()
    return MBBlock(space.in_channels(layer), space.CHANNELS[layer], b.kernel, space.STRIDES[layer], b.expansion,
                   sp.activation, "scarlet" if b.se else None)


class MobileNetwork(_Skeleton):
    """The standalone network of one architecture of a space (FairNAS-A/B/C, SCARLET-A/B/C, or any other)."""

    def __init__(self, sp: MobileSpace, arch, num_classes: int = 1000, dropout: float | None = None):
        super().__init__(num_classes, sp.dropout if dropout is None else dropout)
        self.space_name = sp.name
        self.blocks = sp.parse(arch)
        self.arch = sp.format(self.blocks)
        self.layers = nn.ModuleList(make_block(sp, i, b) for i, b in enumerate(self.blocks))

    def forward(self, x):
        x = self._features(x)
        for layer in self.layers:
            x = layer(x)
        return self._head(x)


class LinearIdentity(nn.Conv2d):
    """SCARLET's learnable stabilizer for the identity choice: a 1x1 conv without BN or ReLU (identity at init)."""

    def __init__(self, c: int):
        super().__init__(c, c, 1, bias=False)
        with torch.no_grad():
            self.weight.copy_(torch.eye(c)[:, :, None, None])


class MobileSupernet(_Skeleton):
    """Every choice of every layer; ``forward(x, path)`` runs one choice index per layer. With ``linear_identity``
    (SCARLET) the identity choice is a :class:`LinearIdentity` during training."""

    def __init__(self, sp: MobileSpace, num_classes: int = 1000, *, linear_identity: bool = False):
        super().__init__(num_classes, sp.dropout)
        self.space = sp
        self.choices_per_edge = sp.choices_per_layer()
        self.layers = nn.ModuleList(
            nn.ModuleList(LinearIdentity(space.CHANNELS[i]) if b.identity and linear_identity else make_block(sp, i, b)
                          for b in sp.choices(i))
            for i in range(space.N_LAYERS))

    def forward(self, x, path: Sequence[int]):
        x = self._features(x)
        for layer, c in zip(self.layers, path, strict=True):
            x = layer[int(c)](x)
        return self._head(x)

    def path_keys(self, path) -> list[str]:
        return [f"layer{i}/{self.space.choices(i)[int(c)]}" for i, c in enumerate(path)]

    def extract(self, path) -> MobileNetwork:
        """The standalone network of ``path`` with the supernet's weights. With ``linear_identity`` the supernet's
        identity choices are learned 1x1 convs, which the standalone network (a true identity there) does not have:
        such paths compute the same function only if those convs are the identity, so evaluate them in the supernet."""
        net = MobileNetwork(self.space, self.space.from_path(path), self.classifier.out_features)
        own = self.state_dict()
        mapped = {}
        for k in net.state_dict():
            m = re.match(r"layers\.(\d+)\.(.*)", k)
            mapped[k] = own[f"layers.{m.group(1)}.{path[int(m.group(1))]}.{m.group(2)}"] if m else own[k]
        net.load_state_dict(mapped)
        return net


# ---- the FairNAS-SE family (EfficientNet-style re-implementation released with the SE models) ---------------------
class FairNasSE(nn.Module):
    """FairNAS-A/B/C with squeeze-and-excitation (ratio 1.0 or 0.5 of each block's input width) and swish in the
    searchable blocks; ReLU in the stem, separable conv and head (as released)."""

    def __init__(self, name: str, se_ratio: float = 1.0, num_classes: int = 1000, dropout: float = 0.0):
        super().__init__()
        _, blocks = space.published(name)
        self.arch = space.FAIRNAS.format(blocks)
        self.stem = ConvBNAct(3, space.STEM, 3, 2, "relu")
        self.sep = SeparableHead(space.STEM, space.FIRST, "relu")
        self.layers = nn.ModuleList(
            MBBlock(space.in_channels(i), space.CHANNELS[i], b.kernel, space.STRIDES[i], b.expansion, "swish",
                    "ratio", se_ratio) for i, b in enumerate(blocks))
        self.head = ConvBNAct(space.CHANNELS[-1], space.LAST, 1, 1, "relu")
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.classifier = nn.Linear(space.LAST, num_classes)

    def forward(self, x):
        x = self.sep(self.stem(x))
        for layer in self.layers:
            x = layer(x)
        return self.classifier(self.dropout(self.head(x).mean((2, 3))))


_SE = tuple(f"{n}_se{r}" for n in ("fairnas_a", "fairnas_b", "fairnas_c") for r in ("1.0", "0.5"))
MODEL_NAMES = (*space.PUBLISHED, *_SE, *(f"{n}_transfer" for n in _SE))


def build_model(name: str, num_classes: int = 1000) -> nn.Module:
    """A published model by name: ``fairnas_a``, ..., ``scarlet_c``, ``fairnas_a_se1.0`` / ``fairnas_a_se0.5``, or the
    CIFAR-10 transfer models ``fairnas_a_se1.0_transfer`` (10 classes, dropout 0.1 before the classifier, as
    released; ``num_classes`` is ignored for them)."""
    from ..errors import UserError  # noqa: PLC0415

    key = name.strip().lower().replace("-", "_")
    m = re.fullmatch(r"(fairnas_[abc])_se(1\.0|0\.5)(_transfer)?", key)
    if m:
        if m.group(3):
            return FairNasSE(m.group(1), float(m.group(2)), 10, dropout=0.1)
        return FairNasSE(m.group(1), float(m.group(2)), num_classes)
    if key in space.PUBLISHED:
        sp, blocks = space.published(key)
        return MobileNetwork(sp, blocks, num_classes)
    raise UserError(f"unknown model {name!r}; valid: {', '.join(MODEL_NAMES)}.")


def count_madds(model: nn.Module, resolution: int = 224, *, convention: str = "madds") -> int:
    """Operations of one image at ``resolution``.

    * ``madds`` (ours, the papers' figure): multiply-adds of conv layers (k*k*C_in/groups per output element) and
      linear layers (in_features per output); SE's two 1x1 convs count as convs on a 1x1 map; BN, activations,
      pooling, the residual additions and SE's gating product are not counted.
    * ``thop``: the older ``thop`` profiler's rules, behind the FairNAS README's transfer-model "flops": conv as above
      plus 1 per output element when the conv has a bias, linear as above, BN 2 per element, adaptive average pooling
      (the SE squeeze and the final global pool) H*W + 1 per output element, activations 0.
    """
    if convention not in ("madds", "thop"):
        raise ValueError(f"unknown counting convention {convention!r}; valid: madds, thop")
    thop = convention == "thop"
    counts = {"n": 0}

    def hook(m, inp, out):
        counts["n"] += layer_madds(m, out)
        if thop and isinstance(m, nn.Conv2d) and m.bias is not None:  # thop: the bias add
            counts["n"] += out[0].numel()
        elif isinstance(m, nn.BatchNorm2d) and thop:
            counts["n"] += 2 * out[0].numel()
        elif isinstance(m, SqueezeExcite) and thop:  # its squeeze: a global average pool of the input
            x = inp[0][0]
            counts["n"] += x.shape[0] * (x.shape[1] * x.shape[2] + 1)
        return None

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d | nn.Linear | nn.BatchNorm2d | SqueezeExcite)]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, resolution, resolution))
        if thop:  # the global average pool before the classifier
            side = -(-resolution // 32)
            counts["n"] += space.LAST * (side * side + 1)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return counts["n"]


# ---- released checkpoints -------------------------------------------------------------------------------------
_ORIGINAL = [  # (pattern of the released FairNAS / SCARLET layout, our name)
    (r"stem\.0\.", "stem.0."), (r"stem\.1\.", "stem.1."),
    (r"separable_conv\.0\.", "sep.dw.0."), (r"separable_conv\.1\.", "sep.dw.1."),
    (r"separable_conv\.3\.", "sep.pw.0."), (r"separable_conv\.4\.", "sep.pw.1."),
    (r"mb_module\.(\d+)\.conv1\.", r"layers.\1.pw."), (r"mb_module\.(\d+)\.bn1\.", r"layers.\1.pw_bn."),
    (r"mb_module\.(\d+)\.conv2\.", r"layers.\1.dw."), (r"mb_module\.(\d+)\.bn2\.", r"layers.\1.dw_bn."),
    (r"mb_module\.(\d+)\.conv3\.", r"layers.\1.pwl."), (r"mb_module\.(\d+)\.bn3\.", r"layers.\1.pwl_bn."),
    (r"mb_module\.(\d+)\.mid_se\.squeeze_conv\.", r"layers.\1.se.reduce."),
    (r"mb_module\.(\d+)\.mid_se\.excite_conv\.", r"layers.\1.se.expand."),
    (r"conv_before_pooling\.0\.", "head.0."), (r"conv_before_pooling\.1\.", "head.1."),
    (r"classifier\.1\.", "classifier."), (r"classifier\.(weight|bias)$", r"classifier.\1"),
]


def _timm_layer_index(model: FairNasSE) -> dict[tuple[int, int], int]:
    """(stage, index in stage) of the released FairNAS-SE layout -> our layer index (stage 0 is the separable
    conv; the searchable layers follow in order, grouped into stages as released)."""
    out, k = {}, 0  # every FairNAS-SE variant groups its 19 layers into stages of 1, 1, 4, 8 and 5
    for stage, n in enumerate([1, 1, 4, 8, 5], start=1):
        for j in range(n):
            out[(stage, j)] = k
            k += 1
    return out


_TIMM = [
    (r"conv_stem\.", "stem.0."), (r"^bn1\.", "stem.1."),
    (r"blocks\.0\.0\.conv_dw\.", "sep.dw.0."), (r"blocks\.0\.0\.bn1\.", "sep.dw.1."),
    (r"blocks\.0\.0\.conv_pw\.", "sep.pw.0."), (r"blocks\.0\.0\.bn2\.", "sep.pw.1."),
    (r"conv_head\.", "head.0."), (r"^bn2\.", "head.1."),
    (r"classifier\.1\.", "classifier."), (r"classifier\.(weight|bias)$", r"classifier.\1"),
]
_TIMM_BLOCK = {"conv_pw": "pw", "bn1": "pw_bn", "conv_dw": "dw", "bn2": "dw_bn", "se.conv_reduce": "se.reduce",
               "se.conv_expand": "se.expand", "conv_pwl": "pwl", "bn3": "pwl_bn"}


def map_original_state_dict(state: dict, model: nn.Module) -> dict:
    """Translate a released checkpoint (``{'model_state': ...}`` or a bare state dict, ``module.`` prefixes from
    DataParallel allowed) to our key names; our own checkpoints pass through. Raises with the unmatched keys."""
    from ..errors import UserError  # noqa: PLC0415

    if isinstance(state, dict) and "model_state" in state and isinstance(state["model_state"], dict):
        state = state["model_state"]
    elif isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    state = {re.sub(r"^module\.", "", k): v for k, v in state.items()}
    ours = model.state_dict()
    if set(state) == set(ours):
        return state
    out, unknown = {}, []
    timm = any(k.startswith("conv_stem.") for k in state)
    index = _timm_layer_index(model) if timm else {}
    for k, v in state.items():
        new = None
        if timm:
            m = re.match(r"blocks\.(\d+)\.(\d+)\.(.+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$", k)
            if m and int(m.group(1)) > 0:
                part = _TIMM_BLOCK.get(m.group(3))
                new = f"layers.{index[(int(m.group(1)), int(m.group(2)))]}.{part}.{m.group(4)}" if part else None
        for pat, rep in (_TIMM if timm else _ORIGINAL):
            if new is None and re.search(pat, k):
                new = re.sub(pat, rep, k)
        if new is None or new not in ours:
            unknown.append(k)
        else:
            out[new] = v
    missing = sorted(set(ours) - set(out))
    if unknown or missing:
        raise UserError(f"the checkpoint does not fit this model: {len(unknown)} unmatched key(s) (e.g. "
                        f"{', '.join(unknown[:3]) or '-'}), {len(missing)} missing (e.g. "
                        f"{', '.join(missing[:3]) or '-'}); check --model against the checkpoint.")
    return out


def to_original_state_dict(model: MobileNetwork) -> dict:
    """Our weights under the released FairNAS / SCARLET key names (``{'model_state': ...}``, as their checkpoints
    are saved): for exporting, and to test :func:`map_original_state_dict` against that layout."""
    reverse = [(r"^stem\.0\.", "stem.0."), (r"^stem\.1\.", "stem.1."),
               (r"^sep\.dw\.0\.", "separable_conv.0."), (r"^sep\.dw\.1\.", "separable_conv.1."),
               (r"^sep\.pw\.0\.", "separable_conv.3."), (r"^sep\.pw\.1\.", "separable_conv.4."),
               (r"^layers\.(\d+)\.pw\.", r"mb_module.\1.conv1."), (r"^layers\.(\d+)\.pw_bn\.", r"mb_module.\1.bn1."),
               (r"^layers\.(\d+)\.dw\.", r"mb_module.\1.conv2."), (r"^layers\.(\d+)\.dw_bn\.", r"mb_module.\1.bn2."),
               (r"^layers\.(\d+)\.pwl\.", r"mb_module.\1.conv3."), (r"^layers\.(\d+)\.pwl_bn\.", r"mb_module.\1.bn3."),
               (r"^layers\.(\d+)\.se\.reduce\.", r"mb_module.\1.mid_se.squeeze_conv."),
               (r"^layers\.(\d+)\.se\.expand\.", r"mb_module.\1.mid_se.excite_conv."),
               (r"^head\.0\.", "conv_before_pooling.0."), (r"^head\.1\.", "conv_before_pooling.1."),
               (r"^classifier\.", "classifier.1." if model.space_name == "fairnas" else "classifier.")]
    out = {}
    for k, v in model.state_dict().items():
        for pat, rep in reverse:
            if re.search(pat, k):
                out[re.sub(pat, rep, k)] = v.clone()
                break
        else:  # pragma: no cover - every key of MobileNetwork has a rule
            raise KeyError(k)
    return {"model_state": out}
