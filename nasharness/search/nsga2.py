"""NSGA-II (Deb et al., 2002) over any encoding: fast non-dominated sorting, crowding distance, binary tournaments,
crossover + mutation, elitist (mu + lambda) survival. All objectives are minimised (negate accuracies)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(objs: np.ndarray) -> list[list[int]]:
    """Fronts of row indices: front 0 is the Pareto front; each later front is non-dominated once the earlier ones
    are removed."""
    objs = np.asarray(objs, dtype=float)
    n = len(objs)
    dominated_by = [[] for _ in range(n)]
    count = np.zeros(n, dtype=int)
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(objs[i], objs[j]):
                dominated_by[i].append(j)
                count[j] += 1
            elif dominates(objs[j], objs[i]):
                dominated_by[j].append(i)
                count[i] += 1
    fronts = [[i for i in range(n) if count[i] == 0]]
    while fronts[-1]:
        nxt = []
        for i in fronts[-1]:
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(j)
        fronts.append(sorted(nxt))
    return fronts[:-1]


def crowding_distance(objs: np.ndarray) -> np.ndarray:
    """Per point of one front: the sum over objectives of the normalised gap between its neighbours; the extremes
    get infinity (they are always kept)."""
    objs = np.asarray(objs, dtype=float)
    n, m = objs.shape
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(objs[:, k], kind="stable")
        span = objs[order[-1], k] - objs[order[0], k]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (objs[order[2:], k] - objs[order[:-2], k]) / span
    return d


@dataclass
class NSGA2Result:
    population: list
    objectives: np.ndarray
    pareto: list
    pareto_objectives: np.ndarray
    n_evaluations: int
    history: list[dict] = field(default_factory=list)


def nsga2(evaluate: Callable[[object], tuple[float, ...]], sample: Callable, mutate: Callable,
          crossover: Callable, rng: np.random.Generator, *, population: int = 20, generations: int = 10,
          key: Callable[[object], str] = str, crossover_prob: float = 0.9) -> NSGA2Result:
    """Evolve ``population`` items for ``generations``; ``evaluate(item)`` returns the objectives (minimised), cached by
    ``key(item)``. Returns the final population and its Pareto front (over every evaluated item)."""
    cache: dict[str, tuple[float, ...]] = {}
    items: dict[str, object] = {}

    def score(item) -> tuple[float, ...]:
        k = key(item)
        if k not in cache:
            cache[k] = tuple(float(v) for v in evaluate(item))
            items[k] = item
        return cache[k]

    pop = []
    tries = 0
    while len(pop) < population and tries < population * 50:
        it = sample(rng)
        tries += 1
        if key(it) not in {key(p) for p in pop}:
            pop.append(it)
    objs = np.array([score(p) for p in pop])
    history = []
    for gen in range(generations):
        ranks, crowd = _rank_and_crowd(objs)
        children = []
        attempts = 0
        while len(children) < population and attempts < population * 50:
            attempts += 1
            a, b = (_tournament(ranks, crowd, rng) for _ in range(2))
            child = crossover(pop[a], pop[b], rng) if rng.random() < crossover_prob else pop[a]
            child = mutate(child, rng)
            if key(child) not in {key(c) for c in children} | {key(p) for p in pop}:
                children.append(child)
        union = pop + children
        uobjs = np.vstack([objs, np.array([score(c) for c in children])]) if children else objs
        pop, objs = _survivors(union, uobjs, population)
        front = non_dominated_sort(objs)[0]
        history.append({"generation": gen + 1, "pareto_size": len(front), "evaluations": len(cache),
                        **{f"best_objective_{k}": float(objs[:, k].min()) for k in range(objs.shape[1])}})
    keys = list(cache)
    all_objs = np.array([cache[k] for k in keys])
    front = non_dominated_sort(all_objs)[0]
    front = sorted(front, key=lambda i: tuple(all_objs[i]))
    return NSGA2Result(pop, objs, [items[keys[i]] for i in front], all_objs[front], len(cache), history)


def _rank_and_crowd(objs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ranks = np.zeros(len(objs), dtype=int)
    crowd = np.zeros(len(objs))
    for r, front in enumerate(non_dominated_sort(objs)):
        ranks[front] = r
        crowd[front] = crowding_distance(objs[front])
    return ranks, crowd


def _tournament(ranks: np.ndarray, crowd: np.ndarray, rng: np.random.Generator) -> int:
    i, j = (int(v) for v in rng.integers(0, len(ranks), 2))
    if ranks[i] != ranks[j]:
        return i if ranks[i] < ranks[j] else j
    return i if crowd[i] >= crowd[j] else j


def _survivors(items: list, objs: np.ndarray, n: int) -> tuple[list, np.ndarray]:
    keep: list[int] = []
    for front in non_dominated_sort(objs):
        if len(keep) + len(front) <= n:
            keep += front
            continue
        cd = crowding_distance(objs[front])
        order = np.argsort(-cd, kind="stable")
        keep += [front[i] for i in order[: n - len(keep)]]
        break
    return [items[i] for i in keep], objs[keep]
