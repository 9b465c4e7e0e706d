"""Typed, validated run configuration. Every check names the field, the value and the fix."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ConfigError, brief, shorten

BUDGET_NAMES = ("ci", "cpu", "paper")
#: The budgets a method has unless it declares its own (``budgets``): ``cpu`` is a one-shot study budget only.
DEFAULT_METHOD_BUDGETS = ("ci", "paper")


@dataclass(frozen=True)
class Budget:
    """How much a search may spend. ``None`` means unlimited along that axis (at least one must be set)."""

    name: str
    max_archs: int | None = None
    max_sim_seconds: float | None = None

    def __post_init__(self):
        if self.max_archs is None and self.max_sim_seconds is None:
            raise ConfigError(f"budget {self.name!r} sets neither max_archs nor max_sim_seconds; set at least one.")
        if self.max_archs is not None and (not isinstance(self.max_archs, int) or self.max_archs < 1
                                           or self.max_archs > 10_000_000):
            raise ConfigError(f"max_archs must be an integer in 1..10,000,000, got {brief(self.max_archs)}.")
        if self.max_sim_seconds is not None and (not math.isfinite(self.max_sim_seconds)
                                                 or not 0 < self.max_sim_seconds <= 1e12):
            raise ConfigError(
                f"max_sim_seconds must be a positive number of simulated seconds (at most 1e12), got "
                f"{brief(self.max_sim_seconds)}."
            )


#: The most architecture evaluations any budget may ask for.
MAX_ARCHS = 10_000_000


def derived_budget(name: str, max_archs: int, formula: str, keys: tuple[str, ...], overrides: dict) -> Budget:
    """A :class:`Budget` whose ``max_archs`` a method derives from its own settings (``formula`` of ``keys``, e.g.
    ``n_archs + population + cycles``). Out of range is an error naming the ``--set`` keys the user gave and the values
    they typed, not the derived total they never wrote."""
    if isinstance(max_archs, int) and not isinstance(max_archs, bool) and max_archs > MAX_ARCHS:
        given = [k for k in keys if k in overrides]
        said = ", ".join(f"--set {k}={shorten(overrides[k], 40)}" for k in given) or "this budget"
        raise ConfigError(f"{said} asks for {max_archs:,} architecture evaluations ({formula}); at most "
                          f"{MAX_ARCHS:,} are allowed. Lower {' or '.join(given or keys)}.")
    return Budget(name, max_archs=max_archs)


@dataclass(frozen=True)
class RunConfig:
    """One ``nasharness run``. Names are checked against the registries when the run starts."""

    method: str
    bench: str
    dataset: str | None = None
    budget: str = "ci"
    seed: int = 0
    data_dir: str | None = None
    tracking: bool = True
    tracking_uri: str | None = None
    experiment: str = "nasharness"
    out_dir: str = "runs"
    max_archs: int | None = None
    max_sim_seconds: float | None = None
    n_boot: int = 200
    top_k: tuple[int, ...] = (10, 50)
    quiet: bool = False
    resume: bool = False
    device: str = "auto"
    dataset_root: str | None = None
    #: Pin threads, kernel ISA and deterministic algorithms for bit-equal numbers across machines (slower).
    deterministic: bool = False
    #: ``--set key=value`` overrides of the method's budget (e.g. supernet ``epochs``, eval ``n_archs``).
    overrides: dict = field(default_factory=dict)
    #: Extra MLflow tags (a sweep sets ``suite``, ``cell`` and ``mlflow.parentRunId`` to nest its runs).
    tags: dict = field(default_factory=dict)

    @property
    def budget_label(self) -> str:
        """The one spelling of the budget in results, tables and MLflow: the budget's name, plus ``+overrides`` when
        any ``--set`` or ``--max-archs`` / ``--max-sim-seconds`` changed it (``ci``, ``ci+overrides``)."""
        changed = bool(self.overrides) or self.max_archs is not None or self.max_sim_seconds is not None
        return f"{self.budget}+overrides" if changed else self.budget

    def __post_init__(self):
        if self.budget not in BUDGET_NAMES:
            raise ConfigError(f"unknown budget {brief(self.budget)}; valid: {', '.join(BUDGET_NAMES)}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must be an integer in 0..2**32-1, got {brief(self.seed)}.")
        if not isinstance(self.n_boot, int) or not 0 <= self.n_boot <= 100_000:
            raise ConfigError(f"n_boot (bootstrap resamples) must be an integer in 0..100000, got "
                              f"{brief(self.n_boot)}.")
        if not self.top_k or any(not isinstance(k, int) or k < 1 for k in self.top_k):
            raise ConfigError(f"top_k must be positive integers, got {brief(self.top_k)}.")
        if not str(self.experiment).strip():
            raise ConfigError("experiment name must not be empty; pass --experiment NAME.")
        if self.device not in ("auto", "cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {brief(self.device)}.")
        if self.max_archs is not None or self.max_sim_seconds is not None:
            Budget("override", self.max_archs, self.max_sim_seconds)  # validates the values

    def to_dict(self) -> dict:
        d = asdict(self)
        d["top_k"] = list(self.top_k)
        return d

    @property
    def out_path(self) -> Path:
        return Path(self.out_dir).expanduser()


def check_int(owner: str, name: str, value, lo: int, hi: int | None = None) -> None:
    """An integer field in [lo, hi], or a ConfigError naming the field, the value and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{owner} {name} must be an integer in {rng}, got {brief(value)}.")


def check_number(owner: str, name: str, value, lo: float = 0.0) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < lo:
        raise ConfigError(f"{owner} {name} must be a finite number >= {lo:g}, got {brief(value)}.")


def _coerce(key: str, text: str, annotation) -> object:
    """Parse a ``--set`` string into a dataclass field's (resolved) type."""
    text = str(text).strip()
    if typing.get_origin(annotation) is tuple:  # a comma-separated list (e.g. fisher_modules=Conv2d,Linear)
        return tuple(part.strip() for part in text.split(",") if part.strip())
    kinds = typing.get_args(annotation) or (annotation,)
    if type(None) in kinds and text.lower() in ("none", "null", "all"):
        return None
    for kind in kinds:
        if kind is bool:
            if text.lower() in ("true", "1", "yes", "false", "0", "no"):
                return text.lower() in ("true", "1", "yes")
        elif kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                continue
        elif kind is str:
            return text
    raise ConfigError(f"--set {shorten(key, 40)}={brief(text)}: cannot read it as {annotation}.")


def apply_overrides(configs: list, overrides: dict, kind: str) -> list:
    """``--set key=value`` pairs applied to whichever of ``configs`` (frozen dataclasses) has the field ``key``;
    an unknown key is an error listing every valid one. Values are parsed to the field's type and re-validated."""
    hints = [typing.get_type_hints(type(c)) for c in configs]
    changes: list[dict] = [{} for _ in configs]
    for key, value in overrides.items():
        for k, h in enumerate(hints):
            if key in h:
                changes[k][key] = _coerce(key, value, h[key])
                break
        else:
            valid = sorted({name for h in hints for name in h})
            raise ConfigError(f"unknown --set key {brief(key)} for {kind} methods; valid: {', '.join(valid)}.")
    return [dataclasses.replace(c, **ch) if ch else c for c, ch in zip(configs, changes, strict=True)]
