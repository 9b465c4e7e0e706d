"""Helpers shared by the performance scripts (not part of the package)."""

from __future__ import annotations

import csv
import os
import platform
import statistics
import time
from dataclasses import dataclass
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


@dataclass
class SupernetWorkload:
    """An NB201 supernet and what its speed measurements feed it (see :func:`supernet_workload`)."""

    net: object
    paths: list
    x: object
    y: object
    fair_paths: list
    calib: object
    valid: object
    eval_config: object


def supernet_workload(n_archs: int, channels: int = 8, cells: int = 1, batch: int = 128) -> SupernetWorkload:
    """The same seeded workload for every script that times the supernet at the ``cpu`` budget's shape: ``n_archs``
    random NB201 paths, a channels-last supernet, one random batch, FairNAS's 5 paths of one step, 256 calibration
    and 1,000 validation images (random pixels) and the evaluation settings of ``cpu`` (4 x 64 calibration images,
    batches of 250)."""
    import numpy as np  # noqa: PLC0415
    import torch  # noqa: PLC0415

    from nasharness.spaces import NB201Space  # noqa: PLC0415
    from nasharness.supernet.evaluate import EvalConfig  # noqa: PLC0415
    from nasharness.supernet.nb201 import NB201Supernet, arch_to_path  # noqa: PLC0415
    from nasharness.supernet.samplers import FairSampler  # noqa: PLC0415
    from nasharness.supernet.trainer import GPUBatches  # noqa: PLC0415

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    space = NB201Space()
    paths = [arch_to_path(space.sample(rng)) for _ in range(n_archs)]
    net = NB201Supernet(channels, cells, 10).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    fair_paths = FairSampler([5] * 6).sample_paths(np.random.default_rng(1))
    images = rng.integers(0, 256, (1256, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 1256)
    cpu = torch.device("cpu")
    return SupernetWorkload(net, paths, x, y, fair_paths, GPUBatches(images[:256], labels[:256], cpu, True),
                            GPUBatches(images[256:], labels[256:], cpu, True),
                            EvalConfig(calib_batches=4, calib_batch_size=64, eval_batch_size=250))
