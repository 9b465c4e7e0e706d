"""The MobileNetV2-like ImageNet search spaces of FairNAS and SCARLET-NAS, and their published models.

Macro skeleton (both papers; layer table from the authors' released model definitions, re-typed here): stem conv3x3
stride 2 to 32 channels (BN, ReLU6); a depthwise-separable conv to 16 channels; 19 searchable inverted-residual
layers; a 1x1 conv to 1280 channels (BN, ReLU6); global average pooling; a linear classifier (FairNAS with dropout 0.2
before it). The 19 layers' output channels and strides are fixed:

====  =================================================================
layer  0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15  16  17  18
out   32  32  40  40  40  40  80  80  80  80  96  96  96  96 192 192 192 192 320
stride 2   1   2   1   1   1   2   1   1   1   1   1   1   1   2   1   1   1   1
====  =================================================================

* FairNAS space: every layer chooses an inverted-residual block with kernel 3/5/7 and expansion 3/6 (6 choices;
  ReLU6 activations). 6^19 = 6.1e14 models.
* SCARLET space: kernel 3/5/7 x expansion 3/6 x squeeze-and-excitation on/off (12 choices; h-swish activations, SE
  on the expanded features with reduction 4, ReLU then h-sigmoid), plus an *identity* choice in the 13 layers that
  keep resolution and width (not the first layer of a stage, not layer 10 or 18 where the width changes), so the depth
  varies. During supernet training the identity is SCARLET's linearly equivalent transformation (a learnable 1x1
  conv without BN or ReLU).

A choice is written ``k<kernel>e<expansion>`` with ``_se`` for squeeze-and-excitation, or ``id``; an architecture is
the 19 choices joined by ``-`` (e.g. ``k7e3-k3e3-...``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError

CHANNELS = (32, 32, 40, 40, 40, 40, 80, 80, 80, 80, 96, 96, 96, 96, 192, 192, 192, 192, 320)
STRIDES = (2, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1)
STEM, FIRST, LAST = 32, 16, 1280
N_LAYERS = len(CHANNELS)


def in_channels(layer: int) -> int:
    return FIRST if layer == 0 else CHANNELS[layer - 1]


def identity_allowed(layer: int) -> bool:
    return STRIDES[layer] == 1 and in_channels(layer) == CHANNELS[layer]


@dataclass(frozen=True)
class Block:
    kernel: int = 3
    expansion: int = 3
    se: bool = False
    identity: bool = False

    def __str__(self) -> str:
        return "id" if self.identity else f"k{self.kernel}e{self.expansion}" + ("_se" if self.se else "")

    @classmethod
    def parse(cls, text: str) -> Block:
        t = text.strip()
        if t == "id":
            return cls(identity=True)
        se = t.endswith("_se")
        core = t[:-3] if se else t
        try:
            if core[0] != "k" or "e" not in core:
                raise ValueError
            k, e = core[1:].split("e")
            return cls(int(k), int(e), se)
        except ValueError:
            raise UserError(f"bad block {text!r}: write k<kernel>e<expansion> (e.g. k5e6), with _se for "
                            f"squeeze-and-excitation, or id for the identity.") from None


FAIRNAS_CHOICES = tuple(Block(k, e) for k in (3, 5, 7) for e in (3, 6))
SCARLET_CHOICES = tuple(Block(k, e, se) for k in (3, 5, 7) for e in (3, 6) for se in (False, True))


@dataclass(frozen=True)
class MobileSpace:
    """One of the two spaces: its per-layer choices and the block style (activation, SE form, classifier)."""

    name: str
    activation: str  # "relu6" | "hswish"
    dropout: float
    identity: bool

    def choices(self, layer: int) -> tuple[Block, ...]:
        if self.name == "fairnas":
            return FAIRNAS_CHOICES
        return SCARLET_CHOICES + ((Block(identity=True),) if identity_allowed(layer) else ())

    def choices_per_layer(self) -> list[int]:
        return [len(self.choices(i)) for i in range(N_LAYERS)]

    def parse(self, arch) -> tuple[Block, ...]:
        if isinstance(arch, tuple | list) and all(isinstance(b, Block) for b in arch):
            blocks = tuple(arch)
        elif isinstance(arch, str):
            blocks = tuple(Block.parse(t) for t in arch.split("-"))
        else:
            raise UserError(f"an architecture of the {self.name} space is 19 blocks joined by '-', got {arch!r}.")
        if len(blocks) != N_LAYERS:
            raise UserError(f"an architecture of the {self.name} space has {N_LAYERS} blocks, got {len(blocks)} in "
                            f"{arch!r}.")
        for i, b in enumerate(blocks):
            if b not in self.choices(i):
                raise UserError(f"layer {i} of the {self.name} space cannot be {b} (valid: "
                                f"{', '.join(map(str, self.choices(i)))}).")
        return blocks

    def format(self, blocks) -> str:
        return "-".join(str(b) for b in blocks)

    def from_path(self, path) -> tuple[Block, ...]:
        return tuple(self.choices(i)[int(c)] for i, c in enumerate(path))

    def to_path(self, arch) -> tuple[int, ...]:
        blocks = self.parse(arch)
        return tuple(self.choices(i).index(b) for i, b in enumerate(blocks))

    def sample(self, rng: np.random.Generator) -> str:
        return self.format(self.from_path([rng.integers(n) for n in self.choices_per_layer()]))

    def mutate(self, arch: str, rng: np.random.Generator, p: float = 0.1) -> str:
        """Each layer re-drawn (to a different choice) with probability ``p``; at least one layer changes."""
        path = list(self.to_path(arch))
        n = self.choices_per_layer()
        layers = [i for i in range(N_LAYERS) if rng.random() < p] or [int(rng.integers(N_LAYERS))]
        for i in layers:
            path[i] = int((path[i] + 1 + rng.integers(n[i] - 1)) % n[i])
        return self.format(self.from_path(path))

    def validate(self, arch) -> str:
        return self.format(self.parse(arch))


FAIRNAS = MobileSpace("fairnas", "relu6", 0.2, identity=False)
SCARLET = MobileSpace("scarlet", "hswish", 0.0, identity=True)
SPACES = {"fairnas": FAIRNAS, "scarlet": SCARLET}


def _blocks(rows: list[str]) -> str:
    return "-".join(rows)


#: The published models, as (space, architecture, SE ratio for the FairNAS-SE family or None).
#: FairNAS-A/B/C: Chu et al., FairNAS (ICCV 2021), released models; SCARLET-A/B/C: Chu et al., SCARLET-NAS.
PUBLISHED: dict[str, tuple[str, str]] = {
    "fairnas_a": ("fairnas", _blocks(["k7e3", "k3e3", "k7e3", "k3e6", "k7e6", "k3e3", "k3e3", "k7e6", "k7e6", "k5e3",
                                      "k3e6", "k5e3", "k5e3", "k3e6", "k3e6", "k7e6", "k3e6", "k7e6", "k5e6"])),
    "fairnas_b": ("fairnas", _blocks(["k5e3", "k3e3", "k5e3", "k3e3", "k3e6", "k5e3", "k7e3", "k3e3", "k3e6", "k5e3",
                                      "k3e3", "k3e6", "k7e3", "k3e3", "k7e6", "k5e6", "k7e6", "k3e6", "k5e6"])),
    "fairnas_c": ("fairnas", _blocks(["k5e3", "k3e3", "k7e3", "k3e3", "k3e3", "k3e3", "k3e3", "k3e3", "k3e3", "k3e6",
                                      "k3e3", "k3e3", "k3e3", "k3e3", "k7e6", "k7e6", "k3e6", "k3e6", "k5e6"])),
    "scarlet_a": ("scarlet", _blocks(["k7e3", "k5e6", "k5e3", "k7e3_se", "k3e6_se", "k5e3_se", "k3e6_se", "k3e3",
                                      "k7e3_se", "k7e3", "k5e3", "k7e3_se", "k3e3", "k7e3_se", "k3e6_se", "k5e6_se",
                                      "k3e3_se", "k3e6_se", "k7e6_se"])),
    "scarlet_b": ("scarlet", _blocks(["k3e3_se", "k5e3_se", "k3e3_se", "k7e6_se", "k3e3", "k5e3", "k7e6_se",
                                      "k3e3_se", "id", "k5e3", "k3e3_se", "k3e3_se", "k7e6_se", "k3e3_se", "k5e6_se",
                                      "k5e6_se", "id", "k7e6_se", "k5e6_se"])),
    "scarlet_c": ("scarlet", _blocks(["k5e3_se", "k3e3_se", "k5e3_se", "id", "id", "k3e3", "k7e6_se", "k3e3_se",
                                      "k3e3_se", "k5e3", "k7e3_se", "k7e3", "k3e3_se", "k7e3_se", "k3e3_se", "id",
                                      "k3e6_se", "k7e6_se", "k5e6_se"])),
}


def published(name: str) -> tuple[MobileSpace, tuple[Block, ...]]:
    key = name.strip().lower().replace("-", "_")
    if key not in PUBLISHED:
        raise UserError(f"unknown model {name!r}; valid: {', '.join(PUBLISHED)}.")
    space, arch = PUBLISHED[key]
    return SPACES[space], SPACES[space].parse(arch)
