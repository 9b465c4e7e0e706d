"""Inherited-weight evaluation of architectures in a trained supernet.

BN handling is explicit (``bn_mode``), because it changes rankings:

* ``recalibrate`` (default): before each architecture, every BatchNorm's running statistics are reset and re-estimated
  (cumulative average) on ``calib_batches`` fixed, un-augmented training batches; then the architecture is evaluated
  in eval mode.
* ``train``: evaluate with batch statistics (model in train mode, no update of weights).
* ``running``: use the running statistics accumulated during supernet training, as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..config import check_int
from ..errors import ConfigError
from .trainer import GPUBatches

BN_MODES = ("recalibrate", "train", "running")


@dataclass(frozen=True)
class EvalConfig:
    n_archs: int = 1000
    eval_seed: int = 0
    stratify: bool = False
    bn_mode: str = "recalibrate"
    calib_batches: int = 10
    calib_batch_size: int = 256
    eval_batch_size: int = 1000
    population: int = 50
    sample_size: int = 10
    cycles: int = 450
    #: Ranking quality during training: every ``track_every`` epochs (0 = never) the first ``track_archs`` archs of
    #: the evaluation set are scored and their Kendall tau logged (the KT-vs-epoch curve); training is unaffected.
    track_every: int = 0
    track_archs: int = 20

    def __post_init__(self):
        if self.bn_mode not in BN_MODES:
            raise ConfigError(f"bn_mode must be one of {', '.join(BN_MODES)}, got {self.bn_mode!r}.")
        for name in ("n_archs", "calib_batch_size", "eval_batch_size", "population", "sample_size", "track_archs"):
            check_int("eval", name, getattr(self, name), 1)
        for name in ("calib_batches", "cycles", "eval_seed", "track_every"):
            check_int("eval", name, getattr(self, name), 0)
        if self.sample_size > self.population:
            raise ConfigError(f"sample_size ({self.sample_size}) cannot exceed population ({self.population}).")


def eval_set(truth: np.ndarray, n: int, seed: int, stratify: bool = False) -> np.ndarray:
    """A fixed evaluation set: ``n`` distinct indices drawn with ``seed``; stratified = equal counts from ``n``
    (at most 10) quantile bins of the truth, so the top of the ranking is represented. Sorted."""
    pool = np.flatnonzero(np.isfinite(truth))
    if n > len(pool):
        raise ConfigError(f"eval set of {n} architectures requested but only {len(pool)} are labeled; lower n_archs.")
    rng = np.random.default_rng(seed)
    if not stratify or n >= len(pool):
        return np.sort(rng.choice(pool, n, replace=False))
    bins = min(10, n)
    edges = np.quantile(truth[pool], np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, truth[pool], side="right") - 1, 0, bins - 1)
    per = [n // bins + (1 if b < n % bins else 0) for b in range(bins)]
    chosen = [rng.choice(pool[which == b], min(k, int((which == b).sum())), replace=False) for b, k in enumerate(per)]
    out = np.concatenate(chosen)
    if len(out) < n:  # a bin ran short (ties): top up uniformly
        rest = np.setdiff1d(pool, out)
        out = np.concatenate([out, rng.choice(rest, n - len(out), replace=False)])
    return np.sort(out)


def _reset_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over the calibration batches


class InheritedEvaluator:
    """Accuracy (%) of architectures with weights inherited from the supernet."""

    def __init__(self, model: nn.Module, calib: GPUBatches, valid: GPUBatches, config: EvalConfig):
        self.model = model
        self.config = config
        n_cal = min(len(calib), config.calib_batches * config.calib_batch_size)
        # Pre-normalized once: the same calibration and validation tensors serve every architecture.
        idx = torch.arange(n_cal, device=calib.device)
        self.calib_x = calib.plain(idx)[0] if n_cal else None
        self.valid_x, self.valid_y = valid.plain(torch.arange(len(valid), device=valid.device))
        self.momenta = {m: m.momentum for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        self.n_evaluated = 0

    def _batches(self, x: torch.Tensor, bs: int):
        for i in range(0, len(x), bs):
            yield i, x[i:i + bs]

    def accuracy(self, path: Sequence[int]) -> float:
        model, cfg = self.model, self.config
        with torch.inference_mode():
            if cfg.bn_mode == "recalibrate" and self.calib_x is not None:
                _reset_bn(model)
                model.train()
                for _, xb in self._batches(self.calib_x, cfg.calib_batch_size):
                    model(xb, path)
        model.train(cfg.bn_mode == "train")
        correct = 0
        with torch.inference_mode():
            for i, xb in self._batches(self.valid_x, cfg.eval_batch_size):
                correct += int((model(xb, path).argmax(1) == self.valid_y[i:i + len(xb)]).sum())
        self.n_evaluated += 1
        return 100.0 * correct / len(self.valid_y)

    def restore(self) -> None:
        """Put BN momenta back (recalibration sets them to cumulative averaging)."""
        for m, mom in self.momenta.items():
            m.momentum = mom

    def side_effect_free(self, paths: Sequence[Sequence[int]]) -> np.ndarray:
        """Scores of ``paths`` that leave the model exactly as found (BN running statistics and momenta restored):
        for measuring the supernet in the middle of training."""
        saved = {id(m): (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
                 for m in self.momenta}
        n = self.n_evaluated
        try:
            return self.many(paths)
        finally:
            self.restore()
            self.n_evaluated = n
            with torch.no_grad():
                for m in self.momenta:
                    mean, var, count = saved[id(m)]
                    m.running_mean.copy_(mean)
                    m.running_var.copy_(var)
                    m.num_batches_tracked.copy_(count)

    def many(self, paths: Sequence[Sequence[int]], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        out = np.empty(len(paths))
        for k, p in enumerate(paths):
            out[k] = self.accuracy(p)
            if progress:
                progress(k + 1, len(paths))
        return out

