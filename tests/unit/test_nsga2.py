"""NSGA-II: non-dominated sorting and crowding on hand-made points; the search finds a known Pareto front."""

import numpy as np
import pytest

from nasharness.search.nsga2 import crowding_distance, dominates, non_dominated_sort, nsga2


def test_non_dominated_sort_on_known_points():
    pts = np.array([(1, 5), (2, 3), (3, 1), (2, 4), (4, 4), (2, 3)])
    assert dominates(np.array([2, 3]), np.array([2, 4])) and not dominates(np.array([2, 3]), np.array([2, 3]))
    assert non_dominated_sort(pts) == [[0, 1, 2, 5], [3], [4]]  # equal points share a front


def test_crowding_distance_keeps_extremes_and_measures_gaps():
    d = crowding_distance(np.array([(0, 10), (1, 6), (5, 5), (10, 0)]))
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx((5 - 0) / 10 + (10 - 5) / 10)
    assert d[2] == pytest.approx((10 - 1) / 10 + (6 - 0) / 10)


def test_nsga2_finds_the_pareto_front_of_a_known_problem():
    # items (a, b) on a 21 x 21 grid; minimise (a + b, 20 - a + b): the front is b = 0, every a
    def evaluate(item):
        a, b = item
        return a + b, 20 - a + b

    def sample(rng):
        return int(rng.integers(21)), int(rng.integers(21))

    def mutate(item, rng):
        a, b = item
        return int(np.clip(a + rng.integers(-3, 4), 0, 20)), int(np.clip(b + rng.integers(-3, 2), 0, 20))

    def crossover(x, y, rng):
        return x[0], y[1]

    res = nsga2(evaluate, sample, mutate, crossover, np.random.default_rng(0), population=16, generations=25)
    assert res.pareto and all(b == 0 for _, b in res.pareto)
    assert len({a for a, _ in res.pareto}) >= 8  # spread along the front (crowding)
    again = nsga2(evaluate, sample, mutate, crossover, np.random.default_rng(0), population=16, generations=25)
    assert again.pareto == res.pareto and again.n_evaluations == res.n_evaluations  # deterministic
