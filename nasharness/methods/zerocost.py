"""Zero-cost proxies as search methods: score every architecture of an evaluation set at initialization from one
minibatch of real images (:mod:`nasharness.zc`), pick the best-scored one, and let the harness rank the scores
against the table's truth beside the free baselines.

One method per proxy — ``synflow``, ``snip``, ``grad_norm``, ``grasp``, ``fisher``, ``jacov``, ``naswot``, ``zen``,
``l2_norm``, ``params``, ``flops`` — and ``zc-vote``, Abdelfattah et al.'s majority vote of synflow, jacov and snip.
They run on any benchmark whose weight-sharing adapter can build a standalone network (``network`` capability):
NB201 and NB101 (a table: the scores are ranked against its truth beside the free baselines), the DARTS space and
the ImageNet spaces (no table: the proxy ranks candidates the method draws itself).

* Spaces without a table. ``--set strategy=sample`` scores ``n_archs`` candidates drawn by the space's ``sample``
  (seeded by the run's seed) and picks the best-scored; ``strategy=nsga2`` runs NSGA-II with the proxy (maximised)
  and the candidate's multiply-adds (minimised) as objectives, ``population`` x (``n_archs`` / ``population``)
  evaluations, and picks the front's best-scored candidate within ``max_madds`` (millions; ``--max-madds``). The
  DARTS space defaults to ``sample`` (20 candidates at ``ci``, 1,000 at ``paper``), the ImageNet spaces to
  ``nsga2`` (8 x 4 at ``ci``, 70 x 41 at ``paper``, as their one-shot search). Every candidate's proxies and
  costs are written to ``candidates.csv``; on the DARTS space ``--train-derived`` trains the pick from scratch.

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

#: Cache format of the per-architecture proxy values (bump when what is stored changes). 2: rows are architecture
#: keys (a table row's index, or a candidate's string).
CACHE_VERSION = 2


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
    #: Spaces without a table: ``sample`` or ``nsga2`` ('' = the adapter's default), NSGA-II's population (0 = the
    #: adapter's), the pick's multiply-adds limit in millions (0 = none).
    strategy: str = ""
    population: int = 0
    max_madds: float = 0.0

    def __post_init__(self):
        for name in ("n_archs", "channels", "cells_per_stage", "threads", "eval_seed", "population"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"zero-cost {name} must be a non-negative integer, got {v!r}.")
        if self.strategy not in ("", *STRATEGIES):
            raise ConfigError(f"zero-cost strategy must be one of {', '.join(STRATEGIES)} (how a space without a "
                              f"table draws its candidates), got {self.strategy!r}.")
        m = self.max_madds
        if isinstance(m, bool) or not isinstance(m, int | float) or not m >= 0:
            raise ConfigError(f"zero-cost max_madds is in millions of multiply-adds (e.g. 350), got {m!r}.")


STRATEGIES = ("sample", "nsga2")
_DATASET_NAMES = {"cifar10": "CIFAR-10", "imagenet": "ImageNet"}


BUDGETS = {"ci": ZeroCostBudget(), "paper": ZeroCostBudget()}


class ZeroCostMethod:
    """Base of the zero-cost proxy methods: subclasses set ``proxy`` (a name of :data:`nasharness.zc.PROXIES`, or
    ``vote``)."""

    kind = "zero-cost"
    requires = frozenset({"network"})
    needs_images = True
    proxy = ""

    def __init__(self, config):
        from ..zc import ZCConfig  # noqa: PLC0415

        self.config = config
        if config.max_sim_seconds is not None:
            raise ConfigError("--max-sim-seconds budgets simulated training; a zero-cost proxy trains nothing. Use "
                              "--max-archs N (score the first N architectures of the evaluation set) or --set "
                              "n_archs=N.")
        overrides = dict(config.overrides)
        self.train_derived = str(overrides.pop("train_derived", "false")).lower() in ("1", "true", "yes")
        if "max_madds" in overrides:
            from ..weightsharing.mobile import parse_madds  # noqa: PLC0415

            overrides["max_madds"] = str(parse_madds(overrides["max_madds"]))
        # the run's seed seeds the initialization, the forwards and the minibatch (``--set init_seed`` overrides it)
        self.budget_config, self.zc_config = apply_overrides(
            [BUDGETS[config.budget], ZCConfig(batch_size=64, init_seed=int(config.seed))], overrides, "zero-cost")

    @staticmethod
    def _tabular(bench) -> bool:
        from ..contracts import offers  # noqa: PLC0415

        return "table" in offers(bench)

    def _check_space(self, bench) -> None:
        """What only a space without a table accepts (and the reverse), before anything runs."""
        b, cls = self.budget_config, adapter_class(bench)
        if self._tabular(bench):
            extra = [k for k, v in (("strategy", b.strategy), ("population", b.population),
                                    ("max_madds", b.max_madds), ("train_derived", self.train_derived)) if v]
            if extra:
                raise ConfigError(f"--set {', '.join(extra)} choose how a space without a table draws candidates; "
                                  f"benchmark {bench.name!r} has a table, whose architectures are scored and ranked "
                                  f"against its truth. Drop them (--max-archs / --set n_archs=N size the set).")
        elif self.train_derived and not getattr(cls, "trains_derived", False):
            raise ConfigError(f"--train-derived trains the picked network from scratch, which benchmark "
                              f"{bench.name!r} does not offer (no 'trains-derived'). Drop --train-derived.")

    def n_archs(self, bench) -> int:
        return self.budget_config.n_archs or adapter_class(bench).zero_cost_archs[self.config.budget]

    def budget(self, bench, dataset: str) -> Budget:
        self._check_space(bench)
        n = self.n_archs(bench)
        if self.config.max_archs is not None:
            n = min(n, self.config.max_archs)
        return Budget(self.config.budget_label, max_archs=min(n, 10_000_000))

    def shape(self, bench) -> dict:
        shapes = adapter_class(bench).network_shapes
        base = dict(shapes["ci" if self.config.budget == "ci" else "paper"])
        b = self.budget_config
        for key in ("channels", "cells_per_stage"):
            if getattr(b, key):
                if key not in base:
                    raise ConfigError(f"--set {key} changes the scored network's shape, which on benchmark "
                                      f"{bench.name!r} has only {', '.join(base)}; drop it.")
                base[key] = getattr(b, key)
        return base

    def protocol(self, bench, dataset: str) -> Protocol:
        images = getattr(bench, "images", None)
        if dataset != images:
            raise UserError(f"zero-cost proxies are computed on real images; only {images} images are available for "
                            f"this benchmark, so dataset {dataset!r} is not supported. Use --dataset {images} (the "
                            f"chosen arch is still reported on the table's other datasets).")
        adapter = adapter_of(bench)
        c = self.zc_config
        what = (f"{'zc-vote' if self.proxy == 'vote' else self.proxy} at initialization: "
                f"{adapter.describe_network(self.shape(bench))}, {c.n_batches} x {c.batch_size} "
                f"{_DATASET_NAMES.get(images, images)} training images, init {c.init} (seed {c.init_seed}), "
                f"BN {c.bn_mode}")
        if self._tabular(bench):
            return Protocol(dataset, adapter.valid_truth, adapter.protocol_truths()[1], 0, what + "; nothing trained")
        strategy, population, generations, _ = self._strategy(bench)
        from ..zc import VOTE_PROXIES  # noqa: PLC0415

        maximised = ", ".join(VOTE_PROXIES) if self.proxy == "vote" else self.proxy
        how = (f"{self.n_archs(bench):,} candidates drawn by the space's sampler" if strategy == "sample" else
               f"NSGA-II {population} x {generations} over ({maximised}, MAdds)")
        limit = f", pick within {self.budget_config.max_madds:g}M MAdds" if self.budget_config.max_madds else ""
        truth = "none"
        if self.train_derived:
            from ..train import TRAIN_BUDGETS, protocol_note, truth_name  # noqa: PLC0415

            cfg = TRAIN_BUDGETS[self.config.budget]
            truth, limit = truth_name(cfg), limit + f"; the pick {protocol_note(cfg)}"
        return Protocol(dataset, "none", truth, 0, f"{what}; {how}{limit}; no table (no ranking against a truth)")

    def _strategy(self, bench) -> tuple[str, int, int, int]:
        """A space without a table: (strategy, NSGA-II population, generations, candidates to draw) of this budget
        (``--max-archs`` applied)."""
        cls, b = adapter_class(bench), self.budget_config
        strategy = b.strategy or cls.zero_cost_strategy
        n = self.n_archs(bench)
        if self.config.max_archs is not None:
            n = min(n, self.config.max_archs)
        population = min(b.population or getattr(cls, "zero_cost_population", {}).get(self.config.budget, 0)
                         or max(2, n // 5), n)
        return strategy, population, max(0, n // max(population, 1) - 1), n

    # ---- scoring ----------------------------------------------------------------------------------------------
    def _score(self, values: dict) -> tuple[np.ndarray, str]:
        """This method's score of every row of ``values`` (one array per proxy) and its name."""
        if self.proxy == "vote":
            from ..zc import VOTE_PROXIES, vote  # noqa: PLC0415

            return (vote({k: values[k] for k in VOTE_PROXIES}),
                    f"zc-vote ({', '.join(VOTE_PROXIES)}): fraction of the other architectures out-voted")
        return values[self.proxy], f"{self.proxy} at initialization"

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..zc import PROXIES  # noqa: PLC0415

        if not self._tabular(ctx.bench):
            return self._search_space(ctx)
        bench, adapter = ctx.bench, adapter_of(ctx.bench)
        archs = adapter.zero_cost_set(self.n_archs(bench), self.budget_config.eval_seed)
        if ctx.budget.max_archs is not None:
            archs = archs[:ctx.budget.max_archs]
        values, info = self.proxy_table(ctx, adapter, archs, PROXIES)
        scores, name = self._score(values)
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

    def _images(self, ctx, adapter, shape: dict):
        """The proxies' minibatch, its sha256, its source and its number of classes: the adapter's own
        (``zero_cost_images``) or normalized CIFAR-10 training images of the adapter's ``ci`` training subset."""
        import torch  # noqa: PLC0415

        from ..data.cifar import draw_subsets, images_sha256, load_cifar10  # noqa: PLC0415
        from ..supernet.trainer import GPUBatches  # noqa: PLC0415

        c = self.zc_config
        n = c.batch_size * c.n_batches
        if hasattr(adapter, "zero_cost_images"):
            return adapter.zero_cost_images(self.config, n, c.init_seed, shape)
        data = load_cifar10(self.config.data_dir, self.config.dataset_root)
        s = (adapter.one_shot_budgets or adapter.differentiable_budgets)["ci"][0]
        train_idx, _, _ = draw_subsets(*adapter.split(data), s.n_train, s.n_valid)
        if n > len(train_idx):
            raise ConfigError(f"batch_size x n_batches = {n} exceeds the {len(train_idx):,} images of the subset the "
                              f"proxies draw from; lower them.")
        pick = np.sort(np.random.default_rng(c.init_seed).permutation(len(train_idx))[:n])
        idx = train_idx[pick]
        batches = GPUBatches(data.train_x[idx], data.train_y[idx], torch.device("cpu"))
        x, y = batches.plain(torch.arange(n))
        return (x, y.long()), images_sha256(data.train_x[idx], data.train_y[idx]), data.source, 10

    def proxy_table(self, ctx, adapter, archs: np.ndarray, names) -> tuple[dict, dict]:
        """Every proxy of every table row in ``archs``: from the cache where present, the rest computed (all
        proxies of an architecture together) and checkpointed as they go."""
        session = self.session(ctx, adapter, names)
        out = session.values([str(int(i)) for i in archs], lambda key, shape, k: adapter.network(int(key), shape, k))
        return out, session.info()

    def session(self, ctx, adapter, names) -> ProxySession:
        """The minibatch, the cache and the settings of this run's proxies (see :class:`ProxySession`)."""
        import torch  # noqa: PLC0415

        t0 = time.perf_counter()
        ctx.status("drawing the zero-cost proxies' minibatch")
        shape = self.shape(ctx.bench)
        batch, images_sha, source, n_classes = self._images(ctx, adapter, shape)
        meta = getattr(ctx.bench, "meta", {})
        key_blob = json.dumps({"v": CACHE_VERSION, "bench": ctx.bench.name,
                               "table": meta.get("table_sha256") or meta.get("sha256"), "shape": shape,
                               "zc": dataclasses.asdict(self.zc_config), "images": images_sha,
                               "torch": torch.__version__, "names": list(names)}, sort_keys=True, default=str)
        key = hashlib.sha256(key_blob.encode()).hexdigest()[:16]
        threads = self.budget_config.threads
        if threads and not self.config.deterministic:
            torch.set_num_threads(threads)
        ctx.phase("proxies")
        store = ProxyStore(key, [ctx.run_dir / "proxies.npz"] if ctx.run_dir else [], names)
        return ProxySession(ctx, store, list(names), batch, self.zc_config, shape, n_classes, t0,
                            {"images_sha256": images_sha, "images": source, "key": key})

    # ---- spaces without a table ---------------------------------------------------------------------------------
    def _search_space(self, ctx: SearchContext) -> SearchOutcome:
        """Candidates of a space without a table, scored by the proxy: drawn by the space's sampler and the
        best-scored picked, or evolved by NSGA-II over (proxy, MAdds) and the front's best-scored picked within
        ``max_madds``."""
        from ..search.nsga2 import nsga2  # noqa: PLC0415
        from ..zc import PROXIES, VOTE_PROXIES  # noqa: PLC0415

        bench, adapter, b = ctx.bench, adapter_of(ctx.bench), self.budget_config
        strategy, population, generations, n = self._strategy(bench)
        session = self.session(ctx, adapter, PROXIES)
        build = adapter.network
        space = adapter.space_ops
        table: dict[str, dict] = {}  # arch key -> proxies and costs, in evaluation order

        def evaluate(keys: list[str]) -> None:
            new = [k for k in keys if k not in table]
            if new:
                vals = session.values(new, build)
                for j, k in enumerate(new):
                    table[k] = {**{n: float(vals[n][j]) for n in PROXIES}, **adapter.candidate_costs(k)}

        rng = np.random.default_rng(ctx.rng.integers(2**63))
        history: list[dict] = []
        if strategy == "sample":
            keys: list[str] = []
            for _ in range(n * 50):
                if len(keys) == n:
                    break
                k = adapter.arch_key(space.sample(rng))
                if k not in keys:
                    keys.append(k)
            evaluate(keys)
        else:
            # the vote compares candidates pairwise, so it is no per-candidate objective: NSGA-II then maximises its
            # proxies side by side (Pareto dominance is the unanimous vote) and the pick is the vote over all
            # candidates evaluated
            maximised = list(VOTE_PROXIES) if self.proxy == "vote" else [self.proxy]

            def objectives(k):
                evaluate([k])
                return [-table[k][p] if np.isfinite(table[k][p]) else np.inf for p in maximised] + \
                    [table[k]["madds_M"]]

            res = nsga2(objectives, lambda r: adapter.arch_key(space.sample(r)),
                        lambda k, r: adapter.arch_key(space.mutate(space.validate(k), r)),
                        lambda x, y, r: adapter.arch_key(adapter.crossover(x, y, r)), rng, population=population,
                        generations=generations, key=str)
            history = res.history
        keys = list(table)
        values = {p: np.array([table[k][p] for k in keys]) for p in PROXIES}
        scores, name = self._score(values)
        madds = np.array([table[k]["madds_M"] for k in keys])
        finite = np.isfinite(scores)
        if not finite.any():
            raise UserError(f"{self.proxy} is NaN or infinite for every one of the {len(keys):,} candidates; check "
                            f"--set synflow_dtype / init (see docs/zerocost.md).")
        notes = [f"{len(keys):,} candidates scored at initialization ({adapter.describe_network(session.shape)}; "
                 f"{strategy}{f' {population} x {generations}' if strategy == 'nsga2' else ''}); costs: "
                 f"{adapter.cost_note}"]
        ok = finite & (madds <= (b.max_madds or np.inf))
        if not ok.any():
            notes.append(f"no candidate meets max_madds={b.max_madds:g}M (the smallest has {madds.min():.1f}M); the "
                         f"best-scored one is reported")
            ok = finite
        pick = int(np.flatnonzero(ok)[np.argmax(scores[ok])])
        chosen = keys[pick]
        metrics = {f"search/chosen/{self.proxy}": float(scores[pick]), "search/chosen/madds_M": float(madds[pick]),
                   "search/chosen/params_M": float(table[chosen]["params_M"]),
                   "search/n_evaluations": float(len(keys)),
                   "search/undefined_scores": float((~finite).sum())}
        trajectory = [{"step": h["generation"], **{f"search/{k}": v for k, v in h.items()}} for h in history]
        artifacts = self._write_candidates(ctx, keys, table, scores, pick) if ctx.run_dir else []
        truth, phases = {}, {"proxies": session.info()["wall_s"]}
        if self.train_derived:
            from ..train import train_derived  # noqa: PLC0415

            ctx.phase("train_derived")
            ctx.status("training the picked network from scratch")
            t0 = time.perf_counter()
            trained = train_derived(adapter.space.parse_genotype(chosen), self.config, ctx)
            phases["train_derived"] = time.perf_counter() - t0
            truth = trained["truth"]
            metrics.update(trained["metrics"])
            notes.append("the pick: " + trained["note"])
        info = session.info()
        return SearchOutcome(
            chosen=-1, scored=np.array([], dtype=int), scores=np.array([]), score_name=name, sim_seconds=0.0,
            rank_truths=[], chosen_arch=chosen, truth=truth, trajectory=trajectory, phases=phases, notes=notes,
            metrics=metrics, artifacts=artifacts,
            costs={"proxy_archs_per_s": len(keys) / max(info["compute_wall_s"], 1e-9),
                   "proxy_compute_wall_s": info["compute_wall_s"], "proxies_from_cache": float(info["cached"])},
            params={"proxy": self.proxy, "zc": json.dumps(dataclasses.asdict(self.zc_config)),
                    "network": adapter.describe_network(session.shape), "n_archs": len(keys), "strategy": strategy,
                    "images_sha256": info["images_sha256"], "images": info["images"], "proxy_cache": info["key"],
                    **({"population": population, "generations": generations} if strategy == "nsga2" else {})})

    def _write_candidates(self, ctx, keys, table, scores, pick) -> list[str]:
        import csv  # noqa: PLC0415
        import io  # noqa: PLC0415

        from ..io import atomic_write_text  # noqa: PLC0415

        cols = list(next(iter(table.values())))
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["arch", "score", "picked", *cols])
        for j, k in enumerate(keys):
            w.writerow([k, repr(float(scores[j])), int(j == pick), *(repr(table[k][c]) for c in cols)])
        path = ctx.run_dir / "candidates.csv"
        atomic_write_text(path, buf.getvalue())
        return [str(path)]


class ProxySession:
    """One run's proxy computations: the minibatch, the settings and the :class:`ProxyStore`. ``values(keys,
    build)`` returns every proxy of every architecture key (``build(key, shape, n_classes)`` makes its untrained
    network), reading the cache first and checkpointing what it computes as it goes (``--resume`` continues)."""

    def __init__(self, ctx, store, names, batch, zc_config, shape, n_classes, t0, meta):
        self.ctx, self.store, self.names, self.batch, self.zc_config = ctx, store, names, batch, zc_config
        self.shape, self.n_classes, self.t0, self.meta = shape, n_classes, t0, meta
        self.done = store.load()
        self.cached = 0
        self.computed = 0
        self.compute_s = 0.0

    def values(self, keys: list[str], build) -> dict[str, np.ndarray]:
        from ..zc import compute  # noqa: PLC0415

        todo = [k for k in dict.fromkeys(keys) if k not in self.done]
        self.cached += len(keys) - len(todo)
        if len(keys) > 1:
            self.ctx.status(f"zero-cost proxies of {len(todo):,} architectures ({len(keys) - len(todo):,} cached)")
        t1, last = time.perf_counter(), time.perf_counter()
        for j, k in enumerate(todo):
            self.done[k] = compute(lambda k=k: build(k, self.shape, self.n_classes), self.names, self.batch,
                                   self.zc_config)
            if time.perf_counter() - last > 30 or j == len(todo) - 1:  # checkpoint: --resume continues from here
                self.store.meta["compute_s_per_arch"] = (self.compute_s + time.perf_counter() - t1) / max(
                    self.computed + j + 1, 1)
                self.store.save(self.done)
                last = time.perf_counter()
            if len(keys) > 1:
                self.ctx.progress(len(keys) - len(todo) + j + 1, len(keys))
        self.computed += len(todo)
        self.compute_s += time.perf_counter() - t1
        return {n: np.array([self.done[k][n] for k in keys], dtype=np.float64) for n in self.names}

    def info(self) -> dict:
        """Wall time so far, compute time (per architecture, extrapolated to the cached ones), what was cached."""
        total = self.computed + self.cached
        per = self.compute_s / self.computed if self.computed else self.store.meta.get("compute_s_per_arch", 0.0)
        return {"wall_s": time.perf_counter() - self.t0, "compute_wall_s": per * total, "cached": self.cached,
                **self.meta}


class ProxyStore:
    """Per-architecture proxy values, saved atomically to the run directory and to the user cache (``zc-<key>.npz``:
    one row per architecture key, one column per proxy), so runs with the same settings share them and a killed run
    resumes."""

    def __init__(self, key: str, extra_paths: list, names):
        from ..paths import cache_dir  # noqa: PLC0415

        self.key, self.names = key, list(names)
        self.paths = [*extra_paths, cache_dir() / f"zc-{key}.npz"]
        self.meta: dict = {}

    def load(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for path in self.paths:
            try:
                with np.load(path, allow_pickle=False) as z:
                    if str(z["key"]) != self.key or list(z["names"]) != self.names:
                        continue
                    for row, vals in zip(z["rows"].tolist(), z["values"], strict=True):
                        out.setdefault(str(row), dict(zip(self.names, map(float, vals), strict=True)))
                    self.meta = json.loads(str(z["meta"]))
            except (OSError, ValueError, KeyError):
                continue  # a damaged or foreign file is recomputed, never trusted
        return out

    def save(self, done: dict[str, dict]) -> None:
        from ..io import atomic_write  # noqa: PLC0415

        rows = np.array(list(done), dtype=str)
        values = np.array([[done[r][n] for n in self.names] for r in done], dtype=np.float64).reshape(
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
