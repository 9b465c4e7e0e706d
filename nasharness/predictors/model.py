"""A small CNN over encoding tensors, trained with the relativistic pairwise loss (ReNAS) or MSE (baseline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import check_int, check_number
from ..errors import ConfigError

LOSSES = ("pairwise", "mse")


@dataclass(frozen=True)
class PredictorConfig:
    epochs: int = 150
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    width: int = 32
    train_ratio: float | None = 0.01
    train_size: int | None = None

    def __post_init__(self):
        for name in ("epochs", "batch_size", "width"):
            check_int("predictor", name, getattr(self, name), 1)
        for name in ("lr", "weight_decay"):
            check_number("predictor", name, getattr(self, name))
        if self.train_ratio is not None and not 0 < self.train_ratio < 1:
            raise ConfigError(f"train_ratio must lie in (0, 1), got {self.train_ratio!r}; e.g. --set train_ratio=0.01.")
        if self.train_size is not None:
            check_int("predictor", "train_size", self.train_size, 2)
        if self.train_ratio is None and self.train_size is None:
            raise ConfigError("set train_ratio or train_size.")


class RankCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU layers over the V x V feature maps, global average pool, linear score."""

    def __init__(self, in_channels: int, width: int = 32):
        super().__init__()
        layers, c = [], in_channels
        for w in (width, 2 * width, 2 * width):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(c, 1)

    def forward(self, x):
        return self.score(self.features(x).mean((2, 3))).squeeze(1)


def pairwise_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Relativistic ranking loss: for every pair with different labels, logistic loss on the score difference in the
    direction of the true order, log(1 + exp(-(s_i - s_j) * sign(y_i - y_j))). Pairs with equal labels are skipped."""
    sign = torch.sign(labels[:, None] - labels[None, :])
    diff = scores[:, None] - scores[None, :]
    mask = sign != 0
    if not mask.any():
        return scores.sum() * 0.0
    return F.softplus(-(diff * sign)[mask]).mean()


def mse_loss(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(scores, labels)


class Predictor:
    """Standardizes inputs with training statistics, fits the CNN, predicts scores (higher = better)."""

    def __init__(self, in_channels: int, config: PredictorConfig, loss: str, seed: int):
        if loss not in LOSSES:
            raise ConfigError(f"unknown predictor loss {loss!r}; valid: {', '.join(LOSSES)}.")
        self.config, self.loss = config, loss
        self.gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.model = RankCNN(in_channels, config.width)
        self.mean = self.std = None
        self.y_mean, self.y_std = 0.0, 1.0
        self.history: list[float] = []

    def _norm(self, x: np.ndarray) -> torch.Tensor:
        return (torch.from_numpy(x) - self.mean) / self.std

    def fit(self, x: np.ndarray, y: np.ndarray) -> Predictor:
        xt = torch.from_numpy(x)
        self.mean = xt.mean((0, 2, 3), keepdim=True)
        self.std = xt.std((0, 2, 3), keepdim=True).clamp_min(1e-6)
        self.y_mean, self.y_std = float(np.mean(y)), float(np.std(y) or 1.0)
        xs = self._norm(x)
        ys = torch.from_numpy(((y - self.y_mean) / self.y_std).astype(np.float32))
        fn = pairwise_loss if self.loss == "pairwise" else mse_loss
        opt = torch.optim.Adam(self.model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, self.config.epochs)
        bs = min(self.config.batch_size, len(ys))
        self.model.train()
        for _ in range(self.config.epochs):
            order = torch.randperm(len(ys), generator=self.gen)
            total = 0.0
            for i in range(0, len(ys) - bs + 1, bs):  # drop the ragged tail (BN needs > 1 sample)
                idx = order[i:i + bs]
                loss = fn(self.model(xs[idx]), ys[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach())
            sched.step()
            self.history.append(total)
        return self

    def predict(self, x: np.ndarray, batch: int = 4096) -> np.ndarray:
        self.model.eval()
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                out.append(self.model(self._norm(x[i:i + batch])).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)
