"""The one multiply-add rule every network counter uses (DARTS, MobileNet spaces, their cost tables)."""

from __future__ import annotations

import torch
from torch import nn


def layer_madds(m: nn.Module, out: torch.Tensor) -> int:
    """Multiply-adds per sample of one layer's forward: a conv costs k*k*C_in/groups per output element (depthwise
    convs included by that rule), a linear layer in_features per output; anything else 0."""
    per = out[0].numel()
    if isinstance(m, nn.Conv2d):
        return per * m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
    if isinstance(m, nn.Linear):
        return per * m.in_features
    return 0
