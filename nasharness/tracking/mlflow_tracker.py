"""MLflow tracker: imports mlflow lazily, batches every call into ``log_batch``; bounded and safe on shared sqlite
stores (:mod:`nasharness.tracking.store`)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from ..errors import UserError
from .base import mlflow_key
from .store import TrackingTimeout, configure_http, limits, retry_locked, store_lock

_MAX_BATCH = 900  # below MLflow's 1,000-metric limit per log_batch


class MLflowTracker:
    """Logs one MLflow run. ``tracking_uri`` None means MLflow's own default (``MLFLOW_TRACKING_URI`` or its
    local default store); the resolved URI is in ``self.uri`` after :meth:`resolve` (or entering).

    HTTP requests are bounded by ``NASHARNESS_TRACKING_TIMEOUT`` / ``_RETRIES``; ``deadline`` (a ``time.monotonic()``
    value) bounds lock waits and retries; :meth:`cancel` makes every later call raise (a caller that gave up)."""

    def __init__(self, experiment: str = "nasharness", tracking_uri: str | None = None, run_name: str | None = None,
                 tags: dict | None = None, deadline: float | None = None):
        self.experiment = experiment
        self.tracking_uri = tracking_uri
        self.run_name = run_name
        self._tags = dict(tags or {})
        self.uri: str | None = None
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.deadline = deadline
        self._client = None
        self._cancelled = False

    def resolve(self) -> str:
        """Import mlflow (in the calling thread), resolve the store URI and bound its HTTP requests."""
        try:
            import mlflow  # noqa: PLC0415 - lazy by design
        except ImportError as exc:  # pragma: no cover - mlflow is a dependency
            raise UserError("MLflow is not installed; `pip install mlflow` or use --no-tracking.") from exc
        if self.uri is None:
            self.uri = self.tracking_uri or mlflow.get_tracking_uri()
            configure_http(self.uri, limits())
        return self.uri

    def cancel(self) -> None:
        self._cancelled = True

    def _call(self, fn, *args, **kwargs):
        """One store call: refused once cancelled; sqlite's ``database is locked`` retried with bounded backoff."""
        if self._cancelled:
            raise TrackingTimeout("tracking was given up (deadline passed)")
        return retry_locked(lambda: fn(*args, **kwargs), deadline=self.deadline, cancelled=lambda: self._cancelled)

    def __enter__(self) -> MLflowTracker:
        self.resolve()
        from mlflow.tracking import MlflowClient  # noqa: PLC0415

        try:
            with store_lock(self.uri, self.deadline):  # sqlite: one process at a time creates schema / experiment
                self._client = MlflowClient(tracking_uri=self.uri)
                exp = self._call(self._client.get_experiment_by_name, self.experiment)
                self.experiment_id = (exp.experiment_id if exp else
                                      self._call(self._client.create_experiment, self.experiment))
            run = self._call(self._client.create_run, self.experiment_id, run_name=self.run_name,
                             tags={k: str(v) for k, v in self._tags.items()})
        except TrackingTimeout:
            raise
        except Exception as exc:
            raise UserError(
                f"cannot open the MLflow tracking store {self.uri!r} ({type(exc).__name__}: {exc}). Check "
                f"--tracking-uri / MLFLOW_TRACKING_URI, or run with --no-tracking; results are still written to "
                f"the run directory."
            ) from exc
        self.run_id = run.info.run_id
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._client is not None and self.run_id is not None and not self._cancelled:
            self._call(self._client.set_terminated, self.run_id, status="FAILED" if exc_type else "FINISHED")

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param  # noqa: PLC0415

        items = [Param(mlflow_key(str(k)), str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 90):  # params: at most 100 per batch
            self._call(self._client.log_batch, self.run_id, params=items[i:i + 90])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric  # noqa: PLC0415

        now = int(time.time() * 1000)
        items = [Metric(mlflow_key(k), float(v), now, int(step or 0)) for k, v in metrics.items()
                 if v is not None and math.isfinite(float(v))]
        for i in range(0, len(items), _MAX_BATCH):
            self._call(self._client.log_batch, self.run_id, metrics=items[i:i + _MAX_BATCH])

    def log_artifact(self, path: str | Path) -> None:
        self._call(self._client.log_artifact, self.run_id, str(path))

    def set_tags(self, tags: dict) -> None:
        from mlflow.entities import RunTag  # noqa: PLC0415

        self._call(self._client.log_batch, self.run_id,
                   tags=[RunTag(mlflow_key(str(k)), str(v)) for k, v in tags.items()])
