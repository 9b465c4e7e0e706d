"""Shared one-shot (weight-sharing supernet) search with real images, on any benchmark that offers ``one-shot``.

A one-shot method is a sampler choice plus flags (``spos`` uniform single paths; ``fairnas`` strictly fair paths;
``scarlet`` fair paths with linearly equivalent identities); everything else runs through the one weight-sharing
pipeline (:mod:`nasharness.weightsharing.pipeline`). What differs per space lives in the benchmark's adapter
(:mod:`nasharness.weightsharing.nb201`, ``nb101``, ``mobile``): the supernet, the path type, the image split, the
evaluation set, the truths and the search's sample/mutate. On a table the evaluation set is scored with inherited
weights and regularized evolution (plus a random control) picks an architecture; an adapter that searches itself
(the ImageNet spaces: NSGA-II over accuracy and cost) does so.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import numpy as np

from ..config import Budget, apply_overrides, derived_budget
from ..contracts import SearchContext, SearchOutcome, adapter_budget, adapter_class, adapter_of
from ..errors import ConfigError, UserError
from ..io import atomic_write_json
from ..tabular.base import Protocol


class OneShotMethod:
    """Base of spos / fairnas / scarlet: subclasses set ``sampler_cls`` and ``linear_skip``."""

    kind = "one-shot"
    requires = frozenset({"one-shot"})
    #: ``cpu``: NB201's CPU study budget (other spaces say which budgets they have).
    budgets = ("ci", "cpu", "paper")
    #: Trains on the benchmark's images (``bench.images``): other datasets of a table are skipped by suites.
    needs_images = True
    sampler_cls: type = None  # type: ignore[assignment]
    linear_skip = False

    def __init__(self, config):
        self.config = config
        if config.max_archs is not None or config.max_sim_seconds is not None:
            raise ConfigError(
                "--max-archs / --max-sim-seconds budget tabular lookups; a one-shot method's budget is its supernet "
                "training and its evaluations. Use --set epochs=..., --set n_archs=... (architectures scored with "
                "inherited weights), --set cycles=... (evolution), or --set nsga_generations=... on the ImageNet "
                "spaces.")
        self._configs: dict = {}

    def configs(self, bench) -> list:
        """The trainer's and the evaluation's configs (and the ImageNet search's) of this budget on ``bench``, with
        the ``--set`` overrides applied (each key checked, each value parsed)."""
        cls = adapter_class(bench)
        key = getattr(bench, "weight_sharing", None)
        if key not in self._configs:
            base = adapter_budget(cls.one_shot_budgets, "one-shot", bench, self.config.budget)
            if hasattr(cls, "configure"):
                self._configs[key] = cls.configure(self.config.overrides, self.config.budget)
            else:
                self._configs[key] = apply_overrides(list(base), dict(self.config.overrides), "one-shot")
        return self._configs[key]

    def budget(self, bench, dataset: str) -> Budget:
        configs, cls = self.configs(bench), adapter_class(bench)
        if hasattr(cls, "budget_archs"):
            n, formula, keys = cls.budget_archs(configs)
        else:
            e = configs[1]
            n, formula, keys = e.n_archs + e.population + e.cycles, "n_archs + population + cycles", \
                ("n_archs", "population", "cycles")
        return derived_budget(self.config.budget_label, n, formula, keys, self.config.overrides)

    def protocol(self, bench, dataset: str) -> Protocol:
        configs = self.configs(bench)
        if getattr(bench, "images", "cifar10") != dataset and getattr(bench, "tabular", True):
            raise UserError(
                f"one-shot methods train a supernet on real images; only {bench.images} images are available for "
                f"this benchmark, so dataset {dataset!r} is not supported. Use --dataset {bench.images} (the chosen "
                f"arch is still reported on the table's other datasets).")
        adapter = adapter_of(bench)
        if hasattr(adapter, "one_shot_protocol"):
            return adapter.one_shot_protocol(dataset, configs, self.config.dataset_root)
        s, e = configs[0], configs[1]
        proxy, final = adapter.protocol_truths()
        train_name, valid_name = adapter.split_name
        shape = adapter.shape(s)
        return Protocol(dataset, proxy, final, s.epochs,
                        f"supernet {shape}, {s.epochs} epochs on {s.n_train or 'all':,} {train_name} images; "
                        f"inherited-weight {e.score} on {s.n_valid or 'all':,} {valid_name} images "
                        f"(BN: {e.bn_mode})"
                        if isinstance(s.n_train, int) and isinstance(s.n_valid, int) else
                        f"supernet {shape}, {s.epochs} epochs on the {train_name} split; inherited-weight {e.score} "
                        f"on the {valid_name} split (BN: {e.bn_mode})")

    # ---- the one-shot part of the pipeline --------------------------------------------------------------------
    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..weightsharing.pipeline import SupernetRun  # noqa: PLC0415

        configs = self.configs(ctx.bench)
        s = configs[0]
        adapter = adapter_of(ctx.bench)
        adapter.configs = configs
        run = SupernetRun(ctx, adapter, s, "one-shot")
        if getattr(adapter, "searches_itself", False):
            run.build(lambda: adapter.supernet(s, self.linear_skip, run.images.extra["n_classes"]))
            run.train(self.sampler_cls(run.model.choices_per_edge), f"training the {adapter.sp.name} supernet",
                      count_updates=True)
            return adapter.search(self, ctx, run)
        return self._search_table(ctx, adapter, run, configs[1])

    def _search_table(self, ctx: SearchContext, space, run, e) -> SearchOutcome:
        from ..search.evolution import random_sampling, regularized_evolution  # noqa: PLC0415
        from ..supernet.evaluate import InheritedEvaluator  # noqa: PLC0415
        from ..weightsharing.pipeline import kendall_probe  # noqa: PLC0415

        bench, s = ctx.bench, run.s
        supernet = run.build(lambda: space.supernet(s, self.linear_skip))
        sampler = space.sampler(self.sampler_cls, supernet)
        arch_set, subsets = space.eval_indices(e)
        evaluator = InheritedEvaluator(supernet, run.images.calib, run.images.valid, e)
        probe = None
        if e.track_every:  # the per-epoch ranking probe over track_archs archs of the evaluation set's uniform part
            pool = arch_set[subsets[space.valid_truth]] if space.valid_truth in subsets else arch_set
            ids = pool[np.linspace(0, len(pool) - 1, min(e.track_archs, len(pool))).round().astype(int)]
            probe = kendall_probe(space.valid_truth, bench.column(space.valid_truth)[ids],
                                  [space.path(int(i)) for i in ids], evaluator, e.track_every)
        run.train(sampler, "training the supernet", log_paths=space.log_paths, on_epoch_end=probe)
        trained_bn = evaluator.bn_state() if e.study_modes else None  # the study's "running" mode needs them

        per_image = None
        with run.timed("inherited_eval", "evaluating inherited weights"):
            if trained_bn is not None and e.bn_mode in e.study_modes:  # the study's pass of this mode, kept
                per_image = evaluator.per_image_many([space.path(int(i)) for i in arch_set], progress=ctx.progress)
                scores = np.array([evaluator.score_of(c, lo) for c, lo in zip(*per_image, strict=True)])
            else:
                scores = evaluator.many([space.path(int(i)) for i in arch_set], progress=ctx.progress)

        with run.timed("supernet_search", "searching on the supernet"):
            # One memo for the eval set, the evolution and the control: an arch's inherited-weight accuracy does not
            # depend on what was evaluated before it (BN is re-estimated per arch), so it is never computed twice.
            known = {space.item_key(space.index_item(i)): float(a) for i, a in zip(arch_set, scores, strict=True)}

            def score(item) -> float:
                key = space.item_key(item)
                if key not in known:
                    known[key] = evaluator.score(space.item_path(item))
                return known[key]

            evo = regularized_evolution(score, space.sample, space.mutate, np.random.default_rng(run.search_seed),
                                        population=e.population, sample_size=e.sample_size, cycles=e.cycles)
            control = random_sampling(score, space.sample, np.random.default_rng(run.search_seed + 1),
                                      n=e.population + e.cycles)
        evaluator.restore()

        chosen, control_pick, search_metrics, search_params = self._picks(space, arch_set, scores, evo, control)
        artifacts = []
        if trained_bn is not None and ctx.run_dir:
            with run.timed("scoring_study", f"scoring study ({', '.join(e.study_modes)})"):
                from ..supernet.evaluate import scoring_study  # noqa: PLC0415

                artifacts.append(str(scoring_study(ctx.run_dir / "scoring_study.npz", evaluator, trained_bn,
                                                   [space.path(int(i)) for i in arch_set], arch_set,
                                                   progress=ctx.progress, known={e.bn_mode: per_image}
                                                   if per_image is not None else None)))
        score_key = "supernet_acc" if e.score == "accuracy" else "supernet_neg_loss"
        if ctx.run_dir:
            rows = [{"index": int(i), "arch": bench.key_of(int(i)), score_key: float(a),
                     **{t: bench.query(int(i), t) for t in dict.fromkeys([space.valid_truth, space.test_truth])}}
                    for i, a in zip(arch_set, scores, strict=True)]
            atomic_write_json(ctx.run_dir / "eval_set_scores.json",
                              {"eval_seed": e.eval_seed, "stratify": e.stratify, "n": len(rows), "archs": rows})
            artifacts.append(str(ctx.run_dir / "eval_set_scores.json"))
            if run.trainer.path_counts:
                artifacts.append(str(self._write_paths(ctx.run_dir, run.trainer.path_counts, space)))
        truths = list(dict.fromkeys(t for t in (space.valid_truth, space.test_truth)
                                    if np.isfinite(bench.column(t)[arch_set]).any()))
        common = run.report(
            costs={"archs_evaluated_inherited": evaluator.n_evaluated,
                   "inherited_eval_archs_per_s": len(arch_set) / run.phases["inherited_eval"]},
            params={"sampler": sampler.name, "linear_skip": self.linear_skip, "eval": json.dumps(dataclasses.asdict(e)),
                    "bn_mode": e.bn_mode, "random_control_chosen": bench.key_of(control_pick),
                    "data_parallel_processes": run.trainer.world, **search_params})
        return SearchOutcome(
            chosen=chosen, scored=arch_set, scores=scores,
            score_name=(f"supernet inherited-weight accuracy on {space.split_name[1]} (%)" if e.score == "accuracy"
                        else f"minus the supernet inherited-weight cross-entropy on {space.split_name[1]}"),
            sim_seconds=0.0, rank_truths=truths, rank_subsets=subsets, report=space.report, regret_on=space.report,
            metrics={f"search/evolution/best_{score_key}": evo.best_score,
                     "search/evolution/n_evaluations": evo.n_evaluations,
                     f"search/random_control/chosen/{space.report[0]}": bench.query(control_pick, space.report[0]),
                     f"search/random_control/best_{score_key}": control.best_score,
                     "train/final_loss": run.final_loss(), **search_metrics},
            artifacts=artifacts,
            notes=[f"supernet accuracies come from {run.images.extra['n_valid']:,} {space.split_name[1]} images; "
                   f"truth from the {bench.title} table", *space.notes()],
            **common)

    @staticmethod
    def _picks(space, arch_set, scores, evo, control) -> tuple[int, int, dict, dict]:
        """The chosen arch (a table row) of the evolution and of the random control. Where the search space is
        larger than the labeled table (NB101 slices), a pick that is not labeled is replaced by the best-scored
        labeled arch the run scored (that search's history plus the evaluation set)."""
        pool = list(zip(arch_set.tolist(), scores.tolist(), strict=True))
        metrics, params = {}, {}

        def pick(trace) -> int:
            i = space.item_index(trace.best)
            if i is not None:
                return i
            seen = [(space.item_index(it), sc) for it, sc in trace.history]
            return max([c for c in seen if c[0] is not None] + pool, key=lambda t: t[1])[0]

        evo_i, ctl_i = pick(evo), pick(control)
        if space.item_index(evo.best) is None:
            params["search_best_unlabeled"] = space.item_key(evo.best)
        if space.bench.coverage < 1:
            metrics["search/evolution/labeled_among_evaluated"] = sum(
                space.item_index(it) is not None for it, _ in evo.history)
        return int(evo_i), int(ctl_i), metrics, params

    @staticmethod
    def _write_paths(run_dir, counts: Counter, space) -> object:
        """The sampled paths of supernet training: hash, vertices, times trained, and whether the table labels it."""
        import csv  # noqa: PLC0415

        from ..io import atomic_write  # noqa: PLC0415

        path = run_dir / "sampled_paths.csv"

        def write(tmp):
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["hash", "n_vertices", "times_trained", "labeled"])
                for (h, n), c in counts.most_common():
                    w.writerow([h, n, c, int(space.bench.row_of(h) is not None)])
        atomic_write(path, write)
        return path
