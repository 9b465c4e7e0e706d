"""Speed of the NB201 supernet pipeline, as ratios against references measured in the same run.

    python benchmarks/perf_supernet.py [--out results/perf_supernet.csv] [--reps 3]
    python benchmarks/perf_supernet.py --cpu-budget [--out results/perf_supernet_cpu.csv]

``--cpu-budget`` measures at the ``cpu`` budget's shape instead (C=8, N=1, batch 128, channels-last; evaluation with
4 x 64 calibration images and 1,000 validation images in batches of 250): the SPOS step, the FairNAS step and
inherited-weight evaluation of today's supernet against the same supernet with the native average pool swapped back
in (the code before ``supernet/pooling.py``), on the same architectures and weights, in the same run, and whether
the two give the same numbers bit for bit; then the study's scoring pass over 1,000 architectures
(``--eval-archs``), where the evaluator computes what sorted paths share once per image batch, against the
one-path-at-a-time loop with today's pool and with the native one (:func:`scoring_pass`).


At C=16, N=5, batch 64 (the NB201 paper network) on the same fixed architectures it measures one SGD step
(forward + backward + update) of:
  * our supernet on a single path (SPOS step), with and without channels-last memory format,
  * our standalone network of the same arch (supernet overhead = ratio),
  * a FairNAS step (m = 5 paths, one update) against our SPOS step,
  * the peers a user would pick instead, when installed (skipped cleanly otherwise):
    xautodl 1.0.0 (``generic`` NB201 search model with ``set_cal_mode('dynamic', arch)``, and its standalone
    ``TinyNetwork``), nni 3.0 (``RandomOneShot`` on its ``NasBench201`` space);
and inherited-weight evaluation with BN recalibration (our evaluator vs a straightforward per-arch loop), and the
data pipeline's share of a step. Timings are medians; compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import torch
from _common import machine_meta, median_seconds, supernet_workload, write_rows  # noqa: E402
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def median_ms(fn, reps: int, warmup: int = 1) -> float:
    return 1000 * median_seconds(fn, reps, warmup)


def sgd_step(model, forward, x, y):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(forward(x), y).backward()
        opt.step()

    return step


def with_native_pool(net):
    """``net`` with every supernet average pool replaced by ``nn.AvgPool2d`` (the kernel before supernet/pooling)."""
    from nasharness.supernet.pooling import AvgPool3x3  # noqa: PLC0415

    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, AvgPool3x3):
                setattr(module, name, torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False))
    return net


def cpu_budget(args) -> int:
    """The ``cpu`` budget's shape: today's supernet against the native-pool one, same archs, weights and run."""
    import copy  # noqa: PLC0415

    from nasharness.supernet.evaluate import InheritedEvaluator  # noqa: PLC0415

    C, N, B = 8, 1, 128
    w = supernet_workload(args.archs, C, N, B)
    ours, paths, x, y, fair_paths = w.net, w.paths, w.x, w.y, w.fair_paths
    native = with_native_pool(copy.deepcopy(ours))
    rows: list[dict] = []

    def steps(net, path_list):
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)

        def step():
            opt.zero_grad(set_to_none=True)
            losses = []
            for p in path_list:
                loss = F.cross_entropy(net(x, p), y)
                loss.backward()
                losses.append(float(loss.detach()))
            opt.step()
            return losses
        return step

    def pair(name, make, note=""):
        # alternate the two variants, so a slow moment of the machine hits both
        t_ours, t_native, same = [], [], True
        for _ in range(args.reps):
            for fn in make:
                fa, fb = fn(ours), fn(native)
                a0 = time.perf_counter()
                ra = fa()
                a1 = time.perf_counter()
                rb = fb()
                a2 = time.perf_counter()
                t_ours.append(a1 - a0)
                t_native.append(a2 - a1)
                same = same and ra == rb
        ms_ours, ms_native = 1000 * statistics.median(t_ours), 1000 * statistics.median(t_native)
        ratio = ms_native / ms_ours
        rows.append({"measurement": name, "ms": f"{ms_ours:.2f}", "reference": "native average pool (before)",
                     "reference_ms": f"{ms_native:.2f}", "speedup_vs_reference": f"{ratio:.3f}",
                     "identical": "yes" if same else "NO", "note": note})
        print(f"{name:52s} {ms_ours:8.2f} ms vs {ms_native:8.2f} ms  x{ratio:.3f}  identical={same}", flush=True)

    for net in (ours, native):  # warm-up: first calls allocate and pick kernels
        steps(net, paths[:1])()
    # every variant trains from the same weights: a fresh copy per timed call
    base = copy.deepcopy(ours.state_dict())

    def fresh(path_list):
        def make(net):
            net.load_state_dict(base)
            return steps(net, path_list)
        return make

    pair(f"SPOS step (C={C}, N={N}, batch {B})", [fresh([p]) for p in paths],
         f"median over {len(paths)} random architectures x {args.reps}")
    pair("FairNAS step (5 paths, one update)", [fresh(fair_paths)])

    def evaluate(net):
        ev = InheritedEvaluator(net, w.calib, w.valid, w.eval_config)

        def run():
            out = [ev.accuracy(p) for p in paths]
            ev.restore()
            return out
        return run

    pair(f"inherited-weight eval, {len(paths)} archs (BN recalibrated)", [evaluate],
         "4 x 64 calibration images, 1,000 validation images in batches of 250")
    rows += scoring_pass(args.eval_archs, w, ours, native, args.eval_reps)
    write_rows(args.out, rows, machine_meta(device="cpu", C=C, N=N, batch=B))
    return 0


def scoring_pass(n_archs: int, w, ours, native, reps: int) -> list[dict]:
    """The study's scoring pass, ``InheritedEvaluator.many`` over ``n_archs`` distinct random NB201 paths (like the
    committed evaluation set: 1,000 of the 15,625 cells, drawn at random), on a quarter of the workload ``w``'s images
    in the ``cpu`` budget's batch sizes (one calibration batch of 64, one validation batch of 250): today's evaluator,
    which computes what sorted paths share once per batch, against the one-path-at-a-time loop, with today's pool and
    with the native pool (the code before both). The three alternate in every repetition; the scores must be equal."""
    import dataclasses  # noqa: PLC0415

    from nasharness.spaces.nb201 import N_ARCHS  # noqa: PLC0415
    from nasharness.supernet.evaluate import InheritedEvaluator  # noqa: PLC0415

    cells = np.random.default_rng(2).choice(N_ARCHS, n_archs, replace=False)
    paths = [tuple(int(c) // 5 ** e % 5 for e in range(6)) for c in cells]
    cfg = dataclasses.replace(w.eval_config, calib_batches=1)
    full = InheritedEvaluator(ours, w.calib, w.valid, cfg)  # its calibration images: the first batch of 64
    tensors = (full.calib_x, full.valid_x[:cfg.eval_batch_size], full.valid_y[:cfg.eval_batch_size])
    variants = {"shared": (ours, True), "per-arch": (ours, False), "per-arch, native pool": (native, False)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    scores: dict[str, np.ndarray] = {}
    for _ in range(reps):
        for name, (net, share) in variants.items():
            ev = InheritedEvaluator(net, None, None, cfg, tensors=tensors)
            ev.share_prefixes = share
            t0 = time.perf_counter()
            scores[name] = ev.many(paths)
            times[name].append(time.perf_counter() - t0)
            ev.restore()
    ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
    rows = []
    for ref, label in (("per-arch", "one path at a time (today's pool)"),
                       ("per-arch, native pool", "one path at a time, native average pool (before)")):
        same = scores["shared"].tobytes() == scores[ref].tobytes()
        rows.append({"measurement": f"scoring pass, {n_archs} archs (InheritedEvaluator.many, BN recalibrated)",
                     "ms": f"{ms['shared']:.2f}", "reference": label, "reference_ms": f"{ms[ref]:.2f}",
                     "speedup_vs_reference": f"{ms[ref] / ms['shared']:.3f}", "identical": "yes" if same else "NO",
                     "note": f"1 x 64 calibration images, 250 validation images; median of {reps}"})
        print(f"{rows[-1]['measurement']:52s} {ms['shared']:9.1f} ms vs {ms[ref]:9.1f} ms ({label})  "
              f"x{ms[ref] / ms['shared']:.3f}  identical={same}", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-budget", action="store_true", help="measure at the cpu budget's shape (see above)")
    ap.add_argument("--out", default=None, help="default: results/perf_supernet.csv (perf_supernet_cpu.csv)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--archs", type=int, default=4)
    ap.add_argument("--eval-archs", type=int, default=1000, help="--cpu-budget: archs of the scoring pass")
    ap.add_argument("--eval-reps", type=int, default=3, help="--cpu-budget: repetitions of the scoring pass")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args(argv)
    if args.out is None:
        args.out = str(ROOT / "results" / ("perf_supernet_cpu.csv" if args.cpu_budget else "perf_supernet.csv"))
    if args.cpu_budget:
        return cpu_budget(args)

    from nasharness.spaces import NB201Space  # noqa: PLC0415
    from nasharness.supernet.evaluate import EvalConfig, InheritedEvaluator  # noqa: PLC0415
    from nasharness.supernet.nb201 import NB201Network, NB201Supernet, arch_to_path  # noqa: PLC0415
    from nasharness.supernet.samplers import FairSampler  # noqa: PLC0415
    from nasharness.supernet.trainer import GPUBatches  # noqa: PLC0415

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    space = NB201Space()
    archs = [space.sample(rng) for _ in range(args.archs)]
    C, N, B = args.channels, args.cells, args.batch
    x = torch.randn(B, 3, 32, 32)
    y = torch.randint(0, 10, (B,))
    rows: list[dict] = []

    def record(name, ms, reference=None, ref_ms=None, note=""):
        ratio = (ref_ms / ms) if ref_ms else None
        rows.append({"measurement": name, "ms": f"{ms:.2f}", "reference": reference or "",
                     "reference_ms": f"{ref_ms:.2f}" if ref_ms else "",
                     "speedup_vs_reference": f"{ratio:.3f}" if ratio else "", "note": note})
        print(f"{name:58s} {ms:9.2f} ms  {f'x{ratio:.3f} vs {reference}' if ratio else ''}", flush=True)

    def per_arch(make_step) -> float:
        return statistics.mean(median_ms(make_step(a), args.reps) for a in archs)

    # ---- ours ------------------------------------------------------------------------------------------------
    sup = NB201Supernet(C, N, 10)
    def path_step(model, a, xin):
        path = arch_to_path(a)
        return sgd_step(model, lambda t: model(t, path), xin, y)

    ours_plain = per_arch(lambda a: path_step(sup, a, x))
    sup_cl = NB201Supernet(C, N, 10).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    ours_cl = per_arch(lambda a: path_step(sup_cl, a, x_cl))
    ours = min(ours_plain, ours_cl)
    best_layout = "channels_last" if ours_cl < ours_plain else "contiguous"
    record("ours: supernet single-path step (contiguous)", ours_plain)
    record("ours: supernet single-path step (channels_last)", ours_cl, "contiguous", ours_plain)

    def standalone_step(a):
        net = NB201Network(a, C, N, 10)
        xin = x
        if best_layout == "channels_last":
            net, xin = net.to(memory_format=torch.channels_last), x_cl
        return sgd_step(net, net, xin, y)

    standalone = per_arch(standalone_step)
    record("ours: standalone network step", standalone, note="same archs, same layout as the faster supernet")
    record("ours: supernet overhead (supernet / standalone)", ours, "ours: standalone network step", standalone,
           note=f"overhead = {100 * (ours / standalone - 1):.1f}% (target <= 5%)")

    fair = FairSampler([5] * 6)
    net = sup_cl if best_layout == "channels_last" else sup
    xin = x_cl if best_layout == "channels_last" else x
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def fair_step():
        opt.zero_grad(set_to_none=True)
        for p in fair.sample_paths(rng):
            F.cross_entropy(net(xin, p), y).backward()
        opt.step()

    fair_ms = median_ms(fair_step, args.reps)
    paths = fair.sample_paths(np.random.default_rng(1))
    single = [sgd_step(net, lambda t, p=p: net(t, p), xin, y) for p in paths]  # noqa: B023
    spos_same = sum(median_ms(f, args.reps) for f in single)
    record("ours: FairNAS step (5 paths, one update)", fair_ms, "5 SPOS steps on 5 such paths", spos_same,
           note=f"target: FairNAS step <= m x SPOS step; mean single-path step here {spos_same / 5:.1f} ms")

    # ---- data pipeline share ------------------------------------------------------------------------------------
    data = GPUBatches(rng.integers(0, 256, (4096, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 4096),
                      torch.device("cpu"), best_layout == "channels_last")
    gen = torch.Generator().manual_seed(0)
    load_ms = median_ms(lambda: data.augmented(torch.randint(0, 4096, (B,), generator=gen), gen), 20)
    record("ours: batch augmentation (crop+flip+normalize)", load_ms, note=f"share of a SPOS step: "
           f"{100 * load_ms / (load_ms + ours):.2f}% (target < 5%)")

    # ---- peers --------------------------------------------------------------------------------------------------
    peers = {}
    try:
        from xautodl.models import CellStructure, get_cell_based_tiny_net  # noqa: PLC0415
        from xautodl.models.cell_infers.tiny_network import TinyNetwork  # noqa: PLC0415

        xnet = get_cell_based_tiny_net({"name": "generic", "C": C, "N": N, "max_nodes": 4, "num_classes": 10,
                                        "space": OPS, "affine": False, "track_running_stats": True})

        def xautodl_step(a):
            def fwd(t):
                xnet.set_cal_mode("dynamic", CellStructure.str2structure(a))
                return xnet(t)[1]
            return sgd_step(xnet, fwd, x, y)

        peers["xautodl 1.0.0 generic (dynamic)"] = per_arch(xautodl_step)

        def xautodl_standalone(a):
            tn = TinyNetwork(C, N, CellStructure.str2structure(a), 10)
            return sgd_step(tn, lambda t: tn(t)[1], x, y)

        xs = per_arch(xautodl_standalone)
        record("xautodl 1.0.0 standalone TinyNetwork step", xs)
        record("xautodl supernet overhead (supernet / standalone)", peers["xautodl 1.0.0 generic (dynamic)"],
               "xautodl standalone", xs)
    except ImportError as exc:
        print(f"skipping xautodl: {exc}")
    try:
        import nni  # noqa: F401, PLC0415

        print("nni is installed, but its one-shot NB201 comparison is not wired here yet; skipped")
    except ImportError as exc:
        print(f"skipping nni: {exc}")
    for name, ms in peers.items():
        record(f"peer: {name} single-path step", ms)
    if peers:
        fastest = min(peers, key=peers.get)
        record("ours vs fastest peer (single-path step)", ours, f"peer: {fastest}", peers[fastest],
               note="target >= 1.2x")

    # ---- inherited-weight evaluation with BN recalibration --------------------------------------------------------
    calib = GPUBatches(rng.integers(0, 256, (512, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 512),
                       torch.device("cpu"), best_layout == "channels_last")
    valid = GPUBatches(rng.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 1000),
                       torch.device("cpu"), best_layout == "channels_last")
    cfg = EvalConfig(n_archs=len(archs), calib_batches=8, calib_batch_size=64, eval_batch_size=64)
    ev = InheritedEvaluator(net, calib, valid, cfg)
    ours_eval = median_ms(lambda: [ev.accuracy(arch_to_path(a)) for a in archs], 1) / len(archs)

    class PerImage(torch.utils.data.Dataset):
        """The usual dataset: one uint8 image in, one normalized CHW float tensor out."""

        def __init__(self, batches):
            self.x, self.y = batches.x, batches.y
            self.mean, self.std = batches.mean[0], batches.std[0]

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return (self.x[i].float() - self.mean) / self.std, self.y[i]

    calib_loader = torch.utils.data.DataLoader(PerImage(calib), batch_size=64)
    valid_loader = torch.utils.data.DataLoader(PerImage(valid), batch_size=64)

    def naive():
        # The straightforward loop: a DataLoader with per-image normalization, torch.no_grad, BN reset and
        # re-estimated in train mode on the same 512 calibration images, then evaluated in eval mode.
        for a in archs:
            p = arch_to_path(a)
            with torch.no_grad():
                for m in net.modules():
                    if isinstance(m, torch.nn.BatchNorm2d):
                        m.reset_running_stats()
                        m.momentum = None
                net.train()
                for xb, _ in calib_loader:
                    net(xb.contiguous(memory_format=torch.channels_last), p)
                net.eval()
                correct = 0
                for xb, yb in valid_loader:
                    correct += int((net(xb.contiguous(memory_format=torch.channels_last), p).argmax(1) == yb).sum())

    naive_ms = median_ms(naive, 1) / len(archs)
    ev.restore()
    record("ours: inherited-weight eval per arch (BN recalibrated)", ours_eval, "straightforward per-arch loop",
           naive_ms, note=f"archs/s {1000 / ours_eval:.2f} vs {1000 / naive_ms:.2f} (target >= 2x); 512 calib + "
                          "1000 valid images, batch 64 both; baseline = DataLoader with per-image normalization "
                          "under torch.no_grad")

    write_rows(args.out, rows, machine_meta(device="cpu", C=C, N=N, batch=B))
    return 0


if __name__ == "__main__":
    sys.exit(main())
