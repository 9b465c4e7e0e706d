"""Free baselines beside every ranking, and a method's margin over the best of them.

A ranking number means little alone: on NAS-Bench-201 the parameter count alone ranks all 15,625 cells at Kendall
tau 0.53 against ``cifar10-valid/x-valid@200``. For every ranking a run reports, the harness ranks the *same
architectures* against the *same truth* by each free score the benchmark offers (``free_baselines``: parameter
count, FLOPs, the low-epoch training proxy) and reports

* each baseline's Kendall tau and Spearman (with ``n``);
* ``best``: the baseline with the highest Kendall tau among those defined on every ranked architecture;
* ``margin``: the method's Kendall tau minus the best baseline's, with a *paired* percentile bootstrap CI (the same
  resampled architectures for both, so their shared noise cancels), and the same point margin for Spearman;
* ``verdict``: ``beats`` when the margin's CI lies above 0, ``loses`` when it lies below 0, ``tie`` when it holds
  0, ``undecided`` without a CI (fewer than 3 architectures, no bootstrap, or no baseline on all of them).

Kendall tau here is tau-b, as everywhere in the harness; the bootstrap uses scipy's implementation of it for speed
(a test checks both agree).
"""

from __future__ import annotations

import numpy as np

from .ranking import RankResult, kendall_tau, spearman


def _tau_b(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau  # noqa: PLC0415

    return float(kendalltau(x, y).statistic)


def free_baseline_report(scores, truth, baselines: dict[str, np.ndarray], *, rng: np.random.Generator,
                         n_boot: int = 200, level: float = 0.95) -> dict:
    """The free baselines of one ranking (``scores`` against ``truth``, aligned arrays; NaN pairs dropped) and the
    method's margin over the best of them. ``baselines`` maps a name to its scores on the same architectures."""
    s = np.asarray(scores, np.float64).ravel()
    t = np.asarray(truth, np.float64).ravel()
    keep = np.isfinite(s) & np.isfinite(t)
    n = int(keep.sum())
    out: dict = {"n": n, "free": {}, "best": None, "margin": {}, "verdict": "undecided", "n_boot": int(n_boot)}
    complete = {}
    for name, values in baselines.items():
        b = np.asarray(values, np.float64).ravel()
        if b.shape != s.shape:
            raise ValueError(f"baseline {name!r} has {b.size} values for {s.size} architectures")
        both = keep & np.isfinite(b)
        entry = {"kendall_tau": kendall_tau(b[both], t[both]).to_dict(),
                 "spearman": spearman(b[both], t[both]).to_dict()}
        if both.sum() < n:
            entry["partial"] = f"defined on {int(both.sum()):,} of the {n:,} ranked architectures"
        else:
            complete[name] = b[keep]
        out["free"][name] = entry
    if n < 3 or not complete:
        return out
    best = max(complete, key=lambda k: (np.nan_to_num(out["free"][k]["kendall_tau"]["value"], nan=-2), k))
    out["best"] = best
    sk, tk, bk = s[keep], t[keep], complete[best]
    kt_m, kt_b = kendall_tau(sk, tk).value, out["free"][best]["kendall_tau"]["value"]
    diffs = []
    for _ in range(max(int(n_boot), 0)):
        idx = rng.integers(0, n, n)
        d = _tau_b(sk[idx], tk[idx]) - _tau_b(bk[idx], tk[idx])
        if np.isfinite(d):
            diffs.append(d)
    margin = RankResult(kt_m - kt_b, n)
    if diffs:
        lo, hi = np.quantile(diffs, [(1 - level) / 2, 1 - (1 - level) / 2])
        margin = RankResult(kt_m - kt_b, n, float(lo), float(hi), level)
        out["verdict"] = "beats" if lo > 0 else "loses" if hi < 0 else "tie"
    out["margin"] = {"kendall_tau": {**margin.to_dict(), "vs": best},
                     "spearman": {"value": spearman(sk, tk).value - out["free"][best]["spearman"]["value"], "n": n,
                                  "vs": best}}
    return out


def paired_kt_difference(scores_a, scores_b, truth, *, rng: np.random.Generator, n_boot: int = 1000,
                         level: float = 0.95) -> dict:
    """Does method A rank better than method B on the same architectures? ``scores_a`` / ``scores_b``: one row of
    scores per seed ([seeds, archs], the same architectures in the same order), ``truth``: [archs]. The difference
    is mean-over-seeds Kendall tau of A minus that of B; its percentile bootstrap CI resamples the architectures
    (the same draw for both methods, so the noise of the architecture sample cancels) and, independently, the seeds
    of each method (so seed-to-seed variation counts). ``p_not_greater``: the share of resamples where A does not
    beat B (a one-sided bootstrap p-value for "A > B"). ``verdict``: ``A > B`` / ``A < B`` when the CI excludes 0,
    else ``no difference shown``."""
    a = np.atleast_2d(np.asarray(scores_a, np.float64))
    b = np.atleast_2d(np.asarray(scores_b, np.float64))
    t = np.asarray(truth, np.float64).ravel()
    if a.shape[1] != t.size or b.shape[1] != t.size:
        raise ValueError(f"scores {a.shape} / {b.shape} do not match {t.size} architectures")
    keep = np.isfinite(t) & np.isfinite(a).all(0) & np.isfinite(b).all(0)
    a, b, t = a[:, keep], b[:, keep], t[keep]
    n = t.size

    def mean_kt(m: np.ndarray, idx: np.ndarray) -> float:
        return float(np.mean([_tau_b(row[idx], t[idx]) for row in m]))

    every = np.arange(n)
    point = mean_kt(a, every) - mean_kt(b, every)
    out = {"difference": point, "kt_a": mean_kt(a, every), "kt_b": mean_kt(b, every), "n_archs": int(n),
           "seeds_a": int(a.shape[0]), "seeds_b": int(b.shape[0]), "n_boot": int(n_boot), "level": level,
           "ci_low": None, "ci_high": None, "p_not_greater": None, "verdict": "undecided"}
    if n < 3 or n_boot < 1:
        return out
    diffs = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, n, n)
        sa = a[rng.integers(0, a.shape[0], a.shape[0])]
        sb = b[rng.integers(0, b.shape[0], b.shape[0])]
        d = mean_kt(sa, idx) - mean_kt(sb, idx)
        if np.isfinite(d):
            diffs.append(d)
    if not diffs:
        return out
    diffs_arr = np.array(diffs)
    lo, hi = np.quantile(diffs_arr, [(1 - level) / 2, 1 - (1 - level) / 2])
    out.update(ci_low=float(lo), ci_high=float(hi), p_not_greater=float((diffs_arr <= 0).mean()),
               verdict="A > B" if lo > 0 else "A < B" if hi < 0 else "no difference shown")
    return out
