"""The MLflow UI, checked for real: a tracking server on 127.0.0.1, two runs logged through the harness, then the
server's REST API and a headless Chromium (DOM + screenshot) must show both runs and their ranking metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

import nasharness as nh

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("CI must have a headless Chromium (apt-get install chromium; .ci/run installs it)")
    pytest.skip("no Chromium installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, payload: dict | None = None) -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode())


@pytest.fixture()
def mlflow_server(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'ui.db'}", "--default-artifact-root", str(tmp_path / "art")],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"MLflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _browser_text(chromium: str, url: str, tmp_path, shot: str) -> str:
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,2400",
                          "--virtual-time-budget=30000", f"--screenshot={tmp_path / shot}", "--dump-dom", url],
                         capture_output=True, text=True, timeout=180, cwd=tmp_path)
    dom = re.sub(r"<style[^<]*</style>", " ", out.stdout)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_runs_and_ranking_metrics_appear_in_the_mlflow_ui(mlflow_server, tmp_path):
    chromium = _chromium()
    results = [nh.run(nh.RunConfig(method="random", bench=b, out_dir=str(tmp_path / "runs"), n_boot=10,
                                   tracking_uri=mlflow_server, experiment="ui-check")) for b in ("201", "101")]
    ids = [r.tracking["run_id"] for r in results]
    assert all(ids), [r.tracking for r in results]

    # REST API: both runs, with their ranking metrics and n
    exp = _get(f"{mlflow_server}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui-check")["experiment"]
    runs = _get(f"{mlflow_server}/api/2.0/mlflow/runs/search", {"experiment_ids": [exp["experiment_id"]]})["runs"]
    assert sorted(r["info"]["run_id"] for r in runs) == sorted(ids)
    for r in runs:
        keys = {m["key"]: m["value"] for m in r["data"]["metrics"]}
        kt = [k for k in keys if k.startswith("rank/") and k.endswith("/kendall_tau")]
        assert kt and f"{kt[0]}/n" in keys and keys[f"{kt[0]}/n"] == 100

    # The browser: the run list shows both runs; the compare view shows the ranking metric names
    listing = _browser_text(chromium, f"{mlflow_server}/#/experiments/{exp['experiment_id']}/runs", tmp_path,
                            "runs.png")
    for r in results:
        assert f"random-{r.bench}-cifar10-s0" in listing, listing[:2000]
    quoted = ",".join(f'"{i}"' for i in ids)
    compare = _browser_text(chromium, f"{mlflow_server}/#/compare-runs?runs=[{quoted}]&experiments="
                                      f"[\"{exp['experiment_id']}\"]", tmp_path, "compare.png")
    # The compare view's metric table is virtualized: it renders its first ~17 rows whatever the window height, and
    # they sort chosen/, cost/, free/ before rank/. The free baselines' Kendall tau is among them; rank/ is checked
    # on each run's own page below.
    for key in ("chosen/cifar10/ori-test_at_200", "free/cifar10/ori-test_at_200/best/kendall_tau"):
        assert key in compare, compare[-3000:]
    assert all(f"random-{r.bench}-cifar10-s0" in compare for r in results)
    # each run's own page lists its ranking metrics
    for r, shot in zip(results, ("run201.png", "run101.png"), strict=True):
        page = _browser_text(chromium, f"{mlflow_server}/#/experiments/{exp['experiment_id']}/runs/"
                                       f"{r.tracking['run_id']}", tmp_path, shot)
        truth = r.protocol["final"].replace("@", "_at_")
        assert f"rank/{truth}/kendall_tau" in page, page[:3000]
    for shot in ("runs.png", "compare.png", "run201.png", "run101.png"):
        png = (tmp_path / shot).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a rendered page, not a blank one
