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
from ..errors import ConfigError, UserError
from ..predictors.model import Predictor, PredictorConfig
from ..tabular.base import Protocol
from .base import SearchContext, SearchOutcome


class PredictorMethod:
    kind = "predictor"
    requires = frozenset({"table", "trained-labels", "encoding"})
    loss = "pairwise"

    def __init__(self, config):
        self.config = config
        base = PredictorConfig(epochs=150 if config.budget == "ci" else 300)
        overrides = dict(config.overrides)
        #: Zero-cost proxies appended to the encoding (``--set zc_features=synflow,naswot``; ``all``).
        self.zc_features = _zc_names(overrides.pop("zc_features", ""))
        if "train_size" in overrides and "train_ratio" not in overrides:
            overrides["train_ratio"] = "none"  # an explicit size replaces the default ratio
        (self.predictor_config,) = apply_overrides([base], overrides, "predictor")
        self._explicit = set(overrides)

    def protocol(self, bench, dataset: str) -> Protocol:
        """The benchmark's fully trained labels (``trained_protocol``): labels, truth and training-time column."""
        return bench.trained_protocol(dataset)

    def _train_size(self, bench, universe: int) -> tuple[int, str]:
        c = self.predictor_config
        default = getattr(bench, "predictor_train_default", None)
        if c.train_size:
            n = c.train_size
        elif default and not getattr(bench, "is_full", False) and "train_ratio" not in self._explicit:
            n = default  # the benchmark's paper setting (NB101 slices: ReNAS' 424 archs = 0.1% of the full table)
        else:
            n = max(2, round(c.train_ratio * universe))
        if n >= universe:
            raise UserError(f"training set of {n} architectures leaves none to rank out of {universe}; lower "
                            f"train_ratio/train_size.")
        return n, f"{n} training archs = {n / universe:.4%} of the {universe:,} labeled architectures"

    def budget(self, bench, dataset: str) -> Budget:
        """The architectures trained for labels: ``train_size`` (``--set train_size=N`` or ``--max-archs N``), and
        with ``--max-sim-seconds`` the training set is cut where its training time would exceed it."""
        c = self.config
        n = self.predictor_config.train_size or MAX_ARCHS
        if c.max_archs is not None:
            n = min(n, c.max_archs)
        if c.max_archs is None and c.max_sim_seconds is None:
            return derived_budget(c.budget_label, n, "train_size", ("train_size",), c.overrides)
        return Budget(c.budget_label, max_archs=n, max_sim_seconds=c.max_sim_seconds)

    def search(self, ctx: SearchContext) -> SearchOutcome:
        from ..predictors.encoding import cached_encodings  # noqa: PLC0415

        bench, proto = ctx.bench, ctx.protocol
        label_col, final_col = proto.proxy, proto.final
        labels, final = bench.column(label_col), bench.column(final_col)
        universe = np.flatnonzero(np.isfinite(labels) & np.isfinite(final))
        n_train, ratio_note = self._train_size(bench, len(universe))
        if ctx.budget.max_archs is not None and ctx.budget.max_archs < n_train:
            n_train, ratio_note = ctx.budget.max_archs, f"{ratio_note}, cut to --max-archs {ctx.budget.max_archs}"
        ctx.status("encoding architectures")
        t0 = time.perf_counter()
        x = cached_encodings(bench)
        zc_costs, zc_params = {}, {}
        if self.zc_features:
            x, zc_costs, zc_params = self._with_zero_cost(ctx, x, universe)
        encode_wall = time.perf_counter() - t0
        drawn = ctx.rng.choice(universe, n_train, replace=False)
        cost = np.nan_to_num(bench.query_many(drawn, proto.cost)) if proto.cost else np.zeros(n_train)
        if ctx.budget.max_sim_seconds is not None:  # the draw's prefix whose training fits the simulated time
            keep = int(np.searchsorted(np.cumsum(cost), ctx.budget.max_sim_seconds, side="right"))
            if keep < 2:
                raise ConfigError(f"--max-sim-seconds {ctx.budget.max_sim_seconds:g} pays for {keep} fully trained "
                                  f"architecture(s) ({proto.cost}); a predictor needs at least 2. Raise it.")
            if keep < n_train:
                ratio_note += f", cut to the first {keep} whose training fits --max-sim-seconds"
            drawn, cost, n_train = drawn[:keep], cost[:keep], keep
        train = np.sort(drawn)
        rest = np.setdiff1d(universe, train)
        sim = float(np.nansum(bench.query_many(train, proto.cost))) if proto.cost else 0.0
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
            costs={"train_archs": n_train, "predictions_per_s": len(rest) / max(predict_wall, 1e-9), **zc_costs},
            metrics={"train_ratio_of_labeled": n_train / len(universe), f"best_trained/{final_col}":
                     float(final[best_trained])},
            params={"loss": self.loss, "predictor": json.dumps(dataclasses.asdict(self.predictor_config)),
                    "train_size": n_train, "labels": label_col, **zc_params},
            notes=notes,
        )

    def _with_zero_cost(self, ctx, x: np.ndarray, universe: np.ndarray):
        """The encodings with one more channel per zero-cost proxy: ``sign(v) log(1 + |v|)`` of the proxy, standardized
        over the labeled architectures (no label is read), as a constant plane. The proxies come from the zero-cost
        methods' computation at this budget (network shape, minibatch, seeds), shared through their cache."""
        from ..contracts import adapter_of, offers  # noqa: PLC0415
        from ..zc import PROXIES  # noqa: PLC0415
        from .zerocost import ZeroCostMethod  # noqa: PLC0415

        if "network" not in offers(ctx.bench):
            raise UserError(f"zc_features needs a benchmark that builds standalone networks (offers 'network'); "
                            f"{ctx.bench.name!r} does not. Drop --set zc_features.")
        zc = ZeroCostMethod(dataclasses.replace(self.config, overrides={}, max_archs=None, max_sim_seconds=None))
        values, info = zc.proxy_table(ctx, adapter_of(ctx.bench), universe, PROXIES)
        planes = np.zeros((x.shape[0], len(self.zc_features), *x.shape[2:]), dtype=np.float32)
        for k, name in enumerate(self.zc_features):
            v = values[name]
            v = np.sign(v) * np.log1p(np.abs(v))
            finite = np.isfinite(v)
            mu, sd = (v[finite].mean(), v[finite].std()) if finite.any() else (0.0, 1.0)
            col = np.zeros(x.shape[0])
            col[universe] = np.where(finite, (v - mu) / (sd if sd > 0 else 1.0), 0.0)
            planes[:, k] = col[:, None, None] if x.ndim == 4 else col
        costs = {"zc_features/compute_wall_s": info["compute_wall_s"], "zc_features/from_cache": float(info["cached"])}
        params = {"zc_features": ",".join(self.zc_features), "zc_network": zc.shape(ctx.bench),
                  "zc": json.dumps(dataclasses.asdict(zc.zc_config)), "zc_cache": info["key"]}
        return np.concatenate([x, planes], axis=1), costs, params


def _zc_names(text: str) -> tuple[str, ...]:
    """``--set zc_features=...``: proxy names, comma-separated (``all``: every proxy); checked against the list."""
    from ..zc import PROXIES  # noqa: PLC0415

    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if names == ["all"]:
        return tuple(PROXIES)
    bad = [n for n in names if n not in PROXIES]
    if bad:
        raise ConfigError(f"--set zc_features: unknown proxy {bad[0]!r}; valid: {', '.join(PROXIES)} (or all), "
                          f"comma-separated.")
    return tuple(dict.fromkeys(names))
