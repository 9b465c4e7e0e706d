"""Training a DARTS-space network from scratch (``nasharness train --arch FairDARTS_a --bench darts``).

The published evaluation protocol of DARTS / Fair DARTS on CIFAR-10 (the ``paper`` budget): 36 initial channels,
20 cells, auxiliary head (weight 0.4) at 2/3 depth, drop-path 0.2 (rising linearly from 0 over training), cutout 16,
SGD (momentum 0.9, weight decay 3e-4, gradient clipping 5) with a cosine schedule from 0.025, batch 96, 600 epochs on
the 50k training images, accuracy on the 10k test images. The ``ci`` budget is the same recipe at toy scale. The
accuracy is logged as ``cifar10/test@<epochs>``, with the network size and training subset in the protocol note.
Checkpoints are written atomically after every epoch; ``--resume`` continues a killed run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .config import RunConfig, apply_overrides, check_int, check_number
from .errors import ConfigError, UserError, torch_load_reason
from .io import atomic_write
from .tabular.base import Protocol


@dataclass(frozen=True)
class TrainConfig:
    channels: int = 36
    layers: int = 20
    epochs: int = 600
    batch_size: int = 96
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    auxiliary: bool = True
    auxiliary_weight: float = 0.4
    drop_path: float = 0.2
    cutout: int = 16
    #: Image subsets (None: all 50k training / 10k test images).
    n_train: int | None = None
    n_test: int | None = None
    threads: int | None = None
    channels_last: bool = False

    def __post_init__(self):
        for name, hi in (("channels", 1024), ("layers", 64), ("epochs", 100_000), ("batch_size", 65_536)):
            check_int("train", name, getattr(self, name), 1, hi)
        if self.layers < 3:
            raise ConfigError(f"train layers must be at least 3 (two reduction cells and a normal one), got "
                              f"{self.layers}.")
        for name in ("lr", "lr_min", "momentum", "weight_decay", "grad_clip", "auxiliary_weight"):
            check_number("train", name, getattr(self, name))
        if not 0 <= self.drop_path < 1:
            raise ConfigError(f"train drop_path must be in [0, 1), got {self.drop_path!r}.")
        check_int("train", "cutout", self.cutout, 0, 32)
        for name in ("n_train", "n_test", "threads"):
            if getattr(self, name) is not None:
                check_int("train", name, getattr(self, name), 1)


TRAIN_BUDGETS = {
    # ~1 CPU minute: the published recipe on a toy network and 2k/1k images, one epoch.
    "ci": TrainConfig(channels=8, layers=8, epochs=1, batch_size=64, n_train=2000, n_test=1000, channels_last=True),
    "paper": TrainConfig(channels_last=True),
}
TEST_SUBSET_SEED = 600


def train_config(budget: str, overrides: dict) -> TrainConfig:
    if budget not in TRAIN_BUDGETS:
        raise UserError(f"unknown training budget {budget!r}; valid: {', '.join(TRAIN_BUDGETS)}.")
    return apply_overrides([TRAIN_BUDGETS[budget]], overrides, "train")[0]


def truth_name(cfg: TrainConfig) -> str:
    return f"cifar10/test@{cfg.epochs}"


def protocol_note(cfg: TrainConfig) -> str:
    aux = f"{cfg.auxiliary_weight:.1f}" if cfg.auxiliary else "off"
    return (f"trained from scratch: {cfg.channels} channels, {cfg.layers} cells, {cfg.epochs} epochs on "
            f"{cfg.n_train or 50_000:,} CIFAR-10 training images (batch {cfg.batch_size}, cutout {cfg.cutout}, "
            f"drop-path {cfg.drop_path}, auxiliary {aux}); "
            f"accuracy on {cfg.n_test or 10_000:,} test images")


def derived_protocol(budget: str, train_derived: bool, s, a) -> Protocol:
    """The protocol of a search on the DARTS space: no table; with ``--train-derived`` the truth is the derived
    network's test accuracy after training at the run's budget."""
    search = (f"search network {s.channels} channels, {a.layers} cells, {s.epochs} epochs: weights on "
              f"{s.n_train or 'all'} and architecture on {s.n_valid or 'all'} of the CIFAR-10 training images")
    if not train_derived:
        return Protocol("cifar10", "none", "none", s.epochs, search + "; derived network not trained (no truth)")
    cfg = TRAIN_BUDGETS[budget]
    return Protocol("cifar10", "none", truth_name(cfg), cfg.epochs, f"{search}; derived network {protocol_note(cfg)}")


def describe_genotype(genotype) -> dict[str, float]:
    """Size of a genotype's network at the published evaluation setting (36 channels, 20 cells, 32x32, 10 classes):
    parameters without the auxiliary head and conv + linear multiply-adds, plus its skip connections."""
    from .supernet.darts import DartsNetwork, count_madds, count_params  # noqa: PLC0415

    net = DartsNetwork(genotype, 36, 20, 10, auxiliary=False)
    return {"search/derived/params_M@C36-L20": count_params(net) / 1e6,
            "search/derived/madds_M@C36-L20-32px": count_madds(net) / 1e6,
            "search/derived/skip_connects/normal": float(net.genotype.skip_count(False)),
            "search/derived/skip_connects/reduce": float(net.genotype.skip_count(True))}


def cutout(x: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """Zero one ``size`` x ``size`` square per image (its centre uniform over the image, clipped at the border), on
    the normalised batch, as in DeVries & Taylor / DARTS."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=gen).to(x.device)
    cx = torch.randint(0, w, (b,), generator=gen).to(x.device)
    rows = torch.arange(h, device=x.device)[None, :]
    cols = torch.arange(w, device=x.device)[None, :]
    my = ((rows >= (cy[:, None] - size // 2)) & (rows < (cy[:, None] + size - size // 2)))  # b, h
    mx = ((cols >= (cx[:, None] - size // 2)) & (cols < (cx[:, None] + size - size // 2)))  # b, w
    hole = my[:, :, None] & mx[:, None, :]
    return x * (~hole)[:, None].to(x.dtype)


def train_network(genotype, cfg: TrainConfig, *, seed: int, device, data_dir=None, dataset_root=None,
                  checkpoint=None, resume: bool = False, progress=None, status=None) -> dict:
    """Train the genotype's network; returns the test accuracy (%), per-epoch history, parameter count and times."""
    from .data.cifar import load_cifar10, subsample  # noqa: PLC0415
    from .supernet.darts import DartsNetwork, count_params  # noqa: PLC0415
    from .supernet.trainer import GPUBatches  # noqa: PLC0415

    progress = progress or (lambda a, b: None)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    (status or (lambda m: None))("loading CIFAR-10")
    data = load_cifar10(data_dir, dataset_root)
    sub = np.random.default_rng(TEST_SUBSET_SEED)
    tr = subsample(np.arange(len(data.train_y)), cfg.n_train, sub)
    te = subsample(np.arange(len(data.test_y)), cfg.n_test, sub)
    train = GPUBatches(data.train_x[tr], data.train_y[tr], device, cfg.channels_last)
    test = GPUBatches(data.test_x[te], data.test_y[te], device, cfg.channels_last)
    init_seed, data_seed = np.random.SeedSequence(seed).generate_state(2)
    torch.manual_seed(int(init_seed))
    net = DartsNetwork(genotype, cfg.channels, cfg.layers, 10, auxiliary=cfg.auxiliary).to(device)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    steps_per_epoch = max(1, len(train) // cfg.batch_size)
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch, eta_min=cfg.lr_min)
    gen = torch.Generator().manual_seed(int(data_seed))
    history: list[dict] = []
    start = 0
    if resume and checkpoint is not None and checkpoint.exists():
        try:
            blob = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"checkpoint {str(checkpoint)!r} cannot be read ({torch_load_reason(exc)}); delete it "
                              f"to start over.") from exc
        if blob["config"] != asdict(cfg):
            raise ConfigError(f"checkpoint {str(checkpoint)!r} was written with another training config; resume with "
                              f"the same options.")
        net.load_state_dict(blob["model"])
        opt.load_state_dict(blob["opt"])
        sched.load_state_dict(blob["sched"])
        gen.set_state(blob["gen"])
        torch.set_rng_state(blob["torch_rng"])
        history, start = list(blob["history"]), int(blob["epoch"])
    total = cfg.epochs * steps_per_epoch
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        net.train()
        net.drop_path = cfg.drop_path * epoch / cfg.epochs
        order = torch.randperm(len(train), generator=gen)
        loss_sum = correct = seen = 0
        for i in range(steps_per_epoch):
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size].to(device)
            xb, yb = train.augmented(idx, gen)
            xb = cutout(xb, cfg.cutout, gen)
            logits, aux = net(xb)
            loss = F.cross_entropy(logits, yb)
            if aux is not None:
                loss = loss + cfg.auxiliary_weight * F.cross_entropy(aux, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(yb)
            correct += int((logits.detach().argmax(1) == yb).sum())
            seen += len(yb)
            progress(epoch * steps_per_epoch + i + 1, total)
        history.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": 100.0 * correct / seen,
                        "epoch_wall_s": time.perf_counter() - t0})
        if checkpoint is not None:
            blob = {"model": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "history": history,
                    "epoch": epoch + 1, "config": asdict(cfg)}
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(checkpoint, lambda tmp, blob=blob: torch.save(blob, tmp))
    t0 = time.perf_counter()
    acc = evaluate(net, test, cfg.batch_size)
    return {"test_acc": acc, "history": history, "params": count_params(net),
            "params_with_aux": count_params(net, auxiliary=True), "eval_wall_s": time.perf_counter() - t0,
            "train_wall_s": float(sum(h["epoch_wall_s"] for h in history))}


def evaluate(net, data, batch_size: int) -> float:
    net.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(data), batch_size):
            idx = torch.arange(i, min(i + batch_size, len(data)), device=data.device)
            xb, yb = data.plain(idx)
            logits, _ = net(xb)
            correct += int((logits.argmax(1) == yb).sum())
    return 100.0 * correct / len(data)


def train_derived(genotype, config: RunConfig, ctx) -> dict:
    """``run --train-derived``: train the search's derived genotype at the run's budget."""
    from .supernet.device import resolve_device  # noqa: PLC0415

    cfg = TRAIN_BUDGETS[config.budget]
    out = train_network(genotype, cfg, seed=config.seed, device=resolve_device(config.device),
                        data_dir=config.data_dir, dataset_root=config.dataset_root,
                        checkpoint=ctx.run_dir / "checkpoints" / "derived.pt" if ctx.run_dir else None,
                        resume=ctx.resume, progress=ctx.progress, status=ctx.status)
    return {"truth": {truth_name(cfg): out["test_acc"]},
            "metrics": {"train_derived/params": float(out["params"]), "train_derived/wall_s": out["train_wall_s"],
                        "train_derived/final_train_loss": out["history"][-1]["train_loss"]},
            "note": "derived network " + protocol_note(cfg)}
