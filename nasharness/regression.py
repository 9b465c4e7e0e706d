"""Regression tables: the current suite's comparison table against a committed baseline (``results/ci.csv``).

Each row of the baseline (method x benchmark x dataset x budget x truth) is matched with the current one and every
gated quantity gets a delta and a verdict. **Noise band** of a quantity: ``max(floor, 2 * s)`` where ``s`` is the
pooled seed standard deviation ``sqrt((std_base^2 + std_current^2) / 2)`` — two standard deviations of the seed-to-seed
spread both tables measured — and ``floor`` keeps the band meaningful when the seeds happen to agree:

* Kendall tau, Spearman: 0.05; P@10: 0.10;
* regret and chosen-arch accuracy: 0.5 percentage points;
* search wall time: 50% of the baseline and at least 5 s (timings are noisy across machines); simulated
  training time: 5%;
  peak memory: 25%.

A change beyond the band in the bad direction is ``REGRESSED`` (the report exits non-zero); in the good direction
``improved``; otherwise ``ok``. A baseline row with no current counterpart is ``MISSING`` (also a failure: a method that
stopped producing results); a current row not in the baseline is ``new``. ``update_baseline`` rewrites the baseline
from the current table on purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from .compare import GROUP, METRICS

#: quantity -> (absolute floor, relative floor as a fraction of the baseline mean)
FLOORS = {"kendall_tau": (0.05, 0.0), "spearman": (0.05, 0.0), "precision@10": (0.10, 0.0), "regret": (0.5, 0.0),
          "chosen_acc": (0.5, 0.0), "search_wall_s": (5.0, 0.5), "sim_train_s": (0.0, 0.05),
          "peak_mem_mb": (0.0, 0.25)}
DIRECTION = {c: d for c, d, _ in METRICS}
LABEL = {c: label for c, _, label in METRICS}


@dataclass
class Row:
    key: tuple
    metric: str
    baseline: float
    current: float
    band: float
    verdict: str

    @property
    def delta(self) -> float:
        return self.current - self.baseline


def band(metric: str, base_mean: float, base_std: float, cur_std: float) -> float:
    abs_floor, rel_floor = FLOORS[metric]
    s = math.sqrt(((base_std or 0.0) ** 2 + (cur_std or 0.0) ** 2) / 2)
    return max(abs_floor, rel_floor * abs(base_mean), 2 * s)


def compare_to_baseline(baseline: pd.DataFrame, current: pd.DataFrame) -> list[Row]:
    def keyed(df):
        return {tuple(str(r[g]) for g in GROUP): r for _, r in df.iterrows()}

    base, cur = keyed(baseline), keyed(current)
    rows: list[Row] = []
    for key, b in base.items():
        c = cur.get(key)
        if c is None:
            rows.append(Row(key, "(all)", math.nan, math.nan, math.nan, "MISSING"))
            continue
        for metric in FLOORS:
            bm, cm = float(b.get(f"{metric}_mean", math.nan)), float(c.get(f"{metric}_mean", math.nan))
            if not math.isfinite(bm) and not math.isfinite(cm):
                continue
            if not math.isfinite(cm):
                rows.append(Row(key, metric, bm, cm, math.nan, "MISSING"))
                continue
            if not math.isfinite(bm):
                rows.append(Row(key, metric, bm, cm, math.nan, "new"))
                continue
            w = band(metric, bm, float(b.get(f"{metric}_std", 0) or 0), float(c.get(f"{metric}_std", 0) or 0))
            gain = DIRECTION[metric] * (cm - bm)
            verdict = "REGRESSED" if gain < -w else "improved" if gain > w else "ok"
            rows.append(Row(key, metric, bm, cm, w, verdict))
    for key in cur.keys() - base.keys():
        rows.append(Row(key, "(all)", math.nan, math.nan, math.nan, "new"))
    return rows


def failed(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.verdict in ("REGRESSED", "MISSING")]


def to_markdown(rows: list[Row]) -> str:
    def num(x: float, metric: str) -> str:
        if not math.isfinite(x):
            return "–"
        return f"{x:.3f}" if metric in ("kendall_tau", "spearman", "precision@10") else f"{x:.2f}" \
            if metric in ("regret", "chosen_acc") else f"{x:,.1f}"

    head = ["method", "bench / dataset", "budget", "truth", "quantity", "baseline", "current", "delta", "band",
            "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        method, bench, dataset, budget, truth = r.key
        delta = f"{r.delta:+.3g}" if math.isfinite(r.delta) else "–"
        verdict = f"**{r.verdict}**" if r.verdict in ("REGRESSED", "MISSING") else r.verdict
        lines.append("| " + " | ".join([method, f"{bench} / {dataset}", budget, f"`{truth}`",
                                         LABEL.get(r.metric, r.metric), num(r.baseline, r.metric),
                                         num(r.current, r.metric), delta, num(r.band, r.metric), verdict]) + " |")
    bad = failed(rows)
    lines.append("")
    lines.append(f"**{len(bad)} regression(s)** beyond the noise band." if bad else
                 "No regression beyond the noise band.")
    return "\n".join(lines) + "\n"
