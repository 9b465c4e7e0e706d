"""The DARTS CIFAR-10 cell space's weight-sharing adapter (differentiable methods; no table).

Architecture parameters: 14 x 8 logits for the normal and 14 x 8 for the reduction cell. The derived genotype is
DARTS' ``top2`` (per node the two edges with the strongest non-``none`` op) for softmax weights, Fair DARTS'
``threshold_sparse`` (every edge whose strongest non-``none`` sigmoid exceeds the threshold, at most two per node)
for sigmoid weights. The weights / architecture halves are CIFAR-10's ``cifar10-valid`` split of the training images.
"""

from __future__ import annotations

from ..supernet.architect import ArchConfig
from ..supernet.trainer import SupernetConfig
from .pipeline import cifar_images


class DartsAdapter:
    one_shot_budgets: dict = {}
    differentiable_budgets = {
        # A smoke-scale search: 4 channels, 5 cells, 2 epochs on 1k + 1k images (minutes on 2 CPU cores).
        "ci": (SupernetConfig(channels=4, cells_per_stage=1, epochs=2, batch_size=64, lr=0.05, n_train=1000,
                              n_valid=1000, channels_last=True), ArchConfig(layers=5)),
        # DARTS' search: 16 channels, 8 cells, 50 epochs, batch 64, CIFAR-10 train halves for weights / architecture.
        "paper": (SupernetConfig(channels=16, cells_per_stage=1, epochs=50, batch_size=64, lr=0.025, weight_decay=3e-4,
                                 channels_last=True), ArchConfig(layers=8)),
    }
    #: No table: the search reports its derived genotype (and, with --train-derived, its trained accuracy).
    ranks_table = False
    #: ``--train-derived`` trains the derived network from scratch (the space's own truth).
    trains_derived = True

    def __init__(self, bench):
        from ..spaces import darts  # noqa: PLC0415

        self.bench = bench
        self.space = darts
        self.ops = darts.PRIMITIVES
        self.edges = [f"{i}->{j}" for i, j in darts.EDGES]

    @staticmethod
    def split(data):
        return data.valid_split()

    def images(self, ctx, s: SupernetConfig, device, purpose: str):
        return cifar_images(ctx, s, device, self.split)

    def search_network(self, s: SupernetConfig, a: ArchConfig):
        from ..supernet.darts import DartsSearchNetwork  # noqa: PLC0415

        return DartsSearchNetwork(s.channels, a.layers, 10)

    def shapes(self) -> list[tuple[int, int]]:
        return [(len(self.edges), len(self.ops))] * 2

    def parse_rule_of(self, activation: str) -> str:
        return "threshold_sparse" if activation == "sigmoid" else "top2 per node"

    def derive(self, weights, activation: str = "softmax", threshold: float = 0.85):
        rule = "threshold" if activation == "sigmoid" else "top2"
        return self.space.derive(weights[0], weights[1], rule, threshold)

    def skip_count(self, genotype) -> int:
        return genotype.skip_count(False)

    def epoch_probe(self, weights, activation: str, derived) -> dict:
        return {}

    # ---- standalone networks (zero-cost proxies; no table: the proxy ranks sampled candidates) ---------------
    #: The network a zero-cost proxy scores: DARTS' evaluation network with ``cells_per_stage`` cells between the two
    #: reduction cells (3 N + 2 cells in all), no auxiliary head. ``paper``: DARTS' own 36 channels, 20 cells.
    network_shapes = {"ci": {"channels": 8, "cells_per_stage": 1}, "paper": {"channels": 36, "cells_per_stage": 6}}
    #: Candidates a zero-cost search scores per budget (drawn with the space's ``sample``, or NSGA-II's budget).
    zero_cost_archs = {"ci": 20, "paper": 1000}
    zero_cost_strategy = "sample"

    def network(self, genotype, shape: dict, num_classes: int = 10):
        from ..supernet.darts import DartsNetwork  # noqa: PLC0415

        return DartsNetwork(self.space.parse_genotype(genotype), shape["channels"], 3 * shape["cells_per_stage"] + 2,
                            num_classes, auxiliary=False)

    def describe_network(self, shape: dict) -> str:
        return (f"DARTS network {shape['channels']} channels, {3 * shape['cells_per_stage'] + 2} cells, no auxiliary "
                f"head")

    @property
    def space_ops(self):
        """The space's ``sample`` / ``mutate`` on genotypes."""
        return self.space.DartsSpace()

    def crossover(self, a, b, rng):
        """The normal cell of one parent with the reduction cell of the other."""
        a, b = (self.space.parse_genotype(g) for g in (a, b))
        return self.space.Genotype(a.normal, a.normal_concat, b.reduce, b.reduce_concat) if rng.random() < 0.5 else \
            self.space.Genotype(b.normal, b.normal_concat, a.reduce, a.reduce_concat)

    def arch_key(self, genotype) -> str:
        return repr(self.space.parse_genotype(genotype))

    def candidate_costs(self, genotype) -> dict[str, float]:
        """Size of the candidate at DARTS' evaluation setting (36 channels, 20 cells, 32x32)."""
        from ..train import describe_genotype  # noqa: PLC0415

        d = describe_genotype(self.space.parse_genotype(genotype))
        return {"madds_M": d["search/derived/madds_M@C36-L20-32px"], "params_M": d["search/derived/params_M@C36-L20"]}

    cost_note = "MAdds and params of the 36-channel, 20-cell network at 32x32"

    def differentiable_protocol(self, dataset: str, s: SupernetConfig, a: ArchConfig, budget: str, train_derived: bool):
        from ..train import derived_protocol  # noqa: PLC0415

        return derived_protocol(budget, train_derived, s, a)
