"""The one supernet trainer. Methods differ only by their sampler and a flag or two; nothing else is copied.

One step: (differentiable methods: the method's ``step_hook`` updates the architecture parameters first;) draw the
sampler's paths; for each path forward + backward on the *same* batch, accumulating gradients;
then one optimizer step. With m paths (FairNAS/SCARLET) the shared parameters (stem, reductions, head) receive the
**sum** of the m path gradients (``grad_reduce="sum"``, as in FairNAS); ``"mean"`` divides each loss by m instead.
Each searchable op on a path gets exactly one gradient contribution per step (strict fairness).

SGD with Nesterov momentum and a cosine schedule (per step), gradient clipping, checkpoints written atomically at the
end of every epoch (``checkpoint_every``) with model, optimizer, scheduler and every RNG state, so ``resume``
reproduces an uninterrupted run exactly (same seed, same device, same thread count).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..config import check_int, check_number
from ..data.cifar import MEAN, STD
from ..errors import ConfigError, DataError, shorten, torch_load_reason
from ..io import atomic_write
from . import distributed


@dataclass(frozen=True)
class SupernetConfig:
    """Supernet size and training schedule. ``n_train``/``n_valid``: image subsets (None = the whole split)."""

    channels: int = 16
    cells_per_stage: int = 5
    epochs: int = 250
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    grad_reduce: str = "sum"
    n_train: int | None = None
    n_valid: int | None = None
    threads: int | None = None
    channels_last: bool = False
    #: Write a checkpoint every this many epochs (and always after the last); 0 = never.
    checkpoint_every: int = 1

    def __post_init__(self):
        for name, hi in (("channels", 1024), ("cells_per_stage", 64), ("epochs", 100_000), ("batch_size", 65_536)):
            check_int("supernet", name, getattr(self, name), 1, hi)
        for name in ("lr", "lr_min", "weight_decay", "grad_clip", "momentum"):
            check_number("supernet", name, getattr(self, name))
        if self.grad_reduce not in ("sum", "mean"):
            raise ConfigError(f"grad_reduce must be 'sum' or 'mean', got {self.grad_reduce!r}.")
        check_int("supernet", "checkpoint_every", self.checkpoint_every, 0)
        for name in ("n_train", "n_valid", "threads"):
            if getattr(self, name) is not None:
                check_int("supernet", name, getattr(self, name), 1)


class GPUBatches:
    """Holds a split as one uint8 tensor; yields normalized, augmented float batches (random crop with padding of
    1/8 of the side — 4 pixels at 32x32 — and horizontal flip). ``mean``/``std``: per-channel statistics in [0, 1]
    (CIFAR-10's by default)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, device: torch.device, channels_last: bool = False,
                 mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD):
        self.x = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous().to(device)  # N,3,H,W
        self.y = torch.from_numpy(np.asarray(y)).to(device)
        self.size = int(self.x.shape[-1])
        self.pad = max(1, self.size // 8)
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1) * 255
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __len__(self) -> int:
        return len(self.y)

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        return ((xb.to(torch.get_default_dtype()) - self.mean) / self.std).contiguous(memory_format=self.memory_format)

    def augmented(self, idx: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        b = len(idx)
        p = self.pad
        off = torch.randint(0, 2 * p + 1, (2, b), generator=gen).to(self.device)
        xb = _crop(F.pad(self.x[idx], (p, p, p, p)), off[0], off[1], self.size)
        flip = (torch.rand(b, generator=gen) < 0.5).to(self.device)
        xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
        return self.normalize(xb), self.y[idx]

    def plain(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.normalize(self.x[idx]), self.y[idx]


def _crop(padded: torch.Tensor, oy: torch.Tensor, ox: torch.Tensor, size: int = 32) -> torch.Tensor:
    """Per-sample 32x32 crops at offsets (oy, ox) of a padded batch, in one indexing op."""
    b = padded.shape[0]
    ar = torch.arange(size, device=padded.device)
    rows = (oy[:, None] + ar)[:, :, None]  # b, 32, 1
    cols = (ox[:, None] + ar)[:, None, :]  # b, 1, 32
    bi = torch.arange(b, device=padded.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bi, rows, cols].permute(0, 3, 1, 2)


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0
    samples_seen: int = 0
    history: list[dict] = field(default_factory=list)
    op_updates: dict[str, int] = field(default_factory=dict)


class SupernetTrainer:
    """Trains ``supernet`` with ``sampler``; checkpoints to ``checkpoint_dir`` after every epoch."""

    def __init__(self, supernet: nn.Module, sampler, train: GPUBatches, config: SupernetConfig, *, seed: int,
                 checkpoint_dir: Path | None = None,
                 progress: Callable[[int, int], None] | None = None, count_updates: bool = False,
                 log_paths: bool = False, on_epoch_end: Callable[[int], dict | None] | None = None,
                 step_hook=None):
        self.model = supernet
        self.sampler = sampler
        self.data = train
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress = progress or (lambda done, total: None)
        self.count_updates = count_updates
        #: With ``log_paths``: how often each sampled path was trained, keyed by (hash, n_vertices) (NB101 specs).
        self.path_counts: Counter = Counter()
        self.log_paths = log_paths
        #: ``on_epoch_end(epoch)`` -> extra history entries (e.g. the ranking quality of the supernet so far).
        self.on_epoch_end = on_epoch_end
        #: Differentiable methods: ``step_hook.before_step(xb, yb, trainer)`` runs before each weight step (the
        #: architecture update); its ``state_dict()`` / ``load_state_dict()`` travel in the checkpoint.
        self.step_hook = step_hook
        self.rank, self.world = distributed.world()
        if config.batch_size % self.world:
            raise ConfigError(f"batch_size {config.batch_size} is the global batch and must divide evenly over the "
                              f"{self.world} processes; use a multiple of {self.world}.")
        if self.world > 1:
            distributed.convert_batch_norm(supernet)
        self.steps_per_epoch = max(1, len(train) // config.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.optimizer = torch.optim.SGD(supernet.parameters(), lr=config.lr, momentum=config.momentum,
                                         nesterov=config.nesterov and config.momentum > 0,
                                         weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.total_steps,
                                                                    eta_min=config.lr_min)
        seq = np.random.SeedSequence(seed)
        path_seed, data_seed = seq.spawn(2)
        self.path_rng = np.random.default_rng(path_seed)
        self.data_gen = torch.Generator().manual_seed(int(data_seed.generate_state(1)[0]))
        self.state = TrainState()

    # ---- checkpoints --------------------------------------------------------------------------------------------
    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / "last.pt" if self.checkpoint_dir else None

    def save(self) -> None:
        path = self.checkpoint_path()
        if path is None or self.rank != 0:  # data-parallel: every rank holds the same state; rank 0 writes it
            return
        blob = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "path_rng": self.path_rng.bit_generator.state,
                "data_gen": self.data_gen.get_state(), "torch_rng": torch.get_rng_state(),
                "state": asdict(self.state), "config": asdict(self.config),
                "path_counts": [[h, n, c] for (h, n), c in self.path_counts.items()],
                "hook": self.step_hook.state_dict() if self.step_hook is not None else None}
        atomic_write(path, lambda tmp: torch.save(blob, tmp))

    def load(self) -> bool:
        """Restore the last checkpoint; False when there is none. Never executes code from the file."""
        path = self.checkpoint_path()
        if path is None or not path.exists():
            return False
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"checkpoint {str(path)!r} cannot be read ({torch_load_reason(exc)}); delete it to "
                              f"start over.") from exc
        need = [*self._CHECKPOINT_KEYS, *(["hook"] if self.step_hook is not None else [])]
        missing = [k for k in need if k not in blob] if isinstance(blob, dict) else need
        if missing:
            raise self._incomplete(path, f"it lacks {', '.join(missing)}")
        if blob["config"] != asdict(self.config):
            raise ConfigError(f"checkpoint {str(path)!r} was written with a different supernet config; resume with "
                              f"the same options, or start a new run.")
        try:
            self.model.load_state_dict(blob["model"])
            self.optimizer.load_state_dict(blob["optimizer"])
            self.scheduler.load_state_dict(blob["scheduler"])
            self.path_rng.bit_generator.state = blob["path_rng"]
            self.data_gen.set_state(blob["data_gen"])
            torch.set_rng_state(blob["torch_rng"])
            self.state = TrainState(**blob["state"])
            self.path_counts = Counter({(h, n): c for h, n, c in blob.get("path_counts", [])})
            if self.step_hook is not None:
                self.step_hook.load_state_dict(blob["hook"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as exc:
            raise self._incomplete(path, f"its contents do not fit this run ({type(exc).__name__}: "
                                         f"{shorten(str(exc), 100)})") from exc
        return True

    #: What :meth:`save` writes and :meth:`load` needs (``hook`` too when there is a step hook).
    _CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "path_rng", "data_gen", "torch_rng", "state", "config")

    @staticmethod
    def _incomplete(path: Path, why: str) -> DataError:
        run_dir = path.parent.parent
        return DataError(f"checkpoint {str(path)!r} is incomplete or from another nasharness version: {why}. Start "
                         f"over: delete {str(run_dir)!r} (or just its checkpoints/) and run again without --resume.")

    # ---- training -------------------------------------------------------------------------------------------------
    def train_step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[float, float, int]:
        if self.step_hook is not None:
            self.step_hook.before_step(xb, yb, self)
        paths = self.sampler.sample_paths(self.path_rng)
        scale = 1.0 / len(paths) if self.config.grad_reduce == "mean" else 1.0
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, correct = 0.0, 0
        for path in paths:
            logits = self.model(xb, path)
            loss = F.cross_entropy(logits, yb)
            (loss * scale).backward()
            loss_sum += float(loss.detach())
            correct += int((logits.detach().argmax(1) == yb).sum())
            if self.log_paths:
                self.path_counts[(path.hash(), path.n_vertices)] += 1
            if self.count_updates:
                for key in self._path_keys(path):
                    self.state.op_updates[key] = self.state.op_updates.get(key, 0) + 1
        if self.world > 1:  # the m paths' gradients, accumulated locally, all-reduced once
            distributed.all_reduce_grads(list(self.model.parameters()), self.world)
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss_sum / len(paths), correct / (len(paths) * len(yb)), len(paths)

    def _path_keys(self, path) -> list[str]:
        if hasattr(self.model, "path_keys"):
            return self.model.path_keys(path)
        return [f"edge{e}/op{c}" for e, c in enumerate(path)]

    def fit(self, resume: bool = False, stop_after: int | None = None) -> TrainState:
        """Train to ``config.epochs`` (or only until ``stop_after`` epochs are complete: a time slice)."""
        if resume:
            self.load()
        self.model.train()
        bs = self.config.batch_size
        end = self.config.epochs if stop_after is None else min(stop_after, self.config.epochs)
        for epoch in range(self.state.epoch, end):
            t0 = time.perf_counter()
            order = torch.randperm(len(self.data), generator=self.data_gen)
            loss_acc, acc_acc, n_paths = 0.0, 0.0, 0
            for i in range(self.steps_per_epoch):
                idx = order[i * bs:(i + 1) * bs].to(self.data.device)
                xb, yb = self.data.augmented(idx, self.data_gen)
                if self.world > 1:  # the same global batch on every rank; each keeps its contiguous shard
                    lo = self.rank * (len(idx) // self.world)
                    hi = lo + len(idx) // self.world
                    xb, yb = xb[lo:hi], yb[lo:hi]
                loss, acc, m = self.train_step(xb, yb)
                loss_acc += loss
                acc_acc += acc
                n_paths += m
                self.state.step += 1
                self.state.samples_seen += len(idx) * m
                self.progress(self.state.step, self.total_steps)
            self.state.epoch = epoch + 1
            self.state.history.append({"epoch": epoch + 1, "train_loss": loss_acc / self.steps_per_epoch,
                                       "train_acc": acc_acc / self.steps_per_epoch,
                                       "lr": self.scheduler.get_last_lr()[0],
                                       "epoch_wall_s": time.perf_counter() - t0})
            if self.on_epoch_end is not None:  # before the checkpoint, so a resumed run repeats it identically
                self.state.history[-1].update(self.on_epoch_end(epoch + 1) or {})
                self.model.train()
            k = self.config.checkpoint_every
            if k and ((epoch + 1) % k == 0 or epoch + 1 == self.config.epochs):
                self.save()
        return self.state
