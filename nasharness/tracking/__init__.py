"""Tracking: a small protocol with an MLflow implementation (lazy, batched) and a null one."""

from .base import NullTracker, Tracker, mlflow_key
from .mlflow_tracker import MLflowTracker

__all__ = ["MLflowTracker", "NullTracker", "Tracker", "mlflow_key"]
