"""Same seed, another environment: the fingerprint every run carries, deterministic mode, the baseline line."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from nasharness.envinfo import FINGERPRINT_FIELDS, environment, fingerprint, fingerprint_diff

REPO = Path(__file__).resolve().parents[2]
#: A short one-shot run on the ci budget's own images (shipped with the package): 1 epoch, 20 archs.
SHORT = ["--set", "epochs=1", "--set", "n_archs=20", "--set", "cycles=4", "--set", "population=4",
         "--set", "track_archs=10"]


def _run(tmp_path: Path, tag: str, threads: int, *extra: str, env_extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")}
    env.update({"OMP_NUM_THREADS": str(threads), **(env_extra or {})})
    out = subprocess.run([sys.executable, "-m", "nasharness", "run", "-m", "spos", "-b", "201", "--seed", "4",
                          "--no-tracking", "--bootstrap", "0", "-q", "--json", "--out-dir", str(tmp_path / tag),
                          "--set", f"threads={threads}", *SHORT, *extra],
                         env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout[out.stdout.index("{"):])


def _numbers(r: dict) -> dict:
    return {"ranking": r["ranking"], "chosen": r["chosen"], "loss": r["extra"]["train/final_loss"],
            "trajectory": [{k: v for k, v in p.items() if "wall" not in k} for p in r["trajectory"]]}


def test_fingerprint_fields_and_what_changes_it():
    import torch  # noqa: F401  (the torch fields are read only when torch is loaded)

    env = environment(images_sha256="ab" * 32, deterministic=False)
    assert {"torch", "numpy", "pillow", "cpu_isa", "torch_threads", "cpu_model", "fingerprint"} <= set(env)
    assert fingerprint(env) == env["fingerprint"] and len(env["fingerprint"]) == 12
    other = {**env, "torch_threads": env["torch_threads"] + 1}
    assert fingerprint(other) != env["fingerprint"]
    assert fingerprint_diff(env, other) == {"torch_threads": (env["torch_threads"], env["torch_threads"] + 1)}
    assert fingerprint({**env, "git_commit": "x", "platform": "y"}) == env["fingerprint"]  # not numeric fields
    assert set(FINGERPRINT_FIELDS) >= {"images_sha256", "libjpeg", "deterministic", "cpu_flags"}
    assert env["cpu_flags"] and fingerprint({**env, "cpu_flags": env["cpu_flags"] + " amx_tile"}) != env["fingerprint"]


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the ISA pin is x86-64 only")
def test_deterministic_mode_gives_equal_numbers_across_thread_settings_and_isas(tmp_path):
    a = _run(tmp_path, "t1", 1, "--deterministic")
    b = _run(tmp_path, "t2", 2, "--deterministic", env_extra={"ATEN_CPU_CAPABILITY": "avx512"})
    assert a["env"]["cpu_isa"] == b["env"]["cpu_isa"] == "AVX2"
    assert a["env"]["torch_threads"] == b["env"]["torch_threads"] == 1
    assert a["env"]["deterministic"] is True and a["config"]["deterministic"] is True
    assert _numbers(a) == _numbers(b)
    assert a["env"]["fingerprint"] == b["env"]["fingerprint"]
    assert a["env"]["images_sha256"] == b["env"]["images_sha256"] and len(a["env"]["images_sha256"]) == 64


def test_the_shipped_baseline_is_the_committed_one():
    from nasharness.bundled import package_data_dir

    assert (package_data_dir() / "baseline-ci.csv").read_bytes() == (REPO / "results" / "ci.csv").read_bytes(), (
        "copy results/ci.csv to nasharness/package_data/baseline-ci.csv after updating the baseline")


def test_a_run_is_compared_with_the_committed_baseline():
    from nasharness.baseline import compare_with_baseline
    from nasharness.compare import read_table_csv
    from nasharness.results import RunResult

    base = read_table_csv(REPO / "results" / "ci.csv")
    row = base[(base["method"] == "fairnas") & (base["bench"] == "201")].iloc[0]
    final = "cifar10/ori-test@200"

    def result(kt: float, regret: float, env: str) -> RunResult:
        return RunResult(method="fairnas", bench="201", dataset="cifar10", seed=0, budget="ci",
                         protocol={"final": final, "ranking_truths": [final]}, chosen={"index": 1, "arch": "a"},
                         truth={final: 94.37 - regret}, regret={final: regret},
                         ranking={f"rank/{final}/kendall_tau": {"value": kt, "n": 100}}, costs={}, n_evaluated=100,
                         env={"fingerprint": env})

    near = compare_with_baseline(result(row["kendall_tau_mean"] + 0.01, row["regret_mean"], "zzz"))
    assert "within the band" in near and "cross-environment" in near and "seeds 0,1" in near
    far = compare_with_baseline(result(row["kendall_tau_mean"] + 0.5, row["regret_mean"], "zzz"))
    assert "outside the band: Kendall tau better" in far
    assert compare_with_baseline(RunResult(**{**result(0.1, 1.0, "z").to_dict(), "budget": "ci+overrides"})) is None
