"""Side-by-side comparison of runs: one row per method x benchmark x dataset (x budget), mean ± std over seeds.

Runs come from run directories (``result.json`` files) or from an MLflow tracking store; both are turned into the same
flat records first. The headline truth of a run is its protocol's ``final`` metric (e.g. ``cifar10/ori-test@200``),
which every row names, so rows with different truths are never mixed.
"""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError, brief, shorten
from .io import atomic_write_text

GROUP = ["method", "bench", "dataset", "budget", "truth"]
#: Compared quantities: (column, direction: +1 higher is better, -1 lower is better, label).
METRICS = [
    ("kendall_tau", +1, "Kendall tau"),
    ("spearman", +1, "Spearman"),
    ("precision@10", +1, "P@10"),
    ("regret", -1, "regret (pp)"),
    ("chosen_acc", +1, "chosen acc (%)"),
    ("search_wall_s", -1, "search wall (s)"),
    ("sim_train_s", -1, "simulated train (s)"),
    ("peak_mem_mb", -1, "peak mem (MB)"),
    ("skip_connects", -1, "skips in derived cell"),
    # the supernet's mean training loss over its last epoch (methods that train one): deterministic per seed, so
    # unlike a ci-budget ranking it moves only when training changes
    ("train_loss", -1, "supernet train loss"),
    # the free baselines on the same architectures and truth (metrics/baselines.py)
    ("best_free_kt", +1, "best free KT"),
    ("margin_kt", +1, "KT margin over free"),
]
#: Columns a comparison CSV may lack (written before they existed); read as NaN.
OPTIONAL = {"skip_connects", "best_free_kt", "margin_kt", "train_loss"}
#: Counts over a row's seeds, written to every format and read as 0 from a CSV written before them (the old reader
#: ignores them): ``degenerate``, the runs whose scores could not rank (all equal or non-finite:
#: ``ranking/degenerate``).
COUNTS = ("degenerate", "beats_free")
#: Ranking metrics with a bootstrap CI: a one-seed row shows it (``<m>_ci_low``, ``<m>_ci_high``) instead of a spread
#: over seeds that does not exist. The CSV (the regression baseline's format) does not carry these columns.
CI_METRICS = ("kendall_tau", "spearman")
CI_COLUMNS = tuple(f"{m}_ci_{end}" for m in CI_METRICS for end in ("low", "high"))


def _record(meta: dict, final: str, truths: list[str], value, source: str, env: str = "") -> dict:
    """One flat record. ``value(name)`` returns a canonical metric (``RunResult.flat_metrics`` names) or NaN; the
    headline truth is ``final`` when the run ranked against it, else its first ranking truth."""
    t = final if math.isfinite(value(f"rank/{final}/kendall_tau")) else truths[0]
    n = value(f"rank/{t}/kendall_tau/n")
    return {
        "method": meta["method"], "bench": str(meta["bench"]), "dataset": meta["dataset"], "budget": meta["budget"],
        "seed": int(meta["seed"]), "truth": t, "kendall_tau": value(f"rank/{t}/kendall_tau"),
        "n_archs": int(n) if math.isfinite(n) else 0, "spearman": value(f"rank/{t}/spearman"),
        "precision@10": value(f"rank/{t}/precision@10"), "regret": value(f"regret/{final}"),
        "chosen_acc": value(f"chosen/{final}"), "search_wall_s": value("cost/search/wall_s"),
        "total_wall_s": value("cost/total/wall_s"), "sim_train_s": value("cost/simulated_train_s"),
        "peak_mem_mb": value("cost/peak_mem_mb"), "skip_connects": value("search/derived/skip_connects"),
        "train_loss": value("train/final_loss"), "degenerate": value("ranking/degenerate"), "source": source,
        "env": env,
        "best_free_kt": value(f"free/{t}/best/kendall_tau"), "margin_kt": value(f"margin/{t}/kendall_tau"),
        "beats_free": value(f"margin/{t}/beats_free") if math.isfinite(value(f"margin/{t}/beats_free")) else math.nan,
        **{f"{m}_ci_{end}": value(f"rank/{t}/{m}/ci_{end}") for m in CI_METRICS for end in ("low", "high")},
    }


def record_from_result(d: dict, source: str = "") -> dict:
    """One flat record from a ``result.json`` payload."""
    from .results import RunResult  # noqa: PLC0415

    flat = RunResult(**d).flat_metrics()
    final = d["protocol"]["final"]
    return _record(d, final, d["protocol"].get("ranking_truths") or [final],
                   lambda name: math.nan if flat.get(name) is None else float(flat[name]),
                   source or d.get("run_dir") or "", str((d.get("env") or {}).get("fingerprint", "")))


def records_from_dirs(paths: list[str | Path]) -> list[dict]:
    out = []
    for p in paths:
        p = Path(p).expanduser()
        if not p.exists():
            raise UserError(f"run directory {str(p)!r} does not exist; pass a sweep or run directory (e.g. "
                            f"runs/sweeps/ci).")
        files = [p] if p.is_file() else sorted(p.rglob("result.json"))
        for f in files:
            if f.is_dir():
                raise UserError(f"{str(f)!r} is a directory, not a run's result file; rename or remove it (a run "
                                f"directory holds result.json as a file).")
            try:
                text = f.read_text(encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot read {str(f)!r} ({exc.strerror or type(exc).__name__}); check its "
                                f"permissions, or leave that run out of the comparison.") from exc
            try:
                out.append(record_from_result(json.loads(text), str(f.parent)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise UserError(f"{str(f)!r} is not a nasharness result.json ({type(exc).__name__}: "
                                f"{shorten(str(exc))}).") from exc
    return out


def records_from_mlflow(tracking_uri: str | None, experiment: str | None = None, suite: str | None = None,
                        tags: dict | None = None, max_runs: int = 5000) -> list[dict]:
    """Records of the finished runs of an experiment (all experiments when None), filtered by tags."""
    import mlflow  # noqa: PLC0415
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    from .tracking import mlflow_key, prepare_read  # noqa: PLC0415

    uri = tracking_uri or mlflow.get_tracking_uri()
    prepare_read(uri)  # a missing sqlite store is an error (not created); HTTP requests bounded
    try:
        client = MlflowClient(tracking_uri=uri)
        if experiment:
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                names = [e.name for e in client.search_experiments()]
                raise UserError(f"no MLflow experiment {experiment!r} in {uri!r}; experiments there: "
                                f"{', '.join(names) or 'none'}.")
            ids = [exp.experiment_id]
        else:
            ids = [e.experiment_id for e in client.search_experiments()]
        filters = ["attributes.status = 'FINISHED'", "tags.method != ''"]
        for k, v in {**({"suite": suite} if suite else {}), **(tags or {})}.items():
            filters.append(f"tags.`{k}` = '{v}'")
        runs = client.search_runs(ids, " and ".join(filters), max_results=max_runs)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot read runs from the MLflow store {uri!r} ({type(exc).__name__}: {exc}); check "
                        f"--tracking-uri.") from exc
    out = []
    for run in runs:
        p, m = run.data.params, run.data.metrics
        if "protocol/final" not in p:
            continue
        final = p["protocol/final"]
        truths = ast.literal_eval(p.get("protocol/ranking_truths", "[]")) or [final]  # logged as str(list)
        out.append(_record(p, final, truths, lambda name, m=m: m.get(mlflow_key(name), math.nan),
                           f"mlflow:{run.info.run_id}", p.get("env/fingerprint", "")))
    return out


def aggregate(records: list[dict]) -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed) and count over seeds per method x benchmark x dataset x budget x truth.
    When a cell was run more than once with the same seed, the newest record (last listed) counts."""
    if not records:
        raise UserError("no runs to compare: the filters matched nothing (check the directory, experiment or suite).")
    df = pd.DataFrame(records).drop_duplicates(subset=GROUP + ["seed"], keep="last")
    rows = []
    for key, g in df.groupby(GROUP, sort=True):
        row = dict(zip(GROUP, key, strict=True))
        row["n_seeds"] = len(g)
        row["seeds"] = ",".join(str(s) for s in sorted(g["seed"]))
        row["n_archs"] = int(g["n_archs"].min())
        for c in COUNTS:  # records from before a count: not counted
            row[c] = int((g[c].astype(float).fillna(0) > 0).sum()) if c in g else 0
        # seeds with a verdict against the free baselines (the others ranked nothing, or predate them)
        row["free_verdicts"] = int(g["beats_free"].astype(float).notna().sum()) if "beats_free" in g else 0
        # the numeric environments (envinfo.fingerprint) the seeds ran in: more than one means the spread mixes
        # seed noise with environment noise
        row["environments"] = ",".join(sorted({str(e) for e in g.get("env", []) if isinstance(e, str) and e}))
        for col, _, _ in METRICS:
            v = g[col].astype(float).to_numpy() if col in g else np.array([])  # records from before a column
            v = v[np.isfinite(v)]
            row[f"{col}_mean"] = float(v.mean()) if len(v) else math.nan
            row[f"{col}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0 if len(v) else math.nan
        for c in CI_COLUMNS:  # a single seed's bootstrap CI (with more seeds the spread over seeds is shown)
            row[c] = float(g[c].iloc[0]) if len(g) == 1 and c in g else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def compare_dirs(paths: list[str | Path]) -> pd.DataFrame | None:
    recs = records_from_dirs(paths)
    return aggregate(recs) if recs else None


def _digits(col: str) -> int:
    if col in ("kendall_tau", "spearman", "precision@10", "best_free_kt", "margin_kt"):
        return 3
    return 2 if col in ("regret", "chosen_acc") \
        else 1 if col.endswith("wall_s") else 0


def format_mean_std(mean: float, std: float, col: str, n_seeds: int | None = None, ci: tuple | None = None) -> str:
    """``mean ± std`` over seeds; with one seed (``n_seeds == 1``) the value alone, with its bootstrap CI ``ci``
    (low, high) where there is one: no ``± 0.000`` for a spread that was never measured."""
    from .terminal import fmt_num  # noqa: PLC0415

    if not math.isfinite(mean):
        return "–"
    d = _digits(col)
    if n_seeds == 1:
        lo, hi = ci or (math.nan, math.nan)
        both = math.isfinite(lo) and math.isfinite(hi)
        return fmt_num(mean, digits=d) + (f" [{fmt_num(lo, digits=d)}, {fmt_num(hi, digits=d)}]" if both else "")
    return f"{fmt_num(mean, digits=d)} ± {fmt_num(std, digits=d)}"


def cell_text(r, col: str) -> str:
    """One table cell: mean ± std over seeds, or with one seed the value and its bootstrap CI."""
    ci = (r.get(f"{col}_ci_low", math.nan), r.get(f"{col}_ci_high", math.nan))
    return format_mean_std(r[f"{col}_mean"], r[f"{col}_std"], col, int(r["n_seeds"]), tuple(float(x) for x in ci))


def display_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of the comparison table (the Markdown and the terminal table show the same)."""
    from .terminal import fmt_num  # noqa: PLC0415

    # the degenerate count is shown where any run ranked nothing (all scores equal or NaN), so it is never missed
    degenerate = "degenerate" in table.columns and bool((table["degenerate"].fillna(0) > 0).any())
    head = ["method", "bench / dataset", "truth", "seeds", "archs"] + (["degenerate"] if degenerate else []) + [
        label for _, _, label in METRICS]
    rows = []
    for _, r in table.iterrows():
        envs = [e for e in str(r.get("environments", "") or "").split(",") if e]
        seeds = f"{r['n_seeds']} ({len(envs)} environments)" if len(envs) > 1 else str(r["n_seeds"])
        n_bad = [str(int(r["degenerate"]) if pd.notna(r["degenerate"]) else 0)] if degenerate else []
        rows.append([r["method"] + free_mark(r), f"{r['bench']} / {r['dataset']}", f"`{r['truth']}`", seeds,
                     fmt_num(r["n_archs"], "count")] + n_bad + [cell_text(r, c) for c, _, _ in METRICS])
    return head, rows


def free_mark(r) -> str:
    """`` (beats free k/n)`` for a row where the method does not beat the free baselines (the margin's paired
    bootstrap CI above 0) in every seed that has a verdict; else empty."""
    verdicts = r.get("free_verdicts", 0)
    beats = r.get("beats_free", 0)
    verdicts = int(verdicts) if pd.notna(verdicts) else 0
    beats = int(beats) if pd.notna(beats) else 0
    return f" (beats free {beats}/{verdicts})" if verdicts and beats < verdicts else ""


LEGEND = ("mean ± std over seeds (std with ddof 1); one seed: the value, and for rankings its 95% bootstrap CI "
          "[low, high] over architectures; archs: architectures ranked (n); best free KT: the best of the parameter "
          "count, FLOPs and the low-epoch proxy on the same architectures; '(beats free k/n)': the margin's paired "
          "bootstrap CI lies above 0 in only k of n seeds")


def to_markdown(table: pd.DataFrame) -> str:
    head, rows = display_rows(table)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def to_terminal(table: pd.DataFrame):
    """The comparison as a :class:`nasharness.terminal.Table` (rendered as a rich table)."""
    from .terminal import Column, Table  # noqa: PLC0415

    head, rows = display_rows(table)
    t = Table([Column(h, no_wrap=h in ("method", "truth"), justify="left" if k < 3 else "right")
               for k, h in enumerate(head)], caption=LEGEND)
    for cells in rows:
        t.add_row(*[c.strip("`") if k == 2 else c for k, c in enumerate(cells)])
    return t


def render(table: pd.DataFrame, fmt: str) -> str:
    if fmt == "md":
        return to_markdown(table)
    if fmt == "csv":  # the baseline format: without the one-seed CI columns
        return table.drop(columns=[c for c in CI_COLUMNS if c in table.columns]).to_csv(index=False,
                                                                                         float_format="%.6g")
    if fmt == "json":
        return json.dumps(json.loads(table.to_json(orient="records")), indent=2)
    raise UserError(f"unknown format {fmt!r}; valid: md, csv, json.")


def write_compare(table: pd.DataFrame, stem: Path) -> dict[str, str]:
    """The table as ``<stem>.md/.csv/.json`` (atomically); returns the paths by format."""
    out = {}
    for fmt in ("md", "csv", "json"):
        path = stem.with_suffix(f".{fmt}")
        atomic_write_text(path, render(table, fmt))
        out[fmt] = str(path)
    return out


def read_table_csv(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"table {str(path)!r} does not exist; create a baseline with `nasharness report --baseline "
                        f"{path} --update-baseline` after a sweep.")
    try:
        df = pd.read_csv(path, dtype={"bench": str, "seeds": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"{str(path)!r} is not a comparison CSV ({exc}).") from exc
    missing = [c for c in GROUP + ["n_seeds"] + [f"{m}_mean" for m, _, _ in METRICS if m not in OPTIONAL]
               if c not in df.columns]
    if missing:
        raise UserError(f"{str(path)!r} lacks the column(s) {', '.join(missing)}; it is not a nasharness comparison "
                        f"table (write one with `nasharness compare --format csv` or `report --update-baseline`).")
    numeric = ["n_seeds", "n_archs", *COUNTS, *(f"{m}_{stat}" for m, _, _ in METRICS for stat in ("mean", "std"))]
    for c in (c for c in numeric if c in df.columns):
        values = pd.to_numeric(df[c], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & df[c].notna().to_numpy())
        if len(bad):
            k = int(bad[0])
            raise UserError(f"{str(path)!r} has a non-numeric value {brief(str(df[c].iloc[k]), 40)} in column {c!r}, "
                            f"row {k + 1} (line {k + 2} of the file); fix or blank that cell, or write the table "
                            f"again with `nasharness report --update-baseline`.")
        df[c] = values
    for m in OPTIONAL:
        for stat in ("mean", "std"):
            if f"{m}_{stat}" not in df.columns:
                df[f"{m}_{stat}"] = float("nan")
    for c in COUNTS:  # tables from before a count column: nothing counted
        if c not in df.columns:
            df[c] = 0
    if "environments" not in df.columns:  # tables from before the fingerprint: environment unknown
        df["environments"] = ""
    df["environments"] = df["environments"].fillna("").astype(str)
    return df
