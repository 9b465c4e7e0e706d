"""``nasharness report --html OUT/``: one self-contained HTML page (tables + plots embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import json
import math
import tempfile
from pathlib import Path

import pandas as pd

from ..compare import METRICS
from ..errors import StorageError
from ..io import atomic_write_text, make_dirs


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>' \
           f"{html.escape(alt)}</figcaption></figure>"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _kt_curves(records: list[dict]) -> dict[tuple, dict[str, list]]:
    """Per (bench, dataset, truth-of-probe): method -> [(epoch, KT averaged over seeds)] from run directories."""
    acc: dict[tuple, dict[str, dict[int, list[float]]]] = {}
    for rec in records:
        src = Path(rec.get("source", ""))
        if not (src / "result.json").is_file():
            continue
        traj = json.loads((src / "result.json").read_text()).get("trajectory", [])
        for p in traj:
            for k, v in p.items():
                if k.startswith("train/kt/") and v is not None and math.isfinite(v):
                    key = (rec["bench"], rec["dataset"], k[len("train/kt/"):])
                    acc.setdefault(key, {}).setdefault(rec["method"], {}).setdefault(int(p["step"]), []).append(v)
    return {key: {m: [(e, sum(v) / len(v)) for e, v in sorted(pts.items())] for m, pts in methods.items()}
            for key, methods in acc.items()}


def write_html(out_dir: str | Path, table: pd.DataFrame, *, regression_md_rows=None, records: list[dict] | None = None,
               title: str = "nasharness report") -> Path:
    from ..compare import cell_text, free_mark  # noqa: PLC0415
    from . import plots  # noqa: PLC0415

    out = make_dirs(Path(out_dir).expanduser())  # an unwritable folder is a StorageError naming it, no traceback
    parts = [f"<h1>{html.escape(title)}</h1>"]
    head = ["method", "bench / dataset", "budget", "truth", "seeds", "archs"] + [label for _, _, label in METRICS]
    rows = [[html.escape(str(r["method"]) + free_mark(r)), f"{html.escape(str(r['bench']))} / "
             f"{html.escape(str(r['dataset']))}", html.escape(str(r["budget"])),
             f"<code>{html.escape(str(r['truth']))}</code>", str(r["n_seeds"]), str(r["n_archs"])]
            + [cell_text(r, c) for c, _, _ in METRICS] for _, r in table.iterrows()]
    parts += ["<h2>Comparison (mean ± std over seeds; one seed: value [95% bootstrap CI])</h2>", _table(head, rows),
              "<p>best free KT: the best of the parameter count, FLOPs and the low-epoch proxy on the same "
              "architectures and truth; KT margin: the method's Kendall tau minus it; "
              "<em>(beats free k/n)</em>: the margin's paired bootstrap CI lies above 0 in only k of n seeds.</p>"]
    if regression_md_rows is not None:
        from ..regression import LABEL  # noqa: PLC0415

        reg = [[html.escape(r.key[0]), f"{html.escape(str(r.key[1]))} / {html.escape(r.key[2])}",
                html.escape(LABEL.get(r.metric, r.metric)), f"{r.baseline:.4g}", f"{r.current:.4g}",
                f"{r.delta:+.3g}" if math.isfinite(r.delta) else "–", f"{r.band:.3g}" if math.isfinite(r.band) else "–",
                f'<b class="bad">{r.verdict}</b>' if r.verdict in ("REGRESSED", "MISSING") else r.verdict]
               for r in regression_md_rows]
        parts += ["<h2>Against the baseline</h2>",
                  _table(["method", "bench / dataset", "quantity", "baseline", "current", "delta", "band", "verdict"],
                         reg)]
    try:  # the plots are drawn beside the page (a full or read-only folder fails here, before anything is kept)
        scratch = tempfile.TemporaryDirectory(prefix=".plots-", dir=out)
    except OSError as exc:
        raise StorageError(out, exc, "write the HTML report into") from exc
    with scratch as tmp:
        figs = []
        for col, label in (("kendall_tau", "Kendall tau"), ("regret", "regret (pp)")):
            if table[f"{col}_mean"].notna().any():
                figs.append(_img(plots.comparison_bars(table, col, label, Path(tmp) / f"{col}.png"),
                                 f"{label} per method and benchmark"))
        for (bench, dataset, truth), curves in sorted(_kt_curves(records or []).items()):
            path = Path(tmp) / f"kt-{bench}-{dataset}.png"
            figs.append(_img(plots.kt_curve(curves, ylabel=f"Kendall tau vs {truth}",
                                            title=f"{bench} / {dataset}: ranking during supernet training "
                                                  f"(mean over seeds)", path=path),
                             f"KT vs epoch, {bench} / {dataset}"))
        parts += ["<h2>Plots</h2>", *figs]
    style = ("body{font-family:sans-serif;margin:2em;max-width:1400px} table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right} td:first-child{text-align:left}"
             "figure{display:inline-block;margin:1em} .bad{color:#b00}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
    path = out / "index.html"
    atomic_write_text(path, page)
    return path
