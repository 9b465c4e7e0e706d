"""Inherited-weight evaluation of architectures in a trained supernet.

BN handling is explicit (``bn_mode``), because it changes rankings:

* ``recalibrate`` (default): before each architecture, every BatchNorm's running statistics are reset and re-estimated
  (cumulative average) on ``calib_batches`` fixed, un-augmented training batches; then the architecture is evaluated
  in eval mode.
* ``train``: evaluate with batch statistics (model in train mode, no update of weights).
* ``running``: use the running statistics accumulated during supernet training, as they are.

The score (``score``) is the accuracy (%) on the validation images (the default), or the one-shot *loss*: minus the
mean cross-entropy, so that higher is better for both (Ning et al., NeurIPS 2021, found the loss ranks better than
the accuracy on NAS-Bench-301). :meth:`InheritedEvaluator.per_image` gives both per image, for studies that score
the same forward passes several ways.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import check_int
from ..errors import ConfigError
from .trainer import GPUBatches

BN_MODES = ("recalibrate", "train", "running")
#: Seed of the fixed order in which the validation images are scored (the same for every run and architecture).
IMAGE_ORDER_SEED = 0
SCORES = ("accuracy", "loss")


@dataclass(frozen=True)
class EvalConfig:
    n_archs: int = 1000
    eval_seed: int = 0
    stratify: bool = False
    bn_mode: str = "recalibrate"
    #: ``accuracy`` (% correct) or ``loss`` (minus the mean cross-entropy) on the validation images.
    score: str = "accuracy"
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
    #: The scoring study (comma-separated BN modes, e.g. ``recalibrate,train,running``; empty = none): after the
    #: search, the evaluation set is scored again once per mode, from the supernet as training left it, and every
    #: architecture's per-image correctness and loss are written to ``scoring_study.npz`` (accuracy vs loss, number
    #: of validation images and BN mode then compare on the same trained supernet; ``benchmarks/oneshot_study.py``).
    study_bn_modes: str = ""

    def __post_init__(self):
        if self.bn_mode not in BN_MODES:
            raise ConfigError(f"bn_mode must be one of {', '.join(BN_MODES)}, got {self.bn_mode!r}.")
        if self.score not in SCORES:
            raise ConfigError(f"score must be one of {', '.join(SCORES)}, got {self.score!r}.")
        for name in ("n_archs", "calib_batch_size", "eval_batch_size", "population", "sample_size", "track_archs"):
            check_int("eval", name, getattr(self, name), 1)
        for name in ("calib_batches", "cycles", "eval_seed", "track_every"):
            check_int("eval", name, getattr(self, name), 0)
        bad = [m for m in self.study_modes if m not in BN_MODES]
        if bad:
            raise ConfigError(f"study_bn_modes: {', '.join(map(repr, bad))} is not a BN mode; use a comma-separated "
                              f"list of {', '.join(BN_MODES)} (or leave it empty).")
        if self.sample_size > self.population:
            raise ConfigError(f"sample_size ({self.sample_size}) cannot exceed population ({self.population}).")


    @property
    def study_modes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.strip() for m in self.study_bn_modes.split(",") if m.strip()))


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

    #: Where the supernet offers ``forward_memo`` (NB201: the stem and the first cell's nodes 1 and 2), :meth:`many`
    #: and :meth:`per_image_many` score the paths in sorted order and compute what consecutive paths share once per
    #: image batch, in calibration and in validation alike: the same numbers (tests), less work. False: every path
    #: from scratch (the reference of the tests and of ``benchmarks/perf_supernet.py``).
    share_prefixes = True

    def __init__(self, model: nn.Module, calib: GPUBatches | None, valid: GPUBatches | None, config: EvalConfig, *,
                 tensors: tuple | None = None):
        """``tensors``: ``(calib_x, valid_x, valid_y)`` already prepared by another evaluator (the same images
        under another configuration), instead of ``calib`` / ``valid``."""
        self.model = model
        self.config = config
        if tensors is not None:
            self.calib_x, self.valid_x, self.valid_y = tensors
        else:
            n_cal = min(len(calib), config.calib_batches * config.calib_batch_size)
            # Pre-normalized once: the same calibration and validation tensors serve every architecture.
            idx = torch.arange(n_cal, device=calib.device)
            self.calib_x = calib.plain(idx)[0] if n_cal else None
            # The validation images in a fixed random order: the image sources are sorted by class (the JPEG copy's
            # train/<class>/NNNN.jpg), so in index order the first k images would hold only the first classes (the
            # scoring study's image counts) and a batch of them (training-mode BN) the statistics of two or three.
            # In eval mode each image's output does not depend on its neighbours: accuracies are the same either way.
            order = torch.from_numpy(np.random.default_rng(IMAGE_ORDER_SEED).permutation(len(valid)))
            self.valid_x, self.valid_y = valid.plain(order.to(valid.device))
        self.momenta = {m: m.momentum for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
        self.n_evaluated = 0

    def _batches(self, x: torch.Tensor, bs: int):
        for i in range(0, len(x), bs):
            yield i, x[i:i + bs]

    def _forward(self, xb: torch.Tensor, path: Sequence[int], memos: dict | None, phase: str, i: int):
        """The model on the batch starting at image ``i`` of ``phase`` (``calib`` / ``valid``); with ``memos`` (from
        :meth:`_in_shared_order`), through the model's ``forward_memo`` with that batch's memo."""
        if memos is None:
            return self.model(xb, path)
        return self.model.forward_memo(xb, path, memos[phase].setdefault(i, {}))

    def _prepare(self, path: Sequence[int], memos: dict | None = None) -> None:
        """BN as ``bn_mode`` says, for ``path``: recalibrated on the calibration images, batch statistics, or the
        running statistics as they are; leaves the model in the mode the validation pass needs."""
        model, cfg = self.model, self.config
        with torch.inference_mode():
            if cfg.bn_mode == "recalibrate" and self.calib_x is not None:
                _reset_bn(model)
                model.train()
                for i, xb in self._batches(self.calib_x, cfg.calib_batch_size):
                    self._forward(xb, path, memos, "calib", i)
        model.train(cfg.bn_mode == "train")

    def accuracy(self, path: Sequence[int], memos: dict | None = None) -> float:
        """Inherited-weight accuracy (%) of ``path`` on the validation images."""
        self._prepare(path, memos)
        correct = 0
        with torch.inference_mode():
            for i, xb in self._batches(self.valid_x, self.config.eval_batch_size):
                logits = self._forward(xb, path, memos, "valid", i)
                correct += int((logits.argmax(1) == self.valid_y[i:i + len(xb)]).sum())
        self.n_evaluated += 1
        return 100.0 * correct / len(self.valid_y)

    def per_image(self, path: Sequence[int], memos: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per validation image: whether ``path`` classifies it correctly, and its cross-entropy (float64), from one
        validation pass after the BN preparation. With ``bn_mode="train"`` an image's output depends on the other
        images of its batch (``eval_batch_size``)."""
        self._prepare(path, memos)
        correct, losses = [], []
        with torch.inference_mode():
            for i, xb in self._batches(self.valid_x, self.config.eval_batch_size):
                logits = self._forward(xb, path, memos, "valid", i)
                yb = self.valid_y[i:i + len(xb)]
                correct.append((logits.argmax(1) == yb).cpu().numpy())
                losses.append(F.cross_entropy(logits.double(), yb, reduction="none").cpu().numpy())
        self.n_evaluated += 1
        return np.concatenate(correct), np.concatenate(losses)

    def score_of(self, correct: np.ndarray, losses: np.ndarray) -> float:
        """The configured score from :meth:`per_image`'s arrays (equal to :meth:`score` of the same pass)."""
        if self.config.score == "accuracy":
            return 100.0 * int(correct.sum()) / len(correct)
        return -float(losses.mean())

    def per_image_many(self, paths: Sequence[Sequence[int]], progress: Callable[[int, int], None] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`per_image` of every path, stacked: correctness (uint8) and cross-entropy (float32), both
        [paths, images]."""
        both = self._in_shared_order(paths, self.per_image, progress)
        return (np.stack([c.astype(np.uint8) for c, _ in both]), np.stack([lo.astype(np.float32) for _, lo in both]))

    def _in_shared_order(self, paths: Sequence[Sequence[int]], one, progress) -> list:
        """``one(path, memos)`` of every path, in ``paths``' order. Where the model offers ``forward_memo`` (and
        :attr:`share_prefixes`), the paths are scored in sorted order with one memo per image batch, so that what
        consecutive paths share is computed once; the scores are the same (BN is re-estimated per arch)."""
        memos, order = None, range(len(paths))
        if self.share_prefixes and hasattr(self.model, "forward_memo") and len(paths) > 1:
            memos = {"calib": {}, "valid": {}}
            order = sorted(order, key=lambda k: tuple(paths[k]))
        out = [None] * len(paths)
        for done, k in enumerate(order, 1):
            out[k] = one(paths[k], memos)
            if progress:
                progress(done, len(paths))
        return out

    def score(self, path: Sequence[int], memos: dict | None = None) -> float:
        """The configured score of ``path`` (higher is better): accuracy (%) or minus the mean cross-entropy."""
        if self.config.score == "accuracy":
            return self.accuracy(path, memos)
        return self.score_of(*self.per_image(path, memos))

    def bn_state(self) -> dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """A copy of every BatchNorm's running statistics (to put back with :meth:`load_bn_state`)."""
        return {id(m): (m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
                for m in self.momenta}

    def load_bn_state(self, saved: dict) -> None:
        with torch.no_grad():
            for m in self.momenta:
                mean, var, count = saved[id(m)]
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)

    def restore(self) -> None:
        """Put BN momenta back (recalibration sets them to cumulative averaging)."""
        for m, mom in self.momenta.items():
            m.momentum = mom

    def side_effect_free(self, paths: Sequence[Sequence[int]]) -> np.ndarray:
        """Scores of ``paths`` that leave the model exactly as found (BN running statistics and momenta restored):
        for measuring the supernet in the middle of training."""
        saved = self.bn_state()
        n = self.n_evaluated
        try:
            return self.many(paths)
        finally:
            self.restore()
            self.n_evaluated = n
            self.load_bn_state(saved)

    def many(self, paths: Sequence[Sequence[int]], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        return np.array(self._in_shared_order(paths, self.score, progress), dtype=float)


def scoring_study(path, evaluator: InheritedEvaluator, trained_bn: dict, paths: list, indices: np.ndarray,
                  progress: Callable[[int, int], None] | None = None, known: dict | None = None):
    """Score ``paths`` once per BN mode of the evaluator's ``study_modes``, each from the supernet's BN statistics
    as training left them (``trained_bn``), and write every architecture's per-image correctness and cross-entropy
    to ``path`` (``index``, ``modes``, ``correct_<mode>`` uint8 and ``loss_<mode>`` float32, both [archs, images]):
    the raw material of the scoring-choices table (:func:`nasharness.weightsharing.scoring.scoring_rows`).
    ``known``: modes already scored (mode -> :meth:`InheritedEvaluator.per_image_many` of the same paths, from the
    same trained state). Afterwards the supernet's BN statistics and momenta are as training left them."""
    import dataclasses  # noqa: PLC0415

    from ..io import atomic_write  # noqa: PLC0415

    e = evaluator.config
    arrays: dict[str, np.ndarray] = {"index": np.asarray(indices, dtype=np.int64),
                                     "modes": np.array(e.study_modes)}
    known = known or {}
    todo = [m for m in e.study_modes if m not in known]
    for k, mode in enumerate(todo):
        evaluator.load_bn_state(trained_bn)
        ev = InheritedEvaluator(evaluator.model, None, None, dataclasses.replace(e, bn_mode=mode),
                                tensors=(evaluator.calib_x, evaluator.valid_x, evaluator.valid_y))
        known[mode] = ev.per_image_many(
            paths, progress=(lambda d, t, k=k: progress(k * t + d, len(todo) * t)) if progress else None)
        ev.restore()
    for mode in e.study_modes:
        arrays[f"correct_{mode}"], arrays[f"loss_{mode}"] = known[mode]
    evaluator.load_bn_state(trained_bn)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    atomic_write(path, write)
    return path
