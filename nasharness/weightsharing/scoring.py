"""The scoring-choices table: how one trained supernet ranks architectures under each way of scoring them.

Input: a run's ``scoring_study.npz`` (:func:`nasharness.supernet.evaluate.scoring_study`), which holds every
evaluated architecture's per-image correctness and cross-entropy under each BN mode. From the same forward passes
this computes, per BN mode, per score (accuracy, or minus the mean loss) and per number of validation images k, the
Kendall tau against the truth, the share of tied architecture pairs (few images make accuracies tie; losses almost
never do), and the free baselines' Kendall tau on the same architectures.

Two uncertainties are kept apart. With all the study's images, the Kendall tau has a bootstrap CI over
architectures. With fewer (k), *which* k images matters as much as how many: every architecture is scored on the
same k images, drawn at random ``draws`` times; the row gives the mean Kendall tau over the draws and the 2.5% /
97.5% quantiles across them (``kt_draws_low`` / ``kt_draws_high``), and the bootstrap CI of the first draw.

With ``bn_mode=train`` an image's output depends on the other images of its batch, so the k-image subsets of that
mode are cut from passes over the whole validation subset (the other modes are exact per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..metrics.ranking import bootstrap_ci, kendall_tau


def load_study(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a ``scoring_study.npz``, checked for the keys and shapes the table needs."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"scoring study {str(path)!r} cannot be read ({exc}); run the one-shot method again with "
                        f"--set study_bn_modes=... (and --resume to reuse its trained supernet).") from exc
    modes = [str(m) for m in arrays.get("modes", [])]
    need = ["index", *(f"{k}_{m}" for m in modes for k in ("correct", "loss"))]
    missing = [k for k in need if k not in arrays]
    n = len(arrays.get("index", []))
    bad = [k for k in need[1:] if k in arrays and arrays[k].shape[0] != n]
    if not modes or missing or bad:
        raise DataError(f"scoring study {str(path)!r} is incomplete (modes {modes}, missing {missing}, wrong shape "
                        f"{bad}); delete it and run the one-shot method again.")
    return arrays


def _tied_share(scores: np.ndarray) -> float:
    """The share of architecture pairs whose scores are equal."""
    _, counts = np.unique(scores, return_counts=True)
    n = len(scores)
    return float((counts * (counts - 1)).sum() / (n * (n - 1))) if n > 1 else float("nan")


def scoring_rows(study: dict[str, np.ndarray], truth: np.ndarray, baselines: dict[str, np.ndarray], *,
                 sizes: Sequence[int] | None = None, seed: int = 0, n_boot: int = 200, draws: int = 20) -> list[dict]:
    """One row per (BN mode, score, number of validation images) and one per free baseline. ``truth`` and each
    baseline are full table columns (indexed by ``study["index"]``); ``sizes``: numbers of validation images (each
    at most the study's; default: 100, 250, 500, ... up to all). Kendall tau is tau-b with a percentile bootstrap CI
    (``n_boot`` resamples from ``seed``; the same resamples for every row). A size below the study's images is
    scored on ``draws`` random image subsets (from ``seed``; the same subsets for every mode and score): the mean
    Kendall tau and tied share over them, and the spread across them (see the module docstring)."""
    idx = study["index"]
    t = np.asarray(truth, dtype=float)[idx]
    modes = [str(m) for m in study["modes"]]
    n_images = study[f"correct_{modes[0]}"].shape[1]
    if sizes is None:
        sizes = [k for k in (100, 250, 500, 1000, 2500, 5000, 10000) if k < n_images] + [n_images]
    bad = [k for k in sizes if not 1 <= k <= n_images]
    if bad:
        raise DataError(f"validation image counts {bad} are outside 1..{n_images} (the study's images).")
    if draws < 1:
        raise DataError(f"draws must be at least 1, got {draws}.")
    pick = np.random.default_rng([seed, 1])
    subsets = {k: [np.arange(n_images)] if k == n_images else
               [np.sort(pick.choice(n_images, k, replace=False)) for _ in range(draws)] for k in sizes}

    def row(kind: str, per_draw: list[np.ndarray], **keys) -> dict:
        kt = bootstrap_ci(kendall_tau, per_draw[0], t, rng=np.random.default_rng(seed), n_boot=n_boot)
        values = np.array([kt.value] + [kendall_tau(x, t).value for x in per_draw[1:]])
        low, high = np.quantile(values, [0.025, 0.975])
        return {"kind": kind, **keys, "n_archs": kt.n, "kendall_tau": float(values.mean()), "kt_ci_low": kt.ci_low,
                "kt_ci_high": kt.ci_high, "image_draws": len(per_draw), "kt_draws_low": float(low),
                "kt_draws_high": float(high), "tied_pairs": float(np.mean([_tied_share(x) for x in per_draw]))}

    rows = []
    for mode in modes:
        correct, loss = study[f"correct_{mode}"], study[f"loss_{mode}"].astype(np.float64)
        for k in sizes:
            rows.append(row("supernet", [100.0 * correct[:, j].mean(1) for j in subsets[k]], bn_mode=mode,
                            score="accuracy", n_images=k))
            rows.append(row("supernet", [-loss[:, j].mean(1) for j in subsets[k]], bn_mode=mode, score="loss",
                            n_images=k))
    for name, col in baselines.items():
        rows.append(row("free", [np.asarray(col, dtype=float)[idx]], bn_mode="", score=name, n_images=0))
    return rows


def cost_matched_pairs(cells: dict[str, dict]) -> list[tuple[str, str, str]]:
    """Which one-shot cells to compare, at equal cost. ``cells``: name -> ``{"method", "passes", "epochs"}`` (the
    sets of its runs' forward-backward passes and epochs), in study order; the first cell's method is the reference
    (``spos``). Every cell of another method is paired with each reference-method cell trained for the same passes
    (``"passes"``: FairNAS and SCARLET train m paths a step, so m times fewer epochs) and with each one trained for
    the same epochs (``"epochs"``; ``"passes, epochs"`` when both agree). A cell with no such partner is paired with
    the first cell (``""``: not cost-matched). Returns ``(cell, reference cell, matched on)``."""
    names = list(cells)
    if not names:
        return []
    ref_method = cells[names[0]]["method"]
    refs = [n for n in names if cells[n]["method"] == ref_method]
    out = []
    for name in names:
        c = cells[name]
        if c["method"] == ref_method:
            continue
        found = False
        for ref in refs:
            on = [k for k in ("passes", "epochs") if c[k] == cells[ref][k]]
            if on:
                out.append((name, ref, ", ".join(on)))
                found = True
        if not found:
            out.append((name, names[0], ""))
    return out
