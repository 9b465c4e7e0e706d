"""Shared one-shot (weight-sharing supernet) search on NAS-Bench-201 with real CIFAR-10 training.

A one-shot method is a sampler choice plus flags; everything else — data, supernet, trainer, evaluation, search — is
shared here. Protocol (NB201): the supernet trains on the 25k ``cifar10-valid`` train half; inherited-weight accuracy is
measured on (a subset of) the 25k valid half; rankings are computed against ``cifar10-valid/x-valid@200`` and
``cifar10/ori-test@200``; the chosen architecture is reported on all three datasets with its regret.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import torch

from ..config import Budget, apply_overrides
from ..errors import UserError
from ..io import atomic_write_json
from ..supernet.evaluate import EvalConfig, InheritedEvaluator, eval_set
from ..supernet.nb201 import NB201Supernet, arch_to_path
from ..supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer
from ..tabular.base import Protocol
from .base import SearchContext, SearchOutcome

BUDGETS = {
    # ~2-5 CPU minutes: a small supernet, 10 epochs on a 5k-image subset, 100 archs scored on 500 valid images.
    "ci": (SupernetConfig(channels=8, cells_per_stage=1, epochs=10, batch_size=128, lr=0.05, n_train=5000,
                          n_valid=500, channels_last=True),
           EvalConfig(n_archs=100, calib_batches=4, calib_batch_size=64, eval_batch_size=64, population=10,
                      sample_size=3, cycles=20)),
    # Paper scale for a GPU: C=16, N=5, the full 25k/25k split, 250 epochs, 1,000 archs, 500-eval evolution.
    "paper": (SupernetConfig(channels=16, cells_per_stage=5, epochs=250, batch_size=64, lr=0.025, channels_last=True),
              EvalConfig(n_archs=1000, calib_batches=10, calib_batch_size=256, eval_batch_size=1000, population=50,
                         sample_size=10, cycles=450)),
}
VALID_TRUTH = "cifar10-valid/x-valid@200"
TEST_TRUTH = "cifar10/ori-test@200"
REPORT = [TEST_TRUTH, VALID_TRUTH, "cifar100/x-test@200", "ImageNet16-120/x-test@200"]
SUBSET_SEED = 2020  # fixed: every method and seed trains/evaluates on the same image subsets


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available here; use --device cpu.")
    return torch.device(name)


class OneShotMethod:
    """Base of spos / fairnas / scarlet: subclasses set ``sampler_cls`` and ``linear_skip``."""

    kind = "one-shot"
    benchmarks = ("201",)
    sampler_cls: type = None  # type: ignore[assignment]
    linear_skip = False

    def __init__(self, config):
        self.config = config
        base_s, base_e = BUDGETS[config.budget]
        self.supernet_config, self.eval_config = apply_overrides([base_s, base_e], dict(config.overrides), "one-shot")

    def budget(self, bench: str, dataset: str) -> Budget:
        e = self.eval_config
        return Budget(self.config.budget + ("+overrides" if self.config.overrides else ""),
                      max_archs=e.n_archs + e.population + e.cycles)

    def protocol(self, bench, dataset: str) -> Protocol:
        if dataset != "cifar10":
            raise UserError(
                f"one-shot methods train a supernet on real images; only CIFAR-10 images are available, so dataset "
                f"{dataset!r} is not supported. Use --dataset cifar10 (the chosen arch is still reported on "
                f"cifar100 and ImageNet16-120 from the table)."
            )
        s = self.supernet_config
        return Protocol(dataset, VALID_TRUTH, TEST_TRUTH, s.epochs,
                        f"supernet C={s.channels}, N={s.cells_per_stage}, {s.epochs} epochs on "
                        f"{s.n_train or 25000:,} cifar10-valid train images; inherited-weight accuracy on "
                        f"{s.n_valid or 25000:,} x-valid images (BN: {self.eval_config.bn_mode})")

    def make_sampler(self, choices):
        return self.sampler_cls(choices)

    # ---- the shared pipeline ----------------------------------------------------------------------------------
    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..data.cifar import load_cifar10  # noqa: PLC0415
        from ..search.evolution import random_sampling, regularized_evolution  # noqa: PLC0415
        from ..spaces import NB201Space  # noqa: PLC0415

        s, e, bench = self.supernet_config, self.eval_config, ctx.bench
        device = resolve_device(self.config.device)
        if s.threads:
            torch.set_num_threads(s.threads)
        ctx.status("loading CIFAR-10")
        data = load_cifar10(self.config.data_dir, self.config.dataset_root)
        train_idx, valid_idx = data.valid_split()
        sub = np.random.default_rng(SUBSET_SEED)
        if s.n_train:
            train_idx = np.sort(sub.choice(train_idx, min(s.n_train, len(train_idx)), replace=False))
        if s.n_valid:
            valid_idx = np.sort(sub.choice(valid_idx, min(s.n_valid, len(valid_idx)), replace=False))
        train = GPUBatches(data.train_x[train_idx], data.train_y[train_idx], device, s.channels_last)
        calib_order = sub.permutation(len(train_idx))
        calib = GPUBatches(data.train_x[train_idx[calib_order]], data.train_y[train_idx[calib_order]], device,
                           s.channels_last)
        valid = GPUBatches(data.train_x[valid_idx], data.train_y[valid_idx], device, s.channels_last)

        init_seed, train_seed, search_seed = (int(x) for x in ctx.rng.integers(0, 2**31 - 1, 3))
        torch.manual_seed(init_seed)
        supernet = NB201Supernet(s.channels, s.cells_per_stage, 10, linear_skip=self.linear_skip).to(device)
        if s.channels_last:
            supernet = supernet.to(memory_format=torch.channels_last)
        sampler = self.make_sampler(supernet.choices_per_edge)
        ckpt = ctx.run_dir / "checkpoints" if ctx.run_dir else None
        trainer = SupernetTrainer(supernet, sampler, train, s, seed=train_seed, checkpoint_dir=ckpt,
                                  progress=ctx.progress)
        ctx.status(f"training the supernet ({s.epochs} epochs, {trainer.total_steps:,} steps)")
        t0 = time.perf_counter()
        state = trainer.fit(resume=ctx.resume)
        train_wall = time.perf_counter() - t0

        ctx.status("evaluating inherited weights")
        t0 = time.perf_counter()
        arch_set = eval_set(bench.column(VALID_TRUTH), e.n_archs, e.eval_seed, e.stratify)
        evaluator = InheritedEvaluator(supernet, calib, valid, e)
        paths = [arch_to_path(bench.key_of(int(i))) for i in arch_set]
        scores = evaluator.many(paths, progress=ctx.progress)
        eval_wall = time.perf_counter() - t0

        ctx.status("searching on the supernet")
        t0 = time.perf_counter()
        space = NB201Space()

        # One memo for the eval set, the evolution and the control: an arch's inherited-weight accuracy does not
        # depend on what was evaluated before it (BN is re-estimated per arch), so it is never computed twice.
        known = {int(i): float(a) for i, a in zip(arch_set, scores, strict=True)}

        def score(i: int) -> float:
            if i not in known:
                known[i] = evaluator.accuracy(arch_to_path(bench.key_of(i)))
            return known[i]

        def sample(rng) -> int:
            return int(rng.integers(bench.size))

        def mutate(i: int, rng) -> int:
            return bench.index_of(space.mutate(bench.key_of(i), rng))

        evo = regularized_evolution(score, sample, mutate, np.random.default_rng(search_seed),
                                    population=e.population, sample_size=e.sample_size, cycles=e.cycles)
        control = random_sampling(score, sample, np.random.default_rng(search_seed + 1),
                                  n=e.population + e.cycles)
        search_wall = time.perf_counter() - t0
        evaluator.restore()

        artifacts = []
        if ctx.run_dir:
            rows = [{"index": int(i), "arch": bench.key_of(int(i)), "supernet_acc": float(a),
                     VALID_TRUTH: bench.query(int(i), VALID_TRUTH), TEST_TRUTH: bench.query(int(i), TEST_TRUTH)}
                    for i, a in zip(arch_set, scores, strict=True)]
            atomic_write_json(ctx.run_dir / "eval_set_scores.json",
                              {"eval_seed": e.eval_seed, "stratify": e.stratify, "n": len(rows), "archs": rows})
            artifacts.append(str(ctx.run_dir / "eval_set_scores.json"))
        n_evals = evaluator.n_evaluated
        dev = device.type if device.type == "cpu" else torch.cuda.get_device_name(device)
        return SearchOutcome(
            chosen=evo.best, scored=arch_set, scores=scores,
            score_name="supernet inherited-weight accuracy on cifar10-valid x-valid (%)",
            sim_seconds=0.0,
            trajectory=[{"step": h["epoch"], **{f"train/{k}": v for k, v in h.items() if k != "epoch"}}
                        for h in state.history],
            phases={"supernet_train": train_wall, "inherited_eval": eval_wall, "supernet_search": search_wall},
            rank_truths=[VALID_TRUTH, TEST_TRUTH], report=REPORT, regret_on=REPORT,
            costs={"epochs": state.epoch, "steps": state.step, "samples_seen": state.samples_seen,
                   "archs_evaluated_inherited": n_evals, "inherited_eval_archs_per_s": len(arch_set) / eval_wall,
                   "peak_gpu_mem_mb": (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda"
                   else 0.0},
            metrics={"search/evolution/best_supernet_acc": evo.best_score,
                     "search/evolution/n_evaluations": evo.n_evaluations,
                     f"search/random_control/chosen/{TEST_TRUTH}": bench.query(control.best, TEST_TRUTH),
                     "search/random_control/best_supernet_acc": control.best_score,
                     "train/final_loss": state.history[-1]["train_loss"] if state.history else float("nan")},
            params={"device": dev, "sampler": sampler.name, "linear_skip": self.linear_skip,
                    "supernet": json.dumps(dataclasses.asdict(s)), "eval": json.dumps(dataclasses.asdict(e)),
                    "bn_mode": e.bn_mode, "random_control_chosen": bench.key_of(control.best)},
            artifacts=artifacts,
            notes=[f"supernet accuracies come from {len(valid_idx):,} x-valid images; truth from the NB201 table"],
        )
