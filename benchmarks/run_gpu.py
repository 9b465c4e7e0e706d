"""Run the GPU suite (``benchmarks/gpu.yaml``) and write ``results/gpu.csv``: the comparison table plus the device
every cell ran on (from each run's ``result.json``), and the GPU-hours it took.

    python benchmarks/run_gpu.py                     # the whole suite; run it again to resume after an interruption
    python benchmarks/run_gpu.py --only spos,fairnas # some methods
    python benchmarks/run_gpu.py --smoke             # every cell at a toy size, on whatever device there is (CPU ok)

A cell that finished is never run again (the sweep's state, ``runs/sweeps/gpu/sweep.json``); a cell killed mid-way
resumes from its checkpoint.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: --smoke: every cell of the suite at a toy size (a check that the path works, not a measurement).
SMOKE = {
    "one-shot": {"epochs": "1", "n_train": "256", "n_valid": "128", "n_archs": "8", "cycles": "2", "population": "4",
                 "sample_size": "2", "channels": "4", "cells_per_stage": "1"},
    "differentiable": {"epochs": "1", "n_train": "256", "n_valid": "256", "channels": "4", "cells_per_stage": "1"},
    "zero-cost": {"n_archs": "6", "batch_size": "8", "channels": "4", "cells_per_stage": "1"},
}


def main(argv=None) -> int:
    from nasharness.compare import aggregate, records_from_dirs
    from nasharness.io import atomic_write_text
    from nasharness.plugins import METHODS
    from nasharness.suite import load_suite, sweep

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default=str(ROOT / "benchmarks" / "gpu.yaml"))
    ap.add_argument("--out-dir", default="runs/sweeps")
    ap.add_argument("--results", default=str(ROOT / "results" / "gpu.csv"))
    ap.add_argument("--only", default="", help="comma-separated methods")
    ap.add_argument("--smoke", action="store_true", help="toy sizes on any device (checks the path works)")
    ap.add_argument("--no-tracking", action="store_true")
    a = ap.parse_args(argv)
    suite = load_suite(a.suite)
    if a.smoke:
        import dataclasses

        over = {m: SMOKE.get(getattr(METHODS.factory(m), "kind", ""), {}) for m in suite.methods}
        suite = dataclasses.replace(suite, suite=f"{suite.suite}-smoke", overrides=over, seeds=suite.seeds[:1],
                                    bootstrap=20)
    wanted = {m.strip() for m in a.only.split(",") if m.strip()}
    outcome = sweep(suite, out_dir=a.out_dir, tracking=not a.no_tracking,
                    only=(lambda c: c.method in wanted) if wanted else None)
    sweep_dir = Path(a.out_dir) / suite.suite
    table = aggregate(records_from_dirs([sweep_dir]))
    devices: dict[tuple, set] = {}
    hours: dict[tuple, float] = {}
    for f in sweep_dir.rglob("result.json"):
        r = json.loads(f.read_text())
        key = (r["method"], str(r["bench"]), r["dataset"])
        devices.setdefault(key, set()).add(str(r["protocol"].get("device", "cpu")))
        hours[key] = hours.get(key, 0.0) + float(r["costs"].get("device_hours", 0.0))
    table["device"] = [", ".join(sorted(devices.get((m, str(b), d), {"?"}))) for m, b, d in
                       zip(table["method"], table["bench"], table["dataset"], strict=True)]
    table["device_hours_total"] = [round(hours.get((m, str(b), d), 0.0), 4) for m, b, d in
                                   zip(table["method"], table["bench"], table["dataset"], strict=True)]
    buf = io.StringIO()
    table.to_csv(buf, index=False, float_format="%.6g", quoting=csv.QUOTE_MINIMAL)
    out = Path(a.results if not a.smoke else Path(a.results).with_name("gpu-smoke.csv"))
    atomic_write_text(out, buf.getvalue())
    print(f"{len(outcome.done)} cells run, {len(outcome.skipped_done)} already done, {len(outcome.failed)} failed; "
          f"wrote {out}", file=sys.stderr)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
