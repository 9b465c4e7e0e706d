"""Regression tables: the current suite's comparison table against a committed baseline (``results/ci.csv``).

Each row of the baseline (method x benchmark x dataset x budget x truth) is matched with the current one and every
gated quantity gets a delta and a verdict. **Noise band** of a quantity: ``max(floor, 2 * s)`` where ``s`` is the
pooled seed standard deviation ``sqrt((std_base^2 + std_current^2) / 2)`` — two standard deviations of the seed-to-seed
spread both tables measured — and ``floor`` keeps the band meaningful when the seeds happen to agree:

* Kendall tau, Spearman: 0.05; P@10: 0.10;
* regret and chosen-arch accuracy: 0.5 percentage points;
* search wall time: 50% of the baseline and at least 5 s (timings are noisy across machines); simulated
  training time: 5%;
  peak memory: 25%; the supernet's final training loss: 0.05 (seeds of a `ci` one-shot cell differ by about 0.01,
  environments by up to 0.031).

**Same environment, same seeds: exact.** A run's numbers follow from its seed and its numeric environment
(``envinfo.fingerprint``). When the baseline row and the current one ran in the same environments with the same
seeds, the quantities that follow from the seeds (:data:`EXACT`: rankings, regret, chosen accuracy, simulated time,
training loss; not wall time or memory) must reproduce, and their band is only the baseline CSV's rounding
(:data:`EXACT_REL`). The noise band would miss real changes there: at the `ci` budget a 10% lower learning rate
moves SPOS's final training loss by up to 0.006 per seed and a 20% lower weight decay by up to 0.025, inside 0.05,
and Kendall tau by no more than its seed spread (measured on seeds 0 and 1). A change meant on purpose is recorded
with ``update_baseline``.

When the baseline and the current rows were computed in different numeric environments (their
``environments`` fingerprints differ, or the baseline predates fingerprints), the band of a quantity is also at least
the measured cross-environment spread (:data:`CROSS_ENV`, from ``benchmarks/env_sensitivity.py``; only methods that
train a network move between environments, tabular ones reproduce exactly, so this is a floor, not a widening of
tight rows).

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
          "peak_mem_mb": (0.0, 0.25), "train_loss": (0.05, 0.0)}
#: Cross-environment spread of a `ci` one-shot cell: the largest |delta| measured between kernel ISAs (AVX2 /
#: AVX-512) and thread counts (1 / 2) for the same seed (results/env_sensitivity.csv: Kendall tau 0.061, regret
#: 2.56 pp, final training loss 0.031), rounded up; Spearman at 1.5x the Kendall spread (its usual ratio on these
#: rankings; not measured apart).
#: The band's floor when baseline and current ran in different numeric environments.
CROSS_ENV = {"kendall_tau": 0.1, "spearman": 0.15, "regret": 3.0, "chosen_acc": 3.0, "train_loss": 0.05}
#: The quantities that follow from the seeds (a run reproduces them exactly in the same numeric environment).
EXACT = ("kendall_tau", "spearman", "precision@10", "regret", "chosen_acc", "sim_train_s", "train_loss")
#: Their band in the same environment with the same seeds: the baseline stores 6 significant digits.
EXACT_REL = 1e-5
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


def band(metric: str, base_mean: float, base_std: float, cur_std: float, cross_env: bool = False) -> float:
    abs_floor, rel_floor = FLOORS[metric]
    s = math.sqrt(((base_std or 0.0) ** 2 + (cur_std or 0.0) ** 2) / 2)
    return max(abs_floor, rel_floor * abs(base_mean), 2 * s, CROSS_ENV.get(metric, 0.0) if cross_env else 0.0)


def _envs(r) -> set[str]:
    return {e for e in str(r.get("environments", "") or "").split(",") if e and e != "nan"}


def reproduces(b, c) -> bool:
    """Whether the current row must reproduce the baseline's exactly: the same numeric environments, the same seeds."""
    same_seeds = str(b.get("seeds", "")).strip() == str(c.get("seeds", "")).strip() != ""
    return same_seeds and not environments_differ(b, c)


def environments_differ(b, c) -> bool:
    """True unless both rows name their environments and they are the same set."""
    eb, ec = _envs(b), _envs(c)
    return not eb or not ec or eb != ec


def trains_a_network(method: str) -> bool:
    """Whether a method's numbers come from training a network (and so move between numeric environments): every
    kind but the black-box search over a table (an unknown or outside method counts as training)."""
    from .plugins import METHODS  # noqa: PLC0415

    try:
        return getattr(METHODS.factory(method), "kind", "") != "black-box"
    except Exception:  # noqa: BLE001 - a method no longer registered: assume it trained
        return True


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
            if metric in EXACT and reproduces(b, c):
                w = EXACT_REL * max(1.0, abs(bm))
            else:
                cross = environments_differ(b, c) and trains_a_network(key[0])
                w = band(metric, bm, float(b.get(f"{metric}_std", 0) or 0), float(c.get(f"{metric}_std", 0) or 0),
                         cross)
            gain = DIRECTION[metric] * (cm - bm)
            verdict = "REGRESSED" if gain < -w else "improved" if gain > w else "ok"
            rows.append(Row(key, metric, bm, cm, w, verdict))
    for key in cur.keys() - base.keys():
        rows.append(Row(key, "(all)", math.nan, math.nan, math.nan, "new"))
    return rows


def failed(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.verdict in ("REGRESSED", "MISSING")]


def environment_note(baseline: pd.DataFrame, current: pd.DataFrame) -> str:
    """One line on whether the two tables' numeric environments match (what the bands then allow for)."""
    eb = set().union(*(_envs(r) for _, r in baseline.iterrows())) if len(baseline) else set()
    ec = set().union(*(_envs(r) for _, r in current.iterrows())) if len(current) else set()
    if eb and eb == ec:
        return (f"Same numeric environment as the baseline (fingerprint {', '.join(sorted(eb))}): with the same "
                f"seeds, rankings, regret, accuracies and training losses must reproduce to the baseline's 6 "
                f"significant digits (any change is a change of the code; record one meant with --update-baseline).")
    what = (f"baseline {', '.join(sorted(eb)) or 'unrecorded'}, current {', '.join(sorted(ec)) or 'unrecorded'}")
    return (f"**Numeric environment differs from the baseline's** ({what}; `result.json` `env` says which fields): "
            f"for methods that train a network the bands include the measured cross-environment spread "
            f"(docs/reproducibility.md); tabular methods must still match exactly.")


def to_markdown(rows: list[Row], environments: str = "") -> str:
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
    if environments:
        lines.append(environments)
        lines.append("")
    lines.append(f"**{len(bad)} regression(s)** beyond the noise band." if bad else
                 "No regression beyond the noise band.")
    return "\n".join(lines) + "\n"
