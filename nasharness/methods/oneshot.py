"""Shared one-shot (weight-sharing supernet) search with real CIFAR-10 training, on NAS-Bench-201 and -101.

A one-shot method is a sampler choice plus flags; everything else — data, supernet, trainer, evaluation, search — is
shared here. What differs per benchmark lives in a small space adapter (:class:`NB201OneShot`, :class:`NB101OneShot`):
the supernet, the path type, the image split, the evaluation set, the truths and the search's sample/mutate.

* NB201: the supernet trains on the 25k ``cifar10-valid`` train half; inherited-weight accuracy is measured on (a
  subset of) the 25k valid half; rankings against ``cifar10-valid/x-valid@200`` and ``cifar10/ori-test@200``; the
  chosen architecture is reported on all three datasets with its regret.
* NB101: the supernet trains on NB101's 40k train split; inherited-weight accuracy on (a subset of) its 10k
  validation split; rankings against ``cifar10/val@108`` over an evaluation set drawn from the 1,000-arch uniform
  slice, and against ``cifar10/test@108`` over the labeled archs that have it. Evolution runs over the whole space
  of valid specs; the chosen architecture is the best-scored *labeled* one (the report says so when only the slices
  are present).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter

import numpy as np
import torch

from ..config import Budget, apply_overrides, derived_budget
from ..errors import UserError
from ..io import atomic_write_json
from ..supernet.evaluate import EvalConfig, InheritedEvaluator, eval_set
from ..supernet.trainer import GPUBatches, SupernetConfig, SupernetTrainer
from ..tabular.base import Protocol
from .base import SearchContext, SearchOutcome

_CI_EVAL = EvalConfig(n_archs=100, calib_batches=4, calib_batch_size=64, eval_batch_size=64, population=10,
                      sample_size=3, cycles=20, track_every=2, track_archs=20)
_PAPER_EVAL = EvalConfig(n_archs=1000, calib_batches=10, calib_batch_size=256, eval_batch_size=1000, population=50,
                         sample_size=10, cycles=450, track_every=25, track_archs=100)
BUDGETS = {
    "201": {
        # ~2-5 CPU minutes: a small supernet, 10 epochs on a 5k-image subset, 100 archs scored on 500 valid images.
        "ci": (SupernetConfig(channels=8, cells_per_stage=1, epochs=10, batch_size=128, lr=0.05, n_train=5000,
                              n_valid=500, channels_last=True), _CI_EVAL),
        # Paper scale for a GPU: C=16, N=5, the full 25k/25k split, 250 epochs, 1,000 archs, 500-eval evolution.
        "paper": (SupernetConfig(channels=16, cells_per_stage=5, epochs=250, batch_size=64, lr=0.025,
                                 channels_last=True), _PAPER_EVAL),
    },
    "101": {
        # ~3-6 CPU minutes: stem 8 channels, 1 cell per stack, 10 epochs on 5k images, 100 + 52 archs scored.
        "ci": (SupernetConfig(channels=8, cells_per_stage=1, epochs=10, batch_size=128, lr=0.05, n_train=5000,
                              n_valid=500, channels_last=True), _CI_EVAL),
        # Paper scale for a GPU: NB101's network (stem 128, 3 stacks x 3 cells), its 40k/10k split, 100 epochs.
        "paper": (SupernetConfig(channels=128, cells_per_stage=3, epochs=100, batch_size=256, lr=0.1,
                                 weight_decay=1e-4, channels_last=True), _PAPER_EVAL),
    },
}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available here; use --device cpu.")
    return torch.device(name)


def fit_timed(trainer: SupernetTrainer, ctx: SearchContext, message: str):
    """Train (resuming when the run resumes) in the ``supernet_train`` phase; the state and its wall time."""
    ctx.status(message)
    ctx.phase("supernet_train")
    t0 = time.perf_counter()
    state = trainer.fit(resume=ctx.resume)
    return state, time.perf_counter() - t0


class _SpaceAdapter:
    def path(self, i: int):
        """The supernet path of table row ``i``."""
        return self.item_path(self.index_item(i))


class NB201OneShot(_SpaceAdapter):
    """NB201: a path is 6 op indices; archs are table indices."""

    valid_truth = "cifar10-valid/x-valid@200"
    test_truth = "cifar10/ori-test@200"
    report = [test_truth, valid_truth, "cifar100/x-test@200", "ImageNet16-120/x-test@200"]
    split_name = "cifar10-valid train", "cifar10-valid x-valid"

    def __init__(self, bench):
        from ..spaces import NB201Space  # noqa: PLC0415

        self.bench = bench
        self.space = NB201Space()

    def protocol_truths(self) -> tuple[str, str]:
        return self.valid_truth, self.test_truth

    def split(self, data):
        return data.valid_split()

    def supernet(self, s: SupernetConfig, linear: bool):
        from ..supernet.nb201 import NB201Supernet  # noqa: PLC0415

        return NB201Supernet(s.channels, s.cells_per_stage, 10, linear_skip=linear)

    def sampler(self, sampler_cls, supernet):
        return sampler_cls(supernet.choices_per_edge)

    def eval_indices(self, e: EvalConfig) -> tuple[np.ndarray, dict]:
        return eval_set(self.bench.column(self.valid_truth), e.n_archs, e.eval_seed, e.stratify), {}

    # search items are table indices
    def item_path(self, item):
        from ..supernet.nb201 import arch_to_path  # noqa: PLC0415

        return arch_to_path(self.bench.key_of(int(item)))

    def item_index(self, item) -> int | None:
        return int(item)

    def index_item(self, i: int) -> int:
        return int(i)

    def sample(self, rng) -> int:
        return int(rng.integers(self.bench.size))

    def mutate(self, item, rng) -> int:
        return self.bench.index_of(self.space.mutate(self.bench.key_of(item), rng))

    def item_key(self, item) -> str:
        return self.bench.key_of(int(item))

    def notes(self) -> list[str]:
        return []


class NB101OneShot(_SpaceAdapter):
    """NB101: a path is a pruned :class:`~nasharness.spaces.nb101.Spec`; search items are specs of the whole space."""

    split_name = "NB101 train-split (40k)", "NB101 validation-split (10k)"

    def __init__(self, bench):
        from ..spaces import NB101Space  # noqa: PLC0415

        self.bench = bench
        self.space = NB101Space()
        self.valid_truth = "cifar10/val@108"
        self.test_truth = "cifar10/test@108"
        self.report = [self.valid_truth, self.test_truth] if bench.is_full else [self.valid_truth]

    def protocol_truths(self) -> tuple[str, str]:
        return (self.valid_truth, self.test_truth) if self.bench.is_full else (self.valid_truth, self.valid_truth)

    def split(self, data):
        return data.nb101_split()

    def supernet(self, s: SupernetConfig, linear: bool):
        from ..supernet.nb101 import NB101Supernet  # noqa: PLC0415

        return NB101Supernet(s.channels, 3, s.cells_per_stage, 10, linear_edges=linear)

    def sampler(self, sampler_cls, supernet):
        from ..supernet.samplers import SpecSampler  # noqa: PLC0415

        return SpecSampler(sampler_cls)

    def uniform_pool(self, n: int) -> np.ndarray:
        """Rows of a uniform sample of the space: the first 1,000 architectures in hash order (the staged slice; with
        the full table the same 1,000 rows, so evaluation sets are identical either way), or with the full table and
        ``n`` > 1,000 every row."""
        if self.bench.is_full:
            return np.arange(self.bench.size if n > 1000 else min(1000, self.bench.size))
        return np.flatnonzero(self.bench.to_frame()["sources"].str.contains("data-1k").to_numpy())

    def eval_indices(self, e: EvalConfig) -> tuple[np.ndarray, dict]:
        """``n_archs`` drawn (by ``eval_seed``) from the uniform sample, plus every arch with ``test@108`` when only
        the slices are present (52); rankings use the subsets where each truth applies."""
        truth = self.bench.column(self.valid_truth)
        pool = self.uniform_pool(e.n_archs)
        masked = np.full_like(truth, np.nan)
        masked[pool] = truth[pool]
        uniform = eval_set(masked, e.n_archs, e.eval_seed, e.stratify)
        if self.bench.is_full:
            return uniform, {}
        tested = np.flatnonzero(np.isfinite(self.bench.column(self.test_truth)))
        scored = np.union1d(uniform, tested)
        return scored, {self.valid_truth: np.isin(scored, uniform), self.test_truth: np.isin(scored, tested)}

    # search items are specs (anywhere in the space); labeled ones map to table rows
    def item_path(self, item):
        return item

    def item_index(self, item) -> int | None:
        return self.bench.row_of(item.hash())

    def index_item(self, i: int):
        return self.bench.spec(int(i))

    def sample(self, rng):
        return self.space.sample(rng)

    def mutate(self, item, rng):
        return self.space.mutate(item, rng)

    def item_key(self, item) -> str:
        return item.hash()

    def notes(self) -> list[str]:
        if self.bench.is_full:
            return []
        return [f"only the staged NB101 slices are present: evolution searched the whole space, but the chosen "
                f"architecture is the best-scored of the {self.bench.size:,} labeled ones (the report's truth, "
                f"regret and ranking are among labeled architectures only)"]


ADAPTERS = {"201": NB201OneShot, "101": NB101OneShot}


class OneShotMethod:
    """Base of spos / fairnas / scarlet: subclasses set ``sampler_cls`` and ``linear_skip``."""

    kind = "one-shot"
    benchmarks = ("201", "101", "fairnas-imagenet", "scarlet-imagenet")
    sampler_cls: type = None  # type: ignore[assignment]
    linear_skip = False

    def __init__(self, config):
        from ..plugins import BENCHMARKS  # noqa: PLC0415

        self.config = config
        self.bench_name = BENCHMARKS.canonical(config.bench)
        overrides = dict(config.overrides)
        if self.bench_name.endswith("-imagenet"):
            from . import oneshot_imagenet as oi  # noqa: PLC0415

            if "max_madds" in overrides:
                overrides["max_madds"] = str(oi.parse_madds(overrides["max_madds"]))
            self.supernet_config, self.eval_config, self.imagenet_config = apply_overrides(
                list(oi.BUDGETS[config.budget]), overrides, "one-shot")
            oi.check(self.imagenet_config)
            return
        base_s, base_e = BUDGETS[self.bench_name if self.bench_name in BUDGETS else "201"][config.budget]
        self.supernet_config, self.eval_config = apply_overrides([base_s, base_e], overrides, "one-shot")

    def budget(self, bench: str, dataset: str) -> Budget:
        e = self.eval_config
        name = self.config.budget + ("+overrides" if self.config.overrides else "")
        if bench.endswith("-imagenet"):
            c = self.imagenet_config
            return derived_budget(name, c.nsga_population * (c.nsga_generations + 1),
                                  "nsga_population x (nsga_generations + 1)", ("nsga_population", "nsga_generations"),
                                  self.config.overrides)
        return derived_budget(name, e.n_archs + e.population + e.cycles, "n_archs + population + cycles",
                              ("n_archs", "population", "cycles"), self.config.overrides)

    def protocol(self, bench, dataset: str) -> Protocol:
        if bench.name.endswith("-imagenet"):
            from .oneshot_imagenet import protocol  # noqa: PLC0415

            return protocol(bench.name, self.supernet_config, self.imagenet_config, self.config.dataset_root)
        if dataset != "cifar10":
            raise UserError(
                f"one-shot methods train a supernet on real images; only CIFAR-10 images are available, so dataset "
                f"{dataset!r} is not supported. Use --dataset cifar10 (the chosen arch is still reported on "
                f"cifar100 and ImageNet16-120 from the table)."
            )
        s = self.supernet_config
        adapter = ADAPTERS[bench.name](bench)
        proxy, final = adapter.protocol_truths()
        train_name, valid_name = adapter.split_name
        shape = (f"C={s.channels}, N={s.cells_per_stage}" if bench.name == "201"
                 else f"stem {s.channels} channels, 3 stacks x {s.cells_per_stage} cells")
        return Protocol(dataset, proxy, final, s.epochs,
                        f"supernet {shape}, {s.epochs} epochs on {s.n_train or 'all':,} {train_name} images; "
                        f"inherited-weight accuracy on {s.n_valid or 'all':,} {valid_name} images "
                        f"(BN: {self.eval_config.bn_mode})"
                        if isinstance(s.n_train, int) and isinstance(s.n_valid, int) else
                        f"supernet {shape}, {s.epochs} epochs on the {train_name} split; inherited-weight accuracy "
                        f"on the {valid_name} split (BN: {self.eval_config.bn_mode})")

    # ---- the shared pipeline ----------------------------------------------------------------------------------
    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..data.cifar import draw_subsets, images_sha256, load_cifar10  # noqa: PLC0415
        from ..search.evolution import random_sampling, regularized_evolution  # noqa: PLC0415

        if ctx.bench.name.endswith("-imagenet"):
            from .oneshot_imagenet import search  # noqa: PLC0415

            return search(self, ctx)
        s, e, bench = self.supernet_config, self.eval_config, ctx.bench
        space = ADAPTERS[bench.name](bench)
        device = resolve_device(self.config.device)
        if s.threads and not self.config.deterministic:  # deterministic mode pinned one thread
            torch.set_num_threads(s.threads)
        ctx.status("loading CIFAR-10")
        data = load_cifar10(self.config.data_dir, self.config.dataset_root)
        train_idx, valid_idx = space.split(data)
        train_idx, valid_idx, sub = draw_subsets(train_idx, valid_idx, s.n_train, s.n_valid)
        train = GPUBatches(data.train_x[train_idx], data.train_y[train_idx], device, s.channels_last)
        calib_order = sub.permutation(len(train_idx))
        calib = GPUBatches(data.train_x[train_idx[calib_order]], data.train_y[train_idx[calib_order]], device,
                           s.channels_last)
        valid = GPUBatches(data.train_x[valid_idx], data.train_y[valid_idx], device, s.channels_last)

        init_seed, train_seed, search_seed = (int(x) for x in ctx.rng.integers(0, 2**31 - 1, 3))
        torch.manual_seed(init_seed)
        supernet = space.supernet(s, self.linear_skip).to(device)
        if s.channels_last:
            supernet = supernet.to(memory_format=torch.channels_last)
        sampler = space.sampler(self.sampler_cls, supernet)
        ckpt = ctx.run_dir / "checkpoints" if ctx.run_dir else None
        arch_set, subsets = space.eval_indices(e)
        evaluator = InheritedEvaluator(supernet, calib, valid, e)
        trainer = SupernetTrainer(supernet, sampler, train, s, seed=train_seed, checkpoint_dir=ckpt,
                                  progress=ctx.progress, log_paths=bench.name == "101",
                                  on_epoch_end=self._kt_tracker(space, evaluator, arch_set, subsets, e))
        state, train_wall = fit_timed(trainer, ctx, f"training the supernet ({s.epochs} epochs, "
                                                    f"{trainer.total_steps:,} steps)")

        ctx.status("evaluating inherited weights")
        ctx.phase("inherited_eval")
        t0 = time.perf_counter()
        scores = evaluator.many([space.path(int(i)) for i in arch_set], progress=ctx.progress)
        eval_wall = time.perf_counter() - t0

        ctx.status("searching on the supernet")
        ctx.phase("supernet_search")
        t0 = time.perf_counter()
        # One memo for the eval set, the evolution and the control: an arch's inherited-weight accuracy does not
        # depend on what was evaluated before it (BN is re-estimated per arch), so it is never computed twice.
        known = {space.item_key(space.index_item(i)): float(a) for i, a in zip(arch_set, scores, strict=True)}

        def score(item) -> float:
            key = space.item_key(item)
            if key not in known:
                known[key] = evaluator.accuracy(space.item_path(item))
            return known[key]

        evo = regularized_evolution(score, space.sample, space.mutate, np.random.default_rng(search_seed),
                                    population=e.population, sample_size=e.sample_size, cycles=e.cycles)
        control = random_sampling(score, space.sample, np.random.default_rng(search_seed + 1),
                                  n=e.population + e.cycles)
        search_wall = time.perf_counter() - t0
        evaluator.restore()

        chosen, control_pick, search_metrics, search_params = self._picks(space, arch_set, scores, evo, control)
        artifacts = []
        if ctx.run_dir:
            rows = [{"index": int(i), "arch": bench.key_of(int(i)), "supernet_acc": float(a),
                     **{t: bench.query(int(i), t) for t in dict.fromkeys([space.valid_truth, space.test_truth])}}
                    for i, a in zip(arch_set, scores, strict=True)]
            atomic_write_json(ctx.run_dir / "eval_set_scores.json",
                              {"eval_seed": e.eval_seed, "stratify": e.stratify, "n": len(rows), "archs": rows})
            artifacts.append(str(ctx.run_dir / "eval_set_scores.json"))
            if trainer.path_counts:
                artifacts.append(str(self._write_paths(ctx.run_dir, trainer.path_counts, space)))
        n_evals = evaluator.n_evaluated
        dev = device.type if device.type == "cpu" else torch.cuda.get_device_name(device)
        truths = list(dict.fromkeys(t for t in (space.valid_truth, space.test_truth)
                                    if np.isfinite(bench.column(t)[arch_set]).any()))
        return SearchOutcome(
            chosen=chosen, scored=arch_set, scores=scores,
            score_name=f"supernet inherited-weight accuracy on {space.split_name[1]} (%)",
            sim_seconds=0.0,
            trajectory=[{"step": h["epoch"], **{f"train/{k}": v for k, v in h.items() if k != "epoch"}}
                        for h in state.history],
            phases={"supernet_train": train_wall, "inherited_eval": eval_wall, "supernet_search": search_wall},
            rank_truths=truths, rank_subsets=subsets, report=space.report, regret_on=space.report,
            costs={"epochs": state.epoch, "steps": state.step, "samples_seen": state.samples_seen,
                   # all epochs' training time, including epochs run by an earlier, interrupted process (--resume)
                   "supernet_train_all_epochs/wall_s": float(sum(h["epoch_wall_s"] for h in state.history)),
                   "resumed": float(bool(ctx.resume)),
                   "archs_evaluated_inherited": n_evals, "inherited_eval_archs_per_s": len(arch_set) / eval_wall,
                   "peak_gpu_mem_mb": (torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda"
                   else 0.0},
            metrics={"search/evolution/best_supernet_acc": evo.best_score,
                     "search/evolution/n_evaluations": evo.n_evaluations,
                     f"search/random_control/chosen/{space.report[0]}": bench.query(control_pick, space.report[0]),
                     "search/random_control/best_supernet_acc": control.best_score,
                     "train/final_loss": state.history[-1]["train_loss"] if state.history else float("nan"),
                     **search_metrics},
            params={"device": dev, "sampler": sampler.name, "linear_skip": self.linear_skip,
                    "supernet": json.dumps(dataclasses.asdict(s)), "eval": json.dumps(dataclasses.asdict(e)),
                    "bn_mode": e.bn_mode, "random_control_chosen": bench.key_of(control_pick),
                    "data_parallel_processes": trainer.world,
                    "images": data.source, "images_sha256": images_sha256(
                        data.train_x[train_idx], data.train_y[train_idx], data.train_x[valid_idx],
                        data.train_y[valid_idx]), **search_params},
            artifacts=artifacts,
            notes=[f"supernet accuracies come from {len(valid_idx):,} {space.split_name[1]} images; truth from the "
                   f"NAS-Bench-{bench.name} table", *space.notes()],
        )

    @staticmethod
    def _kt_tracker(space, evaluator, arch_set, subsets, e: EvalConfig):
        """The per-epoch ranking probe: Kendall tau of ``track_archs`` archs of the evaluation set (from its uniform
        part) against the validation truth."""
        if not e.track_every:
            return None
        from ..metrics.ranking import kendall_tau  # noqa: PLC0415

        pool = arch_set[subsets[space.valid_truth]] if space.valid_truth in subsets else arch_set
        probe = pool[np.linspace(0, len(pool) - 1, min(e.track_archs, len(pool))).round().astype(int)]
        truth = space.bench.column(space.valid_truth)[probe]
        paths = [space.path(int(i)) for i in probe]

        def track(epoch: int) -> dict | None:
            if epoch % e.track_every:
                return None
            kt = kendall_tau(evaluator.side_effect_free(paths), truth)
            return {f"kt/{space.valid_truth}": kt.value, "kt_n": kt.n}
        return track

    @staticmethod
    def _picks(space, arch_set, scores, evo, control) -> tuple[int, int, dict, dict]:
        """The chosen arch (a table row) of the evolution and of the random control. Where the search space is
        larger than the labeled table (NB101 slices), a pick that is not labeled is replaced by the best-scored
        labeled arch the run scored (that search's history plus the evaluation set)."""
        pool = list(zip(arch_set.tolist(), scores.tolist(), strict=True))
        metrics, params = {}, {}

        def pick(trace) -> int:
            i = space.item_index(trace.best)
            if i is not None:
                return i
            seen = [(space.item_index(it), sc) for it, sc in trace.history]
            return max([c for c in seen if c[0] is not None] + pool, key=lambda t: t[1])[0]

        evo_i, ctl_i = pick(evo), pick(control)
        if space.item_index(evo.best) is None:
            params["search_best_unlabeled"] = space.item_key(evo.best)
        if space.bench.coverage < 1:
            metrics["search/evolution/labeled_among_evaluated"] = sum(
                space.item_index(it) is not None for it, _ in evo.history)
        return int(evo_i), int(ctl_i), metrics, params

    @staticmethod
    def _write_paths(run_dir, counts: Counter, space) -> object:
        """The sampled paths of supernet training: hash, vertices, times trained, and whether the table labels it."""
        import csv  # noqa: PLC0415

        from ..io import atomic_write  # noqa: PLC0415

        path = run_dir / "sampled_paths.csv"

        def write(tmp):
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["hash", "n_vertices", "times_trained", "labeled"])
                for (h, n), c in counts.most_common():
                    w.writerow([h, n, c, int(space.bench.row_of(h) is not None)])
        atomic_write(path, write)
        return path
