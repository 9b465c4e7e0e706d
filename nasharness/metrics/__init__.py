"""Ranking metrics (with n and confidence intervals) and cost accounting."""

from .ranking import (
    RankResult,
    bootstrap_ci,
    kendall_tau,
    ndcg_at_k,
    pearson,
    precision_at_k,
    ranking_report,
    regret_at_k,
    spearman,
)

__all__ = [
    "RankResult",
    "bootstrap_ci",
    "kendall_tau",
    "ndcg_at_k",
    "pearson",
    "precision_at_k",
    "ranking_report",
    "regret_at_k",
    "spearman",
]
