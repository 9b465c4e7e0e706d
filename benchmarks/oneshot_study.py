"""One-shot supernets on NB201 at the ``cpu`` budget: ranking quality against training cost, and the scoring choices.

    python benchmarks/oneshot_study.py                                   # spos, seeds 0 and 1, 50 epochs
    python benchmarks/oneshot_study.py --cell spos --cell fairnas:epochs=10 --seeds 0
    python benchmarks/oneshot_study.py ... --resume                      # after an interruption: go on

Each cell is a one-shot method with optional ``--set`` keys after a colon (``fairnas:epochs=10`` trains FairNAS for
as many forward-backward passes as 50 SPOS epochs: it trains 5 paths a step). Every run is an ordinary
``nasharness run --bench 201 --budget cpu`` (checkpointed every epoch; ``--resume`` continues an interrupted one from
its last epoch) with ``study_bn_modes=recalibrate,train,running``: after the search, the 1,000-arch evaluation set is
scored again under each BN mode from the supernet as training left it, per image (a cell can study fewer modes:
``fairnas:epochs=20,study_bn_modes=recalibrate``). Written:

* ``results/oneshot_scoring.csv``: per run, BN mode, score (accuracy or minus the loss) and number of validation
  images, the Kendall tau against ``cifar10-valid/x-valid@200`` with its 95% bootstrap CI over architectures (with
  fewer images than the run scored: the mean over 20 random image subsets and its spread across them), and the share
  of tied pairs; beside it, the free baselines on the same architectures (``kind=free``).
* ``results/oneshot_paired.csv``: every cell of another method against the cells of the first cell's method trained
  for the same forward-backward passes or the same epochs (``fairnas > spos`` at equal cost:
  :func:`nasharness.weightsharing.scoring.cost_matched_pairs`), and every cell against the parameter count: the
  difference of their mean-over-seeds Kendall tau on the same 1,000 architectures, with a paired bootstrap CI over
  architectures and seeds and a one-sided p-value (:func:`nasharness.metrics.baselines.paired_kt_difference`).
* ``results/oneshot_curve.csv``: per run and probed epoch, the Kendall tau of the ranking probe (``track_archs``
  architectures), the training wall time and the forward-backward passes so far, and the final Kendall tau over the
  whole evaluation set and the parameter count's on the same architectures (plotted in ``docs/oneshot.md``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRUTH = "cifar10-valid/x-valid@200"
STUDY_MODES = "recalibrate,train,running"
SCORING_FIELDS = ["cell", "method", "seed", "budget", "overrides", "epochs", "passes", "train_wall_s", "kind",
                  "bn_mode", "score", "n_images", "n_archs", "kendall_tau", "kt_ci_low", "kt_ci_high", "image_draws",
                  "kt_draws_low", "kt_draws_high", "tied_pairs", "truth", "command"]
PAIRED_FIELDS = ["cell_a", "cell_b", "matched", "seeds_a", "seeds_b", "passes_a", "passes_b", "epochs_a", "epochs_b",
                 "n_archs", "kt_a", "kt_b", "difference", "ci_low", "ci_high", "p_not_greater", "verdict", "truth",
                 "command"]
CURVE_FIELDS = ["cell", "method", "seed", "budget", "overrides", "epoch", "passes", "train_wall_s", "probe_kt",
                "probe_n", "final_kt", "final_kt_ci_low", "final_kt_ci_high", "final_n", "params_kt", "truth",
                "command"]


def parse_cell(text: str) -> tuple[str, str, dict]:
    """``method[:key=value,key=value]`` -> (cell name, method, overrides)."""
    method, _, rest = text.partition(":")
    overrides = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    return text.replace(":", "-").replace("=", "").replace(",", "-"), method, overrides


def finished_run(runs: Path) -> Path | None:
    """The newest run directory under ``runs`` with a result and a scoring study."""
    done = sorted((p.parent for p in runs.glob("*/result.json") if (p.parent / "scoring_study.npz").is_file()),
                  key=lambda p: p.stat().st_mtime)
    return done[-1] if done else None


def write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    from nasharness.io import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
    print(f"wrote {path} ({len(rows)} rows)")


def fmt(v) -> str:
    return "" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))


def main(argv=None) -> int:
    import numpy as np

    import nasharness as nh
    from nasharness.api import resumable_run_dir
    from nasharness.metrics.baselines import paired_kt_difference
    from nasharness.plugins import get_benchmark
    from nasharness.weightsharing.scoring import cost_matched_pairs, load_study, scoring_rows

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", action="append", help="method[:key=value,...] (repeatable; default: spos)")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--budget", default="cpu")
    ap.add_argument("--set", dest="common", action="append", default=[], metavar="KEY=VALUE",
                    help="--set keys for every cell (e.g. a shorter run: epochs=5)")
    ap.add_argument("--runs", default="runs/oneshot-study")
    ap.add_argument("--scoring", default=str(ROOT / "results" / "oneshot_scoring.csv"))
    ap.add_argument("--curve", default=str(ROOT / "results" / "oneshot_curve.csv"))
    ap.add_argument("--paired", default=str(ROOT / "results" / "oneshot_paired.csv"))
    ap.add_argument("--resume", action="store_true", help="continue interrupted runs and keep finished ones")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args(argv)
    args = argv if argv is not None else sys.argv[1:]
    command = "python benchmarks/oneshot_study.py " + " ".join(_numbers_args(args))
    common = dict(kv.split("=", 1) for kv in a.common)
    bench = get_benchmark("201", a.data_dir)
    truth = bench.column(TRUTH)
    baselines = bench.free_baselines("cifar10")

    scoring, curve, paired = [], [], []
    per_cell: dict[str, dict] = {}  # cell -> its runs' scores on the evaluation set, passes and epochs
    for spec in a.cell or ["spos"]:
        name, method, overrides = parse_cell(spec)
        overrides = {"study_bn_modes": STUDY_MODES, **common, **overrides}  # a cell may study fewer BN modes
        for seed in (int(s) for s in a.seeds.split(",")):
            runs = Path(a.runs) / name / f"s{seed}"
            run_dir = finished_run(runs) if a.resume else None
            if run_dir is None:
                print(f"running {method} seed {seed} ({overrides})", flush=True)
                config = nh.RunConfig(method=method, bench="201", budget=a.budget, seed=seed, tracking=False,
                                      out_dir=str(runs), overrides=overrides, quiet=True, data_dir=a.data_dir)
                # --resume continues an interrupted run of this cell from its last checkpoint, else starts it
                resume = a.resume and resumable_run_dir(config) is not None
                r = nh.run(dataclasses.replace(config, resume=resume))
                run_dir = Path(r.run_dir)
            result = json.loads((run_dir / "result.json").read_text())
            costs, traj = result["costs"], result["trajectory"]
            paths_per_step = costs["samples_seen"] / max(1, costs["steps"]) / _batch(result)
            meta = {"cell": name, "method": method, "seed": seed, "budget": result["budget"],
                    "overrides": ";".join(f"{k}={v}" for k, v in overrides.items() if k != "study_bn_modes"),
                    "epochs": int(costs["epochs"]), "passes": int(costs["steps"] * paths_per_step),
                    "train_wall_s": round(costs["supernet_train_all_epochs/wall_s"], 1), "truth": TRUTH,
                    "command": command}
            evald = json.loads((run_dir / "eval_set_scores.json").read_text())["archs"]
            cell = per_cell.setdefault(name, {"index": [r["index"] for r in evald], "scores": [], "passes": set(),
                                              "epochs": set(), "method": method})
            cell["scores"].append([r["supernet_acc"] for r in evald])
            cell["passes"].add(meta["passes"])
            cell["epochs"].add(meta["epochs"])
            study = load_study(run_dir / "scoring_study.npz")
            params_kt = None
            for row in scoring_rows(study, truth, baselines, seed=seed):
                scoring.append({**meta, **{k: fmt(v) for k, v in row.items()}})
                if row["kind"] == "free" and row["score"] == "params":
                    params_kt = row["kendall_tau"]
            final = result["ranking"][f"rank/{TRUTH}/kendall_tau"]
            wall, steps_per_epoch = 0.0, costs["steps"] / max(1, costs["epochs"])
            for point in traj:
                wall += point["train/epoch_wall_s"]
                if f"train/kt/{TRUTH}" not in point:
                    continue
                curve.append({**{k: meta[k] for k in ("cell", "method", "seed", "budget", "overrides", "truth",
                                                          "command")},
                              "epoch": point["step"], "passes": int(point["step"] * steps_per_epoch * paths_per_step),
                              "train_wall_s": round(wall, 1), "probe_kt": fmt(point[f"train/kt/{TRUTH}"]),
                              "probe_n": int(point.get("train/kt_n", 0)), "final_kt": fmt(final["value"]),
                              "final_kt_ci_low": fmt(final.get("ci_low")),
                              "final_kt_ci_high": fmt(final.get("ci_high")), "final_n": final["n"],
                              "params_kt": fmt(params_kt)})
            write_csv(Path(a.scoring), SCORING_FIELDS, scoring)  # after every run: nothing finished is lost
            write_csv(Path(a.curve), CURVE_FIELDS, curve)
    names = list(per_cell)

    def joined(values) -> str:
        return "/".join(map(str, sorted(values)))

    def pair(a_name: str, a: dict, b_name: str, b_scores, b_passes: str, b_epochs: str, idx, matched: str) -> dict:
        res = paired_kt_difference(a["scores"], b_scores, truth[idx], rng=np.random.default_rng(0), n_boot=1000)
        return {"cell_a": a_name, "cell_b": b_name, "matched": matched, "seeds_a": res["seeds_a"],
                "seeds_b": res["seeds_b"], "passes_a": joined(a["passes"]), "passes_b": b_passes,
                "epochs_a": joined(a["epochs"]), "epochs_b": b_epochs, "n_archs": res["n_archs"],
                **{k: fmt(res[k]) for k in ("kt_a", "kt_b", "difference", "ci_low", "ci_high", "p_not_greater",
                                            "verdict")}, "truth": TRUTH, "command": command}

    for other, ref_name, matched in cost_matched_pairs(per_cell):  # fairnas > spos, scarlet > spos at equal cost
        ref, cell = per_cell[ref_name], per_cell[other]
        if cell["index"] != ref["index"]:
            raise SystemExit(f"{other} and {ref_name} scored different architectures; use the same n_archs.")
        paired.append(pair(other, cell, ref_name, ref["scores"], joined(ref["passes"]), joined(ref["epochs"]),
                           np.array(ref["index"]), matched))
    for name in names:  # every cell against the parameter count on the same architectures (free: no training)
        idx = np.array(per_cell[name]["index"])
        paired.append(pair(name, per_cell[name], "params (free)", [baselines["params"][idx]], "0", "0", idx, ""))
    write_csv(Path(a.paired), PAIRED_FIELDS, paired)
    return 0


def _numbers_args(argv: list[str]) -> list[str]:
    """The options that make the numbers (the command recorded beside them): without --resume, which only continues
    the same study, and without where the tables and runs are written."""
    out, skip = [], False
    for x in argv:
        if skip:
            skip = False
        elif x in ("--scoring", "--curve", "--paired", "--runs"):
            skip = True
        elif x != "--resume" and not x.startswith(("--scoring=", "--curve=", "--paired=", "--runs=")):
            out.append(x)
    return out


def _batch(result: dict) -> int:
    """The run's supernet batch size (its supernet config is in the protocol)."""
    return int(json.loads(result["protocol"]["supernet"])["batch_size"])


if __name__ == "__main__":
    sys.exit(main())
