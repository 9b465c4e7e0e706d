"""The architecture side of differentiable search (DARTS, Fair DARTS): :class:`ArchConfig`, the :class:`Architect`
(the shared trainer's step hook: one Adam step on the architecture parameters before each weight step; first or
second order) and :class:`WeightsSampler` (the trainer's "path" is the current architecture weights)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..config import check_int, check_number
from ..errors import ConfigError
from .trainer import GPUBatches


@dataclass(frozen=True)
class ArchConfig:
    """The architecture side of differentiable search. ``layers``: cells of the DARTS-space search network (the
    NB201 supernet's shape is ``channels`` x ``cells_per_stage`` of the supernet config)."""

    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    #: 1: first-order DARTS (architecture gradient at the current weights); 2: the unrolled second-order step.
    order: int = 1
    #: Weight of Fair DARTS' zero-one loss (0 for DARTS).
    zero_one_weight: float = 0.0
    #: Fair DARTS' edge threshold (DARTS space).
    threshold: float = 0.85
    layers: int = 8
    init_scale: float = 1e-3

    def __post_init__(self):
        for name in ("arch_lr", "arch_weight_decay", "zero_one_weight", "init_scale"):
            check_number("arch", name, getattr(self, name))
        for name in ("arch_beta1", "arch_beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"arch {name} must be in [0, 1), got {getattr(self, name)!r}.")
        if self.order not in (1, 2):
            raise ConfigError(f"arch order must be 1 (first-order DARTS) or 2 (unrolled), got {self.order!r}.")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"arch threshold must be in (0, 1), got {self.threshold!r}; Fair DARTS uses 0.85.")
        check_int("arch", "layers", self.layers, 3, 64)


def zero_one_loss(weights: torch.Tensor) -> torch.Tensor:
    """Fair DARTS' zero-one loss of sigmoid weights: ``-mean((w - 0.5)^2)``; minimal when every weight is 0 or 1."""
    return -((weights - 0.5) ** 2).mean()


class Architect:
    """The architecture parameters, their Adam optimizer, and the per-step update (the trainer's step hook)."""

    def __init__(self, model, shapes: list[tuple[int, int]], activation: str, cfg: ArchConfig, valid: GPUBatches,
                 batch_size: int, seed: int, device):
        gen = torch.Generator().manual_seed(seed)
        self.alphas = [(cfg.init_scale * torch.randn(s, generator=gen)).to(device).requires_grad_() for s in shapes]
        self.activation = activation
        self.cfg = cfg
        self.model = model
        self.valid = valid
        self.batch_size = min(batch_size, len(valid))
        self.opt = torch.optim.Adam(self.alphas, lr=cfg.arch_lr, betas=(cfg.arch_beta1, cfg.arch_beta2),
                                    weight_decay=cfg.arch_weight_decay)
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.order = torch.randperm(len(valid), generator=self.gen)
        self.pos = 0
        self.snapshots: list[list] = []  # per epoch: the activated weights (nested lists)
        self.steps = 0

    # the weights the network sees
    def weights(self) -> list[torch.Tensor]:
        if self.activation == "softmax":
            return [torch.softmax(a, dim=-1) for a in self.alphas]
        return [torch.sigmoid(a) for a in self.alphas]

    def forward_weights(self):
        w = self.weights()
        return w[0] if len(w) == 1 else tuple(w)

    def numpy_weights(self) -> list[np.ndarray]:
        with torch.no_grad():
            return [w.detach().cpu().double().numpy() for w in self.weights()]

    def _valid_batch(self):
        if self.pos + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.valid), generator=self.gen)
            self.pos = 0
        idx = self.order[self.pos:self.pos + self.batch_size].to(self.valid.device)
        self.pos += self.batch_size
        return self.valid.augmented(idx, self.gen)

    def arch_loss(self, x, y) -> torch.Tensor:
        w = self.forward_weights()
        loss = F.cross_entropy(self.model(x, w), y)
        if self.cfg.zero_one_weight:
            loss = loss + self.cfg.zero_one_weight * torch.stack(
                [zero_one_loss(torch.sigmoid(a)) for a in self.alphas]).mean()
        return loss

    def before_step(self, xb, yb, trainer) -> None:
        xv, yv = self._valid_batch()
        if self.cfg.order == 1:
            grads = torch.autograd.grad(self.arch_loss(xv, yv), self.alphas)
        else:
            grads = self._unrolled_grads(xb, yb, xv, yv, trainer.scheduler.get_last_lr()[0],
                                         trainer.config.weight_decay)
        for a, g in zip(self.alphas, grads, strict=True):
            a.grad = g.detach()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.steps += 1

    def _unrolled_grads(self, xb, yb, xv, yv, xi: float, wd: float):
        """DARTS' second-order architecture gradient (eq. 7-8): grad_a L_val(w', a) - xi * (grad_a L_train(w+, a) -
        grad_a L_train(w-, a)) / (2 eps), with w' = w - xi * (grad_w L_train(w, a) + wd * w) and
        w+- = w +- eps * grad_w' L_val(w', a), eps = 0.01 / ||grad_w' L_val||."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        w = self.forward_weights()
        g_train = torch.autograd.grad(F.cross_entropy(self.model(xb, w), yb), params, allow_unused=True)
        backup = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, g in zip(params, g_train, strict=True):
                p.sub_(xi * ((g if g is not None else 0.0) + wd * p))
        loss = self.arch_loss(xv, yv)
        out = torch.autograd.grad(loss, self.alphas + params, allow_unused=True)
        g_alpha, g_w = list(out[:len(self.alphas)]), out[len(self.alphas):]
        g_w = [g if g is not None else torch.zeros_like(p) for g, p in zip(g_w, params, strict=True)]
        eps = 0.01 / (torch.sqrt(sum((g ** 2).sum() for g in g_w)) + 1e-12)
        hess = []
        for sign in (+1, -1):
            with torch.no_grad():
                for p, b, g in zip(params, backup, g_w, strict=True):
                    p.copy_(b + sign * eps * g)
            hess.append(torch.autograd.grad(F.cross_entropy(self.model(xb, self.forward_weights()), yb),
                                            self.alphas))
        with torch.no_grad():
            for p, b in zip(params, backup, strict=True):
                p.copy_(b)
        return [ga - xi * (hp - hm) / (2 * eps) for ga, hp, hm in zip(g_alpha, hess[0], hess[1], strict=True)]

    # checkpointing (weights_only-safe: tensors and plain containers)
    def state_dict(self) -> dict:
        return {"alphas": [a.detach().cpu() for a in self.alphas], "opt": self.opt.state_dict(),
                "gen": self.gen.get_state(), "order": self.order.cpu(), "pos": self.pos, "snapshots": self.snapshots,
                "steps": self.steps}

    def load_state_dict(self, blob: dict) -> None:
        with torch.no_grad():
            for a, saved in zip(self.alphas, blob["alphas"], strict=True):
                a.copy_(saved.to(a.device))
        self.opt.load_state_dict(blob["opt"])
        self.gen.set_state(blob["gen"])
        self.order, self.pos = blob["order"], int(blob["pos"])
        self.snapshots, self.steps = list(blob["snapshots"]), int(blob["steps"])


class WeightsSampler:
    """The trainer's 'path' for a differentiable method: the current architecture weights (no gradient into them
    from the weight step)."""

    name = "mixed"

    def __init__(self, architect: Architect):
        self.architect = architect

    def sample_paths(self, rng):
        w = [x.detach() for x in self.architect.weights()]
        return [w[0] if len(w) == 1 else tuple(w)]
