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
    layer appears exactly once among the m paths."""

    name = "fair"

    def __init__(self, choices: Sequence[int]):
        if len(set(choices)) != 1:
            raise ValueError(
                f"strict fairness needs the same number of choices in every layer, got {sorted(set(choices))}"
            )
        self.choices = list(choices)
        self.m = self.choices[0]

    def sample_paths(self, rng: np.random.Generator) -> list[tuple[int, ...]]:
        perms = np.stack([rng.permutation(self.m) for _ in self.choices], axis=1)  # [m, layers]
        return [tuple(int(v) for v in row) for row in perms]
