"""The tracker protocol every run logs through."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Protocol, runtime_checkable

_BAD = re.compile(r"[^\w\-. /:]")


def mlflow_key(name: str) -> str:
    """Our metric names to MLflow's allowed characters: ``@`` becomes ``_at_`` (``cifar10/ori-test_at_200``).

    MLflow keys may hold letters, digits, ``_ - . / :`` and spaces; ``@`` (our epoch-budget marker) is not allowed.
    The mapping is one-to-one for our names, and the run JSON keeps the original names.
    """
    return _BAD.sub("_", name.replace("@", "_at_"))


@runtime_checkable
class Tracker(Protocol):
    uri: str | None

    def __enter__(self) -> Tracker: ...
    def __exit__(self, *exc) -> None: ...
    def log_params(self, params: dict) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...
    def log_artifact(self, path: str | Path) -> None: ...
    def set_tags(self, tags: dict) -> None: ...


class NullTracker:
    """Records nothing (but keeps what it was given, which tests and dry runs can inspect)."""

    uri = None
    run_id = None

    def __init__(self):
        self.params: dict = {}
        self.metrics: dict[str, list[tuple[int | None, float]]] = {}
        self.tags: dict = {}
        self.artifacts: list[str] = []

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def log_params(self, params: dict) -> None:
        self.params.update(params)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        for k, v in metrics.items():
            if v is not None and math.isfinite(float(v)):
                self.metrics.setdefault(k, []).append((step, float(v)))

    def log_artifact(self, path: str | Path) -> None:
        self.artifacts.append(str(path))

    def set_tags(self, tags: dict) -> None:
        self.tags.update(tags)
