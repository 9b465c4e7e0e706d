"""Predictors with and without zero-cost features: Kendall tau of ``renas`` / ``predictor-mse`` over the architectures
not trained on, at 0.1%, 1% and 10% training sets, written to ``results/zc_predictors.csv``.

    python benchmarks/zc_predictors.py --bench 101            # the NB101 slices (1,342 labeled architectures)
    python benchmarks/zc_predictors.py --bench 201            # NB201 (proxies of all 15,625 cells: ~80 min, 2 cores)
    python benchmarks/zc_predictors.py --bench 201 --resume   # keep the rows already in the CSV

The zero-cost features are every proxy (``--set zc_features=all``) at the run's budget (``ci``: NB201 C=8, N=1 /
NB101 stem 8, batch 64, seed 0), computed once for every labeled architecture and cached; rows are written as they
finish, so an interrupted study continues with ``--resume``.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["bench", "method", "train_ratio", "train_archs", "zc_features", "truth", "n", "kendall_tau",
          "kendall_tau_ci_low", "kendall_tau_ci_high", "spearman", "seed", "epochs", "command"]


def main(argv=None) -> int:
    import nasharness as nh
    from nasharness.io import atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default="101")
    ap.add_argument("--methods", default="renas,predictor-mse")
    ap.add_argument("--ratios", default="0.001,0.01,0.1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "zc_predictors.csv"))
    ap.add_argument("--runs", default="runs/zc-predictors")
    ap.add_argument("--resume", action="store_true", help="keep the rows already in the CSV")
    a = ap.parse_args(argv)
    out = Path(a.out)
    rows = list(csv.DictReader(open(out, encoding="utf-8"))) if out.is_file() else []
    if not a.resume:
        rows = [r for r in rows if r["bench"] != a.bench]
    done = {(r["bench"], r["method"], r["train_ratio"], r["zc_features"], r["seed"]) for r in rows}
    command = "python benchmarks/zc_predictors.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for method in a.methods.split(","):
        for ratio in a.ratios.split(","):
            for features in ("", "all"):
                key = (a.bench, method, ratio, features or "none", str(a.seed))
                if key in done:
                    continue
                over = {"train_ratio": ratio, **({"zc_features": features} if features else {})}
                r = nh.run(nh.RunConfig(method=method, bench=a.bench, seed=a.seed, tracking=False, out_dir=a.runs,
                                        overrides=over, quiet=True, n_boot=200))
                truth = r.protocol["final"]
                kt, sp = r.ranking[f"rank/{truth}/kendall_tau"], r.ranking[f"rank/{truth}/spearman"]
                rows.append({"bench": a.bench, "method": method, "train_ratio": ratio,
                             "train_archs": int(r.costs["train_archs"]), "zc_features": features or "none",
                             "truth": truth, "n": kt["n"], "kendall_tau": f"{kt['value']:.4f}",
                             "kendall_tau_ci_low": f"{kt.get('ci_low', float('nan')):.4f}",
                             "kendall_tau_ci_high": f"{kt.get('ci_high', float('nan')):.4f}",
                             "spearman": f"{sp['value']:.4f}", "seed": a.seed,
                             "epochs": __import__("json").loads(r.protocol["predictor"])["epochs"],
                             "command": command})
                print(f"{a.bench} {method} {ratio} zc={features or 'none'}: KT {kt['value']:.3f} (n={kt['n']})",
                      file=sys.stderr)
                buf = io.StringIO()
                w = csv.DictWriter(buf, fieldnames=FIELDS)
                w.writeheader()
                w.writerows(rows)
                atomic_write_text(out, buf.getvalue())  # after every row: an interrupted study resumes
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
