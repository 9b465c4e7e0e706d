"""The converted-table cache: invalidation on source/format changes, damage detected (rebuilt from the verified
sources, or a loud failure where it cannot be)."""

import os

import pytest

from nasharness.errors import CacheError, DataError
from nasharness.tabular import cache, nb201

pytestmark = pytest.mark.integration


def test_cold_then_warm_then_touched(data_copy):
    b1 = nb201.load(data_copy)
    assert b1.meta["cache"]["hit"] is False
    b2 = nb201.load(data_copy)
    assert b2.meta["cache"]["hit"] is True and b2.table.equals(b1.table)
    csv = data_copy / nb201.CSV
    os.utime(csv, ns=(1, 1))  # same bytes, new mtime: re-hashed, still a hit
    assert nb201.load(data_copy).meta["cache"]["hit"] is True


def test_format_version_change_rebuilds(data_copy, monkeypatch):
    nb201.load(data_copy)
    monkeypatch.setattr(nb201, "FORMAT_VERSION", nb201.FORMAT_VERSION + 1)
    assert nb201.load(data_copy).meta["cache"]["hit"] is False


def test_changed_source_is_detected(data_copy):
    nb201.load(data_copy)
    csv = data_copy / nb201.CSV
    csv.write_text(csv.read_text()[: -5000])  # truncated
    with pytest.raises(DataError, match="has sha256 .* expected cb5d777e"):
        nb201.load(data_copy)


def test_truncated_cache_is_rebuilt_from_the_verified_sources(data_copy, capfd):
    nb201.load(data_copy)
    table_path, _ = cache.cache_paths("nb201", data_copy.resolve())
    table_path.write_bytes(table_path.read_bytes()[:1000])
    capfd.readouterr()
    b = nb201.load(data_copy)  # its sha256 no longer matches the sidecar: rebuilt, with a one-line notice
    assert b.meta["cache"]["hit"] is False and b.size == 15_625 and "damaged" in capfd.readouterr().err
    assert nb201.load(data_copy, force=True).size == 15_625  # the explicit fix still works


def test_unreadable_sidecar_is_a_clear_error_with_the_fix(data_copy):
    nb201.load(data_copy)
    _, meta_path = cache.cache_paths("nb201", data_copy.resolve())
    meta_path.write_text("{not json")
    with pytest.raises(CacheError, match=r"damaged.*nasharness bench prepare 201 --force"):
        nb201.load(data_copy)
    assert nb201.load(data_copy, force=True).size == 15_625  # the documented fix works


def test_missing_files_are_named(data_copy):
    (data_copy / nb201.MINI).unlink()
    with pytest.raises(DataError, match="lacks the NAS-Bench-201 source file.*mini-bench-arch-cell-accs.pd"):
        nb201.load(data_copy)


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="does not exist.*--data-dir.*NASHARNESS_DATA_DIR"):
        nb201.load(tmp_path / "nowhere")


def test_flipped_byte_in_cache_is_detected(data_copy):
    nb201.load(data_copy)
    table_path, _ = cache.cache_paths("nb201", data_copy.resolve())
    raw = bytearray(table_path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    table_path.write_bytes(bytes(raw))
    b = nb201.load(data_copy)  # detected by the table's sha256, rebuilt from the sources
    assert b.meta["cache"]["hit"] is False and b.size == 15_625
    assert nb201.load(data_copy).meta["cache"]["hit"] is True
