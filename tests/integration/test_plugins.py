"""Plugins from outside the package: the example package's entry point through run, sweep, compare and MLflow; a
``module:Class`` reference; a user's own tabular benchmark from a CSV with random and the predictors; the "write your
own method" page's code, run as written."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import nasharness as nh
from nasharness.results import RunResult
from nasharness.tracking import mlflow_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "nasharness-rea"


def _cli(args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "nasharness.cli", *map(str, args)], capture_output=True, text=True,
                          env=env or os.environ.copy(), cwd=cwd, timeout=900)


def _installed(tmp_path, entry_points: dict | None = None) -> dict:
    """An environment where the example package is installed as pip would leave it: its source importable and a
    ``.dist-info`` whose ``entry_points.txt`` is generated from the example's own ``pyproject.toml``."""
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    eps = entry_points or meta["project"]["entry-points"]
    info = tmp_path / "site" / f"nasharness_rea-{meta['project']['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['project']['name']}\n"
                                   f"Version: {meta['project']['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in names.items()) for group, names in eps.items()))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(EXAMPLE / "src")])}


def test_entry_point_plugin_runs_through_run_sweep_compare_and_mlflow(tmp_path):
    from mlflow.tracking import MlflowClient

    env = _installed(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    listed = _cli(["methods", "list", "--format", "csv"], env)
    assert listed.returncode == 0 and re.search(r"^rea,", listed.stdout, re.M), listed.stdout

    run = _cli(["run", "-m", "rea", "-b", "201", "--max-archs", "60", "--tracking-uri", uri, "--experiment", "plug",
                "--out-dir", tmp_path / "runs", "--json"], env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    # 60 proxy observations, a child drawn twice is paid twice but ranked once
    assert result["method"] == "rea" and 40 <= result["n_evaluated"] <= 60 and result["budget"] == "ci+overrides"
    assert result["ranking"]["rank/cifar10/ori-test@200/kendall_tau"]["n"] == result["n_evaluated"]
    assert set(result["baselines"]["cifar10/ori-test@200"]["free"]) == {"params", "flops", "cifar10-valid/x-valid@12"}

    suite = tmp_path / "plug.yaml"
    suite.write_text("suite: plug\nbudget: ci\nseeds: [0, 1]\nmethods: [rea, random]\n"
                     "benchmarks:\n  \"201\": [cifar10]\n  \"101\": [cifar10]\nbootstrap: 20\n"
                     "overrides:\n  rea: {population: 10, sample_size: 3}\n")
    sweep = _cli(["sweep", suite, "--out-dir", tmp_path / "sweeps", "--tracking-uri", uri], env)
    assert sweep.returncode == 0, sweep.stderr
    table = _cli(["compare", tmp_path / "sweeps" / "plug", "--format", "csv"], env)
    assert table.returncode == 0, table.stderr
    rows = [line.split(",") for line in table.stdout.strip().splitlines()]
    cells = {(r[0], r[1]) for r in rows[1:]}
    assert {("rea", "201"), ("rea", "101"), ("random", "201"), ("random", "101")} <= cells, table.stdout

    client = MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    rea_runs = client.search_runs(exps, "tags.method = 'rea'")
    assert len(rea_runs) == 1 + 4  # the single run and the sweep's 2 benchmarks x 2 seeds
    margin = mlflow_key("margin/cifar10/ori-test@200/kendall_tau")
    assert all(r.data.metrics["n_evaluated"] > 0 and margin in r.data.metrics
               for r in rea_runs if r.data.tags.get("bench") == "201")


def test_module_class_reference_needs_no_installation(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src")}
    ref = "nasharness_rea.rea:RegularizedEvolution"
    r = _cli(["run", "-m", ref, "-b", "101", "--max-archs", "40", "--no-tracking", "--out-dir", tmp_path, "--json"],
             env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["method"] == ref and 20 <= out["n_evaluated"] <= 40
    assert ":" not in Path(out["run_dir"]).name  # the reference is made safe for a directory name


@pytest.mark.parametrize(("method", "message"), [
    ("nosuch.module:Thing", "cannot import module 'nosuch.module'"),
    ("nasharness.methods.random:Nope", "has no attribute 'Nope'"),
    ("nasharness.errors:brief", "does not meet the Method contract"),
])
def test_bad_references_are_one_clear_error(tmp_path, method, message):
    r = _cli(["run", "-m", method, "-b", "201", "--no-tracking", "--out-dir", tmp_path])
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert message in r.stderr
    assert not any(tmp_path.iterdir())  # nothing half-made


def test_broken_entry_point_names_the_package(tmp_path):
    env = _installed(tmp_path, {"nasharness.methods": {"rea": "nasharness_rea.rea:Missing"}})
    r = _cli(["run", "-m", "rea", "-b", "201", "--no-tracking", "--out-dir", tmp_path / "runs"], env)
    assert r.returncode == 2 and "entry point 'nasharness_rea.rea:Missing'" in r.stderr and "Traceback" not in r.stderr
    unknown = _cli(["run", "-m", "reaa", "-b", "201"], env)
    assert unknown.returncode == 2 and "rea" in unknown.stderr.split("valid:")[1]  # installed names are listed


# ---- a user's own tabular benchmark ------------------------------------------------------------------------------
def _user_table(tmp_path, n: int = 600, **schema_extra) -> Path:
    """600 NB201 cells written as a user would have them: their own column names, features = op counts."""
    from nasharness.plugins import get_benchmark
    from nasharness.spaces import nb201

    bench = get_benchmark("201")
    rows = np.random.default_rng(0).choice(bench.size, n, replace=False)
    import pandas as pd

    ops = [nb201.parse_arch(bench.key_of(int(i))) for i in rows]
    frame = pd.DataFrame({"cell": [bench.key_of(int(i)) for i in rows],
                          "acc12": bench.query_many(rows, "cifar10-valid/x-valid@12"),
                          "acc200": bench.query_many(rows, "cifar10-valid/x-valid@200"),
                          "test200": bench.query_many(rows, "cifar10/ori-test@200"),
                          "seconds": bench.query_many(rows, "cifar10-valid/train-time-s@200"),
                          "n_params": bench.query_many(rows, "params/cifar10"),
                          **{f"n_{op}": [o.count(op) for o in ops] for op in nb201.OPS}})
    frame.to_csv(tmp_path / "cells.csv", index=False)
    schema = {"name": "my-cells", "table": "cells.csv", "key": "cell",
              "rename": {"acc12": "cifar10/val@12", "acc200": "cifar10/val@200", "test200": "cifar10/test@200",
                         "seconds": "cifar10/train-time-s@200"},
              "datasets": {"cifar10": {"truth": "cifar10/test@200", "proxy": "cifar10/val@12", "proxy_epochs": 12,
                                       "cost": "cifar10/train-time-s@200", "cost_epochs": 200,
                                       "labels": "cifar10/val@200"}},
              "params": "n_params", "features": [f"n_{op}" for op in nb201.OPS], **schema_extra}
    path = tmp_path / "cells.yaml"
    path.write_text(json.dumps(schema))  # JSON is YAML
    return path


def test_user_table_runs_random_and_the_predictors(tmp_path):
    schema = _user_table(tmp_path)
    rnd = nh.run(nh.RunConfig(method="random", bench=str(schema), tracking=False, out_dir=str(tmp_path / "r"),
                              n_boot=20))
    assert rnd.n_evaluated == 100 and rnd.costs["simulated_train_s"] > 0
    assert rnd.ranking["rank/cifar10/test@200/kendall_tau"]["n"] == 100
    assert "params" in rnd.baselines["cifar10/test@200"]["free"]
    for method in ("renas", "predictor-mse"):
        r = nh.run(nh.RunConfig(method=method, bench=str(schema), tracking=False, out_dir=str(tmp_path / method),
                                overrides={"train_size": "60", "epochs": "30"}, n_boot=20))
        kt = r.ranking["rank/cifar10/test@200/kendall_tau"]
        assert kt["n"] == 540 and kt["value"] > 0.3, kt  # op counts predict NB201 accuracy well
        assert r.costs["simulated_train_s"] > 0  # 60 fully trained architectures were paid for


@pytest.mark.parametrize(("change", "message"), [
    ({"key": "nope"}, "key column 'nope' is not in the table"),
    ({"rename": {}}, "names column 'cifar10/test@200', which the table lacks"),
    ({"features": ["cell"]}, "feature column 'cell' is missing or not numeric"),
    ({"datasets": {"cifar10": {"truth": "n_params"}}}, "metric names carry the dataset, split and epoch budget"),
    ({"colour": "red"}, "unknown key(s) ['colour']"),
])
def test_bad_user_schema_is_one_clear_error(tmp_path, change, message):
    schema = _user_table(tmp_path, 50, **change) if "datasets" not in change and "rename" not in change else None
    if schema is None:
        schema = _user_table(tmp_path, 50)
        raw = json.loads(schema.read_text())
        raw.update(change)
        schema.write_text(json.dumps(raw))
    r = _cli(["run", "-m", "random", "-b", schema, "--no-tracking", "--out-dir", tmp_path / "runs"])
    assert r.returncode == 2 and message in r.stderr and str(schema) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()


def test_methods_the_user_table_cannot_serve_are_refused_by_capability(tmp_path):
    schema = _user_table(tmp_path, 50, features=[])
    for method, needs in (("spos", "one-shot"), ("renas", "encoding"), ("synflow", "network")):
        r = _cli(["run", "-m", method, "-b", schema, "--no-tracking", "--out-dir", tmp_path / "runs"])
        assert r.returncode == 2 and f"needs {needs}" in r.stderr.replace("encoding, table", "encoding"), r.stderr
    assert not (tmp_path / "runs").exists()


# ---- the docs page's code ----------------------------------------------------------------------------------------
def test_write_your_own_method_page_runs_as_written(tmp_path, monkeypatch, capsys):
    from nasharness.plugins import METHODS

    page = (ROOT / "docs" / "plugins.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(blocks[0], "docs/plugins.md", "exec"), {"__name__": "docs_plugins"})  # noqa: S102
        r = RunResult.load(next((tmp_path / "runs").glob("*/result.json")))
        assert r.method == "local-search" and r.n_evaluated == 60
        assert r.baselines[r.protocol["final"]]["best"] in {"params", "flops", "cifar10-valid/x-valid@12"}
    finally:
        METHODS._factories.pop("local-search", None)
    assert "'value'" in capsys.readouterr().out
