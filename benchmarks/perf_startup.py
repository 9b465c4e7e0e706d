"""Time to `nasharness --help` (and `bench query`) against a reference revision, as a ratio in the same run.

The reference is another git revision of this repository (default: a5275cb, before start-up was made lazy), checked
out into a temporary worktree and run with the same interpreter; the two commands alternate so that machine load
affects both alike. Each timing is a fresh process (`python -c`), from an empty working directory.

    python benchmarks/perf_startup.py [--reference REV] [--repeat 7]

Never run it while something else trains or times (2-core machines: contention dominates).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {
    "--help": ["--help"],
    "bench list": ["bench", "list"],
    "bench query": ["bench", "query", "201", "6111", "--metric", "cifar10/ori-test@200"],
}


def _time(src: Path, argv: list[str], cwd: str, env: dict) -> float:
    code = f"import sys; sys.path.insert(0, {str(src)!r}); from nasharness.cli import main; main({argv!r})"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="a5275cb", help="git revision to compare with (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "reference"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(ref), args.reference], check=True,
                       capture_output=True)
        try:
            base = {k: v for k, v in os.environ.items() if k != "NASHARNESS_DATA_DIR"}
            env = {REPO: {**base, "NASHARNESS_CACHE_DIR": str(Path(tmp) / "cache-current")},  # the shipped tables
                   # the reference converts ../shared/data (its worktree has none beside it: named explicitly)
                   ref: {**base, "NASHARNESS_CACHE_DIR": str(Path(tmp) / "cache-ref"),
                         "NASHARNESS_DATA_DIR": str(REPO.parent / "shared" / "data")}}
            cwd = Path(tmp) / "cwd"
            cwd.mkdir()
            for src in (REPO, ref):  # warm-up: the reference builds its table cache, both page in their imports
                for argv in COMMANDS.values():
                    _time(src, argv, str(cwd), env[src])
            rows = []
            for name, argv in COMMANDS.items():
                cur, old = [], []
                for _ in range(args.repeat):
                    cur.append(_time(REPO, argv, str(cwd), env[REPO]))
                    old.append(_time(ref, argv, str(cwd), env[ref]))
                rows.append((name, statistics.median(cur), min(cur), statistics.median(old), min(old)))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(ref)], check=False,
                           capture_output=True)
    print(f"| command | this tree median (min) s | {args.reference} median (min) s | speed-up (median) |")
    print("| --- | ---: | ---: | ---: |")
    for name, cm, cmin, om, omin in rows:
        print(f"| `nasharness {name}` | {cm:.2f} ({cmin:.2f}) | {om:.2f} ({omin:.2f}) | {om / cm:.1f}x |")
    print(f"\n{args.repeat} alternating runs each, fresh processes, {os.cpu_count()} CPUs, python "
          f"{sys.version.split()[0]}")


if __name__ == "__main__":
    main()
