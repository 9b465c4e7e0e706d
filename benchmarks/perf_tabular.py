"""Speed of the tabular layer, measured as ratios against references in the same run.

    python benchmarks/perf_tabular.py [--data-dir DIR] [--out results/perf_tabular.csv]

Measures cold cache build, warm load, re-reading the original sources (the reference for the warm load), 1M
vectorized lookups, single-lookup latency (by index and by arch string), and Kendall tau over all 15,625 NB201
architectures against ``scipy.stats.kendalltau``. Uses a temporary cache directory so the user's cache is untouched.
Targets (issue #3): warm load >= 5x faster than re-reading the sources; 1M lookups well under a second.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _common import machine_meta, median_seconds, write_rows  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "results" / "perf_tabular.csv"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    os.environ["NASHARNESS_CACHE_DIR"] = tempfile.mkdtemp(prefix="nasharness-perf-")

    import scipy.stats as ss  # noqa: PLC0415

    from nasharness.metrics import kendall_tau  # noqa: PLC0415
    from nasharness.paths import resolve_data_dir  # noqa: PLC0415
    from nasharness.tabular import nb101, nb201  # noqa: PLC0415

    root = resolve_data_dir(args.data_dir)
    paths = {s.key: s.path for s in nb201.sources(root)}
    latency = [paths[k] for k in paths if k.startswith(nb201.HELP_LATENCY_DIR)]

    def reread_sources():
        nb201.convert_nats_csv(paths[nb201.CSV])
        nb201.convert_ctpe(paths[nb201.CTPE])
        nb201.convert_mini(paths[nb201.MINI])
        nb201.convert_help(paths[nb201.HELP_MAP], latency)

    rows = []

    def add(name, seconds, unit="s", reference=None, ref_seconds=None, note=""):
        ratio = ref_seconds / seconds if ref_seconds else None
        rows.append({"measurement": name, "value": f"{seconds:.6g}", "unit": unit, "reference": reference or "",
                     "reference_value": f"{ref_seconds:.6g}" if ref_seconds else "",
                     "speedup_vs_reference": f"{ratio:.2f}" if ratio else "", "note": note})
        versus = f"x{ratio:.2f} vs {reference}" if ratio else ""
        print(f"{name:48s} {seconds:12.6g} {unit:4s} {versus}")

    cold = median_seconds(lambda: nb201.load(root, force=True), 1)
    reread = median_seconds(reread_sources, args.repeat)
    warm = median_seconds(lambda: nb201.load(root), args.repeat)
    add("nb201 cold build (convert + write cache)", cold)
    add("nb201 re-read original sources", reread)
    add("nb201 warm load (cache hit, checksums verified)", warm, reference="re-read original sources",
        ref_seconds=reread, note="target >= 5x")
    bench = nb201.load(root)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, bench.size, 1_000_000)
    bench.column("cifar10/ori-test@200")
    vec = median_seconds(lambda: bench.query_many(idx, "cifar10/ori-test@200"), args.repeat)
    add("nb201 1M vectorized lookups", vec, note="target well under 1 s")
    loop_idx = idx[:20_000].tolist()
    t_single = median_seconds(lambda: [bench.query(i, "cifar10/ori-test@200") for i in loop_idx], 3) / len(loop_idx)
    add("nb201 single lookup by index", t_single * 1e6, unit="us")
    archs = [bench.key_of(i) for i in loop_idx[:5000]]
    t_str = median_seconds(lambda: [bench.query(a, "cifar10/ori-test@200") for a in archs], 3) / len(archs)
    add("nb201 single lookup by arch string", t_str * 1e6, unit="us", note="includes parsing/validating the string")
    a = bench.column("cifar10-valid/x-valid@12")
    b = bench.column("cifar10/ori-test@200")
    ours = median_seconds(lambda: kendall_tau(a, b), args.repeat * 4)
    ref = median_seconds(lambda: ss.kendalltau(a, b), args.repeat * 4)
    add("kendall tau-b over 15,625 (ours)", ours, reference="scipy.stats.kendalltau", ref_seconds=ref,
        note=f"values equal: {abs(kendall_tau(a, b).value - ss.kendalltau(a, b).statistic) < 1e-12}")
    add("kendall tau-b over 15,625 (scipy)", ref)
    cold101 = median_seconds(lambda: nb101.load(root, force=True, full=False), 1)
    warm101 = median_seconds(lambda: nb101.load(root, full=False), args.repeat)
    add("nb101 slices cold build", cold101)
    add("nb101 slices warm load", warm101, reference="nb101 slices cold build", ref_seconds=cold101)

    # Peak memory of loading the NB201 table in a fresh process (VmHWM after the imports are reset), against the
    # ~28 GB the official NB201 API needs to load its pickle (the field's figure; not re-measured here).
    import json  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    probe = ("import json, nasharness.tabular.nb201 as m\n"
             "from nasharness.envinfo import peak_rss_mb, reset_peak_rss\n"
             f"base = peak_rss_mb(); reset_peak_rss(); b = m.load({str(root)!r}); b.column('cifar10/ori-test@200')\n"
             "print(json.dumps([base, peak_rss_mb()]))")
    base, peak = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                           check=True, env=dict(os.environ)).stdout.strip().splitlines()[-1])
    rows.append({"measurement": "nb201 load: process peak RSS", "value": f"{peak:.1f}", "unit": "MB",
                 "reference": "official NB201 API (pickle load)", "reference_value": "28000",
                 "speedup_vs_reference": f"{28000 / peak:.0f}",
                 "note": f"fresh process; {base:.0f} MB after imports (python, numpy, pandas, pyarrow, torch)"})
    print(f"{'nb201 load: process peak RSS':48s} {peak:12.1f} MB   (after imports {base:.0f} MB; official ~28 GB)")
    write_rows(args.out, rows, machine_meta())
    return 0


if __name__ == "__main__":
    sys.exit(main())
