"""MLflow tracker: imports mlflow lazily, batches every call into ``log_batch``."""

from __future__ import annotations

import math
import time
from pathlib import Path

from ..errors import UserError
from .base import mlflow_key

_MAX_BATCH = 900  # below MLflow's 1,000-metric limit per log_batch


class MLflowTracker:
    """Logs one MLflow run. ``tracking_uri`` None means MLflow's own default (``MLFLOW_TRACKING_URI`` or its
    local default store); the resolved URI is in ``self.uri`` after entering."""

    def __init__(self, experiment: str = "nasharness", tracking_uri: str | None = None, run_name: str | None = None,
                 tags: dict | None = None):
        self.experiment = experiment
        self.tracking_uri = tracking_uri
        self.run_name = run_name
        self._tags = dict(tags or {})
        self.uri: str | None = None
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._client = None

    def __enter__(self) -> MLflowTracker:
        try:
            import mlflow  # noqa: PLC0415 - lazy by design
            from mlflow.tracking import MlflowClient  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - mlflow is a dependency
            raise UserError("MLflow is not installed; `pip install mlflow` or use --no-tracking.") from exc
        self.uri = self.tracking_uri or mlflow.get_tracking_uri()
        try:
            self._client = MlflowClient(tracking_uri=self.uri)
            exp = self._client.get_experiment_by_name(self.experiment)
            self.experiment_id = exp.experiment_id if exp else self._client.create_experiment(self.experiment)
            run = self._client.create_run(self.experiment_id, run_name=self.run_name,
                                          tags={k: str(v) for k, v in self._tags.items()})
        except Exception as exc:
            raise UserError(
                f"cannot open the MLflow tracking store {self.uri!r} ({type(exc).__name__}: {exc}). Check "
                f"--tracking-uri / MLFLOW_TRACKING_URI, or run with --no-tracking; results are still written to "
                f"the run directory."
            ) from exc
        self.run_id = run.info.run_id
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._client is not None and self.run_id is not None:
            self._client.set_terminated(self.run_id, status="FAILED" if exc_type else "FINISHED")

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param  # noqa: PLC0415

        items = [Param(mlflow_key(str(k)), str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 90):  # params: at most 100 per batch
            self._client.log_batch(self.run_id, params=items[i:i + 90])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric  # noqa: PLC0415

        now = int(time.time() * 1000)
        items = [Metric(mlflow_key(k), float(v), now, int(step or 0)) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for i in range(0, len(items), _MAX_BATCH):
            self._client.log_batch(self.run_id, metrics=items[i:i + _MAX_BATCH])

    def log_artifact(self, path: str | Path) -> None:
        self._client.log_artifact(self.run_id, str(path))

    def set_tags(self, tags: dict) -> None:
        from mlflow.entities import RunTag  # noqa: PLC0415

        self._client.log_batch(self.run_id, tags=[RunTag(mlflow_key(str(k)), str(v)) for k, v in tags.items()])
