"""Zero-cost proxies as search methods: score every architecture of an evaluation set at initialization from one
minibatch of real images (:mod:`nasharness.zc`), pick the best-scored one, and let the harness rank the scores
against the table's truth beside the free baselines.

One method per proxy — ``synflow``, ``snip``, ``grad_norm``, ``grasp``, ``fisher``, ``jacov``, ``naswot``, ``zen``,
``l2_norm``, ``params``, ``flops`` — and ``zc-vote``, Abdelfattah et al.'s majority vote of synflow, jacov and snip.
They run on any benchmark whose weight-sharing adapter can build a standalone network (``network`` capability):
NB201 and NB101.

* Budgets. ``ci``: a committed evaluation set — NB201 the 1,000 architectures of
  ``benchmarks/evalsets/nb201-n1000-seed0.json``, NB101 the 100 of ``nb101-n100-seed0.json`` (the set its one-shot
  ``ci`` cells rank; NB101's 7-vertex cells cost about 2.3x an NB201 cell) — scored on a narrow network (NB201 C=8,
  N=1; NB101 stem 8, one cell per stack), batch 64: about 0.2 s (NB201) and 0.4 s (NB101) per architecture on 2
  cores.
  ``paper``: every labeled architecture (NB201 all 15,625 cells, NB101 every labeled one) at the benchmark's own
  network (NB201 C=16, N=5; NB101 stem 128, 3 x 3), batch 64, as Abdelfattah et al. and NAS-Bench-Suite-Zero.
  Every setting that changes a number — network shape, batch size and number of batches, initialization and its
  seed, the data proxies' BN mode, synflow's BN treatment, input and dtype, the loss — is a ``--set`` key and is
  logged.
* Images: the first ``batch_size x n_batches`` images of a permutation (seeded by ``init_seed``) of the adapter's
  ``ci`` training subset of CIFAR-10 (shipped with the package, so nothing to download), normalized, unaugmented.
* Sharing. All proxies of an architecture are computed together (one network build, shared passes) and cached in
  the run directory and in the user cache, keyed by everything that changes them; the other proxy methods with
  the same settings read them from there, and ``--resume`` continues a long ``paper`` run where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time

import numpy as np

from ..config import Budget, apply_overrides
from ..contracts import SearchContext, SearchOutcome, adapter_class, adapter_of
from ..errors import ConfigError, UserError
from ..tabular.base import Protocol

#: Cache format of the per-architecture proxy values (bump when what is stored changes).
CACHE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class ZeroCostBudget:
    """What a zero-cost run scores: ``n_archs`` of the evaluation set (``eval_seed``; 0 = the adapter's number for the
    budget; at least the table's size = every labeled architecture), at ``channels`` x ``cells_per_stage`` (0 = the
    budget's shape for the space)."""

    n_archs: int = 0
    eval_seed: int = 0
    channels: int = 0
    cells_per_stage: int = 0
    threads: int = 0

    def __post_init__(self):
        for name in ("n_archs", "channels", "cells_per_stage", "threads", "eval_seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"zero-cost {name} must be a non-negative integer, got {v!r}.")


BUDGETS = {"ci": ZeroCostBudget(), "paper": ZeroCostBudget()}


class ZeroCostMethod:
    """Base of the zero-cost proxy methods: subclasses set ``proxy`` (a name of :data:`nasharness.zc.PROXIES`, or
    ``vote``)."""

    kind = "zero-cost"
    requires = frozenset({"table", "network"})
    needs_images = True
    proxy = ""

    def __init__(self, config):
        from ..zc import ZCConfig  # noqa: PLC0415

        self.config = config
        if config.max_sim_seconds is not None:
            raise ConfigError("--max-sim-seconds budgets simulated training; a zero-cost proxy trains nothing. Use "
                              "--max-archs N (score the first N architectures of the evaluation set) or --set "
                              "n_archs=N.")
        # the run's seed seeds the initialization, the forwards and the minibatch (``--set init_seed`` overrides it)
        self.budget_config, self.zc_config = apply_overrides(
            [BUDGETS[config.budget], ZCConfig(batch_size=64, init_seed=int(config.seed))], dict(config.overrides),
            "zero-cost")

    def n_archs(self, bench) -> int:
        return self.budget_config.n_archs or adapter_class(bench).zero_cost_archs[self.config.budget]

    def budget(self, bench, dataset: str) -> Budget:
        n = self.n_archs(bench)
        if self.config.max_archs is not None:
            n = min(n, self.config.max_archs)
        return Budget(self.config.budget_label, max_archs=min(n, 10_000_000))

    def shape(self, bench) -> dict:
        shapes = adapter_class(bench).network_shapes
        base = dict(shapes["ci" if self.config.budget == "ci" else "paper"])
        b = self.budget_config
        if b.channels:
            base["channels"] = b.channels
        if b.cells_per_stage:
            base["cells_per_stage"] = b.cells_per_stage
        return base

    def protocol(self, bench, dataset: str) -> Protocol:
        images = getattr(bench, "images", None)
        if dataset != images:
            raise UserError(f"zero-cost proxies are computed on real images; only {images} images are available for "
                            f"this benchmark, so dataset {dataset!r} is not supported. Use --dataset {images} (the "
                            f"chosen arch is still reported on the table's other datasets).")
        adapter = adapter_of(bench)
        c = self.zc_config
        return Protocol(dataset, adapter.valid_truth, adapter.protocol_truths()[1], 0,
                        f"{self.proxy} at initialization: {adapter.describe_network(self.shape(bench))}, "
                        f"{c.n_batches} x {c.batch_size} CIFAR-10 training images, init {c.init} (seed {c.init_seed}), "
                        f"BN {c.bn_mode}; nothing trained")

    # ---- scoring ----------------------------------------------------------------------------------------------
    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..zc import PROXIES  # noqa: PLC0415

        bench, adapter = ctx.bench, adapter_of(ctx.bench)
        archs = adapter.zero_cost_set(self.n_archs(bench), self.budget_config.eval_seed)
        if ctx.budget.max_archs is not None:
            archs = archs[:ctx.budget.max_archs]
        values, info = self.proxy_table(ctx, adapter, archs, PROXIES)
        if self.proxy == "vote":
            from ..zc import VOTE_PROXIES, vote  # noqa: PLC0415

            scores = vote({k: values[k] for k in VOTE_PROXIES})
            name = f"zc-vote ({', '.join(VOTE_PROXIES)}): fraction of the other architectures out-voted"
        else:
            scores = values[self.proxy]
            name = f"{self.proxy} at initialization"
        finite = np.isfinite(scores)
        if not finite.any():
            raise UserError(f"{self.proxy} is NaN or infinite for every one of the {len(archs):,} architectures; "
                            f"check --set synflow_dtype / init (see docs/zerocost.md).")
        chosen = int(archs[np.flatnonzero(finite)[int(np.argmax(scores[finite]))]])
        undefined = int((~finite).sum())
        all_archs = len(archs)
        archs, scores = np.asarray(archs)[finite], np.asarray(scores)[finite]
        adapter_truths = list(dict.fromkeys(t for t in (adapter.valid_truth, adapter.protocol_truths()[1])
                                            if np.isfinite(bench.column(t)[archs]).any()))
        report = getattr(adapter, "report", [adapter.valid_truth])
        notes = [f"{self.proxy} is undefined (NaN) for {undefined} of the {all_archs:,} architectures (e.g. a cell "
                 f"whose output is disconnected: its input Jacobian or ReLU codes are constant); they are left out "
                 f"of the ranking, n = {len(archs):,}"] if undefined else []
        return SearchOutcome(
            chosen=chosen, scored=np.asarray(archs), scores=np.asarray(scores, float), score_name=name,
            sim_seconds=0.0, rank_truths=adapter_truths, report=report, regret_on=report,
            phases={"proxies": info["wall_s"]},
            costs={"proxy_archs_per_s": all_archs / max(info["compute_wall_s"], 1e-9),
                   "proxy_compute_wall_s": info["compute_wall_s"], "proxies_from_cache": float(info["cached"])},
            metrics={"search/undefined_scores": float(undefined)},
            params={"proxy": self.proxy, "zc": json.dumps(dataclasses.asdict(self.zc_config)),
                    "network": adapter.describe_network(self.shape(bench)), "n_archs": all_archs,
                    "images_sha256": info["images_sha256"], "images": info["images"],
                    "proxy_cache": info["key"]},
            notes=[f"{all_archs:,} architectures scored at initialization "
                   f"({adapter.describe_network(self.shape(bench))}); every proxy computed together and cached "
                   f"({info['cached']:,} read from the cache)", *notes])

    def _images(self, ctx, adapter):
        """The proxies' minibatch: normalized CIFAR-10 training images of the adapter's ``ci`` subset."""
        import torch  # noqa: PLC0415

        from ..data.cifar import draw_subsets, images_sha256, load_cifar10  # noqa: PLC0415
        from ..supernet.trainer import GPUBatches  # noqa: PLC0415

        c = self.zc_config
        data = load_cifar10(self.config.data_dir, self.config.dataset_root)
        s = adapter.one_shot_budgets["ci"][0]
        train_idx, _, _ = draw_subsets(*adapter.split(data), s.n_train, s.n_valid)
        n = c.batch_size * c.n_batches
        if n > len(train_idx):
            raise ConfigError(f"batch_size x n_batches = {n} exceeds the {len(train_idx):,} images of the subset the "
                              f"proxies draw from; lower them.")
        pick = np.sort(np.random.default_rng(c.init_seed).permutation(len(train_idx))[:n])
        idx = train_idx[pick]
        batches = GPUBatches(data.train_x[idx], data.train_y[idx], torch.device("cpu"))
        x, y = batches.plain(torch.arange(n))
        return (x, y.long()), images_sha256(data.train_x[idx], data.train_y[idx]), data.source

    def proxy_table(self, ctx, adapter, archs: np.ndarray, names) -> tuple[dict, dict]:
        """Every proxy of every architecture in ``archs``: from the cache where present, the rest computed (all
        proxies of an architecture together) and checkpointed as they go."""
        import torch  # noqa: PLC0415

        from ..zc import compute  # noqa: PLC0415

        t0 = time.perf_counter()
        ctx.status("drawing the zero-cost proxies' minibatch")
        batch, images_sha, source = self._images(ctx, adapter)
        shape = self.shape(ctx.bench)
        key_blob = json.dumps({"v": CACHE_VERSION, "bench": ctx.bench.name, "table": ctx.bench.meta.get(
            "table_sha256") or ctx.bench.meta.get("sha256"), "shape": shape, "zc": dataclasses.asdict(self.zc_config),
            "images": images_sha, "torch": torch.__version__, "names": list(names)}, sort_keys=True, default=str)
        key = hashlib.sha256(key_blob.encode()).hexdigest()[:16]
        store = ProxyStore(key, [ctx.run_dir / "proxies.npz"] if ctx.run_dir else [], names)
        done = store.load()
        todo = [int(i) for i in archs if int(i) not in done]
        cached = len(archs) - len(todo)
        threads = self.budget_config.threads
        if threads and not self.config.deterministic:
            torch.set_num_threads(threads)
        ctx.status(f"zero-cost proxies of {len(todo):,} architectures ({cached:,} cached)")
        ctx.phase("proxies")
        t1, last = time.perf_counter(), time.perf_counter()
        for k, i in enumerate(todo):
            done[i] = compute(lambda i=i: adapter.network(i, shape), list(names), batch, self.zc_config)
            if time.perf_counter() - last > 30 or k == len(todo) - 1:  # checkpoint: --resume continues from here
                store.save(done)
                last = time.perf_counter()
            ctx.progress(cached + k + 1, len(archs))
        compute_wall = time.perf_counter() - t1
        if cached and todo:
            compute_wall = compute_wall * len(archs) / len(todo)
        elif not todo:
            compute_wall = store.meta.get("compute_s_per_arch", 0.0) * len(archs)
        store.meta["compute_s_per_arch"] = compute_wall / max(len(archs), 1)
        if todo:
            store.save(done)
        values = {n: np.array([done[int(i)][n] for i in archs], dtype=np.float64) for n in names}
        return values, {"wall_s": time.perf_counter() - t0, "compute_wall_s": compute_wall, "cached": cached,
                        "images_sha256": images_sha, "images": source, "key": key}


class ProxyStore:
    """Per-architecture proxy values, saved atomically to the run directory and to the user cache (``zc-<key>.npz``:
    architecture rows, one column per proxy), so runs with the same settings share them and a killed run resumes."""

    def __init__(self, key: str, extra_paths: list, names):
        from ..paths import cache_dir  # noqa: PLC0415

        self.key, self.names = key, list(names)
        self.paths = [*extra_paths, cache_dir() / f"zc-{key}.npz"]
        self.meta: dict = {}

    def load(self) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for path in self.paths:
            try:
                with np.load(path, allow_pickle=False) as z:
                    if str(z["key"]) != self.key or list(z["names"]) != self.names:
                        continue
                    for row, vals in zip(z["rows"].tolist(), z["values"], strict=True):
                        out.setdefault(int(row), dict(zip(self.names, map(float, vals), strict=True)))
                    self.meta = json.loads(str(z["meta"]))
            except (OSError, ValueError, KeyError):
                continue  # a damaged or foreign file is recomputed, never trusted
        return out

    def save(self, done: dict[int, dict]) -> None:
        from ..io import atomic_write  # noqa: PLC0415

        rows = np.array(sorted(done), dtype=np.int64)
        values = np.array([[done[int(r)][n] for n in self.names] for r in rows], dtype=np.float64).reshape(
            len(rows), len(self.names))

        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, key=np.array(self.key), names=np.array(self.names), rows=rows, values=values,
                         meta=np.array(json.dumps(self.meta)))

        for path in self.paths:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, write)
            except OSError:
                if path is self.paths[0] and len(self.paths) > 1:
                    raise  # the run directory must hold them; the user cache is best effort


def _proxy_method(proxy: str, doc: str) -> type:
    return type(proxy.replace("-", "_").title().replace("_", ""), (ZeroCostMethod,),
                {"proxy": proxy, "__doc__": doc, "__module__": __name__})


Synflow = _proxy_method("synflow", "SynFlow at initialization (Tanaka et al. 2020; Abdelfattah et al. 2021).")
Snip = _proxy_method("snip", "SNIP saliency at initialization (Lee et al. 2019).")
GradNorm = _proxy_method("grad_norm", "Sum of the weight-gradient norms at initialization (Abdelfattah et al. 2021).")
Grasp = _proxy_method("grasp", "GraSP gradient-signal preservation at initialization (Wang et al. 2020).")
Fisher = _proxy_method("fisher", "Fisher information of the activations at initialization (Turner et al. 2020).")
Jacov = _proxy_method("jacov", "Jacobian covariance of the inputs at initialization (Mellor et al. 2020).")
Naswot = _proxy_method("naswot", "NASWOT: log-determinant of the ReLU-code kernel (Mellor et al. 2021).")
Zen = _proxy_method("zen", "Zen-score: expressivity under input perturbation, BN-scaled (Lin et al. 2021).")
L2Norm = _proxy_method("l2_norm", "Sum of the weights' L2 norms at initialization (Abdelfattah et al. 2021).")
Params = _proxy_method("params", "Trainable parameters of the network scored (a free baseline as a method).")
Flops = _proxy_method("flops", "Multiply-adds of one forward of the network scored (a free baseline as a method).")
ZcVote = _proxy_method("vote", "Majority vote of synflow, jacov and snip over pairs of architectures (Abdelfattah "
                               "et al. 2021).")
