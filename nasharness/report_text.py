"""The short summary printed at the end of every run (through :mod:`nasharness.terminal`).

Numbers are rounded to the digits they carry (accuracies and regrets 2 decimals, correlations 3 with their bootstrap
CI and ``n``). The chosen architecture and the result path are printed on lines of their own, never wrapped: a long
NB201 arch string, a DARTS genotype or a deep path stays one token to copy, whatever the terminal's width.
"""

from __future__ import annotations

from .results import RunResult
from .terminal import Column, Table, emit, fmt_ci, fmt_duration, fmt_num, fmt_value, stdout_console


def summary_table(result: RunResult) -> Table:
    """The quantities of a run as a two-column table (values already formatted)."""
    final = result.protocol["final"]
    where = result.protocol.get("benchmark") or f"benchmark {result.bench}"  # its title, recorded by the run
    table = Table([Column("quantity", no_wrap=True), Column("value")],
                  title=f"nasharness run: {result.method} on {where} / {result.dataset} "
                        f"(seed {result.seed}, budget {result.budget})")
    for name, v in result.truth.items():  # the chosen arch itself is printed below the table, unwrapped
        table.add_row(f"chosen {name}", fmt_value(name, v))
    best = result.protocol.get("best_in_table")
    if final in result.regret:
        table.add_row(f"regret {final}", f"{fmt_num(result.regret[final], 'percent')} (best candidate "
                                          f"{fmt_value(final, best)})")
    for name, value in result.regret.items():
        if name != final:
            table.add_row(f"regret {name}", fmt_num(value, "percent"))
    for name, v in result.extra.items():
        if name.startswith("search/derived/"):
            table.add_row(name[len("search/"):], fmt_value(name, v))
    for truth in result.protocol.get("ranking_truths", [final]):
        for key in ("kendall_tau", "spearman", "precision@10", "regret@10"):
            r = result.ranking.get(f"rank/{truth}/{key}")
            if r:
                table.add_row(f"{key} vs {truth}", fmt_ci(key, r["value"], r.get("ci_low"), r.get("ci_high"),
                                                          r.get("n")))
        rep = result.baselines.get(truth)
        if rep and rep.get("free"):
            frees = ", ".join(f"{name} {fmt_num(e['kendall_tau']['value'], 'corr')}"
                              + (" (partial)" if "partial" in e else "") for name, e in rep["free"].items())
            table.add_row(f"free baselines (KT) vs {truth}", frees)
            m = rep.get("margin", {}).get("kendall_tau")
            if m:
                verdict = {"beats": "beats the free baselines", "loses": "LOSES to a free baseline",
                           "tie": "does not beat the free baselines", "undecided": "undecided (no CI)"}[rep["verdict"]]
                ci = fmt_ci("kendall_tau", m["value"], m.get("ci_low"), m.get("ci_high"), m.get("n"))
                table.add_row(f"margin over {m['vs']}", f"{ci}: {verdict}")
    if result.extra.get("ranking/degenerate"):
        table.add_row("ranking", "DEGENERATE: the scores cannot rank (see the warning below)")
    table.add_row("ranking scores", str(result.protocol["ranking_scores"]))
    table.add_row("architectures evaluated", fmt_num(result.n_evaluated, "count"))
    c = result.costs
    if c.get("simulated_train_s"):
        sim = c["simulated_train_s"]
        table.add_row("simulated training cost", f"{fmt_num(sim, 'seconds')} s ({sim / 3600:.2f} GPU-h as tabulated)")
    if "supernet_train/wall_s" in c:
        what = (f"{fmt_num(c['samples_seen'], 'count')} samples" if "samples_seen" in c
                else f"{fmt_num(c.get('arch_steps', 0), 'count')} architecture steps")
        table.add_row("supernet training", f"{fmt_num(c['supernet_train/wall_s'], 'seconds')} s, "
                                           f"{fmt_num(c['epochs'], 'count')} epochs, {what} on "
                                           f"{result.protocol.get('device', '?')}")
    if "inherited_eval/wall_s" in c:
        table.add_row("inherited-weight evaluation", f"{fmt_num(c['inherited_eval/wall_s'], 'seconds')} s "
                                                     f"({fmt_num(c['inherited_eval_archs_per_s'], 'rate')} archs/s)")
    wall, mem = c["total/wall_s"], c["peak_mem_mb"]
    table.add_row("wall time / peak memory", f"{fmt_num(wall, 'seconds')} s"
                                             + (f" ({fmt_duration(wall)})" if wall >= 60 else "")
                                             + f" / {fmt_num(mem, 'mb')} MB")
    return table


def print_summary(result: RunResult, console=None) -> None:
    """The summary on ``console`` (default: stdout; full width when it is not a terminal)."""
    console = console or stdout_console()
    emit(summary_table(result).rich(terminal=console.is_terminal), console)
    index = result.chosen.get("index", -1)
    lines = [f"chosen arch: {result.chosen['arch']}" + (f" (index {index})" if index is not None and index >= 0
                                                        else "")]
    lines += [f"note: {note}" for note in result.notes if not note.startswith("degenerate ranking")]
    lines.append(f"result: {result.run_dir}/result.json")
    t = result.tracking
    if t.get("run_id"):
        lines.append(f"logged to MLflow: {t['uri']} (experiment {t['experiment']!r}, run {t['run_id']}); "
                     f"view with `mlflow ui --backend-store-uri {t['uri']}`")
    for line in lines:
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    for note in result.notes:
        if note.startswith("degenerate ranking"):
            console.print(f"warning: {note}.", soft_wrap=True, markup=False, highlight=False, style="yellow")
    if t.get("error") and not t.get("run_id"):
        console.print(f"warning: not logged to MLflow {t.get('uri')!r}: {t['error']}. The result is safe in the run "
                      f"directory.", soft_wrap=True, markup=False, highlight=False, style="yellow")
