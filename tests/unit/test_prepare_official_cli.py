"""`nasharness bench prepare 201 --source PATH` end to end: the CLI reaches the official converter, the prepared
table then answers `bench query` (learning-curve columns included), and bad sources exit 2 with one paragraph."""

from __future__ import annotations

import torch
from click.testing import CliRunner
from test_nb201_official import pth_layout, record, write_nats

from nasharness.cli import cli
from nasharness.tabular import nb201, nb201_official


def test_cli_refuses_a_partial_official_file_with_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    torch.save(pth_layout(), tmp_path / "v1_1.pth")
    out = CliRunner().invoke(cli, ["bench", "prepare", "201", "--source", str(tmp_path / "v1_1.pth"), "-q"])
    assert out.exit_code == 2, out.output
    assert "15,625" in out.output or "15625" in out.output
    assert not nb201_official.official_table_paths()[0].exists()  # nothing half-written
    out = CliRunner().invoke(cli, ["bench", "prepare", "201", "--source", str(tmp_path / "missing.pth"), "-q"])
    assert out.exit_code == 2 and "Traceback" not in out.output


def test_a_prepared_official_table_is_what_bench_query_then_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    src = write_nats(tmp_path / "NATS-tss-v1_0-3ffb9-simple",
                     {a: {"12": record(a, 12), "200": record(a, 200)} for a in range(3)})
    meta = nb201_official.prepare_official(src, allow_partial=True)
    bench = nb201.load()  # no data root named: the prepared official table wins over the shipped one
    assert bench.meta["name"] == "nb201-official" and bench.size == 3
    out = CliRunner().invoke(cli, ["bench", "query", "201", "1", "--metric", "cifar10-valid/x-valid@200:e12",
                                   "--metric", "cifar10-valid/x-valid@200"])
    assert out.exit_code == 0, out.output
    # epoch 12 of the 200-epoch run is the file's 0-based epoch 11 (see test_nb201_official.acc): seeds 777, 888
    expected_e12 = 40.0 + 10 * 1 + 0.0 + 0.0 + 0.125 * 11 + (0.5 + 1.0) / 2
    assert f"{expected_e12:.2f}" in out.output
    assert meta["table_sha256"]
    # damage is refused, with the fix
    path = nb201_official.official_table_paths()[0]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    out = CliRunner().invoke(cli, ["bench", "query", "201", "1"])
    assert out.exit_code == 2 and "damaged" in out.output and "--source" in out.output
