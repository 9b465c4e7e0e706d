"""Data-parallel supernet training across processes (``torchrun``; gloo on CPU, NCCL on GPUs).

What stays exactly as in one process with the same global batch:

* **Paths.** Every rank seeds its sampler from the same seed, so all ranks draw the same paths (FairNAS's permutation
  included) at every step; no communication is needed for them.
* **Data.** Every rank draws the same global batch order and augmentation, then keeps its contiguous shard
  (``batch_size / world`` images).
* **Gradients.** Each rank back-propagates its shard through each of the step's m paths, accumulating locally; then
  the accumulated gradients are all-reduced **once** per step (one flat buffer) and divided by the world size — the
  mean of equal-sized shard means is the global-batch mean. We call ``torch.distributed`` directly rather than wrapping
  the model in ``DistributedDataParallel``: DDP's reducer expects one forward/backward per synchronisation and a fixed
  set of used parameters, while a fair step runs m different paths before its single update.
* **BatchNorm.** Statistics are computed over the global batch (a differentiable all-reduce of per-channel sums), so
  training-mode BN is the single-process function, not a per-shard approximation.

Evaluation (inherited weights, BN recalibration) runs under ``inference_mode`` without communication.
"""

from __future__ import annotations

import os

import torch
from torch import nn


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) when no process group is initialised."""
    import torch.distributed as dist  # noqa: PLC0415

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def active() -> bool:
    return world()[1] > 1


def init_from_env(device: torch.device) -> bool:
    """Join the process group described by ``torchrun``'s environment (``WORLD_SIZE`` > 1); gloo on CPU, NCCL on
    CUDA. Returns True when running distributed."""
    import torch.distributed as dist  # noqa: PLC0415

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend)
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_world_size() > 1


def sync_batch_norm(x: torch.Tensor, running_mean, running_var, weight, bias, factor: float,
                    eps: float) -> torch.Tensor:
    """Training-mode batch norm with statistics over every rank's batch (biased variance for normalising, unbiased
    for the running estimate, as ``nn.BatchNorm2d``). Differentiable through the all-reduce."""
    import torch.distributed.nn.functional as dist_nn  # noqa: PLC0415

    c = x.shape[1]
    n = float(x.numel() // c * world()[1])  # equal shards
    # two passes in float64: the mean, then the squared deviations (no E[x^2] - mean^2 cancellation)
    mean = (dist_nn.all_reduce(x.double().sum((0, 2, 3))) / n).to(x.dtype)
    dev = x - mean[None, :, None, None]
    var = (dist_nn.all_reduce((dev.double() ** 2).sum((0, 2, 3))) / n).to(x.dtype)
    if running_mean is not None:
        with torch.no_grad():
            running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
            running_var.mul_(1 - factor).add_(var.detach() * (n / (n - 1)), alpha=factor)
    y = dev * torch.rsqrt(var + eps)[None, :, None, None]
    if weight is not None:
        y = y * weight[None, :, None, None] + bias[None, :, None, None]
    return y


def bn_factor(bn: nn.modules.batchnorm._BatchNorm) -> float:
    """The running-average factor ``nn.BatchNorm2d`` would use now (and count the batch, as it does)."""
    factor = 0.0
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    return factor


def wants_sync(bn: nn.Module) -> bool:
    return bn.training and torch.is_grad_enabled() and active()


class SyncBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training-mode statistics span all ranks (CPU/gloo too); identical otherwise."""

    def forward(self, x):
        if not wants_sync(self):
            return super().forward(x)
        return sync_batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, bn_factor(self),
                               self.eps)


def convert_batch_norm(model: nn.Module) -> nn.Module:
    """Make every plain BatchNorm2d of ``model`` a :class:`SyncBatchNorm2d` in place (same parameters and buffers)."""
    for m in model.modules():
        if type(m) is nn.BatchNorm2d:
            m.__class__ = SyncBatchNorm2d
    return model


def all_reduce_grads(params: list[nn.Parameter], world_size: int) -> None:
    """Average the accumulated gradients over ranks with one all-reduce of one flat buffer. Parameters without a
    gradient (ops no path used this step) are the same on every rank, since the paths are; they are skipped."""
    import torch.distributed as dist  # noqa: PLC0415

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
