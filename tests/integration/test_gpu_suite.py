"""The GPU path is ready: benchmarks/gpu.yaml validates, and benchmarks/run_gpu.py runs it end to end (here at its
--smoke size, on the CPU) and writes the results table with the device recorded."""

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_gpu_smoke_writes_results_with_the_device(tmp_path, cifar10_images):
    out = tmp_path / "gpu.csv"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_gpu.py"), "--smoke", "--only",
                        "spos,darts,synflow", "--out-dir", str(tmp_path / "sweeps"), "--results", str(out),
                        "--no-tracking"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.DictReader(open(tmp_path / "gpu-smoke.csv")))
    assert {row["method"] for row in rows} == {"spos", "darts", "synflow"}
    assert all(row["device"] in ("cpu",) or row["device"].startswith(("NVIDIA", "cuda")) for row in rows)
    assert all(float(row["device_hours_total"]) > 0 for row in rows)
