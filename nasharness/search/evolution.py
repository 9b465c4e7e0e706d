"""Regularized evolution (Real et al., 2019) and a random-sampling control, over any score function.

Archs are row indices of a tabular benchmark; ``mutate`` maps an index to a neighbour's index. Scores are cached, so
``n_evaluations`` counts distinct architectures scored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SearchTrace:
    best: int
    best_score: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (arch, score) in evaluation order

    @property
    def n_evaluations(self) -> int:
        return len(self.history)


class _Cached:
    def __init__(self, score: Callable[[int], float]):
        self.score = score
        self.cache: dict[int, float] = {}
        self.history: list[tuple[int, float]] = []

    def __call__(self, arch: int) -> float:
        if arch not in self.cache:
            self.cache[arch] = float(self.score(arch))
            self.history.append((arch, self.cache[arch]))
        return self.cache[arch]


def regularized_evolution(score: Callable[[int], float], sample: Callable[[np.random.Generator], int],
                          mutate: Callable[[int, np.random.Generator], int], rng: np.random.Generator, *,
                          population: int, sample_size: int, cycles: int) -> SearchTrace:
    """Age-regularized tournament evolution: each cycle mutates the best of ``sample_size`` random members and
    replaces the oldest member."""
    f = _Cached(score)
    pop: deque[tuple[int, float]] = deque()
    while len(pop) < population:
        a = sample(rng)
        pop.append((a, f(a)))
    for _ in range(cycles):
        picks = rng.choice(len(pop), sample_size, replace=False)
        parent = max((pop[i] for i in picks), key=lambda t: t[1])
        child = mutate(parent[0], rng)
        pop.append((child, f(child)))
        pop.popleft()
    best = max(f.history, key=lambda t: t[1])
    return SearchTrace(best[0], best[1], f.history)


def random_sampling(score: Callable[[int], float], sample: Callable[[np.random.Generator], int],
                    rng: np.random.Generator, *, n: int) -> SearchTrace:
    f = _Cached(score)
    for _ in range(n):
        f(sample(rng))
    best = max(f.history, key=lambda t: t[1])
    return SearchTrace(best[0], best[1], f.history)
