"""NAS-Bench-201's weight-sharing adapter, shared by the one-shot and the differentiable methods.

* Images: the supernet trains on the 25k ``cifar10-valid`` train half; inherited-weight accuracy (one-shot) or the
  architecture step (differentiable) uses the 25k x-valid half (both cut to the budget's fixed subsets).
* One-shot: a path is 6 op indices, search items are table rows; rankings against ``cifar10-valid/x-valid@200`` and
  ``cifar10/ori-test@200``; the pick is reported on all three datasets with its regret.
* Differentiable: one 6 x 5 row of architecture logits shared by all cells; every one of the 15,625 cells is scored
  ``sum_e log w[e, op_e]``; the derived cell is the argmax per edge (``none`` included: one op per edge).
"""

from __future__ import annotations

import numpy as np

from ..supernet.architect import ArchConfig
from ..supernet.evaluate import EvalConfig, eval_set
from ..supernet.trainer import SupernetConfig
from .pipeline import cifar_images

CI_EVAL = EvalConfig(n_archs=100, calib_batches=4, calib_batch_size=64, eval_batch_size=64, population=10,
                     sample_size=3, cycles=20, track_every=2, track_archs=20)
#: ``cpu``: the whole committed 1,000-arch evaluation set, BN recalibrated on 256 images, scored on 1,000 x-valid
#: images; the ranking probe every 10 epochs on 100 of those archs.
CPU_EVAL = EvalConfig(n_archs=1000, calib_batches=4, calib_batch_size=64, eval_batch_size=250, population=20,
                      sample_size=5, cycles=100, track_every=10, track_archs=100)
PAPER_EVAL = EvalConfig(n_archs=1000, calib_batches=10, calib_batch_size=256, eval_batch_size=1000, population=50,
                        sample_size=10, cycles=450, track_every=25, track_archs=100)


class TableAdapter:
    """What the CIFAR table adapters share: a path of a table row, the supernet's epoch log options."""

    log_paths = False

    def path(self, i: int):
        """The supernet path of table row ``i``."""
        return self.item_path(self.index_item(i))

    def images(self, ctx, s: SupernetConfig, device, purpose: str):
        return cifar_images(ctx, s, device, self.split)

    def notes(self) -> list[str]:
        return []


class NB201Adapter(TableAdapter):
    valid_truth = "cifar10-valid/x-valid@200"
    test_truth = "cifar10/ori-test@200"
    report = [test_truth, valid_truth, "cifar100/x-test@200", "ImageNet16-120/x-test@200"]
    split_name = "cifar10-valid train", "cifar10-valid x-valid"
    one_shot_budgets = {
        # ~2-5 CPU minutes: a small supernet, 10 epochs on a 5k-image subset, 100 archs scored on 500 valid images.
        "ci": (SupernetConfig(channels=8, cells_per_stage=1, epochs=10, batch_size=128, lr=0.05, n_train=5000,
                              n_valid=500, channels_last=True), CI_EVAL),
        # The CPU study budget (benchmarks/oneshot_study.py): C=8, N=1 on all 25k cifar10-valid train images, 50
        # epochs (about 20 CPU minutes for SPOS on 2 cores; FairNAS / SCARLET train 5 paths a step: 5x).
        "cpu": (SupernetConfig(channels=8, cells_per_stage=1, epochs=50, batch_size=128, lr=0.05, n_valid=1000,
                               channels_last=True), CPU_EVAL),
        # Paper scale for a GPU: C=16, N=5, the full 25k/25k split, 250 epochs, 1,000 archs, 500-eval evolution.
        "paper": (SupernetConfig(channels=16, cells_per_stage=5, epochs=250, batch_size=64, lr=0.025,
                                 channels_last=True), PAPER_EVAL),
    }
    differentiable_budgets = {
        # ~3-6 CPU minutes: C=8, N=1, 10 epochs; weights on 5k cifar10-valid train images, arch on 5k x-valid images.
        "ci": (SupernetConfig(channels=8, cells_per_stage=1, epochs=10, batch_size=128, lr=0.05, n_train=5000,
                              n_valid=5000, channels_last=True), ArchConfig()),
        # NB201's DARTS setting: C=16, N=5, 50 epochs, batch 64, the whole 25k/25k split.
        "paper": (SupernetConfig(channels=16, cells_per_stage=5, epochs=50, batch_size=64, lr=0.025, weight_decay=3e-4,
                                 channels_last=True), ArchConfig()),
    }
    #: Differentiable search scores every cell of the table (and so ranks them all).
    ranks_table = True
    trains_derived = False

    def __init__(self, bench):
        from ..spaces import NB201Space, nb201  # noqa: PLC0415

        self.bench = bench
        self.space = NB201Space()
        self.ops = nb201.OPS
        self.edges = [f"{i}->{j}" for i, j in nb201.EDGES]
        self._op_idx = None

    def protocol_truths(self) -> tuple[str, str]:
        return self.valid_truth, self.test_truth

    def shape(self, s: SupernetConfig) -> str:
        return f"C={s.channels}, N={s.cells_per_stage}"

    @staticmethod
    def split(data):
        return data.valid_split()

    # ---- one-shot -----------------------------------------------------------------------------------------------
    def supernet(self, s: SupernetConfig, linear: bool = False):
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

    # ---- standalone networks (zero-cost proxies) -----------------------------------------------------------------
    #: The network shape a zero-cost proxy scores, per budget (``paper``: NB201's own C=16, N=5).
    network_shapes = {"ci": {"channels": 8, "cells_per_stage": 1}, "paper": {"channels": 16, "cells_per_stage": 5}}
    #: How many architectures a zero-cost run scores per budget (``paper``: every one).
    zero_cost_archs = {"ci": 1000, "paper": 10**9}

    def network(self, i: int, shape: dict, num_classes: int = 10):
        """The untrained standalone network of table row ``i`` at ``shape``."""
        from ..supernet.nb201 import NB201Network  # noqa: PLC0415

        return NB201Network(self.bench.key_of(int(i)), shape["channels"], shape["cells_per_stage"], num_classes)

    def describe_network(self, shape: dict) -> str:
        return f"NB201 network C={shape['channels']}, N={shape['cells_per_stage']}"

    def zero_cost_set(self, n: int, seed: int) -> np.ndarray:
        """The architectures a zero-cost run scores: ``n`` drawn with ``seed`` among those labeled with the
        validation truth (the committed ``benchmarks/evalsets/nb201-n<n>-seed<seed>.json``), or every row."""
        if n >= self.bench.size:
            return np.arange(self.bench.size)
        return eval_set(self.bench.column(self.valid_truth), n, seed)

    # ---- differentiable -----------------------------------------------------------------------------------------
    def search_network(self, s: SupernetConfig, a: ArchConfig):
        return self.supernet(s)

    def shapes(self) -> list[tuple[int, int]]:
        return [(len(self.edges), len(self.ops))]

    @property
    def op_idx(self) -> np.ndarray:
        """``[rows, 6]``: each table row's op index per edge."""
        if self._op_idx is None:
            from ..spaces import nb201  # noqa: PLC0415

            keys = [self.bench.key_of(i) for i in range(self.bench.size)]
            self._op_idx = np.array([[self.ops.index(o) for o in nb201.parse_arch(k)] for k in keys])
        return self._op_idx

    def scores(self, weights: list[np.ndarray], activation: str) -> np.ndarray:
        """``sum_e log w[e, op_e]`` for every table row."""
        logw = np.log(np.clip(weights[0], 1e-300, None))
        return logw[np.arange(logw.shape[0])[None, :], self.op_idx].sum(1)

    def derive(self, weights, activation: str = "softmax", threshold: float = 0.85) -> str:
        from ..spaces import nb201  # noqa: PLC0415

        return nb201.format_arch([self.ops[int(k)] for k in weights[0].argmax(1)])

    def parse_rule_of(self, activation: str) -> str:
        return "argmax per edge"

    def skip_count(self, arch: str) -> int:
        return arch.count("skip_connect")

    def epoch_probe(self, weights, activation: str, derived: str) -> dict:
        """What a differentiable search logs per epoch beyond the skip count: the ranking of the whole table by the
        current weights, and the derived cell's test accuracy."""
        from ..metrics.ranking import kendall_tau  # noqa: PLC0415

        return {f"kt/{self.valid_truth}": kendall_tau(self.scores(weights, activation),
                                                      self.bench.column(self.valid_truth)).value,
                f"derived/{self.test_truth}": self.bench.query(self.bench.index_of(derived), self.test_truth)}

    def differentiable_protocol(self, dataset: str, s: SupernetConfig, a: ArchConfig, budget: str, train_derived: bool):
        from ..tabular.base import Protocol  # noqa: PLC0415

        return Protocol(dataset, self.valid_truth, self.test_truth, s.epochs,
                        f"supernet C={s.channels}, N={s.cells_per_stage}, {s.epochs} epochs: weights on "
                        f"{s.n_train or 'all'} cifar10-valid train images, architecture on {s.n_valid or 'all'} "
                        f"x-valid images ({'first' if a.order == 1 else 'second'}-order)")
