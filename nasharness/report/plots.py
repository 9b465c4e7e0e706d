"""Matplotlib figures saved as PNG artifacts (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ranking_scatter(scores: np.ndarray, truth: np.ndarray, *, xlabel: str, ylabel: str, title: str,
                    path: Path, kendall: float | None = None) -> Path:
    """Method score vs true accuracy, one dot per architecture, with Kendall tau and n in the title."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    keep = np.isfinite(scores) & np.isfinite(truth)
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=110)
    ax.scatter(scores[keep], truth[keep], s=8, alpha=0.6, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    sub = f"n={int(keep.sum())}" + (f", Kendall tau={kendall:.3f}" if kendall is not None else "")
    ax.set_title(f"{title}\n{sub}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
