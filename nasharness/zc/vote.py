"""Ensemble of zero-cost proxies: Abdelfattah et al.'s (ICLR 2021) majority vote, turned into a per-arch score.

Their ``vote`` (zero-cost-nas, ``notebooks/nasbench201_correlations.ipynb``) is a pairwise rule: for two archs i, j,
each of synflow, jacob_cov and snip votes "i better" when its score of i exceeds that of j, and the majority
decides. They report it as a pairwise ranking accuracy, not as a score. To rank archs with it we use its Copeland
count: the fraction of the other archs an arch beats under that rule (a beat counts 1, an undecided pair 1/2).
It is exactly their rule when no two scores tie (three proxies: i beats j iff at least two of them rank i above
j); a proxy whose two scores are equal or NaN abstains. This is O(n^2) comparisons (done in blocks, O(n) memory
per block): about 0.1 s for 1,000 archs and seconds for all 15,625 NB201 cells, so no mean-rank approximation is
needed. Higher is better for every proxy: negate a column first where lower is better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import UserError
from .config import VOTE_PROXIES


def vote(score_table: Mapping[str, np.ndarray], names: Sequence[str] | None = VOTE_PROXIES, *,
         block: int = 512) -> np.ndarray:
    """Per-arch majority-vote score in [0, 1] (higher is better) from ``score_table[name][arch]``.

    ``names``: the proxies that vote (default synflow, jacov, snip as Abdelfattah et al.; ``None``: every column
    of the table)."""
    names = list(score_table) if names is None else list(names)
    missing = [n for n in names if n not in score_table]
    if missing:
        raise UserError(f"vote needs the scores of {', '.join(map(repr, missing))}; the table has "
                        f"{', '.join(map(repr, score_table)) or 'nothing'}.")
    if not names:
        raise UserError("vote needs at least one proxy.")
    cols = [np.asarray(score_table[n], dtype=np.float64).reshape(-1) for n in names]
    n = len(cols[0])
    if any(len(c) != n for c in cols):
        raise UserError(f"vote: the proxies score different numbers of archs: "
                        f"{', '.join(f'{k}: {len(c)}' for k, c in zip(names, cols, strict=True))}.")
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.full(1, 0.5)
    s = np.stack(cols)  # [M, n]
    out = np.empty(n)
    for lo in range(0, n, block):
        a = s[:, lo:lo + block, None]
        b = s[:, None, :]
        gt = (a > b).sum(0)
        lt = (a < b).sum(0)
        wins = (gt > lt).sum(1) + 0.5 * (gt == lt).sum(1) - 0.5  # minus the self-comparison (always a tie)
        out[lo:lo + block] = wins / (n - 1)
    return out
