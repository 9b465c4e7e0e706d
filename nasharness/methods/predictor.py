"""Predictor-based search (shared by ``renas`` and ``predictor-mse``): pay for a few fully trained architectures,
fit a predictor on their encodings, rank all the others.

Protocol: a training set is drawn with the run's seed at ``train_ratio`` of the labeled universe (or ``train_size``);
each training architecture is charged its tabulated training time as search cost; the predictor then scores every
remaining labeled architecture and the ranking metrics are computed over ALL of them (``n`` = universe - train). The
search picks the best-predicted untrained architecture.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from ..config import MAX_ARCHS, Budget, apply_overrides, derived_budget
from ..errors import UserError
from ..predictors.model import Predictor, PredictorConfig
from ..tabular.base import Protocol
from .base import SearchContext, SearchOutcome

#: Labels a predictor trains on and the truth it is scored against, per benchmark/dataset.
NB201_LABELS = {"cifar10": ("cifar10-valid/x-valid@200", "cifar10/ori-test@200", "cifar10-valid/train-time-s@200"),
                "cifar100": ("cifar100/ori-test@200", "cifar100/x-test@200", "cifar100/train-time-s@200"),
                "ImageNet16-120": ("ImageNet16-120/ori-test@200", "ImageNet16-120/x-test@200",
                                   "ImageNet16-120/train-time-s@200")}
#: The ReNAS paper's NB101 setting: 424 training archs = 0.1% of the 423,624.
NB101_PAPER_TRAIN = 424


class PredictorMethod:
    kind = "predictor"
    benchmarks = ("201", "101")
    loss = "pairwise"

    def __init__(self, config):
        self.config = config
        base = PredictorConfig(epochs=150 if config.budget == "ci" else 300)
        overrides = dict(config.overrides)
        if "train_size" in overrides and "train_ratio" not in overrides:
            overrides["train_ratio"] = "none"  # an explicit size replaces the default ratio
        (self.predictor_config,) = apply_overrides([base], overrides, "predictor")
        self._explicit = set(overrides)

    def protocol(self, bench, dataset: str) -> Protocol:
        if bench.name == "201":
            label, final, _ = NB201_LABELS[dataset]
            note = "" if dataset == "cifar10" else (
                f"no 200-epoch validation split is staged for {dataset}: training labels are {label} of the training "
                f"archs only; the ranking truth {final} is evaluated on the other archs")
            return Protocol(dataset, label, final, 200, note)
        if bench.is_full:
            return Protocol(dataset, "cifar10/val@108", "cifar10/test@108", 108, "")
        return Protocol(dataset, "cifar10/val@108", "cifar10/val@108", 108,
                        f"only the staged NB101 slices are present ({bench.size:,} of {bench.space_size:,} archs): the "
                        f"labeled slices are the universe, there is no test accuracy for most of them, so labels and "
                        f"truth are both val@108")

    def _train_size(self, bench, universe: int) -> tuple[int, str]:
        c = self.predictor_config
        if c.train_size:
            n = c.train_size
        elif bench.name == "101" and not bench.is_full and "train_ratio" not in self._explicit:
            n = NB101_PAPER_TRAIN  # the paper's 424 architectures (0.1% of the full table)
        else:
            n = max(2, round(c.train_ratio * universe))
        if n >= universe:
            raise UserError(f"training set of {n} architectures leaves none to rank out of {universe}; lower "
                            f"train_ratio/train_size.")
        return n, f"{n} training archs = {n / universe:.4%} of the {universe:,} labeled architectures"

    def budget(self, bench: str, dataset: str) -> Budget:
        return derived_budget(self.config.budget, self.predictor_config.train_size or MAX_ARCHS, "train_size",
                              ("train_size",), self.config.overrides)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..predictors.encoding import cached_encodings  # noqa: PLC0415

        bench, proto = ctx.bench, ctx.protocol
        label_col, final_col = proto.proxy, proto.final
        labels, final = bench.column(label_col), bench.column(final_col)
        universe = np.flatnonzero(np.isfinite(labels) & np.isfinite(final))
        n_train, ratio_note = self._train_size(bench, len(universe))
        ctx.status("encoding architectures")
        t0 = time.perf_counter()
        x = cached_encodings(bench)
        encode_wall = time.perf_counter() - t0
        train = np.sort(ctx.rng.choice(universe, n_train, replace=False))
        rest = np.setdiff1d(universe, train)
        cost_col = NB201_LABELS[proto.dataset][2] if bench.name == "201" else "cifar10/train-time-s@108"
        sim = float(np.nansum(bench.query_many(train, cost_col)))
        ctx.status(f"fitting the {self.loss} predictor on {n_train} architectures")
        t0 = time.perf_counter()
        seed = int(ctx.rng.integers(0, 2**31 - 1))
        pred = Predictor(x.shape[1], self.predictor_config, self.loss, seed).fit(x[train], labels[train])
        fit_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        scores = pred.predict(x[rest])
        predict_wall = time.perf_counter() - t0
        chosen = int(rest[int(np.argmax(scores))])
        best_trained = int(train[int(np.argmax(labels[train]))])
        truths = [final_col] if final_col == label_col else [final_col, label_col]
        notes = [ratio_note, f"ranking over all {len(rest):,} architectures not used for training"]
        return SearchOutcome(
            chosen=chosen, scored=rest, scores=scores.astype(float),
            score_name=f"{self.loss} predictor score", sim_seconds=sim,
            trajectory=[{"step": i + 1, "predictor/train_loss": v} for i, v in enumerate(pred.history)],
            phases={"encode": encode_wall, "predictor_fit": fit_wall, "predict": predict_wall},
            rank_truths=truths, report=list(dict.fromkeys([final_col, label_col])), regret_on=[final_col],
            costs={"train_archs": n_train, "predictions_per_s": len(rest) / max(predict_wall, 1e-9)},
            metrics={"train_ratio_of_labeled": n_train / len(universe), f"best_trained/{final_col}":
                     float(final[best_trained])},
            params={"loss": self.loss, "predictor": json.dumps(dataclasses.asdict(self.predictor_config)),
                    "train_size": n_train, "labels": label_col},
            notes=notes,
        )
