"""What ships inside the package: the tables equal the converters' output, the CIFAR-10 subset equals the data root's
images, a `ci` one-shot run gives the same numbers from either, and damage is refused with the fix."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from nasharness import bundle_build, bundled, paths
from nasharness.data.cifar import shipped_cifar10
from nasharness.errors import CacheError, DataError


@pytest.fixture
def no_data_root(monkeypatch):
    """As on an installed package or a clone without ../shared: no data root anywhere, nothing fetched."""
    monkeypatch.delenv("NASHARNESS_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "IN_CHECKOUT", False)


def test_shipped_tables_answer_without_a_data_root(no_data_root):
    from nasharness import api

    row = api.bench_query("201", "6111", ["cifar10/ori-test@200", "cifar10-valid/x-valid@200"])
    assert row["cifar10/ori-test@200"] == pytest.approx(94.373333, abs=1e-6)  # the published best (NB201 README)
    assert row["cifar10-valid/x-valid@200"] == pytest.approx(91.606667, abs=1e-6)
    info = api.bench_info("101")
    assert info["architectures_present"] == 1342 and info["table"] == "shipped with the package"


@pytest.mark.parametrize("name", ["nb201", "nb101"])
def test_converters_rebuild_the_shipped_tables(name, data_dir):
    """`bench prepare N --force` from the sources gives exactly the shipped table (values, dtypes, column order)."""
    from nasharness import api
    from nasharness.tabular import nb101, nb201

    module = {"nb201": nb201, "nb101": nb101}[name]
    shipped, meta = bundled.shipped_table(name, module.FORMAT_VERSION)
    prepared = api.bench_prepare(name.removeprefix("nb"), str(data_dir), force=True)
    assert prepared["cache"]["hit"] is False
    rebuilt = (nb201.load(data_dir) if name == "nb201" else nb101.load(data_dir, full=False)).table
    pd.testing.assert_frame_equal(rebuilt, shipped)
    # the sidecar names every source by the sha256 the converter checked
    assert {k: v["sha256"] for k, v in meta["sources"].items()} == {
        k: v["sha256"] for k, v in prepared["sources"].items()}


def test_package_data_stays_small():
    total = sum(p.stat().st_size for p in bundled.package_data_dir().rglob("*") if p.is_file())
    assert total < 15e6, f"package data is {total / 1e6:.1f} MB"


def test_cifar_subset_holds_the_data_roots_pixels(data_dir):
    from nasharness.data.cifar import load_cifar10

    full = load_cifar10(str(data_dir))
    sub = shipped_cifar10()
    index = bundle_build.ci_image_indices(full.train_y)
    np.testing.assert_array_equal(sub.train_y, full.train_y)
    np.testing.assert_array_equal(sub.test_y, full.test_y)
    np.testing.assert_array_equal(sub.train_x[index], full.train_x[index])  # lossless: identical pixels
    assert len(sub.train_x) == 50_000 and len(index) == 10_401
    missing = np.setdiff1d(np.arange(50_000), index)[:3]
    with pytest.raises(DataError, match="nasharness data fetch cifar10"):
        sub.train_x[missing]
    with pytest.raises(DataError, match="nasharness data fetch cifar10"):
        sub.test_x[np.arange(5)]


def test_ci_run_is_identical_from_the_package_and_the_data_root(data_dir, tmp_path, monkeypatch):
    """The quick start's method on the package's images and on the data root's: the same numbers (one epoch)."""
    from nasharness import api
    from nasharness.config import RunConfig

    def run(tag: str, root):
        cfg = RunConfig(method="fairnas", bench="201", seed=3, data_dir=root, tracking=False, n_boot=0, quiet=True,
                        out_dir=str(tmp_path / tag), overrides={"epochs": "1", "n_archs": "20", "cycles": "4"})
        return api.run(cfg)

    a = run("root", str(data_dir))
    with monkeypatch.context() as m:
        m.delenv("NASHARNESS_DATA_DIR", raising=False)
        m.setattr(paths, "IN_CHECKOUT", False)
        b = run("package", None)
    assert "cifar10-jpg.tar" in a.protocol["images"] and "cifar10-ci.npz" in b.protocol["images"]
    assert a.ranking == b.ranking and a.chosen == b.chosen and a.truth == b.truth
    assert [t["train/train_loss"] for t in a.trajectory] == [t["train/train_loss"] for t in b.trajectory]


def test_a_run_beyond_the_subset_names_the_fetch_command(no_data_root, tmp_path):
    from nasharness import api
    from nasharness.config import RunConfig

    cfg = RunConfig(method="spos", bench="201", tracking=False, quiet=True, out_dir=str(tmp_path),
                    overrides={"n_train": "6000", "epochs": "1"})
    with pytest.raises(DataError, match="nasharness data fetch cifar10"):
        api.run(cfg)
    assert not list(tmp_path.rglob("config.json")), "a refused run left a run directory behind"


def test_damaged_package_data_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "package_data"
    shutil.copytree(bundled.package_data_dir(), copy)
    monkeypatch.setattr(bundled, "package_data_dir", lambda: copy)
    raw = bytearray((copy / "nb201.parquet").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (copy / "nb201.parquet").write_bytes(bytes(raw))
    with pytest.raises(CacheError, match="sha256.*damaged.*Reinstall"):
        bundled.shipped_table("nb201", 2)
    (copy / "cifar10-ci.npz").unlink()
    with pytest.raises(DataError, match="missing.*incomplete"):
        shipped_cifar10()
