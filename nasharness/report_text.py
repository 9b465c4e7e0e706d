"""The short summary table printed at the end of every run."""

from __future__ import annotations

from .results import RunResult


def print_summary(result: RunResult, console) -> None:
    from rich.table import Table  # noqa: PLC0415

    final = result.protocol["final"]
    where = f"NAS-Bench-{result.bench}" if result.bench in ("101", "201") else f"the {result.bench} space"
    table = Table(title=f"nasharness run: {result.method} on {where} / {result.dataset} "
                        f"(seed {result.seed}, budget {result.budget})", show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value", overflow="fold")
    index = result.chosen.get("index", -1)
    table.add_row("chosen arch", f"{result.chosen['arch']}" + (f" (index {index})" if index >= 0 else ""))
    for name, v in result.truth.items():
        table.add_row(f"chosen {name}", f"{v:.4f}")
    best = result.protocol.get("best_in_table")
    if final in result.regret:
        table.add_row(f"regret {final}", f"{result.regret[final]:.4f} (best candidate {best:.4f})")
    for name, value in result.regret.items():
        if name != final:
            table.add_row(f"regret {name}", f"{value:.4f}")
    scores = result.protocol["ranking_scores"]
    for name, v in result.extra.items():
        if name.startswith("search/derived/"):
            table.add_row(name[len("search/"):], f"{v:g}")
    for truth in result.protocol.get("ranking_truths", [final]):
        for key in ("kendall_tau", "spearman", "precision@10", "regret@10"):
            r = result.ranking.get(f"rank/{truth}/{key}")
            if r:
                ci = f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if "ci_low" in r else ""
                table.add_row(f"{key} vs {truth}", f"{r['value']:.4f}{ci}  n={r['n']}")
    table.add_row("ranking scores", scores)
    table.add_row("architectures evaluated", f"{result.n_evaluated:,}")
    if result.costs.get("simulated_train_s"):
        sim = result.costs["simulated_train_s"]
        table.add_row("simulated training cost", f"{sim:,.0f} s ({sim / 3600:.2f} GPU-h as tabulated)")
    c = result.costs
    if "supernet_train/wall_s" in c:
        what = (f"{c['samples_seen']:,} samples" if "samples_seen" in c
                else f"{c.get('arch_steps', 0):,} architecture steps")
        table.add_row("supernet training", f"{c['supernet_train/wall_s']:.1f} s, {c['epochs']} epochs, "
                                           f"{what} on {result.protocol.get('device', '?')}")
    if "inherited_eval/wall_s" in c:
        table.add_row("inherited-weight evaluation", f"{c['inherited_eval/wall_s']:.1f} s "
                                                     f"({c['inherited_eval_archs_per_s']:.2f} archs/s)")
    wall, mem = result.costs["total/wall_s"], result.costs["peak_mem_mb"]
    table.add_row("wall time / peak memory", f"{wall:.2f} s / {mem:.0f} MB")
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    console.print(f"result: {result.run_dir}/result.json")
    t = result.tracking
    if t.get("run_id"):
        console.print(f"logged to MLflow: {t['uri']} (experiment {t['experiment']!r}, run {t['run_id']}); "
                      f"view with `mlflow ui --backend-store-uri {t['uri']}`")
    elif t.get("error"):
        console.print(f"[yellow]warning: not logged to MLflow {t.get('uri')!r}: {t['error']}. The result is safe "
                      f"in the run directory.[/yellow]")
