"""What a method receives and returns. The harness (``api.run``) does the scoring, tracking and writing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..config import Budget, RunConfig
from ..tabular.base import Protocol, TabularBenchmark


@dataclass
class SearchContext:
    bench: TabularBenchmark
    protocol: Protocol
    budget: Budget
    rng: np.random.Generator
    config: RunConfig
    #: ``progress(advance, total)``; a no-op when quiet.
    progress: Callable[[int, int], None] = lambda advance, total: None


@dataclass
class SearchOutcome:
    """``scored``/``scores``: the architectures the method ranked and its scores (higher = better), from which
    the harness computes ranking metrics against the protocol's truth."""

    chosen: int
    scored: np.ndarray
    scores: np.ndarray
    score_name: str
    sim_seconds: float
    trajectory: list[dict] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
