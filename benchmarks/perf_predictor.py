"""Speed of the predictor pipeline on all 15,625 NB201 architectures; writes results/perf_predictor.csv.

    python benchmarks/perf_predictor.py

Measures ReNAS encodings per second (from the arch strings, no cache), predictions per second over all 15,625
encodings, and the predictor's training time at train ratios 0.001 / 0.01 / 0.1 (relativistic loss and the MSE
baseline), with the Kendall tau each reaches over the remaining architectures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
from _common import machine_meta, write_rows  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "results" / "perf_predictor.csv"))
    ap.add_argument("--epochs", type=int, default=150)
    args = ap.parse_args(argv)


    from nasharness.metrics import kendall_tau  # noqa: PLC0415
    from nasharness.predictors.encoding import encode_nb201  # noqa: PLC0415
    from nasharness.predictors.model import Predictor, PredictorConfig  # noqa: PLC0415
    from nasharness.tabular import nb201  # noqa: PLC0415

    bench = nb201.load()
    archs = bench.table["arch"].tolist()
    t0 = time.perf_counter()
    x = np.stack([encode_nb201(a) for a in archs])
    enc_s = time.perf_counter() - t0
    rows = [{"measurement": "encode all 15,625 NB201 archs", "seconds": f"{enc_s:.3f}",
             "per_second": f"{len(archs) / enc_s:.0f}", "train_archs": "", "loss": "", "kendall_tau": "", "n": ""}]
    print(rows[-1], flush=True)
    y = bench.column("cifar10-valid/x-valid@200")
    truth = bench.column("cifar10/ori-test@200")
    rng = np.random.default_rng(0)
    for ratio in (0.001, 0.01, 0.1):
        n = max(2, round(ratio * len(archs)))
        train = np.sort(rng.choice(len(archs), n, replace=False))
        rest = np.setdiff1d(np.arange(len(archs)), train)
        for loss in ("pairwise", "mse"):
            cfg = PredictorConfig(epochs=args.epochs, train_size=n, train_ratio=None)
            t0 = time.perf_counter()
            pred = Predictor(x.shape[1], cfg, loss, seed=0).fit(x[train], y[train])
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            scores = pred.predict(x)
            pred_s = time.perf_counter() - t0
            kt = kendall_tau(scores[rest], truth[rest])
            rows.append({"measurement": f"fit predictor ({args.epochs} epochs)", "seconds": f"{fit_s:.3f}",
                         "per_second": "", "train_archs": n, "loss": loss, "kendall_tau": f"{kt.value:.4f}",
                         "n": kt.n})
            print(rows[-1], flush=True)
            rows.append({"measurement": "predict all 15,625", "seconds": f"{pred_s:.3f}",
                         "per_second": f"{len(archs) / pred_s:.0f}", "train_archs": n, "loss": loss,
                         "kendall_tau": "", "n": ""})
    write_rows(args.out, rows, machine_meta())
    return 0


if __name__ == "__main__":
    sys.exit(main())
