"""Tracking stores, made safe to share and bounded in time (no mlflow import here).

* **Limits.** ``NASHARNESS_TRACKING_TIMEOUT`` (seconds per HTTP request, default 10), ``NASHARNESS_TRACKING_RETRIES``
  (retries per request, default 1) and ``NASHARNESS_TRACKING_DEADLINE`` (seconds for the whole logging step of one
  run, default ``max(120, 4 * timeout * (retries + 1))``). For http(s) stores they become MLflow's
  ``MLFLOW_HTTP_REQUEST_TIMEOUT`` / ``_MAX_RETRIES`` / ``_BACKOFF_FACTOR`` / ``_BACKOFF_JITTER`` unless the user set
  those (MLflow reads them at request time). :func:`run_bounded` gives up on the logging step after the deadline: the
  run's ``result.json`` keeps the error and ``nasharness sync RUN_DIR`` uploads it later.
* **sqlite.** Several processes starting on one new ``sqlite:///`` file race on MLflow's schema creation (tables
  created twice, a half-migrated schema that later runs cannot open). :func:`store_lock` serialises opening the store
  (schema and experiment creation) with ``fcntl.flock`` on ``<db>.lock`` beside the database; :func:`retry_locked`
  retries ``database is locked`` with bounded backoff, so concurrent writers to one file all get their runs in.
* **Reading** a store (``compare``) never creates one and is bounded the same way: :func:`prepare_read`.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from ..errors import UserError

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_RETRIES = 1
_LOCKED = ("database is locked", "database table is locked", "sqlite_busy")
_SET_BY_US: set[str] = set()  # MLFLOW_HTTP_* variables configure_http set (the user's own are never changed)


class TrackingTimeout(TimeoutError):
    """The logging step (or the wait for a store's lock) ran past its deadline."""


def _env_number(name: str, default: float, *, integer: bool = False, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        kind = "an integer" if integer else "a number of seconds"
        raise UserError(f"{name}={raw!r} is not valid: it must be {kind} >= {minimum:g}; unset it for the default "
                        f"({default:g}).")
    return value


def limits() -> dict:
    """The tracking limits from the environment (validated: a bad value is a UserError naming the variable)."""
    timeout = _env_number("NASHARNESS_TRACKING_TIMEOUT", DEFAULT_TIMEOUT_S, minimum=0.001)
    retries = int(_env_number("NASHARNESS_TRACKING_RETRIES", DEFAULT_RETRIES, integer=True))
    deadline = _env_number("NASHARNESS_TRACKING_DEADLINE", max(120.0, 4 * timeout * (retries + 1)), minimum=0.001)
    return {"timeout_s": timeout, "retries": retries, "deadline_s": deadline}


def configure_http(uri: str | None, lim: dict | None = None) -> None:
    """Bound MLflow's HTTP requests for an http(s) store (MLflow's own defaults: 120 s timeout, 7 retries with
    exponential backoff — minutes per call on a dead server). Variables the user set are left alone."""
    if not uri or not uri.lower().startswith(("http://", "https://")):
        return
    lim = lim or limits()
    wanted = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(lim["timeout_s"]))),  # MLflow parses an int
              "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(lim["retries"]),
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5"}
    for k, v in wanted.items():
        if k not in os.environ or k in _SET_BY_US:
            os.environ[k] = v
            _SET_BY_US.add(k)


def sqlite_path(uri: str | None) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative to the working directory unless absolute); None for other
    stores and in-memory databases."""
    if not uri or not uri.lower().startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        return None
    return Path(path)


def require_existing_store(uri: str | None) -> None:
    """Reading from a sqlite store that does not exist must not create it (MLflow would, with an empty schema)."""
    path = sqlite_path(uri)
    if path is not None and not path.is_file():
        raise UserError(f"the MLflow store {uri!r} does not exist (no file {str(path.absolute())!r}); nothing was "
                        f"created. Point --tracking-uri (or MLFLOW_TRACKING_URI) at the store your runs were logged "
                        f"to, e.g. sqlite:////abs/path/mlflow.db or http://host:5000, or pass run directories.")


def prepare_read(uri: str | None) -> None:
    """Before reading runs from a store (``compare``): a missing sqlite file is an error, not a new store, and HTTP
    requests are bounded as for logging."""
    require_existing_store(uri)
    configure_http(uri)


@contextlib.contextmanager
def store_lock(uri: str | None, deadline: float | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<db>.lock`` beside a sqlite store (no-op for other stores), waiting at most
    until ``deadline`` (``time.monotonic()`` value). A lock file that cannot be made (read-only folder) is skipped:
    MLflow then reports the real problem."""
    path = sqlite_path(uri)
    if path is None or os.name == "nt":
        yield
        return
    import fcntl  # noqa: PLC0415 - POSIX only

    lock = path.with_name(path.name + ".lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        delay = 0.02
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TrackingTimeout(f"another process held {str(lock)!r} (the store's creation lock) past the "
                                          f"tracking deadline") from None
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def is_locked_error(exc: BaseException) -> bool:
    """sqlite's "database is locked" (SQLITE_BUSY), however MLflow / SQLAlchemy wrapped it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if any(s in str(exc).lower() for s in _LOCKED):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def retry_locked(fn: Callable[[], T], *, deadline: float | None = None, attempts: int = 12,
                 cancelled: Callable[[], bool] = lambda: False) -> T:
    """``fn()``, retried with exponential backoff (50 ms doubling to 2 s, jittered) while sqlite says the database
    is locked, at most ``attempts`` times and not past ``deadline``. Other errors propagate at once."""
    delay = 0.05
    for k in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if not is_locked_error(exc) or k == attempts - 1 or cancelled():
                raise
            pause = delay * (0.5 + random.random())
            if deadline is not None and time.monotonic() + pause >= deadline:
                raise
            time.sleep(pause)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")  # pragma: no cover


def run_bounded(fn: Callable[[], T], seconds: float, what: str, on_timeout: Callable[[], None] | None = None) -> T:
    """``fn()`` in a daemon worker thread, waiting at most ``seconds``: past that, ``on_timeout()`` (tell the worker
    to stop at its next call) and a :class:`TrackingTimeout`. The worker's own exception is re-raised here."""
    box: dict = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=work, name="nasharness-tracking", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if on_timeout is not None:
            on_timeout()
        raise TrackingTimeout(f"{what} did not finish within {seconds:g} s (NASHARNESS_TRACKING_DEADLINE); gave up")
    if "error" in box:
        raise box["error"]
    return box["value"]
