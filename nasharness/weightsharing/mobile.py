"""The FairNAS / SCARLET ImageNet spaces' weight-sharing adapter (``--bench fairnas-imagenet | scarlet-imagenet``).

The shared trainer trains the MobileNet-style supernet (:class:`~nasharness.supernet.mobilenet.MobileSupernet`) with
the method's sampler (``spos`` uniform, ``fairnas`` / ``scarlet`` fair; ``scarlet`` also turns identity choices into
learnable linear 1x1 convs) on an ImageNet-layout folder: ``--dataset-root ROOT`` with ``train/<wnid>`` and
``val/<wnid>`` (ImageNet itself), or by default the shared 10-class subset, split per class into training images and
``val_per_class`` held-out images. Images are preprocessed once to the budget's resolution (resize + center crop in
the evaluation proportions), then trained with random crops (padding 1/8 of the side) and flips.

Search: NSGA-II over the supernet with objectives (inherited-weight accuracy on the held-out images, BN recalibrated
per architecture; multiply-adds at 224x224) and optionally parameters; the Pareto front over every evaluated
architecture is logged as a table (``pareto_front.csv``) and a plot (``pareto_front.png``). The chosen architecture
is the front's most accurate one within ``max_madds`` (millions; ``--max-madds 350M``), or the most accurate overall
without a constraint. There is no ground truth for these spaces: the run reports the chosen architecture, its
supernet accuracy, size and cost, not a ranking.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..config import check_int, check_number
from ..contracts import SearchOutcome
from ..errors import ConfigError, UserError
from ..io import atomic_write_text
from ..supernet.evaluate import EvalConfig, InheritedEvaluator
from ..supernet.trainer import GPUBatches, SupernetConfig
from ..tabular.base import Protocol
from .pipeline import Images


@dataclass(frozen=True)
class ImageNetSearchConfig:
    resolution: int = 224
    val_per_class: int = 50
    #: At most this many training images per class (None: all).
    train_per_class: int | None = None
    nsga_population: int = 70
    nsga_generations: int = 40
    #: The multiply-adds limit (millions at 224x224) for the pick; 0 = none.
    max_madds: float = 0.0
    #: Also minimise parameters (another objective).
    params_objective: bool = False
    #: Also minimise latency (ms per image at 224x224, batch 1) from a per-(layer, choice) lookup table measured on
    #: the run's device (another objective).
    latency_objective: bool = False

    def __post_init__(self):
        check_int("imagenet", "resolution", self.resolution, 32, 1024)
        check_int("imagenet", "val_per_class", self.val_per_class, 1)
        if self.train_per_class is not None:
            check_int("imagenet", "train_per_class", self.train_per_class, 1)
        check_int("imagenet", "nsga_population", self.nsga_population, 2)
        check_int("imagenet", "nsga_generations", self.nsga_generations, 0)
        check_number("imagenet", "max_madds", self.max_madds)


BUDGETS = {
    # CPU minutes on the shared 10-class subset: 64x64 images, 300 train / 40 held-out per class, 2 epochs.
    "ci": (SupernetConfig(epochs=2, batch_size=64, lr=0.05, weight_decay=4e-5, channels_last=True),
           EvalConfig(calib_batches=2, calib_batch_size=64, eval_batch_size=200),
           ImageNetSearchConfig(resolution=64, val_per_class=40, nsga_population=8, nsga_generations=3)),
    # ImageNet scale for a GPU: 224x224, 150 epochs, batch 256, 50 held-out images per class, NSGA-II 70 x 40.
    "paper": (SupernetConfig(epochs=150, batch_size=256, lr=0.045, weight_decay=4e-5, channels_last=True),
              EvalConfig(calib_batches=10, calib_batch_size=256, eval_batch_size=500),
              ImageNetSearchConfig()),
}


def parse_madds(text) -> float:
    """``350M``, ``350``, ``0.35G`` -> millions."""
    s = str(text).strip().upper()
    try:
        if s.endswith("G"):
            return float(s[:-1]) * 1000
        return float(s[:-1]) if s.endswith("M") else float(s)
    except ValueError:
        raise UserError(f"--max-madds expects a number of multiply-adds like 350M or 0.35G, got {text!r}.") from None


class CostTable:
    """Multiply-adds (at 224x224) and parameters of every architecture of a space, summed from per-(layer, choice)
    tables measured once on the blocks themselves (conv + linear MAdds, as :func:`count_madds`)."""

    def __init__(self, sp, num_classes: int = 1000):
        from ..spaces import mobilenet as ms  # noqa: PLC0415
        from ..supernet.mobilenet import MobileNetwork, count_madds, make_block  # noqa: PLC0415

        self.space = sp
        ref = MobileNetwork(sp, [sp.choices(i)[0] for i in range(ms.N_LAYERS)], num_classes)
        block_m, block_p = [], []
        side = 112  # after the stem
        for i in range(ms.N_LAYERS):
            out_side = side // ms.STRIDES[i]
            ms_, ps_ = [], []
            for b in sp.choices(i):
                blk = make_block(sp, i, b)
                ms_.append(0 if b.identity else _block_madds(blk, ms.in_channels(i), side))
                ps_.append(sum(p.numel() for p in blk.parameters()))
            block_m.append(ms_)
            block_p.append(ps_)
            side = out_side
        self.block_m, self.block_p = block_m, block_p
        fixed_m = count_madds(ref) - sum(m[0] for m in block_m)
        fixed_p = sum(p.numel() for p in ref.parameters()) - sum(p[0] for p in block_p)
        self.fixed_m, self.fixed_p = fixed_m, fixed_p

    def madds(self, path) -> int:
        return self.fixed_m + sum(self.block_m[i][int(c)] for i, c in enumerate(path))

    def params(self, path) -> int:
        return self.fixed_p + sum(self.block_p[i][int(c)] for i, c in enumerate(path))


class LatencyTable:
    """The device latency model: a lookup table of each (layer, choice) block's forward time (median of ``repeats``,
    ms, batch 1, 224x224 input to the network) and of the fixed parts, measured once on ``device`` and cached per
    device, thread count and torch version; a network's latency is the sum (as in MnasNet / FairNAS-style latency
    tables; it ignores cross-layer effects such as caching, so it is a model, not a measurement)."""

    def __init__(self, sp, device, repeats: int = 5):
        import hashlib  # noqa: PLC0415

        from ..paths import cache_dir  # noqa: PLC0415
        from ..spaces import mobilenet as ms  # noqa: PLC0415

        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu-{torch.get_num_threads()}t"
        key = hashlib.sha256(f"{sp.name}|{name}|{torch.__version__}|{repeats}".encode()).hexdigest()[:16]
        path = cache_dir() / f"latency-{sp.name}-{key}.json"
        if path.exists():
            blob = json.loads(path.read_text())
            self.fixed_ms, self.block_ms, self.device = blob["fixed_ms"], blob["block_ms"], blob["device"]
            return
        from ..supernet.mobilenet import MobileNetwork, make_block  # noqa: PLC0415

        def timed(module, shape) -> float:
            module = module.to(device).eval()
            x = torch.zeros(shape, device=device)
            times = []
            with torch.inference_mode():
                for k in range(repeats + 1):
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    t0 = time.perf_counter()
                    module(x)
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    if k:  # the first run warms up
                        times.append(1000 * (time.perf_counter() - t0))
            return float(np.median(times))

        self.block_ms, side = [], 112
        for i in range(ms.N_LAYERS):
            self.block_ms.append([0.0 if b.identity else timed(make_block(sp, i, b), (1, ms.in_channels(i), side, side))
                                  for b in sp.choices(i)])
            side //= ms.STRIDES[i]
        ref = MobileNetwork(sp, [sp.choices(i)[0] for i in range(ms.N_LAYERS)])
        self.fixed_ms = max(0.0, timed(ref, (1, 3, 224, 224)) - sum(t[0] for t in self.block_ms))
        self.device = name
        atomic_write_text(path, json.dumps({"fixed_ms": self.fixed_ms, "block_ms": self.block_ms, "device": name}))

    def latency_ms(self, path) -> float:
        return self.fixed_ms + sum(self.block_ms[i][int(c)] for i, c in enumerate(path))


def _block_madds(block, c_in: int, side: int) -> int:
    from ..supernet.counting import layer_madds  # noqa: PLC0415

    total = 0

    def hook(m, inp, out):
        nonlocal total
        total += layer_madds(m, out)

    hs = [m.register_forward_hook(hook) for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        block.eval()(torch.zeros(1, c_in, side, side))
    for h in hs:
        h.remove()
    return total


class MobileAdapter:
    """The ImageNet spaces' adapter (one-shot methods; no table). ``space_key`` names the space in
    :data:`nasharness.spaces.mobilenet.SPACES` — the benchmark says which (``bench.space``)."""

    one_shot_budgets = BUDGETS
    differentiable_budgets: dict = {}
    #: The search is NSGA-II over (accuracy, cost), not the table evolution: the adapter runs it.
    searches_itself = True

    def __init__(self, bench):
        from ..spaces import mobilenet as ms  # noqa: PLC0415

        self.bench = bench
        self.sp = ms.SPACES[bench.mobile_space]

    # ---- standalone networks (zero-cost proxies; no table: the proxy is an NSGA-II objective) -------------------
    #: The network a zero-cost proxy scores: the space's standalone network at the budget's input resolution, one
    #: output per class of the images the proxies see. ``paper``: 224x224, as the published models.
    network_shapes = {"ci": {"resolution": 64}, "paper": {"resolution": 224}}
    #: Evaluations of a zero-cost search per budget: NSGA-II population x (generations + 1), as the one-shot search.
    zero_cost_archs = {"ci": 8 * 4, "paper": 70 * 41}
    zero_cost_strategy = "nsga2"
    zero_cost_population = {"ci": 8, "paper": 70}
    cost_note = "MAdds and params of the 1000-class network at 224x224"

    def network(self, arch, shape: dict, num_classes: int = 10):
        from ..supernet.mobilenet import MobileNetwork  # noqa: PLC0415

        return MobileNetwork(self.sp, arch, num_classes)

    def describe_network(self, shape: dict) -> str:
        return f"{self.sp.name} standalone network at {shape['resolution']}x{shape['resolution']}"

    def arch_key(self, arch) -> str:
        return self.sp.validate(arch)

    @property
    def space_ops(self):
        """The space's ``sample`` / ``mutate`` on architecture strings."""
        return self.sp

    def crossover(self, a: str, b: str, rng) -> str:
        """Uniform crossover per layer."""
        pa, pb = self.sp.to_path(a), self.sp.to_path(b)
        return self.sp.format(self.sp.from_path([x if rng.random() < 0.5 else y for x, y in zip(pa, pb, strict=True)]))

    def candidate_costs(self, arch) -> dict[str, float]:
        if getattr(self, "_costs", None) is None:
            self._costs = CostTable(self.sp)
        path = self.sp.to_path(arch)
        return {"madds_M": self._costs.madds(path) / 1e6, "params_M": self._costs.params(path) / 1e6}

    def zero_cost_images(self, config, n: int, seed: int, shape: dict):
        """``n`` training images (seeded draw) at the shape's resolution, ImageNet-normalized: from ``train/`` of
        ``--dataset-root`` or the shared subset's training part (its held-out images are never used)."""
        from ..data import imagenet as inet  # noqa: PLC0415
        from ..data.cifar import images_sha256  # noqa: PLC0415

        r = shape["resolution"]
        if config.dataset_root:
            folder = inet.scan(config.dataset_root, "train")
            source = f"ImageNet-layout folder {config.dataset_root} (train/)"
            pool = np.arange(len(folder))
        else:
            folder = inet.scan(inet.shared_subset(config.data_dir), "val")
            source = "the shared 10-class ImageNet subset (its training part)"
            held_out = BUDGETS.get(config.budget, BUDGETS["ci"])[2].val_per_class  # the one-shot search's split
            pool, _ = inet.train_val_split(folder.labels, held_out)
        if n > len(pool):
            raise ConfigError(f"batch_size x n_batches = {n} exceeds the {len(pool):,} training images the proxies "
                              f"draw from; lower them.")
        pick = np.sort(np.random.default_rng(seed).permutation(pool)[:n])
        sub = inet.ImageFolder(folder.root, [folder.files[i] for i in pick], folder.labels[pick], folder.wnids,
                               folder.imagenet_index)
        x8, y = inet.decode_all(sub, r), folder.labels[pick]
        batch = (inet.normalize(x8), torch.from_numpy(y).long())
        return batch, images_sha256(x8, y), source, len(folder.wnids)

    @staticmethod
    def configure(overrides: dict, budget: str) -> list:
        """The (supernet, eval, imagenet) configs of ``budget`` with the ``--set`` overrides applied."""
        from ..config import apply_overrides  # noqa: PLC0415

        overrides = dict(overrides)
        if "max_madds" in overrides:
            overrides["max_madds"] = str(parse_madds(overrides["max_madds"]))
        configs = apply_overrides(list(BUDGETS[budget]), overrides, "one-shot")
        check(configs[2])
        if configs[1].score != "accuracy":
            raise ConfigError(f"score={configs[1].score!r}: the ImageNet spaces' NSGA-II searches over "
                              f"inherited-weight accuracy and reports it; score=loss applies to the tabular "
                              f"benchmarks (201, 101). Remove --set score.")
        return configs

    @staticmethod
    def budget_archs(configs) -> tuple[int, str, tuple[str, ...]]:
        c = configs[2]
        return (c.nsga_population * (c.nsga_generations + 1), "nsga_population x (nsga_generations + 1)",
                ("nsga_population", "nsga_generations"))

    def one_shot_protocol(self, dataset: str, configs, dataset_root) -> Protocol:
        s, _, c = configs
        data = f"ImageNet-layout folder {dataset_root}" if dataset_root else "the shared 10-class ImageNet subset"
        return Protocol("imagenet", "none", "none", s.epochs,
                        f"{self.sp.name} supernet, {s.epochs} epochs at {c.resolution}x{c.resolution} on {data} "
                        f"({c.val_per_class} held-out images per class for inherited-weight accuracy); NSGA-II "
                        f"{c.nsga_population} x {c.nsga_generations} over (accuracy, MAdds@224"
                        f"{', params' if c.params_objective else ''}{', latency LUT' if c.latency_objective else ''}); "
                        f"no ground truth in this space")

    def images(self, ctx, s: SupernetConfig, device, purpose: str) -> Images:
        from ..data import imagenet as inet  # noqa: PLC0415

        c = self.configs[2]
        ctx.status("reading the ImageNet images")
        root = ctx.config.dataset_root
        if root:
            tr_folder = inet.scan(root, "train", max_per_class=c.train_per_class)
            va_folder = inet.scan(root, "val", max_per_class=c.val_per_class)
            train_x, train_y = inet.decode_all(tr_folder, c.resolution), tr_folder.labels
            valid_x, valid_y = inet.decode_all(va_folder, c.resolution), va_folder.labels
            n_classes = len(tr_folder.wnids)
            if va_folder.wnids != tr_folder.wnids:
                raise UserError(f"train/ and val/ of {root!r} hold different classes; they must match.")
            source = f"ImageNet-layout folder {root}"
        else:
            folder = inet.scan(inet.shared_subset(ctx.config.data_dir), "val")
            images = inet.decode_all(folder, c.resolution)
            tr, va = inet.train_val_split(folder.labels, c.val_per_class)
            if c.train_per_class:
                tr = np.sort(np.concatenate([tr[folder.labels[tr] == k][:c.train_per_class]
                                             for k in range(len(folder.wnids))]))
            train_x, train_y, valid_x, valid_y = images[tr], folder.labels[tr], images[va], folder.labels[va]
            n_classes = len(folder.wnids)
            source = "the shared 10-class ImageNet subset"
        train = GPUBatches(train_x, train_y, device, s.channels_last, mean=inet.MEAN, std=inet.STD)
        cal = np.random.default_rng(7).permutation(len(train_x))
        calib = GPUBatches(train_x[cal], train_y[cal], device, s.channels_last, mean=inet.MEAN, std=inet.STD)
        valid = GPUBatches(valid_x, valid_y, device, s.channels_last, mean=inet.MEAN, std=inet.STD)
        return Images(train, valid, calib, source, None, {"n_classes": n_classes, "n_valid": len(valid_y)})

    def supernet(self, s: SupernetConfig, linear: bool, n_classes: int):
        from ..supernet.mobilenet import MobileSupernet  # noqa: PLC0415

        return MobileSupernet(self.sp, n_classes, linear_identity=linear)

    def search(self, method, ctx, run) -> SearchOutcome:
        """NSGA-II on the trained supernet over (inherited accuracy, MAdds@224[, params][, latency]); the pick is
        the front's most accurate architecture within ``max_madds``."""
        from ..search.nsga2 import nsga2  # noqa: PLC0415

        s, e, c = self.configs
        sp, supernet, n_classes = self.sp, run.model, run.images.extra["n_classes"]
        valid_y = run.images.valid
        with run.timed("supernet_search", "NSGA-II search on the supernet"):
            evaluator = InheritedEvaluator(supernet, run.images.calib, run.images.valid, e)
            costs = CostTable(sp)
            latency = LatencyTable(sp, run.device) if c.latency_objective else None
            accs: dict[tuple, float] = {}

            def objectives(path):
                acc = evaluator.accuracy(path)
                accs[tuple(path)] = acc
                out = [-acc, costs.madds(path) / 1e6]
                if c.params_objective:
                    out.append(costs.params(path) / 1e6)
                if latency is not None:
                    out.append(latency.latency_ms(path))
                return out

            def sample(rng):
                return tuple(int(rng.integers(n)) for n in supernet.choices_per_edge)

            def mutate(path, rng):
                return sp.to_path(sp.mutate(sp.format(sp.from_path(path)), rng))

            def crossover(a, b, rng):
                return tuple(x if rng.random() < 0.5 else y for x, y in zip(a, b, strict=True))

            res = nsga2(objectives, sample, mutate, crossover, np.random.default_rng(run.search_seed),
                        population=c.nsga_population, generations=c.nsga_generations,
                        key=lambda p: ",".join(map(str, p)))
            evaluator.restore()
        front = [(p, -o[0], o[1], costs.params(p) / 1e6)
                 for p, o in zip(res.pareto, res.pareto_objectives, strict=True)]
        limit = c.max_madds or float("inf")
        ok = [f for f in front if f[2] <= limit]
        notes = []
        if not ok:
            notes.append(f"no architecture on the Pareto front meets max_madds={c.max_madds:g}M (the smallest has "
                         f"{min(f[2] for f in front):.1f}M); the smallest is reported")
            ok = [min(front, key=lambda f: f[2])]
        best = max(ok, key=lambda f: (f[1], -f[2]))
        chosen = sp.format(sp.from_path(best[0]))
        artifacts = _write_front(ctx, sp, front, accs, costs, c, latency) if ctx.run_dir else []
        state = run.state
        common = run.report(costs={"archs_evaluated_inherited": res.n_evaluations},
                            params={"sampler": run.trainer.sampler.name, "linear_identity": method.linear_skip,
                                    "eval": json.dumps(dataclasses.asdict(e)),
                                    "imagenet": json.dumps(dataclasses.asdict(c)), "classes": n_classes})
        common["trajectory"] += [{"step": s.epochs + h["generation"], **{f"search/{k}": v for k, v in h.items()}}
                                 for h in res.history]
        return SearchOutcome(
            chosen=-1, scored=np.array([], dtype=int), scores=np.array([]), score_name="none", sim_seconds=0.0,
            rank_truths=[], chosen_arch=chosen,
            metrics={"search/chosen/supernet_acc": best[1], "search/chosen/madds_M@224": best[2],
                     "search/chosen/params_M": best[3], "search/pareto_size": float(len(front)),
                     "search/n_evaluations": float(res.n_evaluations),
                     **({"search/chosen/latency_ms_model": latency.latency_ms(best[0])} if latency else {}),
                     "train/final_loss": run.final_loss(),
                     "train/min_op_updates": float(min(state.op_updates.values())) if state.op_updates else 0.0},
            notes=[f"supernet accuracy: {n_classes}-way on {len(valid_y):,} held-out images at "
                   f"{c.resolution}x{c.resolution}; MAdds and params of the chosen architecture's 1000-class network "
                   f"at 224x224", *notes,
                   *([f"latency model: per-block lookup table measured on {latency.device} (batch 1, 224x224)"]
                     if latency else [])],
            artifacts=artifacts, **common)


def _write_front(ctx, sp, front, accs, costs, c, latency=None) -> list[str]:
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["arch", "supernet_acc", "madds_M@224", "params_M"] + (["latency_ms"] if latency else []))
    for p, acc, m, prm in front:
        w.writerow([sp.format(sp.from_path(p)), f"{acc:.4f}", f"{m:.3f}", f"{prm:.4f}"]
                   + ([f"{latency.latency_ms(p):.3f}"] if latency else []))
    table = ctx.run_dir / "pareto_front.csv"
    atomic_write_text(table, buf.getvalue())
    out = [str(table)]
    try:
        from ..report.plots import pareto_plot  # noqa: PLC0415

        pts = np.array([(costs.madds(p) / 1e6, a) for p, a in accs.items()])
        fr = np.array([(m, a) for _, a, m, _ in front])
        out.append(str(pareto_plot(pts, fr, limit=c.max_madds or None, path=ctx.run_dir / "pareto_front.png",
                                   title=f"{sp.name} space: NSGA-II on the supernet")))
    except ImportError:
        pass
    return out


def check(cfg: ImageNetSearchConfig) -> None:
    if cfg.max_madds and cfg.max_madds < 50:
        raise ConfigError(f"max_madds is in millions of multiply-adds at 224x224; {cfg.max_madds:g} is below any "
                          f"model of these spaces (about 200M-600M). Write e.g. --max-madds 350M.")
