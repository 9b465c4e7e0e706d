"""The official NB101 file format, exercised on small files written in exactly that framing."""

import numpy as np
import pytest

from nasharness.errors import DataError
from nasharness.spaces import nb101 as space
from nasharness.tabular import nb101
from nasharness.tabular import nb101_tfrecord as tfr


def test_crc32c_known_vector():
    assert tfr.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)


def _specs():
    rng = np.random.default_rng(0)
    from nasharness.spaces import NB101Space

    out, seen = [], set()
    while len(out) < 4:
        s = NB101Space().sample(rng)
        if s.hash() not in seen:
            seen.add(s.hash())
            out.append(s)
    return out


def _write_official(path, specs, epochs=(12, 108), repeats=3):
    recs, truth = [], {}
    for k, spec in enumerate(specs):
        for e in epochs:
            for r in range(repeats):
                val, test, t = 0.5 + 0.01 * k + 0.001 * r + e / 1000, 0.4 + 0.01 * k + 0.001 * r, 100.0 * e + r
                truth[(spec.hash(), e, r)] = (val, test, t)
                evs = [{"current_epoch": 0, "training_time": 0, "validation_accuracy": 0.1, "test_accuracy": 0.1},
                       {"current_epoch": e / 2, "training_time": t / 2, "validation_accuracy": val / 2,
                        "test_accuracy": test / 2},
                       {"current_epoch": e, "training_time": t, "validation_accuracy": val, "test_accuracy": test}]
                metrics = tfr.encode_model_metrics(evs, trainable_parameters=1000 + k)
                recs.append(tfr.encode_record(spec.hash(), e, spec.adjacency_string(), ",".join(spec.ops), metrics))
    tfr.write_records(path, recs)
    return truth


def test_read_back_every_field(tmp_path):
    specs = _specs()
    truth = _write_official(tmp_path / "mini.tfrecord", specs)
    records = list(tfr.iter_records(tmp_path / "mini.tfrecord", verify_data_crc=True))
    assert len(records) == len(truth)
    r = records[0]
    assert r.module_hash == specs[0].hash() and r.trainable_parameters == 1000
    assert (r.final["validation_accuracy"], r.final["test_accuracy"], r.final["training_time"]) == truth[
        (r.module_hash, r.epochs, 0)]


def test_prepare_full_table_and_use_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NASHARNESS_CACHE_DIR", str(tmp_path / "cache"))
    specs = _specs()
    truth = _write_official(tmp_path / "nasbench_mini.tfrecord", specs)
    meta = nb101.prepare_full(tmp_path / "nasbench_mini.tfrecord")
    assert meta["n_rows"] == 4
    bench = nb101.load(full=True)
    assert bench.is_full and bench.size == 4
    h = specs[2].hash()
    vals = [truth[(h, 108, r)][0] for r in range(3)]
    assert bench.query(h, "cifar10/val@108") == pytest.approx(100 * np.mean(vals))  # stored in percent
    assert bench.query(h, "cifar10/val@108/run1") == pytest.approx(100 * vals[1])
    assert bench.query(h, "cifar10/test@12/n_runs") == 3
    assert bench.query(h, "params") == 1002
    assert bench.protocol("cifar10").final == "cifar10/test@108"
    assert bench.proxy_cost(np.array([bench.index_of(h)]), bench.protocol("cifar10"))[0] == pytest.approx(1201.0)


def test_corrupt_and_truncated_files_are_clear_errors(tmp_path):
    path = tmp_path / "x.tfrecord"
    _write_official(path, _specs()[:1], epochs=(108,), repeats=1)
    data = bytearray(path.read_bytes())
    (tmp_path / "trunc.tfrecord").write_bytes(bytes(data[:-10]))
    with pytest.raises(DataError, match="truncated record data"):
        list(tfr.iter_records(tmp_path / "trunc.tfrecord"))
    data[3] ^= 0xFF  # length field
    (tmp_path / "bad.tfrecord").write_bytes(bytes(data))
    with pytest.raises(DataError, match="length checksum mismatch"):
        list(tfr.iter_records(tmp_path / "bad.tfrecord"))
    good = bytearray(path.read_bytes())
    good[20] ^= 0x01  # inside the data
    (tmp_path / "flip.tfrecord").write_bytes(bytes(good))
    with pytest.raises(DataError, match="checksum mismatch|malformed"):
        list(tfr.iter_records(tmp_path / "flip.tfrecord", verify_data_crc=True))


def test_record_whose_hash_does_not_match_its_spec(tmp_path):
    spec = _specs()[0]
    metrics = tfr.encode_model_metrics([{}, {}, {"validation_accuracy": 0.9}], 10)
    tfr.write_records(tmp_path / "h.tfrecord",
                      [tfr.encode_record("0" * 32, 108, spec.adjacency_string(), ",".join(spec.ops), metrics)])
    with pytest.raises(DataError, match="key and spec disagree"):
        nb101.build_full(tmp_path / "h.tfrecord")
    assert space.make_spec(spec.matrix, spec.ops).hash() == spec.hash()
