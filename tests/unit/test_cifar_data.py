import io
import pickle
import tarfile

import numpy as np
import pytest

from nasharness.data.cifar import cifar10_valid_split, load_cifar10, read_batches_py
from nasharness.errors import DataError


def _write_batches(folder, n=10, skip=()):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        if name in skip:
            continue
        d = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, n))}
        with open(folder / name, "wb") as f:
            pickle.dump(d, f, protocol=2)


def test_batches_py_folder(tmp_path):
    _write_batches(tmp_path / "cifar-10-batches-py")
    d = load_cifar10(dataset_root=tmp_path)
    assert d.train_x.shape == (50, 32, 32, 3) and d.test_x.shape == (10, 32, 32, 3)
    assert d.train_x.dtype == np.uint8 and d.train_y.dtype == np.int64


def test_batches_py_channel_layout(tmp_path):
    _write_batches(tmp_path)
    d = read_batches_py(tmp_path)
    with open(tmp_path / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="bytes")[b"data"][0]
    # CIFAR rows are 1024 red, then 1024 green, then 1024 blue values, row-major
    assert d.train_x[0, 0, 1, 0] == raw[1] and d.train_x[0, 0, 0, 1] == raw[1024] and d.train_x[0, 31, 31, 2] == raw[-1]


def test_missing_batch_is_named(tmp_path):
    _write_batches(tmp_path, skip=("data_batch_3",))
    with pytest.raises(DataError, match="data_batch_3 are missing"):
        load_cifar10(dataset_root=tmp_path)


def test_pickle_with_code_is_refused(tmp_path):
    _write_batches(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": [1]}, f)
    with pytest.raises(DataError, match="not a CIFAR-10 batch.*refusing"):
        load_cifar10(dataset_root=tmp_path)


def test_corrupt_jpeg_in_tar_is_named(tmp_path):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(buf, format="JPEG")
    with tarfile.open(tmp_path / "cifar10-jpg.tar", "w") as tf:
        for name, payload in (("train/cat/0000.jpg", buf.getvalue()), ("train/cat/0001.jpg", b"not a jpeg")):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    with pytest.raises(DataError, match="train/cat/0001.jpg.*not a decodable image"):
        load_cifar10(dataset_root=tmp_path)


def test_not_a_dataset(tmp_path):
    with pytest.raises(DataError, match="neither a cifar-10-batches-py folder"):
        load_cifar10(dataset_root=tmp_path)


def test_valid_split_is_balanced_disjoint_and_fixed():
    labels = np.repeat(np.arange(10), 100)
    tr, va = cifar10_valid_split(labels)
    assert len(tr) == len(va) == 500 and not set(tr) & set(va)
    assert np.bincount(labels[tr]).tolist() == [50] * 10
    tr2, _ = cifar10_valid_split(labels)
    assert np.array_equal(tr, tr2)


def test_data_pickles_never_run_code(tmp_path):
    from nasharness.io import load_data_pickle

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    for payload in (Evil(), np.array([Evil()], dtype=object)):
        (tmp_path / "x.pkl").write_bytes(pickle.dumps(payload))
        with pytest.raises(DataError, match="refusing to load global"):
            load_data_pickle(tmp_path / "x.pkl")
    (tmp_path / "ok.pkl").write_bytes(pickle.dumps({"a": np.arange(3.0)}))
    assert load_data_pickle(tmp_path / "ok.pkl")["a"].tolist() == [0.0, 1.0, 2.0]
