"""What moves a `ci` one-shot result between environments, and by how much.

Runs one method at the `ci` budget for a few seeds under each environment variant, each in a fresh process (the
kernel ISA is fixed when torch loads), and writes one row per (variant, seed) to a CSV; a summary table gives, per
variant, the largest change against the reference variant of the same seed in Kendall tau, regret and the chosen
architecture. Resumable: rows already in the CSV are not run again (`--resume` is the default; `--fresh` restarts).

    python benchmarks/env_sensitivity.py --method spos --seeds 0 1 2 --out results/env_sensitivity.csv

Variants (the reference is `threads=2, isa=default`):
  threads   intra-op threads 1 vs 2 (`--set threads=N`, OMP_NUM_THREADS=N)
  isa       ATen CPU kernels: the machine's best (`default` dispatch, AVX-512 here) vs `ATEN_CPU_CAPABILITY=avx2`,
            with oneDNN capped to the same ISA (`ONEDNN_MAX_CPU_ISA`)
  deterministic  `--deterministic` under threads=2 and threads=1 x avx512: must all be equal to each other
Library versions (torch, numpy, Pillow/libjpeg) cannot be varied inside one environment; each row records them.
The image source (data-root tar vs the package's ci subset) is covered by a test: identical pixels, equal numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    "ref (threads=2, isa=default)": {"threads": 2, "isa": None, "det": False},
    "threads=1": {"threads": 1, "isa": None, "det": False},
    "isa=avx2": {"threads": 2, "isa": "avx2", "det": False},
    "threads=1, isa=avx2": {"threads": 1, "isa": "avx2", "det": False},
    "deterministic, threads=2": {"threads": 2, "isa": None, "det": True},
    "deterministic, threads=1, isa=avx512": {"threads": 1, "isa": "avx512", "det": True},
}
FIELDS = ["variant", "seed", "method", "kendall_tau", "regret", "chosen_index", "train_final_loss", "wall_s",
          "cpu_isa", "threads", "torch", "numpy", "pillow", "images_sha256", "command"]


def run_one(method: str, seed: int, v: dict, tmp: Path) -> dict:
    env = {k: val for k, val in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    env["OMP_NUM_THREADS"] = str(v["threads"])
    if v["isa"]:
        env["ATEN_CPU_CAPABILITY"] = v["isa"]
        env["ONEDNN_MAX_CPU_ISA"] = {"avx2": "AVX2", "avx512": "AVX512_CORE"}[v["isa"]]
    cmd = [sys.executable, "-m", "nasharness", "run", "--method", method, "--bench", "201", "--seed", str(seed),
           "--no-tracking", "--bootstrap", "0", "--quiet", "--json", "--out-dir", str(tmp),
           "--set", f"threads={v['threads']}", *(["--deterministic"] if v["det"] else [])]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    r = json.loads(out.stdout[out.stdout.index("{"):])
    truth = r["protocol"]["final"]
    kt = r["ranking"][f"rank/{truth}/kendall_tau"]["value"]
    shown = " ".join(c if " " not in c else repr(c) for c in cmd[2:])
    return {"seed": seed, "method": method, "kendall_tau": kt, "regret": r["regret"][truth],
            "chosen_index": r["chosen"]["index"], "train_final_loss": r["extra"].get("train/final_loss"),
            "wall_s": round(time.perf_counter() - t0, 1), "cpu_isa": r["env"].get("cpu_isa"),
            "threads": r["env"].get("torch_threads"), "torch": r["env"].get("torch"), "numpy": r["env"].get("numpy"),
            "pillow": r["env"].get("pillow"), "images_sha256": r["env"].get("images_sha256", "")[:16],
            "command": f"OMP_NUM_THREADS={v['threads']} " + (f"ATEN_CPU_CAPABILITY={v['isa']} " if v["isa"] else "")
            + "python " + shown}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="spos")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", default="results/env_sensitivity.csv")
    ap.add_argument("--fresh", action="store_true", help="discard the rows already in --out")
    args = ap.parse_args()
    out = Path(args.out)
    rows = [] if args.fresh or not out.exists() else list(csv.DictReader(out.open()))
    done = {(r["variant"], int(r["seed"]), r["method"]) for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name in args.variants:
                if (name, seed, args.method) in done:
                    continue
                row = {"variant": name, **run_one(args.method, seed, VARIANTS[name], Path(tmp))}
                rows.append(row)
                out.parent.mkdir(parents=True, exist_ok=True)
                part = out.with_suffix(".csv.part")
                with part.open("w", newline="") as f:  # atomic: a killed study keeps its finished rows
                    w = csv.DictWriter(f, FIELDS)
                    w.writeheader()
                    w.writerows(rows)
                os.replace(part, out)
                print(f"{name:40s} seed {seed}: KT {row['kendall_tau']:+.4f} regret {row['regret']:.2f} "
                      f"chosen {row['chosen_index']} ({row['wall_s']} s)", flush=True)
    print(summary(rows, args.method))


def summary(rows: list[dict], method: str) -> str:
    ref_name = next(iter(VARIANTS))
    ref = {int(r["seed"]): r for r in rows if r["variant"] == ref_name and r["method"] == method}
    lines = [f"| variant ({method}, ci) | seeds | max abs dKT vs ref | max abs dregret (pp) | chosen arch changed | "
             f"mean wall s |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in VARIANTS:
        mine = [r for r in rows if r["variant"] == name and r["method"] == method and int(r["seed"]) in ref]
        if not mine:
            continue
        dkt = max(abs(float(r["kendall_tau"]) - float(ref[int(r["seed"])]["kendall_tau"])) for r in mine)
        drg = max(abs(float(r["regret"]) - float(ref[int(r["seed"])]["regret"])) for r in mine)
        changed = sum(r["chosen_index"] != ref[int(r["seed"])]["chosen_index"] for r in mine)
        wall = sum(float(r["wall_s"]) for r in mine) / len(mine)
        lines.append(f"| {name} | {len(mine)} | {dkt:.4f} | {drg:.2f} | {changed}/{len(mine)} | {wall:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
