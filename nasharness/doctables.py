"""The result tables of the docs, generated from the committed CSVs under ``results/``.

A generated block in ``README.md`` or ``docs/*.md`` sits between two markers::

    <!-- generated: ci-oneshot-201 from results/ci.csv (python benchmarks/make_docs.py; do not edit) -->
    ...
    <!-- end generated -->

The name after ``generated:`` selects a :class:`Block` of :data:`BLOCKS`, which knows its CSV, its rows and columns
and how each cell is formatted; the CSV named in the marker must be the block's (a reader sees where the numbers come
from). :func:`update_files` rewrites the stale blocks in place (atomically) or, with ``check=True``, only lists them;
:func:`broken_links` lists the relative links of the same pages whose target file (or heading anchor) is missing.
``python benchmarks/make_docs.py [--check]`` is the command.

No heavy imports (no pandas, torch or mlflow): the CSVs are read with :mod:`csv` and the numbers formatted here,
with the conventions of the README and ``nasharness compare`` (correlations 3 decimals, accuracies, regrets and
precision 2, counts with thousands separators, mean ± std over seeds, an en dash where a value does not apply).
"""

from __future__ import annotations

import csv
import math
import os
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .io import atomic_write_text

__all__ = ["BLOCKS", "FIGURES", "Block", "Figure", "Found", "broken_links", "doc_files", "find_blocks", "render",
           "update_figures", "update_files", "update_text"]

DASH = "–"
END = "<!-- end generated -->"
_START = re.compile(r"<!-- generated: (?P<name>[A-Za-z0-9_.-]+) from (?P<csv>\S+?)(?: [^\n]*?)? -->\n")
#: A marker starts a line (one quoted in a sentence or in inline code is text).
_ANY_MARKER = re.compile(r"^<!-- (?:end )?generated\b", re.M)
_END = re.compile(r"^<!-- end generated -->", re.M)


def marker(name: str) -> str:
    """The opening marker of block ``name`` (what to paste into a page before running make_docs)."""
    return f"<!-- generated: {name} from {BLOCKS[name].csv} (python benchmarks/make_docs.py; do not edit) -->"


# ---------------------------------------------------------------------------------------------------------------
# Number formatting (the README's conventions: accuracies and regrets 2 decimals, correlations and precision 3,
# counts integers with thousands separators, a missing value an en dash)


def _num(value) -> float:
    if value is None:
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    value = str(value).strip()
    if not value:
        return math.nan
    try:
        return float(value)
    except ValueError:
        return math.nan


def fixed(value, digits: int) -> str:
    """``value`` with ``digits`` decimals and thousands separators; an en dash when missing."""
    v = _num(value)
    return DASH if not math.isfinite(v) else f"{v:,.{digits}f}"


def count(value) -> str:
    v = _num(value)
    if not math.isfinite(v):
        return DASH
    return f"{int(v):,d}" if v.is_integer() else f"{v:,.1f}"


def mean_std(mean, std, digits: int, n_seeds=2) -> str:
    """``mean ± std`` (as ``nasharness compare`` prints it); one seed: the value alone, no spread never measured."""
    m, s = _num(mean), _num(std)
    if not math.isfinite(m):
        return DASH
    if _num(n_seeds) == 1 or not math.isfinite(s):
        return fixed(m, digits)
    return f"{fixed(m, digits)} ± {fixed(s, digits)}"


def _sig_decimals(v: float, digits: int) -> int:
    """Decimals that show ``v`` (finite, non-zero) to ``digits`` significant digits, after rounding (0.998 -> 1.00)."""
    decimals = digits - 1 - math.floor(math.log10(abs(v)))
    r = round(v, max(decimals, 0))
    if r and math.floor(math.log10(abs(r))) > math.floor(math.log10(abs(v))):
        decimals -= 1
    return decimals


def sig(value, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits (plain notation, thousands separators)."""
    v = _num(value)
    if not math.isfinite(v):
        return DASH
    if v == 0:
        return "0"
    decimals = max(0, _sig_decimals(v, digits))
    return f"{round(v, decimals):,.{decimals}f}"


def duration(value, unit: str = "s") -> str:
    """A time in ``unit`` (``s``, ``ms``, ``us``) shown in the unit that keeps it readable: 3 significant digits."""
    v = _num(value)
    if not math.isfinite(v):
        return DASH
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
    if unit not in scale:
        raise ValueError(f"unknown time unit {unit!r}; valid: {', '.join(scale)}")
    seconds = v * scale[unit]
    if not seconds:
        return "0 s"
    seconds = round(seconds, _sig_decimals(seconds, 3))  # 0.9999 s is 1 s, not 1,000 ms
    for name, size in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= size or name == "µs":
            return f"{sig(seconds / size)} {name}"
    raise AssertionError  # pragma: no cover


def ratio(value) -> str:
    v = _num(value)
    return DASH if not math.isfinite(v) else f"{sig(v)}×"


def code(value) -> str:
    return f"`{value}`" if str(value).strip() else DASH


def text(value) -> str:
    s = str(value if value is not None else "").strip()
    return s.replace("|", "\\|") if s else DASH


# ---------------------------------------------------------------------------------------------------------------
# Tables


Row = dict[str, str]


@dataclass(frozen=True)
class Column:
    """A table column: its header, ``cell(row) -> str`` and whether numbers align right."""

    header: str
    cell: Callable[[Row], str]
    right: bool = True


def caption(text: str) -> str:
    """A table's lead-in, wrapped at the docs' 120 columns (a break inside a code span renders as a space)."""
    return textwrap.fill(" ".join(text.split()), width=120, break_long_words=False, break_on_hyphens=False) + "\n\n"


def markdown_table(columns: Sequence[Column], rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(c.header for c in columns) + " |",
             "| " + " | ".join("---:" if c.right else "---" for c in columns) + " |"]
    lines += ["| " + " | ".join(c.cell(r) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def read_csv(path: str | os.PathLike) -> list[Row]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"results table {path} does not exist: a generated docs block is made from it. Restore it "
                        f"from git, or re-run the script that writes it.")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _require(rows: list[Row], columns: Iterable[str], csv_name: str) -> None:
    have = set(rows[0]) if rows else set()
    missing = [c for c in columns if c not in have]
    if missing:
        raise UserError(f"{csv_name} lacks the column(s) {', '.join(missing)} that its generated docs block shows; "
                        f"its columns: {', '.join(sorted(have)) or 'none (empty file)'}. Regenerate the CSV or "
                        f"update nasharness/doctables.py.")


def _where(rows: list[Row], **allowed: Sequence[str]) -> list[Row]:
    """The rows whose value of each key is in its list, in the lists' order (first key first), then file order."""
    keys = list(allowed)
    picked = [r for r in rows if all(r[k] in allowed[k] for k in keys)]
    return sorted(picked, key=lambda r: tuple(list(allowed[k]).index(r[k]) for k in keys))


def _environment(rows: list[Row]) -> str:
    """Where the rows were measured, from the machine columns the perf scripts write (one value, or all of them)."""
    def vals(k):
        return ", ".join(dict.fromkeys(r.get(k, "") for r in rows if r.get(k, ""))) or "?"
    return (f"measured {vals('date')} on {vals('machine')}, {vals('cpus')} CPUs, {vals('threads')} torch threads; "
            f"Python {vals('python')}, torch {vals('torch')}")


# ---- results/ci.csv: the ci suite's comparison table (mean ± std over seeds) ----------------------------------

#: Decimals per ci.csv quantity (``nasharness compare``'s, and the hand tables' before them).
CI_DIGITS = {"kendall_tau": 3, "spearman": 3, "precision@10": 2, "regret": 2, "chosen_acc": 2, "search_wall_s": 1,
             "peak_mem_mb": 0, "skip_connects": 1, "train_loss": 3}


def _ci_stat(col: str, header: str) -> Column:
    return Column(header, lambda r: mean_std(r.get(f"{col}_mean"), r.get(f"{col}_std"), CI_DIGITS[col],
                                             r.get("n_seeds")))


def _gpu_hours(r: Row) -> str:
    m, s = _num(r.get("sim_train_s_mean")), _num(r.get("sim_train_s_std"))
    if not math.isfinite(m) or m == 0:
        return DASH
    return mean_std(m / 3600, s / 3600, 1, r.get("n_seeds"))


CI_COLUMNS = {
    "method": Column("method", lambda r: code(r["method"]), right=False),
    "bench": Column("bench / dataset", lambda r: f"{r['bench']} / {r['dataset']}", right=False),
    "truth": Column("truth", lambda r: code(r["truth"]) if r["truth"] not in ("", "none") else "none (no table)",
                    right=False),
    "seeds": Column("seeds", lambda r: r["seeds"].replace(",", ", ")),
    "archs": Column("archs ranked (n)", lambda r: count(r["n_archs"]) if _num(r["n_archs"]) else DASH),
    "kendall_tau": _ci_stat("kendall_tau", "Kendall tau"),
    "spearman": _ci_stat("spearman", "Spearman"),
    "precision@10": _ci_stat("precision@10", "P@10"),
    "regret": _ci_stat("regret", "regret (pp)"),
    "chosen_acc": _ci_stat("chosen_acc", "chosen acc (%)"),
    "search_wall_s": _ci_stat("search_wall_s", "search wall (s)"),
    "sim_train": Column("simulated training (GPU-h)", _gpu_hours),
    "peak_mem_mb": _ci_stat("peak_mem_mb", "peak mem (MB)"),
    "skip_connects": _ci_stat("skip_connects", "skips in derived cell"),
    "train_loss": _ci_stat("train_loss", "supernet train loss"),
}
CI_CAPTION = ("From `results/ci.csv`, the `ci` suite's committed baseline: mean ± std over seeds (std with ddof 1); "
              "– where a quantity does not apply.")


def ci_table(columns: Sequence[str], lead: str = CI_CAPTION, **where: Sequence[str]) -> Callable[[list[Row]], str]:
    def render_ci(rows: list[Row]) -> str:
        _require(rows, ("method", "bench", "dataset", "truth", "n_seeds", "seeds", "n_archs"), "results/ci.csv")
        picked = _where(rows, **where) if where else rows
        if not picked:
            raise UserError(f"results/ci.csv has no row for {where}: its generated docs block would be empty. "
                            f"Re-run the ci suite or update the block's selection in nasharness/doctables.py.")
        return caption(lead) + markdown_table([CI_COLUMNS[c] for c in columns], picked)
    return render_ci


# ---- results/perf_*.csv ---------------------------------------------------------------------------------------


def _perf_tabular(rows: list[Row]) -> str:
    _require(rows, ("measurement", "value", "unit", "reference", "reference_value", "speedup_vs_reference", "note"),
             "results/perf_tabular.csv")
    cols = [Column("measurement", lambda r: text(r["measurement"]), right=False),
            Column("time", lambda r: duration(r["value"], r["unit"])),
            Column("reference", lambda r: text(r["reference"]), right=False),
            Column("reference time", lambda r: duration(r["reference_value"], r["unit"])),
            Column("speedup", lambda r: ratio(r["speedup_vs_reference"])),
            Column("note", lambda r: text(r["note"]), right=False)]
    return caption(f"From `results/perf_tabular.csv` ({_environment(rows)}):") + markdown_table(cols, rows)


def _perf_supernet(rows: list[Row], csv_name: str = "results/perf_supernet.csv") -> str:
    _require(rows, ("measurement", "ms", "reference", "reference_ms", "speedup_vs_reference", "note"), csv_name)
    setting = ", ".join(dict.fromkeys(f"C={r.get('C', '?')}, N={r.get('N', '?')}, batch {r.get('batch', '?')}, "
                                      f"device {r.get('device', '?')}" for r in rows))
    cols = [Column("measurement", lambda r: text(r["measurement"]), right=False),
            Column("time", lambda r: duration(r["ms"], "ms")),
            Column("reference", lambda r: text(r["reference"]), right=False),
            Column("reference time", lambda r: duration(r["reference_ms"], "ms")),
            Column("speedup", lambda r: ratio(r["speedup_vs_reference"])),
            *([Column("same numbers", lambda r: text(r["identical"]), right=False)] if "identical" in rows[0] else []),
            Column("note", lambda r: text(r["note"]), right=False)]
    return caption(f"From `{csv_name}` ({setting}; {_environment(rows)}):") + markdown_table(cols, rows)


def _perf_roofline(rows: list[Row]) -> str:
    shares = ("conv", "batch_norm", "relu", "pooling", "optimizer", "other")
    _require(rows, ("measurement", "ms", *(f"{k}_share" for k in shares), "bound_keeping_convs", "conv_gflop_per_s",
                    "matmul_gflop_per_s"), "results/perf_roofline.csv")
    cols = [Column("measurement", lambda r: text(r["measurement"]), right=False),
            Column("time", lambda r: duration(r["ms"], "ms")),
            *(Column(k.replace("_", " "), lambda r, k=k: f"{100 * _num(r[k + '_share']):.0f}%") for k in shares),
            Column("ceiling keeping the convs", lambda r: ratio(r["bound_keeping_convs"])),
            Column("conv GFLOP/s", lambda r: fixed(r["conv_gflop_per_s"], 0))]
    r0 = rows[0]
    lead = (f"From `results/perf_roofline.csv` (`benchmarks/perf_roofline.py`: C={r0['C']}, N={r0['N']}, batch "
            f"{r0['batch']}, channels-last; shares of the profiled self CPU time; dense float32 matmul "
            f"{fixed(r0['matmul_gflop_per_s'], 0)} GFLOP/s in the same run; {_environment(rows)}):")
    return caption(lead) + markdown_table(cols, rows)


_LOSS = {"pairwise": "relativistic (`renas`)", "mse": "MSE (`predictor-mse`)"}


def _perf_predictor(rows: list[Row]) -> str:
    _require(rows, ("measurement", "seconds", "per_second", "train_archs", "loss", "kendall_tau", "n"),
             "results/perf_predictor.csv")
    cols = [Column("measurement", lambda r: text(r["measurement"]), right=False),
            Column("training archs", lambda r: count(r["train_archs"])),
            Column("loss", lambda r: _LOSS.get(r["loss"], text(r["loss"])), right=False),
            Column("time", lambda r: duration(r["seconds"], "s")),
            Column("per second", lambda r: count(r["per_second"])),
            Column("Kendall tau", lambda r: fixed(r["kendall_tau"], 3)),
            Column("n ranked", lambda r: count(r["n"]))]
    return caption(f"From `results/perf_predictor.csv` ({_environment(rows)}):") + markdown_table(cols, rows)


#: The size of the NAS-Bench-201 space, the denominator of the training ratios of ``benchmarks/perf_predictor.py``.
NB201_SIZE = 15625


def _predictor_ratios(rows: list[Row]) -> str:
    """One row per training-set size: Kendall tau over the rest, relativistic against MSE, and the fit times."""
    _require(rows, ("measurement", "seconds", "train_archs", "loss", "kendall_tau", "n"), "results/perf_predictor.csv")
    fits = [r for r in rows if r["measurement"].startswith("fit") and r["loss"] in _LOSS]
    sizes = sorted({int(_num(r["train_archs"])) for r in fits})
    by = {(int(_num(r["train_archs"])), r["loss"]): r for r in fits}

    def get(size, loss, key):
        r = by.get((size, loss))
        return r[key] if r else ""
    table = [{"size": s, "n": get(s, "pairwise", "n") or get(s, "mse", "n")} for s in sizes]
    cols = [Column("training archs (share of 15,625)",
                   lambda r: f"{count(r['size'])} ({100 * r['size'] / NB201_SIZE:.2g}%)"),
            Column("Kendall tau, relativistic", lambda r: fixed(get(r["size"], "pairwise", "kendall_tau"), 3)),
            Column("Kendall tau, MSE", lambda r: fixed(get(r["size"], "mse", "kendall_tau"), 3)),
            Column("n ranked", lambda r: count(r["n"])),
            Column("fit, relativistic", lambda r: duration(get(r["size"], "pairwise", "seconds"), "s")),
            Column("fit, MSE", lambda r: duration(get(r["size"], "mse", "seconds"), "s"))]
    epochs = ", ".join(dict.fromkeys(m.group(1) for r in fits if (m := re.search(r"(\d+) epochs", r["measurement"]))))
    lead = (f"From `results/perf_predictor.csv` (`benchmarks/perf_predictor.py`, seed 0, {epochs or '?'} epochs; "
            f"{_environment(fits)}):")
    return caption(lead) + markdown_table(cols, table)


def _zc_study(rows: list[Row]) -> str:
    """One row per proxy on each truth: ours (Kendall tau with its CI, Spearman), the free baselines' best and the
    margin, and the published numbers on the closest truth."""
    _require(rows, ("proxy", "truth", "n", "kendall_tau", "kendall_tau_ci", "spearman", "best_free",
                    "best_free_kendall_tau", "margin_kendall_tau", "verdict", "network", "batch_size"),
             "results/zc_201_paper_n1000.csv")

    def pub(r, key):
        return fixed(r.get(key, ""), 3) if r.get(key, "") else DASH
    cols = [Column("proxy", lambda r: code(r["proxy"]), right=False),
            Column("truth", lambda r: code(r["truth"]), right=False),
            Column("Kendall tau [95% CI]", lambda r: f"{fixed(r['kendall_tau'], 3)} {r['kendall_tau_ci']}"),
            Column("Spearman", lambda r: fixed(r["spearman"], 3)),
            Column("margin over best free", lambda r: f"{fixed(r['margin_kendall_tau'], 3)} "
                                                       f"({text(r['verdict'])})"),
            Column("Suite-Zero Spearman", lambda r: pub(r, "nbsz_spearman")),
            Column("Abdelfattah abs Spearman", lambda r: pub(r, "abdelfattah_abs_spearman")),
            Column("NASWOT paper KT", lambda r: pub(r, "naswot_kendall_tau"))]
    shape = ", ".join(dict.fromkeys(r["network"] for r in rows))
    free = ", ".join(dict.fromkeys(f"{r['best_free']} {fixed(r['best_free_kendall_tau'], 3)} vs `{r['truth']}`"
                                   for r in rows if r["best_free"]))
    lead = (f"From `results/zc_201_paper_n1000.csv` (`{rows[0].get('command', '')}`): {count(rows[0]['n'])} "
            f"architectures of `benchmarks/evalsets/nb201-n1000-seed0.json`, {shape}, batch {rows[0]['batch_size']}; "
            f"best free baseline on the same architectures: {free}. Published numbers on the closest truth "
            f"(`results/zc_published.csv`):")
    return caption(lead) + markdown_table(cols, rows)


def _kt_ci(r: Row, value="kendall_tau", low="kt_ci_low", high="kt_ci_high") -> str:
    if r.get(low) in (None, ""):
        return fixed(r[value], 3)
    return f"{fixed(r[value], 3)} [{fixed(r[low], 3)}, {fixed(r[high], 3)}]"


def _zc_predictors(rows: list[Row]) -> str:
    """One row per benchmark x predictor x training share: Kendall tau over the architectures not trained on, without
    and with every zero-cost proxy as a feature, and the difference."""
    _require(rows, ("bench", "method", "train_ratio", "train_archs", "zc_features", "truth", "n", "kendall_tau",
                    "kendall_tau_ci_low", "kendall_tau_ci_high", "seed", "epochs"), "results/zc_predictors.csv")
    by = {(r["bench"], r["method"], r["train_ratio"], r["zc_features"]): r for r in rows}
    keys = list(dict.fromkeys((r["bench"], r["method"], r["train_ratio"]) for r in rows))

    def kt(k, features):
        r = by.get((*k, features))
        return DASH if r is None else _kt_ci(r, "kendall_tau", "kendall_tau_ci_low", "kendall_tau_ci_high")

    def delta(k):
        a, b = by.get((*k, "none")), by.get((*k, "all"))
        return f"{_num(b['kendall_tau']) - _num(a['kendall_tau']):+.3f}" if a and b else DASH

    def first(k, key):
        r = by.get((*k, "none")) or by.get((*k, "all"))
        return r[key]
    cols = [Column("bench", lambda k: text(k[0]), right=False),
            Column("predictor", lambda k: code(k[1]), right=False),
            Column("training archs (share)", lambda k: f"{count(first(k, 'train_archs'))} "
                                                        f"({100 * _num(k[2]):.2g}%)"),
            Column("Kendall tau, no zc [95% CI]", lambda k: kt(k, "none")),
            Column("Kendall tau, with zc [95% CI]", lambda k: kt(k, "all")),
            Column("difference", lambda k: delta(k)),
            Column("n ranked", lambda k: count(first(k, "n")))]
    truths = ", ".join(dict.fromkeys(f"{r['bench']}: `{r['truth']}`" for r in rows))
    seeds = ", ".join(dict.fromkeys(r["seed"] for r in rows))
    epochs = ", ".join(dict.fromkeys(r["epochs"] for r in rows))
    lead = (f"From `results/zc_predictors.csv` (`benchmarks/zc_predictors.py`; seed {seeds}, {epochs} epochs; truth "
            f"{truths}; Kendall tau over every labeled architecture not trained on, 95% bootstrap CI; the zero-cost "
            f"features are all eleven proxies at the `ci` budget's network):")
    return caption(lead) + markdown_table(cols, keys)


def _perf_zc(rows: list[Row]) -> str:
    _require(rows, ("proxy", "archs_per_s_shared", "archs_per_s_reference", "ratio", "identical", "n_archs",
                    "batch_size", "network", "threads"), "results/perf_zc.csv")
    cols = [Column("proxies", lambda r: code(r["proxy"]), right=False),
            Column("archs/s, shared", lambda r: sig(r["archs_per_s_shared"], 3)),
            Column("archs/s, one network per proxy", lambda r: sig(r["archs_per_s_reference"], 3)),
            Column("speedup", lambda r: ratio(r["ratio"])),
            Column("identical numbers", lambda r: text(r["identical"]), right=False)]
    r0 = rows[0]
    lead = (f"From `results/perf_zc.csv` (`benchmarks/perf_zc.py`: {count(r0['n_archs'])} random {r0['network']} "
            f"networks, batch {r0['batch_size']}, {r0['threads']} thread(s); {_environment(rows)}):")
    return caption(lead) + markdown_table(cols, rows)


def _scoring_columns(by: dict, sizes: list[int]) -> list[Column]:
    def at(n):
        def cell(k):
            r = by.get((*k, n))
            if r is None:
                return DASH
            if int(_num(r.get("image_draws") or 1)) > 1:  # fewer images than scored: the spread over image draws
                return _kt_ci(r, "kendall_tau", "kt_draws_low", "kt_draws_high")
            return _kt_ci(r)
        return cell
    return [Column("BN mode", lambda k: code(k[0]), right=False), Column("score", lambda k: text(k[1]), right=False),
            *(Column(f"{count(n)} images", at(n)) for n in sizes),
            Column(f"tied pairs at {count(sizes[0])}",
                   lambda k: f"{100 * _num(by[(*k, sizes[0])]['tied_pairs']):.1f}%")]


def _oneshot_scoring(rows: list[Row]) -> str:
    """Per trained supernet (cell x seed): one row per BN mode x score, one column per number of validation images
    (Kendall tau with its CI, or with fewer images its spread over image draws), the tied pairs at the fewest images;
    then the free baselines on the same archs."""
    _require(rows, ("cell", "seed", "epochs", "passes", "kind", "bn_mode", "score", "n_images", "n_archs",
                    "kendall_tau", "kt_ci_low", "kt_ci_high", "image_draws", "kt_draws_low", "kt_draws_high",
                    "tied_pairs", "truth", "budget"), "results/oneshot_scoring.csv")
    out = []
    for run in dict.fromkeys((r["cell"], r["seed"]) for r in rows):
        mine = [r for r in rows if (r["cell"], r["seed"]) == run]
        sup = [r for r in mine if r["kind"] == "supernet"]
        sizes = sorted({int(r["n_images"]) for r in sup})
        by = {(r["bn_mode"], r["score"], int(r["n_images"])): r for r in sup}
        keys = list(dict.fromkeys((r["bn_mode"], r["score"]) for r in sup))
        cols = _scoring_columns(by, sizes)
        r0 = mine[0]
        draws = max(int(_num(r["image_draws"])) for r in sup)
        free = "; ".join(f"{r['score']} {_kt_ci(r)}" for r in mine if r["kind"] == "free")
        lead = (f"`{r0['cell']}`, seed {r0['seed']}, budget `{r0['budget']}`: {r0['epochs']} epochs, "
                f"{count(r0['passes'])} forward-backward passes; Kendall tau of {count(r0['n_archs'])} architectures "
                f"against `{r0['truth']}`, all from the same trained supernet: with all {count(sizes[-1])} images, "
                f"[95% bootstrap CI over architectures]; with fewer, the mean over {draws} random image subsets "
                f"[2.5%, 97.5% across them]. Free baselines on the same architectures: {free}.")
        out.append(caption(lead) + markdown_table(cols, keys))
    return "\n".join(out)


def _final_kt(r: Row) -> str:
    return f"{_kt_ci(r, 'final_kt', 'final_kt_ci_low', 'final_kt_ci_high')} ({count(r['final_n'])})"


def _oneshot_curve(rows: list[Row]) -> str:
    _require(rows, ("cell", "seed", "epoch", "passes", "train_wall_s", "probe_kt", "probe_n", "final_kt",
                    "final_kt_ci_low", "final_kt_ci_high", "final_n", "truth"), "results/oneshot_curve.csv")
    cols = [Column("cell", lambda r: code(r["cell"]), right=False), Column("seed", lambda r: r["seed"]),
            Column("epoch", lambda r: r["epoch"]), Column("passes", lambda r: count(r["passes"])),
            Column("training wall (min)", lambda r: fixed(_num(r["train_wall_s"]) / 60, 1)),
            Column("probe Kendall tau (n)", lambda r: f"{fixed(r['probe_kt'], 3)} ({r['probe_n']})"),
            Column("final Kendall tau [95% CI] (n)", _final_kt)]
    truth = rows[0]["truth"]
    lead = (f"From `results/oneshot_curve.csv` (`benchmarks/oneshot_study.py`): the ranking probe's Kendall tau "
            f"against `{truth}` during training (a fixed subset of the evaluation set), the training wall time so far "
            f"(2 CPU cores) and the forward-backward passes so far; the last column is the "
            f"finished run's Kendall tau over the whole evaluation set:")
    return caption(lead) + markdown_table(cols, rows)


def _oneshot_paired(rows: list[Row]) -> str:
    _require(rows, ("cell_a", "cell_b", "matched", "seeds_a", "seeds_b", "passes_a", "passes_b", "epochs_a",
                    "epochs_b", "n_archs", "kt_a", "kt_b", "difference", "ci_low", "ci_high", "p_not_greater",
                    "verdict"), "results/oneshot_paired.csv")
    cols = [Column("A vs B", lambda r: f"`{r['cell_a']}` vs `{r['cell_b']}`", right=False),
            Column("equal", lambda r: text(r["matched"]), right=False),
            Column("seeds", lambda r: f"{r['seeds_a']} / {r['seeds_b']}"),
            Column("epochs", lambda r: f"{r['epochs_a']} / {r['epochs_b']}"),
            Column("passes", lambda r: f"{count(r['passes_a'])} / {count(r['passes_b'])}"),
            Column("Kendall tau A / B", lambda r: f"{fixed(r['kt_a'], 3)} / {fixed(r['kt_b'], 3)}"),
            Column("A − B [95% CI]", lambda r: _kt_ci(r, "difference", "ci_low", "ci_high")),
            Column("p (A ≤ B)", lambda r: fixed(r["p_not_greater"], 3)),
            Column("verdict", lambda r: text(r["verdict"]), right=False)]
    lead = (f"From `results/oneshot_paired.csv`: mean-over-seeds Kendall tau on the same "
            f"{count(rows[0]['n_archs'])} architectures; the CI and the one-sided p-value come from a paired "
            f"bootstrap over architectures and seeds:")
    return caption(lead) + markdown_table(cols, rows)


_METHOD_COLORS = {"spos": "#1f77b4", "fairnas": "#d62728", "scarlet": "#2ca02c"}
_DASHES = ("", "7 4", "2 3", "10 3 2 3")


def _oneshot_curve_svg(rows: list[Row]) -> str:
    """Kendall tau against forward-backward passes, one line per cell (the probe's mean over seeds at each probed
    epoch), the finished runs' Kendall tau over the whole evaluation set as a marker (mean over seeds) with a bar
    from the lowest to the highest seed's 95% CI bound, and the parameter count on the same architectures."""
    from .svgplot import HLine, Series, line_chart  # noqa: PLC0415

    _require(rows, ("cell", "method", "seed", "epoch", "passes", "probe_kt", "probe_n", "final_kt",
                    "final_kt_ci_low", "final_kt_ci_high", "final_n", "params_kt", "truth"),
             "results/oneshot_curve.csv")
    series, per_method = [], {}
    cells = list(dict.fromkeys(r["cell"] for r in rows))
    for j, cell in enumerate(cells):
        mine = [r for r in rows if r["cell"] == cell]
        method = mine[0]["method"]
        k = per_method.get(method, 0)
        per_method[method] = k + 1
        at: dict[float, list[float]] = {}
        for r in mine:
            at.setdefault(_num(r["passes"]), []).append(_num(r["probe_kt"]))
        points = [(x, sum(v) / len(v)) for x, v in sorted(at.items())]
        finals = {r["seed"]: r for r in mine}.values()  # one per seed (every row of a run repeats it)
        x_end = max(_num(r["passes"]) for r in mine)
        final = sum(_num(r["final_kt"]) for r in finals) / len(finals)
        low, high = min(_num(r["final_kt_ci_low"]) for r in finals), max(_num(r["final_kt_ci_high"]) for r in finals)
        epochs = max(int(_num(r["epoch"])) for r in mine)
        series.append(Series(f"{method}, {epochs} epochs ({len(finals)} seeds)", _METHOD_COLORS.get(method, "#7f7f7f"),
                             points, dash=_DASHES[k % len(_DASHES)], bars=[(x_end, low, high)],
                             markers=[(x_end, final)], shift_px=7.0 * (j - (len(cells) - 1) / 2)))
    params = [_num(r["params_kt"]) for r in rows if math.isfinite(_num(r["params_kt"]))]
    hlines = [HLine(f"params (free), {count(rows[0]['final_n'])} archs", sum(params) / len(params))] if params else []
    r0 = rows[0]
    probe_n = max(int(_num(r["probe_n"])) for r in rows)
    return line_chart(series, title=f"NB201 one-shot ranking vs training cost (Kendall tau vs {r0['truth']})",
                      x_label="forward-backward passes so far (one batch of 128 images each)",
                      y_label="Kendall tau", hlines=hlines,
                      notes=[f"lines: probe during training, {probe_n} archs,", "mean over seeds",
                             f"markers: finished run, {count(r0['final_n'])} archs,",
                             "mean over seeds; bar: the seeds' 95% CIs"])


@dataclass(frozen=True)
class Figure:
    """A generated SVG figure: the CSV it is drawn from (relative to the repository root) and ``draw(rows)``."""

    csv: str
    draw: Callable[[list[Row]], str]
    doc: str = ""


#: Generated figures, by their path relative to the repository root (embedded in the docs as images).
FIGURES: dict[str, Figure] = {
    "docs/img/oneshot_curve.svg": Figure(
        "results/oneshot_curve.csv", _oneshot_curve_svg,
        "one-shot Kendall tau vs forward-backward passes: lines = the probe (mean over seeds), markers = the whole "
        "evaluation set"),
}


def update_figures(root: str | os.PathLike, *, check: bool = False) -> list[str]:
    """Redraw every figure of :data:`FIGURES` from its CSV under ``root``; write the changed ones atomically unless
    ``check``. Returns the stale ones (paths relative to ``root``), the same list in both modes."""
    stale = []
    for rel, fig in FIGURES.items():
        path = Path(root) / rel
        fresh = fig.draw(read_csv(Path(root) / fig.csv))
        if not path.is_file() or path.read_text(encoding="utf-8") != fresh:
            stale.append(rel)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, fresh)
    return stale


# ---------------------------------------------------------------------------------------------------------------
# The registry of blocks


@dataclass(frozen=True)
class Block:
    """A generated table: the CSV it is made from (relative to the repository root) and ``render(rows) -> text``."""

    csv: str
    render: Callable[[list[Row]], str]
    doc: str = ""


_ONESHOT = ("spos", "fairnas", "scarlet")
BLOCKS: dict[str, Block] = {
    "ci-baseline": Block("results/ci.csv", ci_table(
        ["method", "bench", "truth", "seeds", "archs", "kendall_tau", "spearman", "precision@10", "regret",
         "chosen_acc", "search_wall_s", "sim_train", "peak_mem_mb"]),
        "every row of the ci suite's baseline"),
    "ci-oneshot-201": Block("results/ci.csv", ci_table(
        ["method", "truth", "seeds", "archs", "kendall_tau", "spearman", "precision@10", "regret", "chosen_acc",
         "train_loss", "search_wall_s", "peak_mem_mb"], method=_ONESHOT, bench=("201",)),
        "spos, fairnas, scarlet on NAS-Bench-201"),
    "ci-oneshot-101": Block("results/ci.csv", ci_table(
        ["method", "truth", "seeds", "archs", "kendall_tau", "spearman", "precision@10", "regret", "chosen_acc",
         "train_loss", "search_wall_s", "sim_train", "peak_mem_mb"], method=(*_ONESHOT, "random"), bench=("101",)),
        "spos, fairnas, scarlet and the random baseline on NAS-Bench-101"),
    "ci-differentiable": Block("results/ci.csv", ci_table(
        ["method", "bench", "truth", "seeds", "archs", "kendall_tau", "spearman", "precision@10", "regret",
         "chosen_acc", "skip_connects", "search_wall_s", "peak_mem_mb"],
        method=("darts", "fairdarts"), bench=("201", "darts")),
        "darts and fairdarts on NAS-Bench-201 and the DARTS space"),
    "ci-predictors": Block("results/ci.csv", ci_table(
        ["method", "bench", "truth", "seeds", "archs", "kendall_tau", "spearman", "precision@10", "regret",
         "chosen_acc", "sim_train", "search_wall_s"],
        method=("renas", "predictor-mse", "random"), bench=("201", "101"),
        dataset=("cifar10", "cifar100", "ImageNet16-120")),
        "renas, predictor-mse and the random baseline on every CIFAR / ImageNet16-120 benchmark"),
    "zc-nb201": Block("results/zc_201_paper_n1000.csv", _zc_study,
                      "the zero-cost proxies on 1,000 NB201 cells at NB201's network, with the published numbers"),
    "perf-zc": Block("results/perf_zc.csv", _perf_zc, "benchmarks/perf_zc.py"),
    "zc-predictors": Block("results/zc_predictors.csv", _zc_predictors,
                           "renas / predictor-mse with and without zero-cost features, 0.1%, 1%, 10% training sets"),
    "oneshot-scoring": Block("results/oneshot_scoring.csv", _oneshot_scoring,
                             "the scoring choices (BN mode, accuracy or loss, validation images) per supernet"),
    "oneshot-curve": Block("results/oneshot_curve.csv", _oneshot_curve, "one-shot Kendall tau vs training cost"),
    "oneshot-paired": Block("results/oneshot_paired.csv", _oneshot_paired, "fairnas / scarlet against spos"),
    "perf-tabular": Block("results/perf_tabular.csv", _perf_tabular, "benchmarks/perf_tabular.py"),
    "perf-supernet": Block("results/perf_supernet.csv", _perf_supernet, "benchmarks/perf_supernet.py"),
    "perf-supernet-cpu": Block("results/perf_supernet_cpu.csv",
                               lambda rows: _perf_supernet(rows, "results/perf_supernet_cpu.csv"),
                               "benchmarks/perf_supernet.py --cpu-budget: today's supernet vs the native pool"),
    "perf-roofline": Block("results/perf_roofline.csv", _perf_roofline,
                           "where a supernet step's time goes, and the ceiling of a speedup that keeps the convs"),
    "perf-predictor": Block("results/perf_predictor.csv", _perf_predictor, "benchmarks/perf_predictor.py"),
    "predictor-ratios": Block("results/perf_predictor.csv", _predictor_ratios,
                              "relativistic vs MSE loss at 0.1%, 1%, 10% of NAS-Bench-201"),
}


def render(name: str, root: str | os.PathLike) -> str:
    """The text of block ``name`` from the CSVs under ``root`` (the repository root, or a copy of it)."""
    if name not in BLOCKS:
        raise UserError(f"unknown generated block {name!r}; valid: {', '.join(sorted(BLOCKS))}. Fix the marker or "
                        f"add the block to nasharness/doctables.py.")
    block = BLOCKS[name]
    out = block.render(read_csv(Path(root) / block.csv))
    return out if out.endswith("\n") else out + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Finding and rewriting blocks


@dataclass(frozen=True)
class Found:
    """A block in a page: its name, the CSV its marker names, and the span of its body (between the markers)."""

    name: str
    csv: str
    start: int
    end: int
    line: int

    def body(self, text: str) -> str:
        return text[self.start:self.end]


def find_blocks(text: str, where: str = "<text>") -> list[Found]:
    """Every generated block of ``text``; a marker without its partner, a block inside a block, or a marker naming
    another CSV than its block's is a :class:`UserError` that names the page and the line."""
    found, pos = [], 0
    while True:
        m = _ANY_MARKER.search(text, pos)
        if m is None:
            return found
        line = text.count("\n", 0, m.start()) + 1
        start = _START.match(text, m.start())
        if start is None:
            if text.startswith(END, m.start()):
                raise UserError(f"{where}:{line}: '{END}' without a '<!-- generated: NAME from CSV -->' before it.")
            raise UserError(f"{where}:{line}: malformed generated-block marker; write it as "
                            f"'<!-- generated: NAME from results/X.csv -->' on a line of its own.")
        close = _END.search(text, start.end())
        end = close.start() if close else -1
        nested = _ANY_MARKER.search(text, start.end())
        if end < 0 or (nested is not None and nested.start() < end):
            raise UserError(f"{where}:{line}: generated block {start['name']!r} has no '{END}' after it.")
        name, csv_name = start["name"], start["csv"]
        if name in BLOCKS and BLOCKS[name].csv != csv_name:
            raise UserError(f"{where}:{line}: generated block {name!r} is made from {BLOCKS[name].csv}, but its "
                            f"marker says {csv_name}; correct the marker.")
        if name not in BLOCKS:
            raise UserError(f"{where}:{line}: unknown generated block {name!r}; valid: "
                            f"{', '.join(sorted(BLOCKS))}.")
        found.append(Found(name, csv_name, start.end(), end, line))
        pos = end + len(END)


def update_text(text: str, root: str | os.PathLike, where: str = "<text>") -> tuple[str, list[Found]]:
    """``text`` with every generated block re-rendered from the CSVs under ``root``, and the blocks that changed."""
    out, stale, last = [], [], 0
    for b in find_blocks(text, where):
        fresh = render(b.name, root)
        if b.body(text) != fresh:
            stale.append(b)
        out += [text[last:b.start], fresh]
        last = b.end
    out.append(text[last:])
    return "".join(out), stale


def doc_files(root: str | os.PathLike) -> list[Path]:
    """The pages that may hold generated blocks and relative links: ``README.md`` and ``docs/*.md``."""
    root = Path(root)
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def update_files(paths: Iterable[str | os.PathLike], root: str | os.PathLike, *,
                 check: bool = False) -> list[tuple[Path, Found]]:
    """Re-render the generated blocks of ``paths`` from the CSVs under ``root``; write each changed page atomically
    unless ``check``. Returns the stale blocks (``(page, block)``), the same list in both modes."""
    stale = []
    for path in map(Path, paths):
        old = path.read_text(encoding="utf-8")
        new, changed = update_text(old, root, str(path))
        stale += [(path, b) for b in changed]
        if changed and not check:
            atomic_write_text(path, new)
    return stale


# ---------------------------------------------------------------------------------------------------------------
# Relative links

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text (no backticks, link text only), lower case, punctuation other
    than ``-`` and ``_`` dropped, spaces to ``-``."""
    s = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    s = re.sub(r"<[^>]+>", "", s).strip().lower()
    return re.sub(r"[^\w\- ]", "", s).replace(" ", "-")


def anchors(text: str) -> set[str]:
    out, seen = set(), {}
    for m in _HEADING.finditer(_FENCE.sub("", text)):
        base = slug(m.group(1))
        k = seen.get(base, 0)
        seen[base] = k + 1
        out.add(base if k == 0 else f"{base}-{k}")
    return out


def broken_links(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Each relative link of the Markdown ``paths`` whose file does not exist, or whose ``#anchor`` names no
    heading of the Markdown file it points at, as ``page:line: target (why)``."""
    bad = []
    for path in map(Path, paths):
        raw = path.read_text(encoding="utf-8")
        prose = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), raw)  # keep line numbers
        prose = _INLINE_CODE.sub(lambda m: " " * len(m.group(0)), prose)
        for m in _LINK.finditer(prose):
            target = m.group(1)
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            line = prose.count("\n", 0, m.start()) + 1
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path.resolve()
            if not dest.exists():
                bad.append(f"{path}:{line}: {target} (no such file {dest})")
            elif anchor and dest.suffix == ".md" and dest.is_file() and \
                    anchor not in anchors(dest.read_text(encoding="utf-8")):
                bad.append(f"{path}:{line}: {target} (no heading #{anchor} in {dest.name})")
    return bad


def main(argv: Sequence[str] | None = None, root: str | os.PathLike | None = None) -> int:
    """``make_docs.py [--check] [PAGE ...]``: regenerate (or, with ``--check``, list without writing) the stale
    blocks of README.md and docs/*.md, and list broken relative links. Exit 1 when ``--check`` finds a stale block,
    or a link is broken; 0 otherwise."""
    import argparse  # noqa: PLC0415
    import sys  # noqa: PLC0415

    p = argparse.ArgumentParser(prog="make_docs.py", description=main.__doc__)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a block is stale")
    p.add_argument("--root", default=None, help="the repository root (default: the one holding this package)")
    p.add_argument("--list", action="store_true", help="list the blocks this module knows, and exit")
    p.add_argument("pages", nargs="*", help="pages to process (default: README.md and docs/*.md)")
    args = p.parse_args(argv)
    if args.list:
        for name, block in BLOCKS.items():
            print(f"{name}: from {block.csv}: {block.doc}")
        for rel, fig in FIGURES.items():
            print(f"{rel}: from {fig.csv}: {fig.doc}")
        return 0
    root = Path(args.root or root or Path(__file__).resolve().parent.parent)
    pages = [Path(x) for x in args.pages] or doc_files(root)
    try:
        stale = update_files(pages, root, check=args.check)
        figures = update_figures(root, check=args.check) if not args.pages else []
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for page, b in stale:
        rel = os.path.relpath(page, root)
        print(f"{rel}:{b.line}: {'stale' if args.check else 'regenerated'}: {b.name} (from {b.csv})")
    for rel in figures:
        print(f"{rel}: {'stale' if args.check else 'redrawn'} (from {FIGURES[rel].csv})")
    links = broken_links(pages)
    for line in links:
        print(f"broken link: {line}", file=sys.stderr)
    if args.check and (stale or figures):
        print(f"{len(stale)} generated block(s) and {len(figures)} figure(s) out of date: run python "
              f"benchmarks/make_docs.py", file=sys.stderr)
    if not stale and not figures and not links:
        print(f"{len(pages)} page(s): every generated block is up to date" + (
            f"; {len(FIGURES)} figure(s) up to date" if not args.pages else ""))
    return 1 if (args.check and (stale or figures)) or links else 0
