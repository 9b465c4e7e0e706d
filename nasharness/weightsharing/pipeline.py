"""The one weight-sharing pipeline: set up, train the supernet through the one trainer, then (the method's part)
evaluate and search, and report what every supernet run reports.

One-shot methods (``spos``, ``fairnas``, ``scarlet``) and differentiable ones (``darts``, ``fairdarts``) both run
through :class:`SupernetRun`; they differ by the sampler, the step hook and the scoring. What differs per space lives
in the benchmark's adapter (:mod:`nasharness.weightsharing.nb201`, ``nb101``, ``darts``, ``mobile``), named by the
benchmark's ``weight_sharing`` reference — never chosen by the benchmark's name.

Random streams: the adapter loads the images (its fixed subsets are drawn from their own seeds), then three seeds
are drawn from the run's generator — initialization, training, search — in that order, as they always were.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..contracts import SearchContext
from ..supernet.device import device_name, peak_gpu_mem_mb, resolve_device
from ..supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer


@dataclass
class Images:
    """What a supernet trains and is evaluated on, already on the device."""

    train: GPUBatches
    valid: GPUBatches
    #: Training images in a fixed shuffled order, for BN recalibration of inherited-weight evaluation (or None).
    calib: GPUBatches | None
    #: Where the images came from (recorded in the result) and the checksum of the exact images used (or None).
    source: str
    sha256: str | None = None
    #: Anything else the adapter's scoring needs (e.g. the number of classes).
    extra: dict = field(default_factory=dict)


def cifar_images(ctx: SearchContext, s: SupernetConfig, device, split: Callable) -> Images:
    """CIFAR-10 through the harness's image sources, split by ``split(data)`` into the supernet's training and
    held-out indices, cut to the budget's ``n_train`` / ``n_valid`` fixed subsets."""
    from ..data.cifar import draw_subsets, images_sha256, load_cifar10  # noqa: PLC0415

    ctx.status("loading CIFAR-10")
    data = load_cifar10(ctx.config.data_dir, ctx.config.dataset_root)
    train_idx, valid_idx = split(data)
    train_idx, valid_idx, sub = draw_subsets(train_idx, valid_idx, s.n_train, s.n_valid)
    train = GPUBatches(data.train_x[train_idx], data.train_y[train_idx], device, s.channels_last)
    calib_order = sub.permutation(len(train_idx))
    calib = GPUBatches(data.train_x[train_idx[calib_order]], data.train_y[train_idx[calib_order]], device,
                       s.channels_last)
    valid = GPUBatches(data.train_x[valid_idx], data.train_y[valid_idx], device, s.channels_last)
    sha = images_sha256(data.train_x[train_idx], data.train_y[train_idx], data.train_x[valid_idx],
                        data.train_y[valid_idx])
    return Images(train, valid, calib, data.source, sha, {"n_valid": len(valid_idx)})


class SupernetRun:
    """One supernet search: :meth:`build` the network, :meth:`train` it, and :meth:`report` the parts of the
    outcome every supernet method shares (trajectory, phases, costs, params)."""

    def __init__(self, ctx: SearchContext, adapter, s: SupernetConfig, purpose: str):
        self.ctx, self.adapter, self.s = ctx, adapter, s
        self.device = resolve_device(ctx.config.device)
        if s.threads and not ctx.config.deterministic:  # deterministic mode pinned one thread
            torch.set_num_threads(s.threads)
        self.images: Images = adapter.images(ctx, s, self.device, purpose)
        self.init_seed, self.train_seed, self.search_seed = (int(x) for x in ctx.rng.integers(0, 2**31 - 1, 3))
        self.model = None
        self.trainer: SupernetTrainer | None = None
        self.state = None
        self.phases: dict[str, float] = {}

    def build(self, make: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        """The network, initialized from the run's initialization seed, on the device (channels-last if asked)."""
        torch.manual_seed(self.init_seed)
        model = make().to(self.device)
        if self.s.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        return model

    def train(self, sampler, describe: str, **trainer_options):
        """Train through the one :class:`SupernetTrainer` (resuming when the run resumes), in the
        ``supernet_train`` phase. ``describe``: what the status line says before the epoch count."""
        ctx = self.ctx
        ckpt = ctx.run_dir / "checkpoints" if ctx.run_dir else None
        self.trainer = SupernetTrainer(self.model, sampler, self.images.train, self.s, seed=self.train_seed,
                                       checkpoint_dir=ckpt, progress=ctx.progress, **trainer_options)
        ctx.status(f"{describe} ({self.s.epochs} epochs, {self.trainer.total_steps:,} steps)")
        ctx.phase("supernet_train")
        t0 = time.perf_counter()
        self.state = self.trainer.fit(resume=ctx.resume)
        self.phases["supernet_train"] = time.perf_counter() - t0
        return self.state

    def timed(self, phase: str, status: str):
        """A context manager timing one of the method's own phases after training (``inherited_eval`` ...)."""
        return _Phase(self, phase, status)

    def report(self, *, costs: dict | None = None, params: dict | None = None) -> dict:
        """The outcome fields every supernet method shares; the method adds its own ``costs`` and ``params``."""
        state, s = self.state, self.s
        return {
            "trajectory": [{"step": h["epoch"], **{f"train/{k}": v for k, v in h.items() if k != "epoch"}}
                           for h in state.history],
            "phases": dict(self.phases),
            "costs": {"epochs": state.epoch, "steps": state.step, "samples_seen": state.samples_seen,
                      # all epochs' training time, including epochs run by an earlier, interrupted process (--resume)
                      "supernet_train_all_epochs/wall_s": float(sum(h["epoch_wall_s"] for h in state.history)),
                      "resumed": float(bool(self.ctx.resume)), **(costs or {}),
                      "peak_gpu_mem_mb": peak_gpu_mem_mb(self.device)},
            "params": {"device": device_name(self.device), "supernet": json.dumps(dataclasses.asdict(s)),
                       "images": self.images.source,
                       **({"images_sha256": self.images.sha256} if self.images.sha256 else {}), **(params or {})},
        }

    def final_loss(self) -> float:
        return self.state.history[-1]["train_loss"] if self.state.history else float("nan")


class _Phase:
    def __init__(self, run: SupernetRun, name: str, status: str):
        self.run, self.name, self.status = run, name, status

    def __enter__(self):
        self.run.ctx.status(self.status)
        self.run.ctx.phase(self.name)
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.run.phases[self.name] = time.perf_counter() - self.t0
        return False


def kendall_probe(key: str, truth: np.ndarray, paths: list, evaluator, every: int):
    """The per-epoch ranking probe: Kendall tau of the inherited-weight accuracy of ``paths`` against ``truth`` every
    ``every`` epochs, without disturbing training (BN statistics restored); logged as ``kt/<key>``."""
    from ..metrics.ranking import kendall_tau  # noqa: PLC0415

    def track(epoch: int) -> dict | None:
        if epoch % every:
            return None
        kt = kendall_tau(evaluator.side_effect_free(paths), truth)
        return {f"kt/{key}": kt.value, "kt_n": kt.n}
    return track
