"""Matplotlib figures saved as PNG artifacts (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt  # noqa: PLC0415

    from ..io import atomic_write  # noqa: PLC0415

    fig.tight_layout()
    try:  # atomic: a full disk leaves no half-written PNG, and fails as a StorageError naming the path
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
    return path


def ranking_scatter(scores: np.ndarray, truth: np.ndarray, *, xlabel: str, ylabel: str, title: str,
                    path: Path, kendall: float | None = None) -> Path:
    """Method score vs true accuracy, one dot per architecture, with Kendall tau and n in the title."""
    plt = _pyplot()
    keep = np.isfinite(scores) & np.isfinite(truth)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=110)
    ax.scatter(scores[keep], truth[keep], s=8, alpha=0.6, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    sub = f"n={int(keep.sum())}" + (f", Kendall tau={kendall:.3f}" if kendall is not None else "")
    ax.set_title(f"{title}\n{sub}", fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def kt_curve(curves: dict[str, list[tuple[float, float]]], *, ylabel: str, title: str, path: Path) -> Path:
    """Kendall tau against supernet training epoch, one line per label (a run, or a method's seeds)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=110)
    for label, pts in sorted(curves.items()):
        if pts:
            xs, ys = zip(*sorted(pts), strict=True)
            ax.plot(xs, ys, marker="o", ms=3, label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("supernet training epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=7)
    return _save(fig, path)


def comparison_bars(table, metric: str, label: str, path: Path) -> Path:
    """The comparison table as grouped bars: one group per benchmark/dataset, one bar per method, error bars = std
    over seeds, n (seeds) on each bar."""
    plt = _pyplot()
    groups = sorted({(r["bench"], r["dataset"]) for _, r in table.iterrows()})
    methods = sorted(set(table["method"]))
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(max(5.5, 1.6 * len(groups) * max(1, len(methods)) / 3), 4.0), dpi=110)
    for k, m in enumerate(methods):
        xs, ys, es, ns = [], [], [], []
        for g, (b, d) in enumerate(groups):
            row = table[(table["method"] == m) & (table["bench"] == b) & (table["dataset"] == d)]
            if len(row):
                xs.append(g + (k - (len(methods) - 1) / 2) * width)
                ys.append(float(row[f"{metric}_mean"].iloc[0]))
                es.append(float(row[f"{metric}_std"].iloc[0]))
                ns.append(int(row["n_seeds"].iloc[0]))
        if xs:
            bars = ax.bar(xs, ys, width, yerr=es, capsize=3, label=m)
            for bar, n in zip(bars, ns, strict=True):
                ax.annotate(f"n={n}", (bar.get_x() + bar.get_width() / 2, 0), ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(groups)), [f"{b} / {d}" for b, d in groups])
    ax.set_ylabel(label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{label}: mean ± std over seeds", fontsize=9)
    return _save(fig, path)


def arch_weight_heatmap(per_epoch: np.ndarray, edges: list[str], ops: list[str], cells: list[str], *, title: str,
                        path: Path) -> Path:
    """Architecture weights over the search: one panel per cell type, rows = (edge, op), columns = epochs, colour =
    weight (softmax or sigmoid). ``per_epoch``: [epochs, cells, edges, ops]."""
    plt = _pyplot()
    w = np.asarray(per_epoch, dtype=float)
    if w.ndim != 4 or not len(w):
        raise ValueError(f"per-epoch weights must be [epochs, cells, edges, ops] (one epoch at least), got {w.shape}")
    n_epochs, n_cells, n_edges, n_ops = w.shape
    fig, axes = plt.subplots(1, n_cells, figsize=(3.2 + 0.25 * n_epochs * n_cells, 1.2 + 0.13 * n_edges * n_ops),
                             dpi=100, squeeze=False)
    for c, ax in enumerate(axes[0]):
        grid = w[:, c].reshape(n_epochs, n_edges * n_ops).T  # rows (edge, op), columns epochs
        im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0.0, vmax=max(1e-9, float(grid.max())),
                       interpolation="nearest", extent=(0.5, n_epochs + 0.5, n_edges * n_ops - 0.5, -0.5))
        ax.set_yticks(range(n_edges * n_ops))
        ax.set_yticklabels([f"{e} {o}" for e in edges for o in ops], fontsize=5)
        for k in range(1, n_edges):
            ax.axhline(k * n_ops - 0.5, color="white", linewidth=0.4)
        ax.set_xlabel("epoch")
        ax.set_title(cells[c], fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def pareto_plot(points: np.ndarray, front: np.ndarray, *, limit: float | None, path: Path, title: str) -> Path:
    """Every evaluated architecture (MAdds, accuracy), the Pareto front joined, and the MAdds constraint."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2), dpi=110)
    ax.scatter(points[:, 0], points[:, 1], s=10, alpha=0.5, linewidths=0, label=f"evaluated (n={len(points)})")
    order = np.argsort(front[:, 0])
    ax.plot(front[order, 0], front[order, 1], "o-", color="C3", markersize=4, label=f"Pareto front ({len(front)})")
    if limit:
        ax.axvline(limit, color="gray", linestyle="--", linewidth=1, label=f"max MAdds {limit:g}M")
    ax.set_xlabel("multiply-adds at 224x224 (M)")
    ax.set_ylabel("supernet accuracy on held-out images (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
