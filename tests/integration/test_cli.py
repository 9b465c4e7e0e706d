"""The command line: the README's commands, MLflow logging, and user errors (exit 2, one paragraph)."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nasharness.cli import cli

pytestmark = pytest.mark.integration


def invoke(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_run_logs_to_mlflow_with_named_metrics(tmp_path, mlflow_uri):
    r = invoke("run", "--method", "random", "--bench", "201", "--tracking-uri", mlflow_uri, "--out-dir",
               str(tmp_path), "--experiment", "cli-test", "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    assert "kendall_tau" in r.output and "logged to MLflow" in r.output
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_experiment_by_name("cli-test")
    (run,) = client.search_runs([exp.experiment_id])
    m = run.data.metrics
    assert m["rank/cifar10/ori-test_at_200/kendall_tau/n"] == 100
    assert "rank/cifar10/ori-test_at_200/kendall_tau/ci_low" in m
    assert "chosen/cifar10/ori-test_at_200" in m and "regret/cifar10/ori-test_at_200" in m
    assert "cost/simulated_train_s" in m and "cost/peak_mem_mb" in m and "cost/total/wall_s" in m
    p = run.data.params
    assert p["method"] == "random" and p["bench"] == "201" and p["dataset"] == "cifar10" and p["seed"] == "0"
    assert p["env/nasharness"] == "0.1.0" and "env/git_commit" in p and p["chosen_arch"].startswith("|")
    hist = client.get_metric_history(run.info.run_id, "trajectory/incumbent/cifar10/ori-test_at_200")
    assert len(hist) == 100 and sorted(h.step for h in hist) == list(range(100))
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["ranking_scatter.png", "result.json"]


def test_unreachable_tracking_keeps_the_result(tmp_path):
    r = invoke("run", "-m", "random", "-b", "201", "--tracking-uri", "http://127.0.0.1:9", "--out-dir",
               str(tmp_path), "--bootstrap", "0", env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                                                         "MLFLOW_HTTP_REQUEST_TIMEOUT": "2"})
    assert r.exit_code == 0, r.output
    assert "not logged to MLflow" in r.output
    (result,) = tmp_path.glob("*/result.json")
    saved = json.loads(result.read_text())
    assert saved["tracking"]["error"] and saved["n_evaluated"] == 100
    # later, the store answers: `nasharness sync RUN_DIR` uploads the kept result (and does not duplicate it)
    uri = f"sqlite:///{tmp_path / 'later.db'}"
    s = invoke("sync", str(result.parent), "--tracking-uri", uri)
    assert s.exit_code == 0, s.output
    synced = json.loads(result.read_text())["tracking"]
    assert synced["uri"] == uri and synced["run_id"] and "error" not in synced
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("nasharness").experiment_id])
    assert run.data.metrics["rank/cifar10/ori-test_at_200/kendall_tau/n"] == 100
    assert "result.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    assert invoke("sync", str(tmp_path), "--tracking-uri", uri).exit_code == 0  # again: already there, no new run
    assert len(client.search_runs([run.info.experiment_id])) == 1
    bad = invoke("sync", str(tmp_path / "nope"))
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_json_output_and_101(tmp_path):
    r = invoke("run", "-m", "random", "-b", "101", "--no-tracking", "--out-dir", str(tmp_path), "--json", "-q")
    assert r.exit_code == 0, r.output
    payload = json.loads(r.output[: r.output.rindex("}") + 1])
    assert payload["bench"] == "101" and payload["ranking"]["rank/cifar10/val@108/kendall_tau"]["n"] == 100


def test_bench_and_methods_commands():
    assert invoke("bench", "list").output.split() == ["101", "201", "darts", "fairnas-imagenet", "scarlet-imagenet"]
    assert "published_genotypes: DARTS_V1, DARTS_V2, FairDARTS_a" in invoke("bench", "info", "darts").output
    assert "choices_per_layer: 6, 6" in invoke("bench", "info", "fairnas-imagenet").output
    assert "without a table" in invoke("bench", "query", "darts", "0").output
    info = invoke("bench", "info", "101").output
    assert "1,342 of 423,624 architectures present" in info and "cifar10/test@108" in info
    assert "15,625 of 15,625" in invoke("bench", "info", "201").output
    listed = [row["method"] for row in json.loads(invoke("methods", "list", "--format", "json").output)]
    assert listed == ["darts", "fairdarts", "fairnas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm",
                      "naswot", "params", "predictor-mse", "random", "renas", "scarlet", "snip", "spos", "synflow",
                      "zc-vote", "zen"]
    assert invoke("bench", "prepare", "201").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-m", "fairnass", "-b", "201"],
         "unknown method 'fairnass'; valid: darts, fairdarts, fairnas, fisher, flops, grad_norm, grasp, jacov"),
        (["run", "-m", "random", "-b", "301"],
         "unknown benchmark '301'; valid: 101, 201, darts, fairnas-imagenet, scarlet-imagenet"),
        (["run", "-m", "random", "-b", "201", "-d", "cifar1000"], "valid: ImageNet16-120, cifar10, cifar100"),
        (["run", "-m", "random", "-b", "101", "-d", "cifar100"], "valid: cifar10"),
        (["run", "-m", "random", "-b", "201", "--max-archs", "-3"], "max_archs must be"),
        (["run", "-m", "random", "-b", "201", "--max-sim-seconds", "1"], "below the cost of one proxy evaluation"),
        (["run", "-m", "random", "-b", "201", "--data-dir", "/nonexistent"], "does not exist"),
        (["bench", "info", "nb999"], "unknown benchmark 'nb999'"),
        (["bench", "prepare", "201", "--source", "x.tfrecord"], "official source 'x.tfrecord' does not exist"),
        (["bench", "prepare", "darts", "--source", "x.tfrecord"], "--source is for an official NAS-Bench-101 or -201"),
        (["bench", "prepare", "101", "--source", "/nonexistent.tfrecord"], "does not exist"),
        (["bench", "query", "201", "|nor_conv_3x3~0|+|none~0|"], "malformed NB201 arch string"),
        (["bench", "query", "201", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "unknown NB201 operation"),
        (["bench", "query", "201", "15625"], "out of range for NAS-Bench-201: valid indices are 0..15624"),
        (["bench", "query", "201", "--", "-1"], "out of range"),
        (["bench", "query", "101", "ffffffffffffffffffffffffffffffff"], "not in the NAS-Bench-101 table"),
        (["bench", "query", "201", "0", "--metric", "cifar10/test@200"], "unknown metric 'cifar10/test@200'"),
    ],
)
def test_user_errors_exit_2_without_traceback(tmp_path, args, message):
    r = CliRunner().invoke(cli, [*args, *(["--no-tracking", "--out-dir", str(tmp_path)] if args[0] == "run" else [])])
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not list(tmp_path.glob("*/result.json"))  # nothing half-written


def test_bench_query():
    out = invoke("bench", "query", "201", "6111", "--metric", "cifar10/ori-test@200").output
    assert "94.37" in out and "94.37333" not in out and "|nor_conv_3x3~0|" in out  # rounded to the digits it carries
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    assert "\n1651" in "\n" + invoke("bench", "query", "201", arch).output.split("index")[1].strip()


def test_corrupt_cache_from_the_cli(data_dir, tmp_path, monkeypatch):
    import shutil

    from nasharness.tabular import cache

    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(data_dir / "nb201", tmp_path / "data" / "nb201")
    assert invoke("bench", "prepare", "201", "--data-dir", str(tmp_path / "data")).exit_code == 0
    table_path, _ = cache.cache_paths("nb201", (tmp_path / "data").resolve())
    table_path.write_bytes(table_path.read_bytes()[:500])
    # a damaged table is caught by its recorded sha256 and rebuilt from the verified sources, with a notice
    r = CliRunner().invoke(cli, ["bench", "info", "201", "--data-dir", str(tmp_path / "data")])
    assert r.exit_code == 0 and "is damaged" in r.output and "15,625 of 15,625" in r.output, r.output
    # an unreadable sidecar cannot be trusted to say what the table is: an error with the fix
    table_path.with_suffix(".json").write_text("{not json")
    r = CliRunner().invoke(cli, ["bench", "info", "201", "--data-dir", str(tmp_path / "data")])
    assert r.exit_code == 2 and "bench prepare 201 --force" in r.output and "Traceback" not in r.output
    r = invoke("bench", "prepare", "201", "--force", "--data-dir", str(tmp_path / "data"))
    assert r.exit_code == 0 and "15,625 rows" in r.output


def test_console_script_exit_code():
    r = subprocess.run([sys.executable, "-m", "nasharness.cli", "run", "-m", "nope", "-b", "201"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: unknown method 'nope'")


def test_bench_query_rounds_by_metric_kind():
    """NB201 index 6111 (the best CIFAR-10 cell): accuracies with 2 decimals, seed counts and parameter counts as
    integers, unrounded in JSON; NB101 counts too."""
    import re

    out = invoke("bench", "query", "201", "6111").output
    assert out.startswith("index 6111  arch |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                          "nor_conv_3x3~1|nor_conv_1x1~2|\n")
    rows = dict(line.split() for line in out.splitlines()[3:] if line.strip())
    assert rows["cifar10/ori-test@200"] == "94.37" and rows["cifar100/x-test@200"] == "73.22"
    assert rows["cifar10-valid/x-valid@200"] == "91.61" and rows["ImageNet16-120/x-test@200"] == "46.71"
    assert rows["cifar10-valid/x-valid@200/n_seeds"] == "3" and rows["params/cifar10"] == "1,073,466"
    assert rows["cifar10-valid/train-time-s@200"] == "2,880"
    assert not re.search(r"\d\.\d{4,}", out) and "3.0" not in out.split()  # no unrounded floats, no float counts
    payload = json.loads(invoke("bench", "query", "201", "6111", "--format", "json").output)
    assert payload["cifar10/ori-test@200"] == pytest.approx(94.37333333333333) and payload["index"] == 6111
    assert payload["cifar10-valid/x-valid@200/n_seeds"] == 3 and isinstance(payload["params/cifar10"], int)
    csv_rows = invoke("bench", "query", "201", "6111", "--metric", "cifar10/ori-test@200", "--format", "csv").output
    assert csv_rows.splitlines() == ["metric,value", "index,6111", "arch,|nor_conv_3x3~0|+|nor_conv_3x3~0|"
                                     "nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
                                     "cifar10/ori-test@200,94.37"]
    nb101 = dict(line.split() for line in invoke("bench", "query", "101", "0").output.splitlines()[3:] if line.strip())
    assert nb101["cifar10/val@108/n_runs"] == "1" and nb101["cifar10/test@108"] == "–" and "," in nb101["params"]
    md = invoke("bench", "info", "201", "--format", "md").output
    assert "| cifar10/ori-test@200 | 15,625 |" in md
