"""Where the NB201 supernet's time goes at a budget's network shape, and what that allows a speedup to reach.

    python benchmarks/perf_roofline.py [--channels 8 --cells 1 --batch 128] [--out results/perf_roofline.csv]

For random architectures it times (median of ``--reps``) and profiles (``torch.profiler``, self CPU time per aten op)
a SPOS step (forward, backward, SGD update), a FairNAS step (5 paths, one update), 5 SPOS steps on the same 5 paths,
BN recalibration (4 batches of 64 in train mode) and the validation pass of inherited-weight evaluation (1,000
images, batches of 250, eval mode, BN folded, inference mode). Each row gives the shares of the profiled time spent in
convolutions (forward and backward), batch norm, ReLU, pooling, the optimizer and everything else, and
``bound_keeping_convs`` = 1 / conv share: the speedup if everything but the convolutions took no time at all, the
ceiling for any change that keeps the convolutions (fusion, fewer kernels, a compiler). The convolutions' rate is
given in GFLOP/s of direct-convolution arithmetic (``torch.utils.flop_counter``, 2 per multiply-add; oneDNN may use
cheaper algorithms, so this can exceed the dense matmul rate measured beside it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from _common import machine_meta, median_seconds, supernet_workload, write_rows  # noqa: E402
from torch.nn import functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parent.parent
#: aten op name fragments -> category (first match wins; the rest is "other")
CATEGORIES = (("conv", ("convolution", "conv2d", "mkldnn_conv")), ("batch_norm", ("batch_norm",)),
              ("relu", ("relu", "threshold_backward")), ("pooling", ("avg_pool", "pool2d")),
              ("optimizer", ("_foreach", "sgd", "add_.", "mul_.", "lerp")))


def category(op: str) -> str:
    name = op.lower()
    for cat, keys in CATEGORIES:
        if any(k in name for k in keys):
            return cat
    return "other"


def shares(fn, reps: int) -> dict[str, float]:
    """Self CPU time per category over ``reps`` profiled calls, as shares of their sum (leaf ops only)."""
    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(reps):
            fn()
    total: dict[str, float] = defaultdict(float)
    for ev in prof.key_averages():
        total[category(ev.key)] += ev.self_cpu_time_total
    s = sum(total.values()) or 1.0
    return {k: total.get(k, 0.0) / s for k in [c for c, _ in CATEGORIES] + ["other"]}


def conv_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(sum(v for op, v in counter.get_flop_counts().get("Global", {}).items() if "conv" in str(op)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--cells", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--archs", type=int, default=6)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "results" / "perf_roofline.csv"))
    a = ap.parse_args(argv)

    from nasharness.supernet.evaluate import InheritedEvaluator  # noqa: PLC0415

    C, N, B = a.channels, a.cells, a.batch
    w = supernet_workload(a.archs, C, N, B)
    net, paths, x, y, fair_paths = w.net, w.paths, w.x, w.y, w.fair_paths
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    rows: list[dict] = []

    def spos(path):
        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x, path), y).backward()
            opt.step()
        return step

    def fair_step():
        opt.zero_grad(set_to_none=True)
        for p in fair_paths:
            F.cross_entropy(net(x, p), y).backward()
        opt.step()

    def five_spos():
        for p in fair_paths:
            spos(p)()

    ev = InheritedEvaluator(net, w.calib, w.valid, w.eval_config)

    def validate(path):
        def run():
            with torch.inference_mode():
                for i in range(0, len(ev.valid_x), 250):
                    net(ev.valid_x[i:i + 250], path)
        return run

    m1, m2 = torch.randn(2048, 2048), torch.randn(2048, 2048)
    t_mm = median_seconds(lambda: m1 @ m2, 9, warmup=1)
    matmul_rate = 2 * 2048 ** 3 / t_mm / 1e9
    print(f"dense float32 matmul 2048^3: {matmul_rate:.1f} GFLOP/s")
    workloads = [(f"SPOS step (C={C}, N={N}, batch {B})", [spos(p) for p in paths], None),
                 ("FairNAS step (5 paths, one update)", [fair_step], None),
                 ("5 SPOS steps on the same 5 paths", [five_spos], None),
                 ("BN recalibration (4 x 64 images, train mode)", [lambda p=p: ev._prepare(p) for p in paths], None),
                 ("validation pass (1,000 images, eval mode, BN folded)", [validate(p) for p in paths], paths)]
    for name, fns, prepare in workloads:
        t, sh, fl = [], defaultdict(list), []
        for k, fn in enumerate(fns):
            if prepare is not None:
                ev._prepare(prepare[k])  # the recalibrated statistics this architecture's pass uses
            t.append(median_seconds(fn, a.reps, warmup=1))
            for cat, v in shares(fn, a.reps).items():
                sh[cat].append(v)
            fl.append(conv_flops(fn))
        ms = 1000 * statistics.mean(t)
        mean = {cat: statistics.mean(v) for cat, v in sh.items()}
        conv_s = mean["conv"] * ms / 1000
        row = {"measurement": name, "ms": f"{ms:.2f}", **{f"{cat}_share": f"{v:.3f}" for cat, v in mean.items()},
               "bound_keeping_convs": f"{1 / mean['conv']:.2f}" if mean["conv"] else "",
               "conv_gflop_per_s": f"{statistics.mean(fl) / conv_s / 1e9:.1f}" if conv_s else "",
               "matmul_gflop_per_s": f"{matmul_rate:.1f}", "archs": len(fns)}
        rows.append(row)
        print(f"{name:54s} {ms:8.2f} ms  " + " ".join(f"{c} {v:.2f}" for c, v in mean.items())
              + f"  bound x{row['bound_keeping_convs']}", flush=True)
    ev.restore()
    write_rows(a.out, rows, machine_meta(device="cpu", C=C, N=N, batch=B))
    return 0


if __name__ == "__main__":
    sys.exit(main())
