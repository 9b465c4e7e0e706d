"""The written contracts between the harness and its plugins: :class:`SearchSpace`, :class:`Benchmark` (with and
without a table), :class:`WeightSharing` (a benchmark's adapter for supernet methods) and :class:`Method`.

A plugin meets a contract by having the attributes and methods below (structural typing: nothing to inherit). The
harness never asks a benchmark for its name to decide what to do; it asks what the benchmark *offers*:

=================  ===================================================================================================
capability         what the benchmark then provides
=================  ===================================================================================================
``table``          ``column``/``query``/``protocol``/``proxy_cost`` ... (:class:`TabularBenchmark`): a search on it is
                   scored against the table's truth
``trained-labels`` ``trained_protocol(dataset)``: fully trained labels and their training-time column (predictors)
``encoding``       ``encode_all()``: one feature array per row (predictors)
``one-shot``       ``weight_sharing`` names an adapter with the one-shot parts (supernet, sampler, evaluation set)
``differentiable`` the adapter has the differentiable parts (architecture weights, derivation)
``network``        the adapter's ``network(arch, shape, num_classes)``: a standalone, untrained ``torch.nn.Module``
                   (zero-cost proxies) of a table row, or on a space without a table of an architecture key, with
                   ``arch_key``, ``space_ops`` (sample / mutate), ``crossover`` and ``candidate_costs`` (MAdds,
                   params) for the proxies' own search; ``images`` names the dataset its inputs come from
``trains-derived`` a derived architecture can be trained from scratch for its truth (``--train-derived``)
=================  ===================================================================================================

A method declares ``requires`` (a set of those capabilities); :func:`missing_capabilities` checks them before any
data is loaded, from the benchmark factory's static ``offers``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .config import Budget, RunConfig
    from .tabular.base import Protocol as ScoringProtocol

#: Every capability a benchmark may offer (see the module docstring).
CAPABILITIES = ("table", "trained-labels", "encoding", "one-shot", "differentiable", "network", "trains-derived")


@runtime_checkable
class SearchSpace(Protocol):
    """A set of architectures: draw, change and check one. Architectures are whatever the space uses (an NB201 arch
    string, an NB101 ``Spec``, a DARTS ``Genotype``); the space's ``validate`` turns a user spelling into one."""

    name: str

    def sample(self, rng: np.random.Generator) -> Any:
        """One architecture drawn with ``rng`` (the space's own distribution, documented by the space)."""

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        """A different architecture one small change away (regularized evolution's mutation)."""

    def validate(self, arch: Any) -> Any:
        """The canonical architecture, or a :class:`~nasharness.errors.UserError` saying what is wrong with it."""


@runtime_checkable
class Benchmark(Protocol):
    """What a search runs on. Registered under a name in :data:`nasharness.plugins.BENCHMARKS` as a factory
    ``factory(data_dir=None, **kwargs) -> Benchmark``; the factory (or class) carries ``datasets`` and ``offers``
    statically, so configs are checked before any data is loaded.

    ``tabular``: whether a table of trained architectures scores the search (False: the method reports its derived
    architecture and what it measured itself). ``space``: the name of its search space in
    :data:`~nasharness.plugins.SPACES`. ``weight_sharing``: a ``package.module:Class`` reference to its
    :class:`WeightSharing` adapter, or ``None``."""

    name: str
    datasets: tuple[str, ...]
    offers: frozenset[str]
    tabular: bool
    space: str
    space_size: int
    weight_sharing: str | None

    def check_dataset(self, dataset: str) -> str:
        """``dataset`` if the benchmark labels it, else a user error listing the valid ones."""

    def protocol(self, dataset: str) -> ScoringProtocol:
        """How a budgeted search is scored on ``dataset``: the proxy it observes, the final truth, the proxy's
        epochs (see :class:`nasharness.tabular.base.Protocol`)."""

    def info(self) -> dict:
        """What ``nasharness bench info`` prints."""


@runtime_checkable
class TabularBenchmark(Benchmark, Protocol):
    """A benchmark with a table (``offers`` has ``table``): one row per architecture, metric columns named
    ``<dataset>/<split>@<epochs>``, accuracies in percent."""

    size: int
    coverage: float
    metrics: list[str]

    def column(self, metric: str) -> np.ndarray:
        """The metric over all rows, float64 with NaN where unknown."""

    def query(self, arch: str | int, metric: str) -> float: ...

    def query_many(self, indices: np.ndarray, metric: str) -> np.ndarray: ...

    def index_of(self, arch: str | int) -> int: ...

    def key_of(self, index: int) -> str: ...

    def arch_of(self, index: int) -> Any:
        """Row ``index`` as an architecture of the benchmark's search space (``SPACES[bench.space]``)."""

    def row_of(self, key: str) -> int | None: ...

    def proxy_cost(self, indices: np.ndarray, protocol: ScoringProtocol) -> np.ndarray:
        """Simulated seconds a search is charged for observing the proxy of each of ``indices``."""

    def free_baselines(self, dataset: str) -> dict[str, np.ndarray]:
        """The rankings any search must beat, free to compute, one score per row (higher = predicted better): at
        least ``params``, and ``flops`` and the low-epoch training proxy where known. Keys name what the score is
        (``params``, ``flops``, ``cifar10-valid/x-valid@12``)."""


@runtime_checkable
class WeightSharing(Protocol):
    """A benchmark's adapter for supernet methods (one per space; one-shot and differentiable methods share it):
    the image split, the supernet, what a path is, the evaluation set, and for differentiable methods the
    architecture-weight shapes and the derivation rule. ``one_shot_budgets`` / ``differentiable_budgets`` map the
    budget names (``ci``, ``paper``) to the trainer's and the evaluation's configs."""

    one_shot_budgets: ClassVar[dict]
    differentiable_budgets: ClassVar[dict]

    def split(self, data) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the images the supernet trains on and of those it is evaluated (or its architecture fitted) on."""


@runtime_checkable
class Method(Protocol):
    """A search method, registered in :data:`nasharness.plugins.METHODS` as a class built with the run's
    :class:`~nasharness.config.RunConfig`.

    ``requires``: the benchmark capabilities it needs. ``budget`` turns the config's budget name and overrides into a
    :class:`~nasharness.config.Budget` (and rejects overrides it cannot honour); ``search`` returns the architectures
    it ranked, their scores and its pick (:class:`~nasharness.methods.base.SearchOutcome`). The harness, not the
    method, compares the scores with the truth, writes the result and logs it. Optionally ``protocol(bench, dataset)``
    replaces the benchmark's scoring protocol (a method that trains on images states its own)."""

    kind: str
    requires: frozenset[str]
    #: Optional: the budget names it has (default ``ci`` and ``paper``; :func:`method_budgets`).
    budgets: tuple[str, ...]
    #: Optional: the method computes on the benchmark's images (``bench.images``); suites skip a table's other
    #: datasets for it instead of failing.
    needs_images: bool

    def __init__(self, config: RunConfig) -> None: ...

    def budget(self, bench: Benchmark, dataset: str) -> Budget: ...

    def search(self, ctx: SearchContext) -> SearchOutcome: ...


# ---- what a method receives and returns -------------------------------------------------------------------------
@dataclass
class SearchContext:
    #: The benchmark object (a :class:`Benchmark`; a :class:`TabularBenchmark` when it offers ``table``).
    bench: Any
    protocol: ScoringProtocol
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


def offers(benchmark_or_factory) -> frozenset[str]:
    """The capabilities a benchmark (or its registered factory) declares."""
    found = getattr(benchmark_or_factory, "offers", None)
    if found is None:  # an outside benchmark from before capabilities: a table if it says so
        return frozenset({"table"}) if getattr(benchmark_or_factory, "tabular", True) else frozenset()
    return frozenset(found)


def missing_capabilities(method_cls, benchmark_or_factory) -> list[str]:
    """The capabilities ``method_cls.requires`` that the benchmark does not offer, in a stable order."""
    need: Iterable[str] = getattr(method_cls, "requires", ())
    have = offers(benchmark_or_factory)
    return sorted(set(need) - have)


def adapter_class(bench) -> type:
    """The class of the benchmark's :class:`WeightSharing` adapter (its ``weight_sharing`` reference imported); works
    on the registered factory too, so budgets are known before any data is loaded."""
    from .errors import UserError  # noqa: PLC0415
    from .registry import import_reference  # noqa: PLC0415

    ref = getattr(bench, "weight_sharing", None)
    if not ref:
        raise UserError(f"benchmark {getattr(bench, 'name', bench)!r} has no weight-sharing adapter (its "
                        f"`weight_sharing` is unset), so supernet methods cannot run on it.")
    return import_reference(ref, "weight-sharing adapter")


def method_budgets(method_cls) -> tuple[str, ...]:
    """The budget names a method has: its ``budgets``, else ``ci`` and ``paper``."""
    from .config import DEFAULT_METHOD_BUDGETS  # noqa: PLC0415

    return tuple(getattr(method_cls, "budgets", DEFAULT_METHOD_BUDGETS))


def adapter_budget(budgets: dict, kind: str, bench, budget: str):
    """``budgets[budget]`` of an adapter's ``<kind>_budgets``, or a user error naming the budgets it has."""
    from .errors import UserError  # noqa: PLC0415

    if budget not in budgets:
        raise UserError(f"benchmark {bench.name!r} has no {kind} budget {budget!r}; it has "
                        f"{', '.join(budgets) or 'none'}.")
    return budgets[budget]


def adapter_of(bench) -> Any:
    """The benchmark's :class:`WeightSharing` adapter, built for the loaded benchmark."""
    return adapter_class(bench)(bench)
