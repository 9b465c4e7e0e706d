"""Speed of the zero-cost proxies: the shared implementation (``nasharness.zc.compute``: one network, shared
forward/backward passes) against the straightforward one (``compute_reference``: a fresh network and separate passes
per proxy), on the same networks and the same minibatch.

    python benchmarks/perf_zc.py [--nb201 | --model-factory module:function] [--n-archs 20] [--batch-size 64]
                                 [--proxies synflow,snip,...] [--no-per-proxy] [--threads 1]
                                 [--out results/perf_zc.csv]

Networks: by default small conv nets defined here (width and depth vary with the index); ``--nb201`` the standalone
NB201 network (``nasharness.supernet.nb201.NB201Network``, C=16, N=5 unless --channels/--cells) of random cells from
``nasharness.spaces.NB201Space``; ``--model-factory module:function`` calls ``function(i)`` (or ``function()`` when it
takes no argument) for network i. Inputs are random CIFAR-sized images and labels (no data needed).

Rows: each proxy alone (shared vs reference; they should be close, except grasp, whose shared pass saves GraSP's
second forward) and ``all`` (every proxy in one call: where the sharing pays). ``identical`` says whether both
implementations returned the same numbers for every network. Compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import inspect
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import machine_meta, write_rows  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class SmallConvNet(nn.Module):
    """conv-BN-ReLU stem, ``depth`` conv-BN-ReLU blocks (stride 2 every other one), global pool, linear."""

    def __init__(self, width: int = 16, depth: int = 3, num_classes: int = 10):
        super().__init__()
        layers = [nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        c = width
        for i in range(depth):
            out = c * 2 if i % 2 else c
            layers += [nn.Conv2d(c, out, 3, stride=1 + i % 2, padding=1, bias=False), nn.BatchNorm2d(out),
                       nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def small_conv_net(i: int) -> nn.Module:
    return SmallConvNet(width=(8, 12, 16)[i % 3], depth=2 + i % 4)


def load_factory(spec: str):
    if ":" not in spec:
        raise SystemExit(f"--model-factory wants module:function, got {spec!r}")
    mod, fn = spec.split(":", 1)
    func = getattr(importlib.import_module(mod), fn)
    takes_index = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                      for p in inspect.signature(func).parameters.values())
    return (lambda i: partial(func, i)) if takes_index else (lambda i: func)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--nb201", action="store_true", help="random NB201 standalone networks")
    src.add_argument("--model-factory", help="module:function building network i")
    ap.add_argument("--n-archs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--num-classes", type=int, default=10)
    ap.add_argument("--channels", type=int, default=16, help="NB201 C")
    ap.add_argument("--cells", type=int, default=5, help="NB201 cells per stage N")
    ap.add_argument("--proxies", default=None, help="comma-separated (default: all)")
    ap.add_argument("--no-per-proxy", action="store_true", help="only the all-proxies row")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "perf_zc.csv"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from nasharness import zc  # noqa: PLC0415

    names = list(zc.PROXIES) if args.proxies is None else [p.strip() for p in args.proxies.split(",") if p.strip()]
    rng = np.random.default_rng(args.seed)
    if args.nb201:
        from nasharness.spaces import NB201Space  # noqa: PLC0415
        from nasharness.supernet.nb201 import NB201Network  # noqa: PLC0415

        space = NB201Space()
        archs = [space.sample(rng) for _ in range(args.n_archs)]
        factories = [partial(NB201Network, a, args.channels, args.cells, args.num_classes) for a in archs]
        network = f"nb201 C={args.channels} N={args.cells}"
    elif args.model_factory:
        make = load_factory(args.model_factory)
        factories = [make(i) for i in range(args.n_archs)]
        network = args.model_factory
    else:
        factories = [partial(small_conv_net, i) for i in range(args.n_archs)]
        network = "SmallConvNet (this script)"

    g = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.batch_size, 3, args.resolution, args.resolution, generator=g)
    y = torch.randint(0, args.num_classes, (args.batch_size,), generator=g)
    cfg = zc.ZCConfig(batch_size=args.batch_size)
    zc.compute(factories[0], names, (x, y), cfg)  # warm-up (lazy imports, allocator)

    def timed(fn, f, group):  # garbage collector off while timing (as timeit): its pauses land at random
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            out = fn(f, group, (x, y), cfg)
            return out, time.perf_counter() - t0
        finally:
            gc.enable()

    groups = ([] if args.no_per_proxy else [[p] for p in names]) + [names]
    rows = []
    print(f"{network}, {len(factories)} networks, batch {args.batch_size}, {torch.get_num_threads()} thread(s)")
    print(f"{'proxy':10s} {'shared archs/s':>15s} {'reference archs/s':>18s} {'ratio':>7s}  identical")
    for group in groups:
        t_shared = t_ref = 0.0
        identical = True
        for i, f in enumerate(factories):  # interleaved, alternating which goes first: drifts hit both alike
            a, ts = timed(zc.compute, f, group) if i % 2 == 0 else (None, 0.0)
            b, tr = timed(zc.compute_reference, f, group)
            if i % 2:
                a, ts = timed(zc.compute, f, group)
            t_shared += ts
            t_ref += tr
            identical &= all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in group)  # NaN == NaN here
        label = group[0] if len(group) == 1 else "all"
        n = len(factories)
        row = {"proxy": label, "archs_per_s_shared": f"{n / t_shared:.3f}",
               "archs_per_s_reference": f"{n / t_ref:.3f}", "ratio": f"{t_ref / t_shared:.3f}",
               "identical": identical, "n_archs": n, "batch_size": args.batch_size, "network": network}
        rows.append(row)
        print(f"{label:10s} {n / t_shared:15.3f} {n / t_ref:18.3f} {t_ref / t_shared:7.3f}  {identical}", flush=True)
    write_rows(args.out, rows, machine_meta())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
