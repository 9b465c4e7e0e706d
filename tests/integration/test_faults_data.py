"""Data faults and more bad input (issue 19): damaged caches are detected and rebuilt from the verified sources, and
the user mistakes that ended in a traceback now end like every case of test_bad_inputs.py: exit code 2, one short
paragraph naming the value and the fix, no traceback, no new files, earlier results intact."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle

import numpy as np
import pytest
from click.testing import CliRunner
from test_bad_inputs import TINY, _snapshot, check_refused

from nasharness.cli import cli

pytestmark = pytest.mark.integration

ISOLATED = ("Genotype(normal=[('sep_conv_3x3', 2, 0), ('sep_conv_3x3', 5, 4)], normal_concat=[5], "
            "reduce=[('sep_conv_3x3', 2, 0)], reduce_concat=[2])")


def _tiny_overrides() -> dict:
    return dict(a.split("=") for a in TINY[1::2])


def _write_batches(folder, labels_of_last: list[int]) -> None:
    """A complete cifar-10-batches-py folder of tiny batches; the test batch gets ``labels_of_last``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = labels_of_last if name == "test_batch" else [0, 1, 2, 3]
        blob = {b"data": np.zeros((len(labels), 3072), np.uint8), b"labels": labels}
        (folder / name).write_bytes(pickle.dumps(blob, protocol=2))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An output folder holding one earlier, finished run; a comparison CSV of it with one non-numeric cell; a run
    folder holding a directory named result.json; CIFAR batches whose labels leave 0..9."""
    tmp = tmp_path_factory.mktemp("faults")
    out = tmp / "out"
    r = CliRunner().invoke(cli, ["run", "-m", "random", "-b", "201", "--no-tracking", "--out-dir", str(out), "-q",
                                 "--bootstrap", "0"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["compare", str(out), "--format", "csv"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    head, *rows = r.output.strip().splitlines()
    col = head.split(",").index("kendall_tau_mean")
    cells = rows[0].split(",")
    cells[col] = "abc"
    (tmp / "nonnumeric.csv").write_text("\n".join([head, ",".join(cells), *rows[1:]]) + "\n")
    (tmp / "dirs" / "run1" / "result.json").mkdir(parents=True)
    _write_batches(tmp / "badlabels" / "cifar-10-batches-py", [0, 1, 10, 3])
    return tmp, out


CASES = [
    # (id, argv (OUT/TMP are replaced), expected text in the message)
    ("superscript index", ["bench", "query", "201", "²"], "ASCII digits"),
    ("5,000-digit index", ["bench", "query", "201", "9" * 5000], "0..15624"),
    ("a directory named result.json", ["compare", "TMP/dirs"], "is a directory"),
    ("non-numeric baseline cell", ["report", "--baseline", "TMP/nonnumeric.csv", "--current", "OUT"],
     "non-numeric value 'abc' in column 'kendall_tau_mean', row 1"),
    ("derived max_archs names the key set", ["run", "-m", "spos", "-b", "201", "--set", "n_archs=1000000000"],
     "--set n_archs=1000000000"),
    ("10 KB --set value", ["run", "-m", "spos", "-b", "201", "--set", "epochs=" + "x" * 10_000], "(10,000 characters)"),
    ("10 KB method name", ["run", "-m", "y" * 10_000, "-b", "201"], "unknown method"),
    ("multi-line --set value", ["run", "-m", "spos", "-b", "201", "--set", "epochs=a:\n  - b\n  - c"], "'a: - b - c'"),
    ("10 KB arch string", ["bench", "query", "201", "|" + "z" * 10_000], "malformed NB201 arch"),
    ("isolated DARTS output", ["train", "--arch", ISOLATED, "--no-tracking", "--out-dir", "OUT"], "isolated"),
    ("CIFAR labels outside 0-9", ["run", "-m", "spos", "-b", "201", "--dataset-root", "TMP/badlabels", *TINY],
     "outside 0..9"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fault(env, case):
    tmp, out = env
    text = check_refused(tmp, out, case)  # exit 2, one paragraph, no traceback, nothing written
    assert len(text) < 1200, text[:2000]  # huge inputs are cut, never echoed in full


def test_shorten_and_torch_advice():
    from nasharness.errors import brief, shorten, torch_load_reason

    assert brief("abc") == "'abc'" and shorten("a\n  b") == "a b"
    long = brief("q" * 10_000)
    assert len(long) < 110 and long.endswith("(10,000 characters)'")
    exc = pickle.UnpicklingError(
        "Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` argument in "
        "`torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set to `False` will likely "
        "succeed, but it can result in arbitrary code execution. Do it only if you got the file from a trusted "
        "source.\n\n\nTrying to load unsupported GLOBAL posix.system whose module posix is blocked.\n\nCheck the "
        "documentation of torch.load to learn more about types accepted by default with weights_only "
        "https://pytorch.org/docs/stable/generated/torch.load.html.")
    reason = torch_load_reason(exc)
    assert "posix.system" in reason and "weights_only" not in reason and "False" not in reason


def test_cifar_labels_outside_range_is_a_data_error(tmp_path):
    from nasharness.data.cifar import read_batches_py
    from nasharness.errors import DataError

    _write_batches(tmp_path / "b", [0, -1, 3, 3])
    with pytest.raises(DataError, match=r"test_batch.*outside 0\.\.9 \(label -1 at position 1\)"):
        read_batches_py(tmp_path / "b")


# ---- checkpoints -------------------------------------------------------------------------------------------------
def _resumable(tmp_path, blob_writer):
    from nasharness.api import _config_key
    from nasharness.config import RunConfig

    cfg = RunConfig(method="spos", bench="201", out_dir=str(tmp_path), tracking=False, device="cpu", n_boot=0,
                    overrides=_tiny_overrides())
    run_dir = tmp_path / "20260101-000000-spos-201-cifar10-s0-abc123"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(_config_key(cfg)))
    blob_writer(run_dir / "checkpoints" / "last.pt")
    return dataclasses.replace(cfg, resume=True), run_dir


def test_resume_with_an_incomplete_checkpoint(tmp_path, cifar10_images):
    """A checkpoint without its keys (another version, a hand-made file): a DataError saying so and how to start
    over, not ``KeyError: 'config'``; the run directory (the user's) is left as it was."""
    import torch

    from nasharness.api import run
    from nasharness.errors import DataError

    cfg, run_dir = _resumable(tmp_path, lambda p: torch.save({"model": {}}, p))
    before = _snapshot(tmp_path)
    with pytest.raises(DataError) as info:
        run(cfg)
    msg = str(info.value)
    assert "incomplete or from another nasharness version" in msg and "config" in msg
    assert "without --resume" in msg and str(run_dir) in msg and "\n" not in msg
    assert _snapshot(tmp_path) == before


def test_refused_checkpoint_never_suggests_weights_only_false(tmp_path, cifar10_images):
    from nasharness.api import run
    from nasharness.errors import ConfigError

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    def write(p):
        with open(p, "wb") as f:
            pickle.dump({"model": Evil()}, f, protocol=2)

    cfg, _ = _resumable(tmp_path, write)
    with pytest.raises(ConfigError, match="cannot be read") as info:
        run(cfg)
    msg = str(info.value)
    assert "weights_only" not in msg and "trusted source" not in msg and len(msg) < 400, msg


# ---- the CIFAR-10 decode cache ------------------------------------------------------------------------------------
def _decode_cache():
    from nasharness.data.cifar import CACHE_VERSION, JPG_SHA256
    from nasharness.paths import cache_dir

    npz = cache_dir() / f"cifar10-{JPG_SHA256[:16]}-v{CACHE_VERSION}.npz"
    return npz, npz.with_suffix(".json")


def _tiny_run(out_dir):
    import nasharness as nh

    return nh.run(nh.RunConfig(method="spos", bench="201", out_dir=str(out_dir), tracking=False, device="cpu",
                               n_boot=0, overrides=_tiny_overrides()))


def test_flipped_byte_in_the_decode_cache_is_redecoded(tmp_path, cifar10_images, capfd):
    """One flipped byte in the cached .npz: detected by its sidecar sha256, deleted, decoded again from the verified
    tar (a notice on stderr); the run succeeds with the same numbers."""
    first = _tiny_run(tmp_path / "a")
    npz, sidecar = _decode_cache()
    assert npz.is_file() and json.loads(sidecar.read_text())["npz_sha256"]
    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    npz.write_bytes(bytes(raw))
    capfd.readouterr()
    again = _tiny_run(tmp_path / "b")
    assert "decode cache" in capfd.readouterr().err
    assert again.ranking == first.ranking and again.truth == first.truth
    assert again.env["images_sha256"] == first.env["images_sha256"]
    from nasharness.io import sha256_file

    assert json.loads(sidecar.read_text())["npz_sha256"] == sha256_file(npz)  # rebuilt and verified again
    assert len(list((tmp_path / "b").iterdir())) == 1  # one finished run, nothing half-made


def test_truncated_or_undecodable_decode_cache_is_redecoded(cifar10_images, monkeypatch, capfd):
    """A truncated cache (BadZipFile / EOF) and one without a sidecar but with the wrong shapes are both decoded
    again (here from a stand-in decoder, so the test does not decode 60,000 JPEGs twice more)."""
    from nasharness.data import cifar

    good = cifar.load_cifar10()
    npz, sidecar = _decode_cache()
    pristine = npz.read_bytes()
    calls = []

    def decode(tar):
        calls.append(tar)
        return good

    monkeypatch.setattr(cifar, "decode_jpg_tar", decode)
    try:
        npz.write_bytes(pristine[: len(pristine) // 3])  # truncated
        capfd.readouterr()
        data = cifar.load_cifar10()
        assert len(calls) == 1 and "damaged" in capfd.readouterr().err
        assert cifar.images_sha256(data.train_x, data.train_y) == cifar.images_sha256(good.train_x, good.train_y)
        sidecar.unlink()  # a cache from before the sidecar, holding the wrong shapes
        with open(npz, "wb") as f:
            np.savez(f, train_x=np.zeros((3, 32, 32), np.uint8), train_y=np.zeros(3, np.int64),
                     test_x=np.zeros((1, 32, 32, 3), np.uint8), test_y=np.zeros(1, np.int64))
        cifar.load_cifar10()
        assert len(calls) == 2 and "train_x is uint8[3, 32, 32], expected uint8[3, 32, 32, 3]" in capfd.readouterr().err
    finally:
        npz.write_bytes(pristine)
        cifar._write_sidecar(npz, sidecar, cifar.JPG_SHA256)


# ---- the converted-table cache -----------------------------------------------------------------------------------
def test_footer_byte_in_the_table_cache_is_rebuilt(data_copy, capfd):
    """A changed footer byte could rename a column silently; the table's sha256 is now checked against the sidecar
    first, and the table rebuilt from the verified sources (a one-line notice)."""
    from nasharness.tabular import cache, nb201

    built = nb201.load(data_copy)
    table_path, _ = cache.cache_paths("nb201", data_copy.resolve())
    raw = bytearray(table_path.read_bytes())
    raw[-200] ^= 0x01  # inside the footer (the schema: column names)
    table_path.write_bytes(bytes(raw))
    capfd.readouterr()
    again = nb201.load(data_copy)
    err = capfd.readouterr().err
    assert again.meta["cache"]["hit"] is False and "rebuilding it from the verified sources" in err
    assert len(err.strip().splitlines()) == 1
    assert list(again.table.columns) == list(built.table.columns) and again.table.equals(built.table)
    assert nb201.load(data_copy).meta["cache"]["hit"] is True


def test_source_edited_with_size_and_mtime_restored_is_caught(data_copy):
    from nasharness.errors import DataError
    from nasharness.tabular import nb201

    nb201.load(data_copy)
    csv = data_copy / nb201.CSV
    st = csv.stat()
    raw = bytearray(csv.read_bytes())
    raw[len(raw) // 2] = ord("7") if raw[len(raw) // 2] != ord("7") else ord("8")
    csv.write_bytes(bytes(raw))
    os.utime(csv, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert csv.stat().st_size == st.st_size and csv.stat().st_mtime_ns == st.st_mtime_ns
    with pytest.raises(DataError, match="has sha256 .* expected"):
        nb201.load(data_copy)


def test_unreadable_table_is_one_short_paragraph(tmp_path):
    from nasharness.errors import CacheError
    from nasharness.tabular import cache

    path = tmp_path / "t.parquet"
    cache.write_table(__import__("pandas").DataFrame({"a": np.arange(1000.0), "b": ["x"] * 1000}), path)
    good = path.read_bytes()
    footer = int.from_bytes(good[-8:-4], "little")
    messages = []
    for off in [*range(len(good) - 8 - footer, len(good) - 8, 7), len(good) // 2]:  # footer bytes, a data byte
        raw = bytearray(good)
        raw[off] ^= 0x01
        path.write_bytes(bytes(raw))
        try:
            cache.read_table(path, "nb201")
        except CacheError as exc:
            messages.append(str(exc))
    path.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(CacheError) as info:
        cache.read_table(path, "nb201")
    messages.append(str(info.value))
    assert len(messages) > 5
    for msg in messages:
        assert "\n" not in msg and len(msg) < 500 and "bench prepare 201 --force" in msg, msg


def test_full_nb101_table_is_verified(tmp_path, monkeypatch):
    import pandas as pd

    from nasharness.errors import CacheError
    from nasharness.tabular import cache, nb101

    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path))
    table_path, meta_path = nb101.full_table_paths()
    cache.write_table(pd.DataFrame({"hash": ["a"]}), table_path)
    meta_path.write_text(json.dumps({"name": "nb101-full", "table_sha256": "0" * 64}))
    with pytest.raises(CacheError, match="has sha256 .* damaged.*bench prepare 101 --source"):
        nb101.load()


# ---- a degenerate ranking ----------------------------------------------------------------------------------------
def test_degenerate_ranking_is_flagged_and_compared(tmp_path, monkeypatch):
    """All scores equal (a diverged training run): the run still finishes, but with a note, the flag
    ``ranking/degenerate`` and a warning in the summary; ``compare`` shows the count; CSVs without it still read."""
    from nasharness import compare
    from nasharness.methods.random import RandomSearch

    original = RandomSearch.search

    def constant(self, ctx):
        outcome = original(self, ctx)
        return dataclasses.replace(outcome, scores=np.full(len(outcome.scores), 42.0))

    monkeypatch.setattr(RandomSearch, "search", constant)
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["run", "-m", "random", "-b", "201", "--no-tracking", "--out-dir", str(out),
                                 "--bootstrap", "0", "--max-archs", "20"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "warning: degenerate ranking: all 20 scores equal (42)" in r.output, r.output
    (result,) = out.glob("*/result.json")
    d = json.loads(result.read_text())
    assert d["extra"]["ranking/degenerate"] == 1.0 and any(n.startswith("degenerate ranking") for n in d["notes"])
    r = CliRunner().invoke(cli, ["compare", str(out), "--format", "md"], catch_exceptions=False)
    assert r.exit_code == 0 and "| degenerate |" in r.output, r.output
    r = CliRunner().invoke(cli, ["compare", str(out), "--format", "csv"], catch_exceptions=False)
    csv = tmp_path / "now.csv"
    csv.write_text(r.output)
    assert compare.read_table_csv(csv)["degenerate"].tolist() == [1]
    old = tmp_path / "old.csv"  # a baseline written before the column: read, nothing counted
    compare.read_table_csv(csv).drop(columns=["degenerate"]).to_csv(old, index=False)
    assert compare.read_table_csv(old)["degenerate"].tolist() == [0]


def test_ordinary_scores_are_not_degenerate():
    from nasharness.metrics.ranking import degenerate_scores

    assert degenerate_scores([1.0, 2.0, 3.0]) is None and degenerate_scores([5.0]) is None
    assert "2 of 3 scores NaN" in degenerate_scores([1.0, np.nan, np.inf])
    assert "all 3 scores equal" in degenerate_scores([7.0, 7.0, 7.0])
