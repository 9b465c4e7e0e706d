"""What a method receives and returns. The harness (``api.run``) does the scoring, tracking and writing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
    #: ``progress(done, total)``; a no-op when quiet.
    progress: Callable[[int, int], None] = lambda done, total: None
    #: ``status(message)``: what the run is doing now.
    status: Callable[[str], None] = lambda message: None
    #: The run directory (exists before the search starts: checkpoints and artifacts go here).
    run_dir: Path | None = None
    resume: bool = False
    #: ``phase(name)``: the method entered one of its own phases (peak memory is charged per phase).
    phase: Callable[[str], None] = lambda name: None


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
    #: Truth columns to rank ``scores`` against (default: the protocol's final metric).
    rank_truths: list[str] | None = None
    #: Per truth, a boolean mask over ``scored`` selecting the archs it is ranked over (default: all whose truth is
    #: finite). E.g. NB101 ranks ``val@108`` over the uniform sample and ``test@108`` over the archs that have it.
    rank_subsets: dict[str, np.ndarray] = field(default_factory=dict)
    #: Truth columns reported for the chosen arch (default: final and proxy) and those given a regret.
    report: list[str] | None = None
    regret_on: list[str] | None = None
    costs: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)
    #: Spaces without a table (the DARTS space): the chosen architecture's string and any measured truths (e.g. the
    #: derived network trained from scratch, ``cifar10/test@600``); ``chosen``/``scored`` are then unused.
    chosen_arch: str | None = None
    truth: dict[str, float] = field(default_factory=dict)
