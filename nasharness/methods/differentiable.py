"""Shared differentiable search (DARTS, Fair DARTS) on any benchmark that offers ``differentiable`` (NAS-Bench-201 and
the DARTS CIFAR-10 space).

A method is an activation of the architecture parameters plus a parse rule and an extra loss; everything else runs
through the one weight-sharing pipeline (:mod:`nasharness.weightsharing.pipeline`), with the benchmark's adapter for
the space (architecture-weight shapes, derivation, scoring); the architecture step is
:class:`~nasharness.supernet.architect.Architect`.

* Architecture parameters: one row of logits per edge and op (NB201: 6 x 5, shared by all cells; DARTS space: 14 x 8
  for the normal and 14 x 8 for the reduction cell), initialised to 1e-3 x N(0, 1) as in DARTS.
* Weights seen by the network: ``softmax`` over each edge's ops (DARTS: exclusive competition) or an independent
  ``sigmoid`` per op (Fair DARTS: collaborative; raising one op's weight does not lower another's).
* Bi-level optimisation with the shared :class:`~nasharness.supernet.trainer.SupernetTrainer`: before each weight
  step (SGD on a training batch, the trainer's own) the :class:`Architect` — the method's step hook — takes one Adam
  step on the architecture parameters with a batch of the held-out search split. First order by default (the current
  weights); ``order=2`` uses DARTS' unrolled approximation: gradient at the weights after one virtual SGD step
  w' = w - xi * grad_w L_train, minus xi times a finite-difference Hessian-vector product.
* Fair DARTS adds the zero-one loss ``w01 * (-1/N) * sum (sigmoid(a) - 0.5)^2`` to the architecture loss: it pushes
  each weight towards 0 or 1, closing the gap between the continuous weights and the discrete pick.
* Derived architecture: NB201 — per edge the op of largest weight (``none`` included: the space needs exactly one op
  per edge). DARTS space — DARTS: per node the two edges with the strongest non-``none`` op (``top2``); Fair DARTS:
  every edge whose strongest non-``none`` sigmoid exceeds the threshold (0.85), at most two per node
  (``threshold_sparse``).
* Ranking on NB201: every one of the 15,625 cells gets the score ``sum over edges of log w[e, op_e]`` (log-softmax
  for DARTS, log-sigmoid for Fair DARTS): the log-probability of the cell under the learned distribution for DARTS,
  the summed log-confidence of its ops for Fair DARTS. The argmax cell is the top-scored one, and the whole space is
  ranked against the table — a complete ranking, not a sample.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from ..config import Budget, apply_overrides
from ..contracts import SearchContext, SearchOutcome, adapter_budget, adapter_class, adapter_of
from ..errors import ConfigError, UserError
from ..io import atomic_write_json
from ..supernet.architect import ArchConfig, Architect, WeightsSampler, zero_one_loss  # noqa: F401 (re-exported)
from ..tabular.base import Protocol


class DifferentiableMethod:
    """Base of ``darts`` and ``fairdarts``: subclasses set ``activation`` and the default zero-one weight."""

    kind = "differentiable"
    requires = frozenset({"differentiable"})
    needs_images = True
    activation = "softmax"
    zero_one_weight = 0.0

    def __init__(self, config):
        self.config = config
        if config.max_archs is not None or config.max_sim_seconds is not None:
            raise ConfigError(
                "--max-archs / --max-sim-seconds budget tabular lookups; a differentiable search's budget is its "
                "supernet training. Use --set epochs=..., n_train=..., n_valid=... instead.")
        overrides = dict(config.overrides)
        self.train_derived = str(overrides.pop("train_derived", "false")).lower() in ("1", "true", "yes")
        self._overrides = overrides
        self._configs: dict = {}

    def configs(self, bench) -> tuple:
        """The trainer's and the architecture's configs of this budget on ``bench``, ``--set`` overrides applied."""
        cls = adapter_class(bench)
        key = getattr(bench, "weight_sharing", None)
        if key not in self._configs:
            base_s, base_a = adapter_budget(cls.differentiable_budgets, "differentiable", bench, self.config.budget)
            base_a = dataclasses.replace(base_a, zero_one_weight=self.zero_one_weight)
            if self.activation == "sigmoid" and self.config.budget == "paper":  # the seed's search command
                base_s = dataclasses.replace(base_s, lr=0.005, batch_size=128)
            self._configs[key] = tuple(apply_overrides([base_s, base_a], self._overrides, "differentiable"))
            if self.train_derived and not getattr(cls, "trains_derived", False):
                raise UserError(f"--train-derived trains the derived network from scratch; on benchmark "
                                f"{bench.name!r} the table already gives the derived cell's accuracy. Drop "
                                f"--train-derived.")
        return self._configs[key]

    def budget(self, bench, dataset: str) -> Budget:
        self.configs(bench)
        ranks_all = getattr(adapter_class(bench), "ranks_table", False)
        label = self.config.budget + ("+overrides" if self._overrides else "")
        return Budget(label, max_archs=int(bench.space_size) if ranks_all else 1)

    def protocol(self, bench, dataset: str) -> Protocol:
        if dataset != getattr(bench, "images", "cifar10"):
            raise UserError(f"differentiable search trains on real images; only {bench.images} images are available, "
                            f"so dataset {dataset!r} is not supported. Use --dataset {bench.images} (on a table the "
                            f"derived cell is still reported on its other datasets).")
        s, a = self.configs(bench)
        return adapter_of(bench).differentiable_protocol(dataset, s, a, self.config.budget, self.train_derived)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..weightsharing.pipeline import SupernetRun  # noqa: PLC0415

        s, a = self.configs(ctx.bench)
        bench = ctx.bench
        part = adapter_of(bench)
        run = SupernetRun(ctx, part, s, "differentiable")
        model = run.build(lambda: part.search_network(s, a))
        architect = Architect(model, part.shapes(), self.activation, a, run.images.valid, s.batch_size,
                              run.search_seed, run.device)

        def epoch_end(epoch: int) -> dict:
            w = architect.numpy_weights()
            architect.snapshots.append([x.tolist() for x in w])
            arch = part.derive(w, self.activation, a.threshold)
            return {"skip_connects": part.skip_count(arch), **part.epoch_probe(w, self.activation, arch)}

        run.train(WeightsSampler(architect), "differentiable search", on_epoch_end=epoch_end,
                          step_hook=architect)
        weights = architect.numpy_weights()
        derived = part.derive(weights, self.activation, a.threshold)
        common = run.report(costs={"arch_steps": architect.steps},
                            params={"activation": self.activation, "arch": json.dumps(dataclasses.asdict(a)),
                                    "parse_rule": part.parse_rule_of(self.activation)})
        common["artifacts"] = self._artifacts(ctx, part, architect, weights, derived)
        metrics = {"search/derived/skip_connects": float(part.skip_count(derived)),
                   "train/final_loss": run.final_loss()}
        if part.ranks_table:
            chosen = bench.index_of(derived)
            scores = part.scores(weights, self.activation)
            return SearchOutcome(
                chosen=chosen, scored=np.arange(bench.size), scores=scores,
                score_name=f"sum of log {self.activation} architecture weights of the cell's ops",
                sim_seconds=0.0, rank_truths=[part.valid_truth, part.test_truth], report=part.report,
                regret_on=part.report, metrics=metrics,
                notes=[f"every one of the {bench.size:,} cells is scored from the learned architecture weights "
                       f"(sum over edges of the log weight of its op); the derived cell is the argmax per edge"],
                **common)
        from ..supernet.darts import count_params  # noqa: PLC0415
        from ..train import describe_genotype, train_derived  # noqa: PLC0415

        metrics.update(describe_genotype(derived))
        truth, notes = {}, [f"derived genotype ({common['params']['parse_rule']}): {derived!r}",
                            "the DARTS space has no tabular ground truth: no ranking metrics"]
        if self.train_derived:
            ctx.phase("train_derived")
            ctx.status("training the derived network from scratch")
            t0 = time.perf_counter()
            trained = train_derived(derived, self.config, ctx)
            common["phases"]["train_derived"] = time.perf_counter() - t0
            truth = trained["truth"]
            metrics.update(trained["metrics"])  # (its recipe is in the protocol note)
        metrics["search/supernet_params"] = float(count_params(model))
        return SearchOutcome(chosen=-1, scored=np.array([], dtype=int), scores=np.array([]), score_name="none",
                             sim_seconds=0.0, rank_truths=[], metrics=metrics, notes=notes,
                             chosen_arch=repr(derived), truth=truth, **common)

    def _artifacts(self, ctx, part, architect: Architect, weights, derived) -> list[str]:
        if not ctx.run_dir:
            return []
        out = []
        path = ctx.run_dir / "arch_weights.json"
        atomic_write_json(path, {"activation": self.activation, "edges": part.edges, "ops": list(part.ops),
                                 "cells": ["cell"] if len(weights) == 1 else ["normal", "reduce"],
                                 "per_epoch": architect.snapshots, "final": [w.tolist() for w in weights],
                                 "derived": derived if isinstance(derived, str) else repr(derived)})
        out.append(str(path))
        try:
            from ..report.plots import arch_weight_heatmap  # noqa: PLC0415

            out.append(str(arch_weight_heatmap(
                np.array(architect.snapshots), part.edges, list(part.ops),
                ["cell"] if len(weights) == 1 else ["normal", "reduce"],
                title=f"{self.config.method} ({self.activation}) architecture weights per epoch",
                path=ctx.run_dir / "arch_weights.png")))
        except ImportError:  # matplotlib is optional
            pass
        return out
