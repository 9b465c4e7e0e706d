"""Bad input, as a matrix: every case must end in one clear paragraph (what was wrong, the value, the fix), exit code
2, no traceback, no partial files in the output directory, and no earlier result lost."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nasharness.cli import cli

pytestmark = pytest.mark.integration

TINY = ["--set", "epochs=1", "--set", "n_train=128", "--set", "n_valid=64", "--set", "n_archs=4",
        "--set", "channels=4", "--set", "population=2", "--set", "sample_size=1", "--set", "cycles=1"]


@pytest.fixture(scope="module")
def env(tmp_path_factory, data_dir):
    """An output folder holding one earlier, finished run; a broken data root; a CIFAR folder missing a batch; a
    truncated TFRecord; a malformed baseline CSV; a suite file with a typo."""
    tmp = tmp_path_factory.mktemp("bad")
    out = tmp / "out"
    r = CliRunner().invoke(cli, ["run", "-m", "random", "-b", "201", "--no-tracking", "--out-dir", str(out), "-q",
                                 "--bootstrap", "0"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    broken = tmp / "data"  # every source linked, except nats_bench.csv which is empty
    for src in Path(data_dir).rglob("*"):
        if src.is_file() and src.suffix not in (".tar",):
            dst = broken / src.relative_to(data_dir)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(src)
    csv = broken / "nb201" / "nats-bench-landscape" / "nats_bench.csv"
    csv.unlink()
    csv.write_text("")
    cifar = tmp / "cifar-10-batches-py"
    cifar.mkdir()
    for i in (1, 2, 3, 4):
        (cifar / f"data_batch_{i}").write_bytes(b"")
    (cifar / "test_batch").write_bytes(b"")
    (tmp / "trunc.tfrecord").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    (tmp / "bad.csv").write_text("a,b\n1,2\n")
    (tmp / "typo.yaml").write_text("suite: x\nmethod: [random]\n")
    return tmp, out


def _snapshot(out: Path) -> dict:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*") if p.is_file()}


CASES = [
    # (id, argv (OUT/TMP are replaced), expected text in the message)
    ("unknown method", ["run", "-m", "fairnass", "-b", "201"], "unknown method 'fairnass'"),
    ("unknown bench", ["run", "-m", "random", "-b", "301"], "unknown benchmark '301'"),
    ("unknown dataset", ["run", "-m", "random", "-b", "201", "-d", "cifar1000"], "cifar1000"),
    ("dataset not on bench", ["run", "-m", "random", "-b", "101", "-d", "cifar100"], "cifar100"),
    ("unknown budget", ["run", "-m", "random", "-b", "201", "--budget", "huge"], "huge"),
    ("negative max-archs", ["run", "-m", "random", "-b", "201", "--max-archs", "-5"], "max_archs"),
    ("absurd max-archs", ["run", "-m", "random", "-b", "201", "--max-archs", "1000000000"], "max_archs"),
    ("zero sim seconds", ["run", "-m", "random", "-b", "201", "--max-sim-seconds", "0"], "max_sim_seconds"),
    ("nan sim seconds", ["run", "-m", "random", "-b", "201", "--max-sim-seconds", "nan"], "max_sim_seconds"),
    ("sim budget below one eval", ["run", "-m", "random", "-b", "201", "--max-sim-seconds", "1"], "raise"),
    ("negative epochs", ["run", "-m", "fairnas", "-b", "201", "--set", "epochs=-1"], "epochs"),
    ("non-numeric epochs", ["run", "-m", "fairnas", "-b", "201", "--set", "epochs=abc"], "'abc'"),
    ("unknown --set key", ["run", "-m", "fairnas", "-b", "201", "--set", "nonsense=1"], "unknown --set key"),
    ("--set without =", ["run", "-m", "fairnas", "-b", "201", "--set", "epochs"], "KEY=VALUE"),
    ("bad bn_mode", ["run", "-m", "spos", "-b", "201", "--set", "bn_mode=foo"], "bn_mode"),
    ("--set on random", ["run", "-m", "random", "-b", "201", "--set", "epochs=3"], "takes no --set"),
    ("one-shot on cifar100", ["run", "-m", "fairnas", "-b", "201", "-d", "cifar100"], "only cifar10 images"),
    ("cuda without a GPU", ["run", "-m", "spos", "-b", "201", "--device", "cuda", *TINY], "CUDA is not available"),
    ("unknown device", ["run", "-m", "spos", "-b", "201", "--device", "tpu"], "device must be"),
    ("empty data dir", ["run", "-m", "random", "-b", "201", "--data-dir", "TMP/empty"], "does not exist"),
    ("empty benchmark file", ["run", "-m", "random", "-b", "201", "--data-dir", "TMP/data"], "sha256"),
    ("CIFAR folder missing a batch", ["run", "-m", "spos", "-b", "201", "--dataset-root", "TMP/cifar-10-batches-py",
                                      *TINY], "data_batch_5"),
    ("dataset root that is nothing", ["run", "-m", "spos", "-b", "201", "--dataset-root", "TMP/nothing", *TINY],
     "neither a cifar-10-batches-py folder"),
    ("unwritable out dir", ["run", "-m", "random", "-b", "201", "--out-dir", "/proc/nasharness"],
     "writable --out-dir"),
    ("resume with nothing to resume", ["run", "-m", "spos", "-b", "201", "--resume", *TINY], "--resume found no"),
    ("malformed NB201 arch", ["bench", "query", "201", "|foo~0|+|bar~0|baz~1|"], "arch"),
    ("unknown NB101 hash", ["bench", "query", "101", "0123456789abcdef0123456789abcdef"], "not in the NAS-Bench-101"),
    ("index out of range", ["bench", "query", "201", "15625"], "0..15624"),
    ("missing tfrecord", ["bench", "prepare", "101", "--source", "TMP/none.tfrecord"], "does not exist"),
    ("truncated tfrecord", ["bench", "prepare", "101", "--source", "TMP/trunc.tfrecord"], "trunc.tfrecord"),
    ("not an official NB201 file", ["bench", "prepare", "201", "--source", "TMP/trunc.tfrecord"],
     "neither a torch .pth"),
    ("--source on a space without a table", ["bench", "prepare", "darts", "--source", "TMP/trunc.tfrecord"],
     "--source is for"),
    ("suite typo", ["sweep", "TMP/typo.yaml"], "did you mean 'methods'"),
    ("missing suite file", ["sweep", "TMP/none.yaml"], "does not exist"),
    ("missing baseline", ["report", "--baseline", "TMP/none.csv", "--current", "OUT"], "does not exist"),
    ("malformed baseline", ["report", "--baseline", "TMP/bad.csv", "--current", "OUT"], "not a nasharness"),
    ("compare a missing dir", ["compare", "TMP/none"], "does not exist"),
    ("tracking URI that does not answer", ["compare", "--tracking-uri", "http://127.0.0.1:9"], "cannot read runs"),
    ("sync a non-run dir", ["sync", "TMP/empty-dir"], "no finished run"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(env, case, monkeypatch):
    tmp, out = env
    (tmp / "empty-dir").mkdir(exist_ok=True)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    check_refused(tmp, out, case)


def check_refused(tmp, out, case) -> str:
    """Run one bad-input case (``TMP``/``OUT`` in argv replaced): exit 2, no traceback, the expected text, one
    paragraph, no new or changed file under ``out``. Returns the output for further checks."""
    _, argv, expected = case
    argv = [a.replace("TMP", str(tmp)).replace("OUT", str(out)) for a in argv]
    if argv[0] == "run" and "--out-dir" not in argv:
        argv += ["--out-dir", str(out), "--no-tracking", "-q"]
    before = _snapshot(out)
    r = CliRunner().invoke(cli, argv, catch_exceptions=False)
    text = r.output
    assert r.exit_code == 2, text
    assert "Traceback" not in text
    assert expected.lower() in text.lower(), text
    error = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("[")]
    assert 1 <= len(error) <= 6, text  # one paragraph, not a dump (progress lines "[phase] ..." aside)
    assert _snapshot(out) == before  # no partial files, earlier result intact
    return text


def test_at_least_thirty_cases():
    assert len(CASES) >= 30


def test_a_checkpoint_that_would_execute_code_is_refused(tmp_path, data_dir):
    """Checkpoints are loaded with ``weights_only=True``: a pickle that runs code on load is rejected, not run."""
    import pickle

    from nasharness.api import run
    from nasharness.config import RunConfig
    from nasharness.errors import ConfigError

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    cfg = RunConfig(method="spos", bench="201", out_dir=str(tmp_path), tracking=False, device="cpu", n_boot=0,
                    overrides=dict(a.split("=") for a in TINY[1::2]))
    from nasharness.api import _config_key

    run_dir = tmp_path / "20260101-000000-spos-201-cifar10-s0-evil00"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(_config_key(cfg)))
    with open(run_dir / "checkpoints" / "last.pt", "wb") as f:
        pickle.dump({"model": Evil()}, f)
    import dataclasses

    with pytest.raises(ConfigError, match="cannot be read"):
        run(dataclasses.replace(cfg, resume=True))
    assert not marker.exists()


def test_bad_values_in_the_library_api():
    from nasharness.errors import UserError
    from nasharness.spaces import nb101

    with pytest.raises(nb101.SpecError, match="at most 7"):
        nb101.make_spec(np.triu(np.ones((8, 8), int), 1), ["input"] + ["conv3x3-bn-relu"] * 6 + ["output"])
    with pytest.raises(nb101.SpecError, match="0 or 1"):
        nb101.make_spec([[0, 2], [0, 0]], ["input", "output"])
    from nasharness.spaces import nb201

    with pytest.raises(UserError):
        nb201.parse_arch("|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|")
