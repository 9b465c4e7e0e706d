"""Provenance of a run: package version, git commit, platform."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import threading

from .paths import REPO_ROOT


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def reset_peak_rss() -> bool:
    """Start a new peak-memory window (Linux: writing 5 to /proc/self/clear_refs resets VmHWM), so that several runs
    in one process (a sweep) each report their own peak. False where the platform cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory of this process since the last :func:`reset_peak_rss` (Linux VmHWM), else since start
    (getrusage: Linux reports KiB, macOS bytes)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc/self/statm); NaN elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


class MemoryMonitor:
    """Peak resident memory per phase: a daemon thread samples RSS every ``interval`` seconds and charges it to the
    phase set last (``phase(name)``); phase boundaries sample too. Spikes shorter than the interval can be missed,
    so the run's overall peak also comes from the kernel's exact high-water mark (:func:`peak_rss_mb`)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self._phase = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> None:
        rss = current_rss_mb()
        if rss == rss:  # not NaN
            self.peaks[self._phase] = max(self.peaks.get(self._phase, 0.0), rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemoryMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._sample()
        self._stop.set()
        self._thread.join(timeout=1)

    def phase(self, name: str) -> None:
        self._sample()
        self._phase = name
        self._sample()


def environment() -> dict:
    from . import __version__  # noqa: PLC0415

    return {"nasharness": __version__, "git_commit": git_commit(), "python": platform.python_version(),
            "platform": platform.platform(), "machine": platform.machine()}
