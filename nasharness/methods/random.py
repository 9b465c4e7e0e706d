"""Random search with a real cost model (Li & Talwalkar 2019; the NB201/NATS-Bench RS baseline).

Architectures are drawn uniformly without replacement (with the run's ``numpy.random.Generator``) among those the
table labels with both the proxy and the truth. Each one is "trained" by reading the budgeted proxy (e.g. 12-epoch
validation accuracy) and charged its simulated training time for the proxy epochs. The search stops before the arch
that would exceed the simulated-time budget, or at the arch-count budget. The pick is the best proxy value (ties: the
first evaluated). The harness reports the pick's truth, its regret, and the proxy-vs-truth ranking over all archs
the search saw.
"""

from __future__ import annotations

import numpy as np

from ..config import Budget
from ..errors import ConfigError
from .base import SearchContext, SearchOutcome

CI_ARCHS = 100


class RandomSearch:
    """Uniform random search over labeled architectures, budgeted by simulated training time or arch count."""

    name = "random"
    kind = "black-box"
    requires = frozenset({"table"})

    def __init__(self, config):
        self.config = config

    def budget(self, bench, dataset: str) -> Budget:
        """``ci``: 100 architectures; ``paper``: the benchmark's simulated search time for the dataset
        (``bench.search_seconds``, the order of magnitude of the NATS-Bench searches); ``--max-archs`` /
        ``--max-sim-seconds`` replace either."""
        c = self.config
        if c.overrides:
            raise ConfigError(f"random search takes no --set options (got {sorted(c.overrides)}); use --max-archs or "
                              f"--max-sim-seconds.")
        if c.max_archs is not None or c.max_sim_seconds is not None:
            return Budget(c.budget_label, c.max_archs, c.max_sim_seconds)
        if c.budget == "ci":
            return Budget("ci", max_archs=CI_ARCHS)
        seconds = (getattr(bench, "search_seconds", None) or {}).get(dataset)
        if seconds is None:
            raise ConfigError(f"benchmark {bench.name!r} declares no paper search time for {dataset!r} (its "
                              f"`search_seconds`); give the budget with --max-sim-seconds or --max-archs.")
        return Budget("paper", max_sim_seconds=seconds)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        bench, proto, budget = ctx.bench, ctx.protocol, ctx.budget
        proxy, final = bench.column(proto.proxy), bench.column(proto.final)
        universe = np.flatnonzero(np.isfinite(proxy) & np.isfinite(final))
        order = ctx.rng.permutation(universe)
        cost = bench.proxy_cost(order, proto)
        cum = np.cumsum(cost)
        n = len(order)
        if budget.max_sim_seconds is not None:
            n = int(np.searchsorted(cum, budget.max_sim_seconds, side="right"))
        if budget.max_archs is not None:
            n = min(n, budget.max_archs)
        if n < 1:
            raise ConfigError(
                f"the simulated-time budget {budget.max_sim_seconds:g} s is below the cost of one proxy evaluation "
                f"({cost[0]:.0f} s); raise --max-sim-seconds."
            )
        seen = order[:n]
        scores = proxy[seen]
        ctx.progress(n, n)
        # Incumbent after each evaluation: the first arch with the best proxy so far.
        best_so_far = np.maximum.accumulate(scores)
        new_best = np.r_[True, best_so_far[1:] > best_so_far[:-1]]
        incumbent = seen[np.maximum.accumulate(np.where(new_best, np.arange(n), 0))]
        trajectory = [
            {"step": int(i), "sim_seconds": float(cum[i]), "incumbent": int(incumbent[i]),
             f"incumbent/{proto.proxy}": float(proxy[incumbent[i]]),
             f"incumbent/{proto.final}": float(final[incumbent[i]])}
            for i in range(n)
        ]
        notes = []
        if n == len(universe):
            notes.append(f"the budget covered all {n} labeled architectures: the search was exhaustive")
        return SearchOutcome(
            chosen=int(incumbent[-1]), scored=seen, scores=scores, score_name=proto.proxy,
            sim_seconds=float(cum[n - 1]), trajectory=trajectory, notes=notes,
        )
