"""Shared differentiable search (DARTS, Fair DARTS) on NAS-Bench-201 and the DARTS CIFAR-10 space.

A method is an activation of the architecture parameters plus a parse rule and an extra loss; everything else — data,
supernet, the shared trainer, the architecture step, logging — lives here.

* Architecture parameters: one row of logits per edge and op (NB201: 6 x 5, shared by all cells; DARTS space: 14 x 8
  for the normal and 14 x 8 for the reduction cell), initialised to 1e-3 x N(0, 1) as in DARTS.
* Weights seen by the network: ``softmax`` over each edge's ops (DARTS: exclusive competition) or an independent
  ``sigmoid`` per op (Fair DARTS: collaborative; raising one op's weight does not lower another's).
* Bi-level optimisation with the shared :class:`~nasharness.supernet.trainer.SupernetTrainer`: before each weight
  step (SGD on a training batch, the trainer's own) the :class:`Architect` — the method's step hook — takes one Adam
  step on the architecture parameters with a batch of the held-out search split. First order by default (the current
  weights); ``order=2`` uses DARTS' unrolled approximation: gradient at the weights after one virtual SGD step
  w' = w - xi * grad_w L_train, minus xi times a finite-difference Hessian-vector product.
* Fair DARTS adds the zero-one loss ``w01 * (-1/N) * sum (sigmoid(a) - 0.5)^2`` to the architecture loss: it pushes
  each weight towards 0 or 1, closing the gap between the continuous weights and the discrete pick.
* Derived architecture: NB201 — per edge the op of largest weight (``none`` included: the space needs exactly one op
  per edge). DARTS space — DARTS: per node the two edges with the strongest non-``none`` op (``top2``); Fair DARTS:
  every edge whose strongest non-``none`` sigmoid exceeds the threshold (0.85), at most two per node
  (``threshold_sparse``).
* Ranking on NB201: every one of the 15,625 cells gets the score ``sum over edges of log w[e, op_e]`` (log-softmax
  for DARTS, log-sigmoid for Fair DARTS): the log-probability of the cell under the learned distribution for DARTS,
  the summed log-confidence of its ops for Fair DARTS. The argmax cell is the top-scored one, and the whole space is
  ranked against the table — a complete ranking, not a sample.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from ..config import Budget, apply_overrides, check_int, check_number
from ..errors import ConfigError, UserError
from ..io import atomic_write_json
from ..supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer
from ..tabular.base import Protocol
from .base import SearchContext, SearchOutcome
from .oneshot import fit_timed, resolve_device


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


BUDGETS = {
    "201": {
        # ~3-6 CPU minutes: C=8, N=1, 10 epochs; weights on 5k cifar10-valid train images, arch on 5k x-valid images.
        "ci": (SupernetConfig(channels=8, cells_per_stage=1, epochs=10, batch_size=128, lr=0.05, n_train=5000,
                              n_valid=5000, channels_last=True), ArchConfig()),
        # NB201's DARTS setting: C=16, N=5, 50 epochs, batch 64, the whole 25k/25k split.
        "paper": (SupernetConfig(channels=16, cells_per_stage=5, epochs=50, batch_size=64, lr=0.025, weight_decay=3e-4,
                                 channels_last=True), ArchConfig()),
    },
    "darts": {
        # A smoke-scale search: 4 channels, 5 cells, 2 epochs on 1k + 1k images (minutes on 2 CPU cores).
        "ci": (SupernetConfig(channels=4, cells_per_stage=1, epochs=2, batch_size=64, lr=0.05, n_train=1000,
                              n_valid=1000, channels_last=True), ArchConfig(layers=5)),
        # DARTS' search: 16 channels, 8 cells, 50 epochs, batch 64, CIFAR-10 train halves for weights / architecture.
        "paper": (SupernetConfig(channels=16, cells_per_stage=1, epochs=50, batch_size=64, lr=0.025, weight_decay=3e-4,
                                 channels_last=True), ArchConfig(layers=8)),
    },
}


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


class _WeightsSampler:
    """The trainer's 'path' for a differentiable method: the current architecture weights (no gradient into them
    from the weight step)."""

    name = "mixed"

    def __init__(self, architect: Architect):
        self.architect = architect

    def sample_paths(self, rng):
        w = [x.detach() for x in self.architect.weights()]
        return [w[0] if len(w) == 1 else tuple(w)]


# ---- per-space parts ---------------------------------------------------------------------------------------------
class _NB201:
    valid_truth = "cifar10-valid/x-valid@200"
    test_truth = "cifar10/ori-test@200"
    report = [test_truth, valid_truth, "cifar100/x-test@200", "ImageNet16-120/x-test@200"]

    def __init__(self, bench):
        from ..spaces import nb201  # noqa: PLC0415

        self.bench = bench
        self.ops = nb201.OPS
        self.edges = [f"{i}->{j}" for i, j in nb201.EDGES]
        keys = [bench.key_of(i) for i in range(bench.size)]
        self.op_idx = np.array([[self.ops.index(o) for o in nb201.parse_arch(k)] for k in keys])  # [rows, 6]

    def supernet(self, s, a):
        from ..supernet.nb201 import NB201Supernet  # noqa: PLC0415

        return NB201Supernet(s.channels, s.cells_per_stage, 10)

    def shapes(self):
        return [(len(self.edges), len(self.ops))]

    def scores(self, weights: list[np.ndarray], activation: str) -> np.ndarray:
        """``sum_e log w[e, op_e]`` for every table row."""
        logw = np.log(np.clip(weights[0], 1e-300, None))
        return logw[np.arange(logw.shape[0])[None, :], self.op_idx].sum(1)

    def derive(self, weights, method) -> str:
        from ..spaces import nb201  # noqa: PLC0415

        return nb201.format_arch([self.ops[int(k)] for k in weights[0].argmax(1)])

    def skip_count(self, arch: str) -> int:
        return arch.count("skip_connect")


class _Darts:
    def __init__(self, bench):
        from ..spaces import darts  # noqa: PLC0415

        self.space = darts
        self.ops = darts.PRIMITIVES
        self.edges = [f"{i}->{j}" for i, j in darts.EDGES]

    def supernet(self, s, a):
        from ..supernet.darts import DartsSearchNetwork  # noqa: PLC0415

        return DartsSearchNetwork(s.channels, a.layers, 10)

    def shapes(self):
        return [(len(self.edges), len(self.ops))] * 2

    def derive(self, weights, method):
        rule = "threshold" if method.activation == "sigmoid" else "top2"
        return self.space.derive(weights[0], weights[1], rule, method.arch_config.threshold)

    def skip_count(self, genotype) -> int:
        return genotype.skip_count(False)


class DifferentiableMethod:
    """Base of ``darts`` and ``fairdarts``: subclasses set ``activation`` and the default zero-one weight."""

    kind = "differentiable"
    benchmarks = ("201", "darts")
    activation = "softmax"
    zero_one_weight = 0.0

    def __init__(self, config):
        from ..plugins import BENCHMARKS  # noqa: PLC0415

        self.config = config
        self.bench_name = BENCHMARKS.canonical(config.bench)
        base_s, base_a = BUDGETS[self.bench_name if self.bench_name in BUDGETS else "201"][config.budget]
        base_a = dataclasses.replace(base_a, zero_one_weight=self.zero_one_weight)
        if self.activation == "sigmoid" and config.budget == "paper":  # the seed's search command
            base_s = dataclasses.replace(base_s, lr=0.005, batch_size=128)
        overrides = dict(config.overrides)
        self.train_derived = str(overrides.pop("train_derived", "false")).lower() in ("1", "true", "yes")
        self.supernet_config, self.arch_config = apply_overrides([base_s, base_a], overrides, "differentiable")
        if self.train_derived and self.bench_name != "darts":
            raise UserError(f"--train-derived trains the derived DARTS-space network; on benchmark {self.bench_name!r} "
                            f"the table already gives the derived cell's accuracy. Drop --train-derived.")

    def budget(self, bench: str, dataset: str) -> Budget:
        return Budget(self.config.budget + ("+overrides" if set(self.config.overrides) - {"train_derived"} else ""),
                      max_archs=15625 if bench == "201" else 1)

    def protocol(self, bench, dataset: str) -> Protocol:
        if dataset != "cifar10":
            raise UserError(f"differentiable search trains on real images; only CIFAR-10 images are available, so "
                            f"dataset {dataset!r} is not supported. Use --dataset cifar10 (on NB201 the derived cell "
                            f"is still reported on cifar100 and ImageNet16-120 from the table).")
        s, a = self.supernet_config, self.arch_config
        if bench.name == "201":
            return Protocol(dataset, _NB201.valid_truth, _NB201.test_truth, s.epochs,
                            f"supernet C={s.channels}, N={s.cells_per_stage}, {s.epochs} epochs: weights on "
                            f"{s.n_train or 'all'} cifar10-valid train images, architecture on {s.n_valid or 'all'} "
                            f"x-valid images ({'first' if a.order == 1 else 'second'}-order)")
        from ..train import derived_protocol  # noqa: PLC0415

        return derived_protocol(self.config.budget, self.train_derived, s, a)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..data.cifar import draw_subsets, images_sha256, load_cifar10  # noqa: PLC0415

        s, a, bench = self.supernet_config, self.arch_config, ctx.bench
        part = _NB201(bench) if bench.name == "201" else _Darts(bench)
        device = resolve_device(self.config.device)
        if s.threads and not self.config.deterministic:  # deterministic mode pinned one thread
            torch.set_num_threads(s.threads)
        ctx.status("loading CIFAR-10")
        data = load_cifar10(self.config.data_dir, self.config.dataset_root)
        train_idx, valid_idx = data.valid_split()  # weights / architecture halves of the 50k training images
        train_idx, valid_idx, _ = draw_subsets(train_idx, valid_idx, s.n_train, s.n_valid)
        train = GPUBatches(data.train_x[train_idx], data.train_y[train_idx], device, s.channels_last)
        valid = GPUBatches(data.train_x[valid_idx], data.train_y[valid_idx], device, s.channels_last)

        init_seed, train_seed, arch_seed = (int(x) for x in ctx.rng.integers(0, 2**31 - 1, 3))
        torch.manual_seed(init_seed)
        model = part.supernet(s, a).to(device)
        if s.channels_last:
            model = model.to(memory_format=torch.channels_last)
        architect = Architect(model, part.shapes(), self.activation, a, valid, s.batch_size, arch_seed, device)
        ckpt = ctx.run_dir / "checkpoints" if ctx.run_dir else None

        def epoch_end(epoch: int) -> dict:
            w = architect.numpy_weights()
            architect.snapshots.append([x.tolist() for x in w])
            arch = part.derive(w, self)
            out = {"skip_connects": part.skip_count(arch)}
            if isinstance(part, _NB201):
                from ..metrics.ranking import kendall_tau  # noqa: PLC0415

                out[f"kt/{part.valid_truth}"] = kendall_tau(part.scores(w, self.activation),
                                                            bench.column(part.valid_truth)).value
                out[f"derived/{part.test_truth}"] = bench.query(bench.index_of(arch), part.test_truth)
            return out

        trainer = SupernetTrainer(model, _WeightsSampler(architect), train, s, seed=train_seed, checkpoint_dir=ckpt,
                                  progress=ctx.progress, on_epoch_end=epoch_end, step_hook=architect)
        state, train_wall = fit_timed(trainer, ctx, f"differentiable search ({s.epochs} epochs, "
                                                    f"{trainer.total_steps:,} steps)")

        weights = architect.numpy_weights()
        derived = part.derive(weights, self)
        artifacts = self._artifacts(ctx, part, architect, weights, derived)
        trajectory = [{"step": h["epoch"], **{f"train/{k}": v for k, v in h.items() if k != "epoch"}}
                      for h in state.history]
        common = dict(
            trajectory=trajectory, phases={"supernet_train": train_wall},
            costs={"epochs": state.epoch, "steps": state.step, "arch_steps": architect.steps,
                   "samples_seen": state.samples_seen,
                   "supernet_train_all_epochs/wall_s": float(sum(h["epoch_wall_s"] for h in state.history)),
                   "resumed": float(bool(ctx.resume)),
                   "peak_gpu_mem_mb": (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda"
                   else 0.0},
            params={"device": device.type if device.type == "cpu" else torch.cuda.get_device_name(device),
                    "activation": self.activation, "supernet": json.dumps(dataclasses.asdict(s)),
                    "arch": json.dumps(dataclasses.asdict(a)),
                    "images": data.source, "images_sha256": images_sha256(
                        data.train_x[train_idx], data.train_y[train_idx], data.train_x[valid_idx],
                        data.train_y[valid_idx]),
                    "parse_rule": ("argmax per edge" if isinstance(part, _NB201) else
                                   "threshold_sparse" if self.activation == "sigmoid" else "top2 per node")},
            artifacts=artifacts,
        )
        metrics = {"search/derived/skip_connects": float(part.skip_count(derived)),
                   "train/final_loss": state.history[-1]["train_loss"] if state.history else float("nan")}
        if isinstance(part, _NB201):
            chosen = bench.index_of(derived)
            scores = part.scores(weights, self.activation)
            return SearchOutcome(
                chosen=chosen, scored=np.arange(bench.size), scores=scores,
                score_name=f"sum of log {self.activation} architecture weights of the cell's ops",
                sim_seconds=0.0, rank_truths=[part.valid_truth, part.test_truth], report=part.report,
                regret_on=part.report, metrics=metrics,
                notes=[f"every one of the {bench.size:,} cells is scored from the learned architecture weights "
                       f"(sum over edges of the log weight of its op); the derived cell is the argmax per edge"],
                **common)
        from ..supernet.darts import count_params  # noqa: PLC0415
        from ..train import describe_genotype, train_derived  # noqa: PLC0415

        metrics.update(describe_genotype(derived))
        truth, notes = {}, [f"derived genotype ({common['params']['parse_rule']}): {derived!r}",
                            "the DARTS space has no tabular ground truth: no ranking metrics"]
        if self.train_derived:
            ctx.phase("train_derived")
            ctx.status("training the derived network from scratch")
            t0 = time.perf_counter()
            trained = train_derived(derived, self.config, ctx)
            common["phases"]["train_derived"] = time.perf_counter() - t0
            truth = trained["truth"]
            metrics.update(trained["metrics"])  # (its recipe is in the protocol note)
        metrics["search/supernet_params"] = float(count_params(model))
        return SearchOutcome(chosen=-1, scored=np.array([], dtype=int), scores=np.array([]), score_name="none",
                             sim_seconds=0.0, rank_truths=[], metrics=metrics, notes=notes,
                             chosen_arch=repr(derived), truth=truth, **common)

    def _artifacts(self, ctx, part, architect: Architect, weights, derived) -> list[str]:
        if not ctx.run_dir:
            return []
        out = []
        path = ctx.run_dir / "arch_weights.json"
        atomic_write_json(path, {"activation": self.activation, "edges": part.edges, "ops": list(part.ops),
                                 "cells": ["cell"] if len(weights) == 1 else ["normal", "reduce"],
                                 "per_epoch": architect.snapshots, "final": [w.tolist() for w in weights],
                                 "derived": derived if isinstance(derived, str) else repr(derived)})
        out.append(str(path))
        try:
            from ..report.plots import arch_weight_heatmap  # noqa: PLC0415

            out.append(str(arch_weight_heatmap(
                np.array(architect.snapshots), part.edges, list(part.ops),
                ["cell"] if len(weights) == 1 else ["normal", "reduce"],
                title=f"{self.config.method} ({self.activation}) architecture weights per epoch",
                path=ctx.run_dir / "arch_weights.png")))
        except ImportError:  # matplotlib is optional
            pass
        return out
