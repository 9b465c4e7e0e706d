"""How one run compares with the committed `ci` baseline (``results/ci.csv``, shipped as
``package_data/baseline-ci.csv``): the line the quick start's summary ends with.

The baseline row is the same method x benchmark x dataset x budget x truth; the verdict uses the regression report's
noise band (:func:`nasharness.regression.band`), including the cross-environment spread when this run's numeric
environment is not the baseline's, so a user who reproduces the quick start elsewhere learns whether the difference
is expected.
"""

from __future__ import annotations

import math

from .bundled import package_data_dir


def compare_with_baseline(result) -> str | None:
    """One line, or None when the baseline has no row for this run (another budget, overrides, a new method)."""
    from .compare import read_table_csv, record_from_result  # noqa: PLC0415
    from .regression import DIRECTION, band, environments_differ, trains_a_network  # noqa: PLC0415

    path = package_data_dir() / "baseline-ci.csv"
    if not path.is_file() or "+" in str(result.budget):
        return None
    rec = record_from_result(result.to_dict())
    table = read_table_csv(path)
    row = table[(table["method"] == rec["method"]) & (table["bench"] == rec["bench"]) &
                (table["dataset"] == rec["dataset"]) & (table["budget"] == rec["budget"]) &
                (table["truth"] == rec["truth"])]
    if row.empty:
        return None
    b = row.iloc[0]
    cross = environments_differ(b, {"environments": rec.get("env", "")}) and trains_a_network(rec["method"])
    parts, outside = [], []
    for metric, label, digits in (("kendall_tau", "Kendall tau", 3), ("regret", "regret (pp)", 2)):
        bm, bs, cm = float(b[f"{metric}_mean"]), float(b.get(f"{metric}_std", 0) or 0), float(rec[metric])
        if not (math.isfinite(bm) and math.isfinite(cm)):
            continue
        w = band(metric, bm, bs, 0.0, cross)
        parts.append(f"{label} {cm:.{digits}f} vs {bm:.{digits}f} ± {bs:.{digits}f} (band ±{w:.{digits}f})")
        if abs(cm - bm) > w:
            outside.append(f"{label} {'better' if DIRECTION[metric] * (cm - bm) > 0 else 'worse'}")
    if not parts:
        return None
    where = ("another numeric environment than the baseline's, so the band includes the measured cross-environment "
             "spread" if cross else "the band is the seed noise")
    verdict = "outside the band: " + ", ".join(outside) if outside else "within the band"
    return (f"committed baseline (results/ci.csv, seeds {b['seeds']}): {'; '.join(parts)} — {verdict} ({where}; see "
            f"docs/reproducibility.md)")
