"""NAS-Bench-101's weight-sharing adapter (one-shot methods).

The supernet trains on NB101's 40k train split; inherited-weight accuracy on (a subset of) its 10k validation split;
rankings against ``cifar10/val@108`` over an evaluation set drawn from the 1,000-arch uniform slice, and against
``cifar10/test@108`` over the labeled archs that have it. A path is a pruned :class:`~nasharness.spaces.nb101.Spec`;
evolution runs over the whole space of valid specs, and the chosen architecture is the best-scored *labeled* one (the
report says so when only the slices are present).
"""

from __future__ import annotations

import numpy as np

from ..supernet.evaluate import EvalConfig, eval_set
from ..supernet.trainer import SupernetConfig
from .nb201 import CI_EVAL, PAPER_EVAL, TableAdapter


class NB101Adapter(TableAdapter):
    split_name = "NB101 train-split (40k)", "NB101 validation-split (10k)"
    log_paths = True
    one_shot_budgets = {
        # ~3-6 CPU minutes: stem 8 channels, 1 cell per stack, 10 epochs on 5k images, 100 + 52 archs scored.
        "ci": (SupernetConfig(channels=8, cells_per_stage=1, epochs=10, batch_size=128, lr=0.05, n_train=5000,
                              n_valid=500, channels_last=True), CI_EVAL),
        # Paper scale for a GPU: NB101's network (stem 128, 3 stacks x 3 cells), its 40k/10k split, 100 epochs.
        "paper": (SupernetConfig(channels=128, cells_per_stage=3, epochs=100, batch_size=256, lr=0.1,
                                 weight_decay=1e-4, channels_last=True), PAPER_EVAL),
    }
    #: NB101 has no differentiable supernet here.
    differentiable_budgets: dict = {}

    def __init__(self, bench):
        from ..spaces import NB101Space  # noqa: PLC0415

        self.bench = bench
        self.space = NB101Space()
        self.valid_truth = "cifar10/val@108"
        self.test_truth = "cifar10/test@108"
        self.report = [self.valid_truth, self.test_truth] if bench.is_full else [self.valid_truth]

    def protocol_truths(self) -> tuple[str, str]:
        return (self.valid_truth, self.test_truth) if self.bench.is_full else (self.valid_truth, self.valid_truth)

    def shape(self, s: SupernetConfig) -> str:
        return f"stem {s.channels} channels, 3 stacks x {s.cells_per_stage} cells"

    @staticmethod
    def split(data):
        return data.nb101_split()

    def supernet(self, s: SupernetConfig, linear: bool = False):
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

    #: The network shape a zero-cost proxy scores, per budget (``paper``: NB101's own stem 128, 3 x 3 cells).
    network_shapes = {"ci": {"channels": 8, "cells_per_stage": 1}, "paper": {"channels": 128, "cells_per_stage": 3}}
    zero_cost_archs = {"ci": 100, "paper": 10**9}

    def network(self, i: int, shape: dict, num_classes: int = 10):
        from ..supernet.nb101 import NB101Network  # noqa: PLC0415

        return NB101Network(self.bench.spec(int(i)), shape["channels"], 3, shape["cells_per_stage"], num_classes)

    def describe_network(self, shape: dict) -> str:
        return f"NB101 network stem {shape['channels']}, 3 stacks x {shape['cells_per_stage']} cells"

    def zero_cost_set(self, n: int, seed: int) -> np.ndarray:
        """``n`` of the uniform slice (the committed ``benchmarks/evalsets/nb101-n<n>-seed<seed>.json``), or with
        ``n`` at least the table's size every labeled architecture."""
        if n >= self.bench.size:
            return np.flatnonzero(np.isfinite(self.bench.column(self.valid_truth)))
        return self.eval_indices(EvalConfig(n_archs=n, eval_seed=seed))[0][:n] if self.bench.is_full else \
            eval_set(np.where(np.isin(np.arange(self.bench.size), self.uniform_pool(n)),
                              self.bench.column(self.valid_truth), np.nan), n, seed)

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
