"""Ranking metrics between predicted scores and true performance (higher = better for both).

All functions drop pairs where either value is NaN and report ``n``, the number of architectures actually used.
Kendall tau is tau-b (ties in either variable handled as in scipy) computed in O(n log n) with a vectorized
bottom-up merge sort, so 15,625 architectures take a few milliseconds.

Top-K conventions (documented because peers differ):

* ``precision_at_k``: |top-K by prediction ∩ top-K by truth| / K. Ties at the K-th place are broken by index
  (stable sort), so the result is deterministic.
* ``regret_at_k``: best true value overall minus the best true value among the predicted top-K (0 = found the best).
* ``ndcg_at_k``: gains are the true values shifted so the worst is 0; DCG = sum gain_i / log2(i + 1) over the
  predicted top-K in predicted order, normalized by the DCG of the true top-K.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class RankResult:
    """A metric value with the number of architectures it was computed over and an optional CI."""

    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise UserError(f"predictions and truth must have the same length, got {p.size} and {t.size}.")
    keep = np.isfinite(p) & np.isfinite(t)
    return p[keep], t[keep]


def _run_pairs(sorted_equal_next: np.ndarray) -> int:
    """Tied pairs from a boolean 'element i equals element i+1' over a sorted sequence."""
    starts = np.flatnonzero(np.r_[True, ~sorted_equal_next])
    counts = np.diff(np.r_[starts, len(sorted_equal_next) + 1])
    return int((counts * (counts - 1) // 2).sum())


def _count_inversions(y: np.ndarray) -> int:
    """Pairs i < j with y[i] > y[j], for non-negative integer y, by a vectorized bottom-up merge sort."""
    n = len(y)
    if n < 2:
        return 0
    y = y.astype(np.int64)
    big = int(y.max()) + 1
    pos = np.arange(n)
    inversions = 0
    width = 1
    while width < n:
        block = pos // width  # current sorted runs of length `width`
        pair = block // 2
        is_right = (block % 2) == 1
        key = pair * big + y  # within a pair, ordered by value; pairs are ordered by id
        left_keys = key[~is_right]  # sorted, since each left run is sorted and runs come in pair order
        right_keys = key[is_right]
        right_pair = pair[is_right]
        # Number of left-run elements <= each right element, then the ones strictly greater are inversions.
        le = np.searchsorted(left_keys, right_keys, side="right")
        left_start = np.searchsorted(left_keys, right_pair * big, side="left")
        left_len = np.bincount(pair[~is_right], minlength=int(pair.max()) + 1)[right_pair]
        inversions += int((left_len - (le - left_start)).sum())
        y = y[np.argsort(key, kind="stable")]  # merge each pair of runs
        width *= 2
    return inversions


def kendall_tau(pred, true) -> RankResult:
    """Kendall tau-b between predictions and truth."""
    p, t = _pair(pred, true)
    n = len(p)
    if n < 2:
        return RankResult(float("nan"), n)
    # Dense ranks of the truth, from one stable sort.
    ot = np.argsort(t, kind="stable")
    t_sorted = t[ot]
    t_same = t_sorted[1:] == t_sorted[:-1]
    rank_t = np.empty(n, dtype=np.int64)
    rank_t[ot] = np.r_[0, np.cumsum(~t_same)]
    # Order by prediction, then truth: pairs tied in the prediction are never counted as discordant.
    order = np.lexsort((rank_t, p))
    p_sorted, y = p[order], rank_t[order]
    p_same = p_sorted[1:] == p_sorted[:-1]
    n0 = n * (n - 1) // 2
    n1 = _run_pairs(p_same)
    n2 = _run_pairs(t_same)
    n3 = _run_pairs(p_same & (y[1:] == y[:-1]))
    discordant = _count_inversions(y)
    denom = math.sqrt(float(n0 - n1) * float(n0 - n2))
    return RankResult((n0 - n1 - n2 + n3 - 2 * discordant) / denom if denom > 0 else float("nan"), n)


def _average_rank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return sums[inv] / counts[inv]


def _pearson_raw(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def spearman(pred, true) -> RankResult:
    """Spearman rho: Pearson correlation of average ranks (ties share their mean rank)."""
    p, t = _pair(pred, true)
    if len(p) < 2:
        return RankResult(float("nan"), len(p))
    return RankResult(_pearson_raw(_average_rank(p), _average_rank(t)), len(p))


def pearson(pred, true) -> RankResult:
    p, t = _pair(pred, true)
    if len(p) < 2:
        return RankResult(float("nan"), len(p))
    return RankResult(_pearson_raw(p, t), len(p))


def _check_k(k: int, n: int) -> int:
    if not isinstance(k, int | np.integer) or k < 1:
        raise UserError(f"top-K needs a positive integer K, got {k!r}.")
    return min(int(k), n)


def _top(x: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-x, kind="stable")[:k]


def precision_at_k(pred, true, k: int) -> RankResult:
    p, t = _pair(pred, true)
    if not len(p):
        return RankResult(float("nan"), 0)
    kk = _check_k(k, len(p))
    overlap = len(np.intersect1d(_top(p, kk), _top(t, kk)))
    return RankResult(overlap / kk, len(p))


def regret_at_k(pred, true, k: int = 1) -> RankResult:
    p, t = _pair(pred, true)
    if not len(p):
        return RankResult(float("nan"), 0)
    kk = _check_k(k, len(p))
    return RankResult(float(t.max() - t[_top(p, kk)].max()), len(p))


def ndcg_at_k(pred, true, k: int) -> RankResult:
    p, t = _pair(pred, true)
    if not len(p):
        return RankResult(float("nan"), 0)
    kk = _check_k(k, len(p))
    gain = t - t.min()
    disc = 1.0 / np.log2(np.arange(2, kk + 2))
    ideal = float((np.sort(gain)[::-1][:kk] * disc).sum())
    dcg = float((gain[_top(p, kk)] * disc).sum())
    return RankResult(dcg / ideal if ideal > 0 else float("nan"), len(p))


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], RankResult],
    pred,
    true,
    *,
    rng: np.random.Generator,
    n_boot: int = 200,
    level: float = 0.95,
) -> RankResult:
    """``metric`` with a percentile bootstrap CI over architectures (resampled with replacement by ``rng``)."""
    if not 0 < level < 1:
        raise UserError(f"confidence level must lie in (0, 1), got {level}.")
    p, t = _pair(pred, true)
    point = metric(p, t)
    if len(p) < 3 or n_boot < 1:
        return point
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(p), len(p))
        v = metric(p[idx], t[idx]).value
        if np.isfinite(v):
            stats.append(v)
    if not stats:
        return point
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return RankResult(point.value, point.n, float(lo), float(hi), level)


def ranking_report(
    pred, true, *, ks: tuple[int, ...] = (10, 50), rng: np.random.Generator | None = None, n_boot: int = 200
) -> dict[str, RankResult]:
    """The standard set: kendall_tau, spearman, pearson (with bootstrap CIs when ``rng`` is given),
    precision@K, regret@K and ndcg@K for each K."""
    out: dict[str, RankResult] = {}
    for name, fn in (("kendall_tau", kendall_tau), ("spearman", spearman), ("pearson", pearson)):
        out[name] = bootstrap_ci(fn, pred, true, rng=rng, n_boot=n_boot) if rng is not None else fn(pred, true)
    for k in ks:
        out[f"precision@{k}"] = precision_at_k(pred, true, k)
        out[f"regret@{k}"] = regret_at_k(pred, true, k)
        out[f"ndcg@{k}"] = ndcg_at_k(pred, true, k)
    out["regret@1"] = regret_at_k(pred, true, 1)
    return out


def degenerate_scores(scores) -> str | None:
    """Why ``scores`` cannot rank anything, or None when they can: all (finite) scores equal — e.g. a diverged
    supernet whose every path predicts one class — or some non-finite (NaN / inf). Kendall tau and the other ranking
    metrics are then NaN or meaningless; the harness flags such a run instead of reporting it as a normal result."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size < 2:
        return None
    finite = s[np.isfinite(s)]
    why = []
    if len(finite) >= 2 and np.all(finite == finite[0]):
        why.append(f"all {len(finite):,} finite scores equal ({finite[0]:.6g})" if len(finite) < s.size
                   else f"all {s.size:,} scores equal ({finite[0]:.6g})")
    if len(finite) < s.size:
        why.append(f"{s.size - len(finite):,} of {s.size:,} scores NaN or infinite")
    if not why:
        return None
    return (f"degenerate ranking: {'; '.join(why)}, so the ranking metrics (Kendall tau, Spearman, P@K) carry no "
            f"information; the training likely diverged (see train/final_loss) or the method returned placeholder "
            f"scores")
