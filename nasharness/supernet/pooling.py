"""A faster 3x3 average pool (stride 1, padding 1, padding excluded) with bit-identical forward and backward.

PyTorch's CPU kernel vectorizes over channels, so with few channels (NB201's first stage at C=8: one 8-float vector
per pixel) it is the slowest op of a supernet step: ``benchmarks/perf_roofline.py`` found pooling 37% of an
inherited-weight validation pass at C=8, N=1. Here the pool is nine shifted whole-tensor adds and one division.

Bit-identical, not just close: the native kernel sums a window's valid inputs in raster order (row by row, left to
right) starting from zero and divides by their count; the forward below adds the nine shifted views of the
zero-padded input in the same order (adding a padded zero changes no bit) and divides by the same counts. The
native backward adds ``grad_out / count`` of every output to the inputs of its window, outputs in raster order; the
backward below adds the nine shifted views of the padded ``grad_out / count`` in that order. ``tests/unit`` checks
both against ``F.avg_pool2d`` for both memory formats, and the double backward (GraSP) numerically.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

#: Below this many channels the shifted adds beat the native kernel (measured: 3.4x faster forward at 8 channels,
#: 32x32; slower from 16 channels at 16x16); at or above it the native kernel runs (same numbers either way).
FAST_BELOW_CHANNELS = 16


def _valid_counts(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """[1, 1, h, w]: how many of each 3x3 window's inputs lie inside the image (4, 6 or 9), as ``like``'s dtype."""

    def inside(n: int) -> torch.Tensor:  # per position along one axis: the window's rows (columns) in 0..n-1
        i = torch.arange(n, device=like.device)
        return ((i + 1).clamp(max=n - 1) - (i - 1).clamp(min=0) + 1).to(like.dtype)

    return (inside(h)[:, None] * inside(w)[None, :])[None, None]


def _shifted_sum(padded: torch.Tensor, h: int, w: int, offsets) -> torch.Tensor:
    acc = None
    for dh, dw in offsets:
        view = padded[:, :, dh:dh + h, dw:dw + w]
        acc = view.clone(memory_format=torch.preserve_format) if acc is None else acc.add_(view)
    return acc


#: The views' offsets into the padded tensor, in raster order. Forward: output (i, j) adds inputs (i-1, j-1),
#: (i-1, j), ... (i+1, j+1). Backward: input (i, j) receives from outputs (i-1, j-1), ... (i+1, j+1) in the native
#: kernel's raster order over outputs; in the padded gradient those sit at the same offsets.
_OFFSETS = [(dh, dw) for dh in range(3) for dw in range(3)]


class _AvgPool3x3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        h, w = x.shape[-2:]
        counts = _valid_counts(h, w, x)
        ctx.save_for_backward(counts)
        return _shifted_sum(F.pad(x, (1, 1, 1, 1)), h, w, _OFFSETS).div_(counts)

    @staticmethod
    def backward(ctx, grad):
        (counts,) = ctx.saved_tensors
        h, w = grad.shape[-2:]
        return _shifted_sum(F.pad(grad / counts, (1, 1, 1, 1)), h, w, _OFFSETS)


def avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """``F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)``, bit for bit, faster with few channels."""
    if x.dim() == 4 and x.shape[1] < FAST_BELOW_CHANNELS and x.dtype in (torch.float32, torch.float64):
        return _AvgPool3x3.apply(x)
    return F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


class AvgPool3x3(nn.AvgPool2d):
    """``nn.AvgPool2d(3, 1, 1, count_include_pad=False)`` (it still is one, for code that inspects modules) running
    :func:`avg_pool_3x3`."""

    def __init__(self):
        super().__init__(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x):
        return avg_pool_3x3(x)
