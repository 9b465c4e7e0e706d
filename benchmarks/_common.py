"""Helpers shared by the performance scripts (not part of the package)."""

from __future__ import annotations

import csv
import os
import platform
import statistics
import time
from pathlib import Path


def median_seconds(fn, reps: int, warmup: int = 0) -> float:
    """Median wall seconds of ``reps`` calls of ``fn``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine_meta(**extra) -> dict:
    """What every results row records about where it was measured."""
    meta = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d")}
    try:
        import torch  # noqa: PLC0415

        meta.update(torch=torch.__version__, threads=torch.get_num_threads())
    except ImportError:
        pass
    return {**meta, **extra}


def write_rows(out: str | Path, rows: list[dict], meta: dict) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*fields, *meta])
        w.writeheader()
        for r in rows:
            w.writerow({**r, **meta})
    print(f"wrote {out}")
    return out
