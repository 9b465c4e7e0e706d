"""The zero-cost proxies' rank correlations on a benchmark, one row per proxy and truth, written to a CSV in results/.

    python benchmarks/zc_study.py --bench 201 --budget paper --n-archs 1000     # NB201 network C=16, N=5, batch 64
    python benchmarks/zc_study.py --bench 201 --budget paper                    # all 15,625 cells (hours on 2 cores)

Every proxy method runs through the harness (``nasharness.run``), so each row carries the same protocol, free
baselines and margin as any run. All proxies of an architecture are computed once and cached (the user cache's
``zc-<key>.npz``, checkpointed every 30 s): an interrupted study continues where it stopped when run again with the
same arguments (``--resume`` is accepted for clarity; the cache makes every rerun resume).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

PROXIES = ("synflow", "snip", "grad_norm", "grasp", "fisher", "jacov", "naswot", "zen", "l2_norm", "params", "flops",
           "zc-vote")


def main(argv=None) -> int:
    import nasharness as nh
    from nasharness.io import atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="201")
    ap.add_argument("--budget", default="paper", choices=("ci", "paper"))
    ap.add_argument("--n-archs", type=int, default=0, help="architectures scored (0: the budget's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None, help="CSV path (default results/zc_<bench>_<budget>_n<archs>.csv)")
    ap.add_argument("--runs", default="runs/zc-study")
    ap.add_argument("--resume", action="store_true", help="(every rerun resumes from the proxy cache)")
    a = ap.parse_args(argv)
    overrides = {"batch_size": str(a.batch_size), "threads": str(a.threads), "init_seed": str(a.seed)}
    if a.n_archs:
        overrides["n_archs"] = str(a.n_archs)
    rows = []
    for proxy in PROXIES:
        t0 = time.perf_counter()
        r = nh.run(nh.RunConfig(method=proxy, bench=a.bench, budget=a.budget, seed=a.seed, tracking=False,
                                out_dir=a.runs, overrides=overrides, quiet=True))
        print(f"{proxy}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for truth in r.protocol["ranking_truths"]:
            kt, sp = r.ranking[f"rank/{truth}/kendall_tau"], r.ranking[f"rank/{truth}/spearman"]
            base = r.baselines.get(truth, {})
            margin = base.get("margin", {}).get("kendall_tau", {})
            rows.append({
                "proxy": proxy, "bench": a.bench, "budget": r.budget, "truth": truth, "n": kt["n"],
                "kendall_tau": f"{kt['value']:.4f}", "kendall_tau_ci": f"[{kt.get('ci_low', float('nan')):.4f}, "
                                                                      f"{kt.get('ci_high', float('nan')):.4f}]",
                "spearman": f"{sp['value']:.4f}", "spearman_ci": f"[{sp.get('ci_low', float('nan')):.4f}, "
                                                                f"{sp.get('ci_high', float('nan')):.4f}]",
                "best_free": base.get("best") or "",
                "best_free_kendall_tau": (f"{base['free'][base['best']]['kendall_tau']['value']:.4f}"
                                          if base.get("best") else ""),
                "margin_kendall_tau": f"{margin.get('value', float('nan')):.4f}", "verdict": base.get("verdict", ""),
                "network": r.protocol.get("network", ""), "batch_size": a.batch_size, "seed": a.seed,
                "proxy_archs_per_s": f"{r.costs.get('proxy_archs_per_s', float('nan')):.3f}",
                "command": "python benchmarks/zc_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            })
    join_published(rows, Path(__file__).resolve().parents[1] / "results" / "zc_published.csv")
    n = rows[0]["n"] if rows else 0
    out = Path(a.out or f"results/zc_{a.bench}_{a.budget}_n{n}.csv")
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out, buf.getvalue())
    print(f"wrote {out}", file=sys.stderr)
    return 0


#: Our proxy names in the papers' spelling.
PAPER_NAMES = {"Krishnakumar2022_NBSuiteZero": {"naswot": "nwot"},
               "Abdelfattah2021_ICLR": {"jacov": "jacob_cov", "zc-vote": "vote(synflow,jacob_cov,snip)"},
               "Mellor2021_NASWOT_ICML": {"naswot": "naswot (s=log|K_H|)"}}
#: (source, metric, the truth of ours it is compared with) for NAS-Bench-201 CIFAR-10.
PUBLISHED = [("Krishnakumar2022_NBSuiteZero", "spearman_signed", "cifar10-valid/x-valid@200", "nbsz_spearman"),
             ("Abdelfattah2021_ICLR", "spearman_abs_global", "cifar10/ori-test@200", "abdelfattah_abs_spearman"),
             ("Abdelfattah2021_ICLR", "pairwise_order_accuracy_global", "cifar10/ori-test@200",
              "abdelfattah_pairwise_accuracy"),
             ("Mellor2021_NASWOT_ICML", "kendall_tau", "cifar10-valid/x-valid@200", "naswot_kendall_tau")]


def join_published(rows: list[dict], path: Path) -> None:
    """Add the published NAS-Bench-201 CIFAR-10 numbers (``results/zc_published.csv``) beside ours, on the truth
    closest to each paper's: NAS-Bench-Suite-Zero and NASWOT rank against validation accuracy (our
    ``cifar10-valid/x-valid@200``), Abdelfattah et al. against the 200-epoch test accuracy (our
    ``cifar10/ori-test@200``; theirs is of the networks trained on the 25k half) with the sign dropped, and their
    vote as the fraction of pairs ordered correctly (ours: ``(1 + Kendall tau) / 2``, equal without ties)."""
    published = list(csv.DictReader(open(path, encoding="utf-8"))) if path.is_file() else []
    for row in rows:
        ours_pairs = (1 + float(row["kendall_tau"])) / 2
        row["ours_pairwise_accuracy"] = f"{ours_pairs:.4f}"
        for source, metric, truth, column in PUBLISHED:
            name = PAPER_NAMES.get(source, {}).get(row["proxy"], row["proxy"])
            hit = [p["value"] for p in published if p["source"] == source and p["metric"] == metric
                   and p["benchmark"] == "NAS-Bench-201" and p["dataset"] == "CIFAR-10" and p["proxy"] == name]
            row[column] = hit[0] if hit and row["truth"] == truth and row["bench"] == "201" else ""


if __name__ == "__main__":
    raise SystemExit(main())
