"""Regularized evolution (Real et al., AAAI 2019) over a tabular benchmark, as an outside nasharness method.

Each "training" reads the benchmark's budgeted proxy (e.g. 12-epoch validation accuracy) and is charged its
simulated training time, as nasharness' own random search is, so the two compare at equal cost. Children come from
the benchmark's search space (``bench.space``: its ``sample`` and ``mutate``); a child the table does not label is
redrawn. The method only asks the benchmark what it offers — a table and a search space — never its name.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from nasharness.config import Budget
from nasharness.contracts import SearchContext, SearchOutcome
from nasharness.errors import ConfigError
from nasharness.plugins import SPACES


class RegularizedEvolution:
    """Regularized evolution on the table's proxy at the proxy's simulated training cost (Real et al. 2019)."""

    kind = "black-box"
    requires = frozenset({"table"})
    population = 20
    sample_size = 5

    def __init__(self, config):
        self.config = config
        unknown = set(config.overrides) - {"population", "sample_size"}
        if unknown:
            raise ConfigError(f"rea takes --set population=N and --set sample_size=N only (got {sorted(unknown)}).")
        self.population = int(config.overrides.get("population", self.population))
        self.sample_size = int(config.overrides.get("sample_size", self.sample_size))
        if not 2 <= self.sample_size <= self.population:
            raise ConfigError(f"rea needs 2 <= sample_size <= population, got {self.sample_size} and "
                              f"{self.population}.")

    def budget(self, bench, dataset: str) -> Budget:
        c = self.config
        if c.max_archs is not None or c.max_sim_seconds is not None:
            return Budget(c.budget_label, c.max_archs, c.max_sim_seconds)
        return Budget(c.budget_label, max_archs=100 if c.budget == "ci" else 1000)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        bench, proto, budget, rng = ctx.bench, ctx.protocol, ctx.budget, ctx.rng
        space = SPACES.get(bench.space)
        proxy, final = bench.column(proto.proxy), bench.column(proto.final)
        seen: list[int] = []
        spent = 0.0

        def row(arch) -> int | None:
            i = bench.row_of(arch)
            return i if i is not None and np.isfinite(proxy[i]) and np.isfinite(final[i]) else None

        def evaluate(i: int) -> bool:
            """Pay for one proxy observation; False when the budget is spent."""
            nonlocal spent
            cost = float(bench.proxy_cost(np.array([i]), proto)[0])
            if budget.max_archs is not None and len(seen) >= budget.max_archs:
                return False
            if budget.max_sim_seconds is not None and spent + cost > budget.max_sim_seconds:
                return False
            seen.append(i)
            spent += cost
            return True

        labeled = np.flatnonzero(np.isfinite(proxy) & np.isfinite(final))
        fallbacks = 0

        def draw(make) -> int:
            """A labeled architecture from ``make``; where the table labels only a sliver of the space (NB101's
            slices) and 100 tries find none, a random labeled one instead (counted in the notes)."""
            nonlocal fallbacks
            for _ in range(100):
                i = row(make())
                if i is not None:
                    return i
            fallbacks += 1
            return int(rng.choice(labeled))

        pop: deque[int] = deque()
        while len(pop) < self.population and evaluate(i := draw(lambda: space.sample(rng))):
            pop.append(i)
        while pop:
            picks = rng.choice(len(pop), min(self.sample_size, len(pop)), replace=False)
            parent = max((pop[k] for k in picks), key=lambda k: proxy[k])
            child = draw(lambda p=parent: space.mutate(bench.arch_of(p), rng))
            if not evaluate(child):
                break
            pop.append(child)
            pop.popleft()
            ctx.progress(len(seen), budget.max_archs or len(seen))
        if not seen:
            raise ConfigError("the budget pays for no proxy evaluation; raise --max-sim-seconds or --max-archs.")
        scored = np.array(seen)
        best = int(scored[int(np.argmax(proxy[scored]))])
        first = dict.fromkeys(seen)  # a re-drawn architecture is scored once
        uniq = np.array(list(first))
        return SearchOutcome(chosen=best, scored=uniq, scores=proxy[uniq], score_name=proto.proxy,
                             sim_seconds=spent, params={"population": self.population,
                                                        "sample_size": self.sample_size},
                             notes=[f"{len(seen)} proxy evaluations ({len(uniq)} distinct architectures); {fallbacks} "
                                    f"draws found no labeled architecture and took a random labeled one"])
