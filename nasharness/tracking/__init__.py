"""Tracking: a small protocol with an MLflow implementation (lazy, batched, bounded) and a null one."""

from .base import NullTracker, Tracker, mlflow_key
from .mlflow_tracker import MLflowTracker
from .store import TrackingTimeout, prepare_read, require_existing_store

__all__ = ["MLflowTracker", "NullTracker", "Tracker", "TrackingTimeout", "mlflow_key", "prepare_read",
           "require_existing_store"]
