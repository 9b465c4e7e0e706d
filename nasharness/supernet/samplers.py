"""Path samplers: how each one-shot method picks the paths trained at one step.

A path is one choice index per searchable layer (edge). ``choices[k]`` is the number of candidates of layer k.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class UniformSampler:
    """SPOS (Guo et al., 2020): one path per step, each layer's choice uniform and independent."""

    name = "uniform"

    def __init__(self, choices: Sequence[int]):
        self.choices = list(choices)

    def sample_paths(self, rng: np.random.Generator) -> list[tuple[int, ...]]:
        return [tuple(int(rng.integers(c)) for c in self.choices)]


class FairSampler:
    """FairNAS strict fairness (Chu et al., 2021): m = number of choices paths per step; every layer draws an
    independent random permutation of its m choices and path k takes the k-th entry of each, so every choice of every
    layer appears exactly once among the m paths.

    Where layers have different numbers of choices (SCARLET's space: 13 with the identity, 12 without), m is the
    largest count and a layer with fewer choices fills its extra slots with uniform draws: every choice still appears
    at least once per step (our adaptation; with equal counts it is exactly strict fairness)."""

    name = "fair"

    def __init__(self, choices: Sequence[int]):
        self.choices = list(choices)
        self.m = max(self.choices)

    def sample_paths(self, rng: np.random.Generator) -> list[tuple[int, ...]]:
        cols = []
        for c in self.choices:
            col = rng.permutation(c)
            if c < self.m:
                col = rng.permutation(np.concatenate([col, rng.integers(0, c, self.m - c)]))
            cols.append(col)
        perms = np.stack(cols, axis=1)  # [m, layers]
        return [tuple(int(v) for v in row) for row in perms]


class SpecSampler:
    """Paths for the NAS-Bench-101 supernet: a graph, then ops per interior vertex.

    Graph: :func:`nasharness.spaces.nb101.sample_matrix` — matched to the space's distribution of vertex and edge
    counts (not NB101's random-search example, which yields mostly 3-5 vertex graphs and would leave the deep vertex
    positions of the supernet untrained). All paths of one step share the graph.

    Ops: ``op_sampler_cls`` over the n-2 interior vertices (3 choices each): SPOS draws one uniform path; FairNAS and
    SCARLET draw 3 paths in which every vertex takes every op exactly once (strict fairness per vertex position).
    """

    def __init__(self, op_sampler_cls: type):
        self.op_sampler_cls = op_sampler_cls
        self.name = f"nb101-graph+{op_sampler_cls.name}"

    def sample_paths(self, rng: np.random.Generator) -> list:
        from ..spaces import nb101  # noqa: PLC0415

        matrix = nb101.sample_matrix(rng)
        k = len(matrix) - 2
        if k:
            op_paths = self.op_sampler_cls([len(nb101.OPS)] * k).sample_paths(rng)
        else:  # input -> output only: as many (identical) paths as the sampler trains per step
            op_paths = [()] * len(self.op_sampler_cls([len(nb101.OPS)]).sample_paths(rng))
        return [nb101.make_spec(matrix, [nb101.INPUT, *(nb101.OPS[i] for i in p), nb101.OUTPUT])
                for p in op_paths]
