"""CIFAR-10 as uint8 arrays, decoded once and cached; the NB201 ``cifar10-valid`` split; batch augmentation.

Sources, in order (see :func:`load_cifar10`): ``dataset_root`` (a ``cifar-10-batches-py`` folder, or a folder with
``cifar10-jpg.tar``), ``<data root>/images/cifar10/cifar10-jpg.tar`` (the staged JPEG copy: see its PROVENANCE.md — a
q75 JPEG re-encoding of exactly the CIFAR-10 images, labels and train/test split, not the original pixels), the
official archive fetched by ``nasharness data fetch cifar10``, and the ``ci`` subset shipped with the package.

Labels follow the sorted class names (airplane=0 … truck=9), the standard CIFAR-10 indices.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..io import AllowListUnpickler, atomic_write, sha256_file
from ..paths import cache_dir, explicit_data_dir, find_data_dir

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: The well-known CIFAR-10 train statistics (used for normalization, as the PROVENANCE advises).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
JPG_TAR = "images/cifar10/cifar10-jpg.tar"
JPG_SHA256 = "6281c828594f8b27cf88915ab0bf029df507c62bd9ddfec776191357f6d9179c"
CACHE_VERSION = 1
#: Seed of the cifar10-valid split. Fixed, independent of any run seed, so every method sees the same split.
SPLIT_SEED = 201
#: Seed of the re-drawn NB101 40k/10k split (used only when the images are not in the original batch order).
NB101_SPLIT_SEED = 101


@dataclass
class Cifar10:
    train_x: np.ndarray  # uint8 [50000, 32, 32, 3]
    train_y: np.ndarray  # int64 [50000]
    test_x: np.ndarray  # uint8 [10000, 32, 32, 3]
    test_y: np.ndarray
    source: str
    #: True when the train images are in the original pickle order (data_batch_1..5), as read from the batches.
    pickle_order: bool = False

    def nb101_split(self) -> tuple[np.ndarray, np.ndarray]:
        """NAS-Bench-101's split: 40k train / 10k validation out of the 50k train images. NB101 trained on
        ``data_batch_1..4`` and validated on ``data_batch_5``; with the pickles that exact split is used. The JPEG copy
        does not keep the batch order, so there the split is re-drawn per class with a fixed seed (4/5 train, 1/5
        validation; balanced, like the original up to the original's slight class imbalance)."""
        n = len(self.train_y)
        if self.pickle_order:
            return np.arange(n - 10_000), np.arange(n - 10_000, n)
        return cifar10_valid_split(self.train_y, NB101_SPLIT_SEED, train_fraction=0.8)

    def valid_split(self) -> tuple[np.ndarray, np.ndarray]:
        """NB201's ``cifar10-valid``: 25k train / 25k valid out of the 50k train images, balanced per class.

        The official split file indexes the original pickle order, which the JPEG copy does not keep, so the split is
        re-drawn here: per class, a fixed-seed (``SPLIT_SEED``) shuffle, first half train, second half valid.
        """
        return cifar10_valid_split(self.train_y)


def subsample(indices: np.ndarray, n: int | None, rng: np.random.Generator) -> np.ndarray:
    """``n`` of ``indices`` drawn without replacement by ``rng``, sorted (all of them when ``n`` is None)."""
    if not n:
        return indices
    return np.sort(rng.choice(indices, min(n, len(indices)), replace=False))


#: Seed of the image subsets a budget trains and evaluates on: fixed, so every method and seed sees the same images.
SUBSET_SEED = 2020


def draw_subsets(train_idx: np.ndarray, valid_idx: np.ndarray, n_train: int | None, n_valid: int | None,
                 ) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    """The budget's train and valid image subsets (``subsample`` of each split, in that order, from one
    ``SUBSET_SEED`` stream) and the stream, for any further fixed draws (the one-shot calibration order)."""
    sub = np.random.default_rng(SUBSET_SEED)
    return subsample(train_idx, n_train, sub), subsample(valid_idx, n_valid, sub), sub


def images_sha256(*parts: np.ndarray) -> str:
    """sha256 of decoded images and labels, in order: equal only when a run saw exactly the same pixels (the
    environment fingerprint's image part: a different JPEG decoder or source shows up here)."""
    import hashlib  # noqa: PLC0415

    h = hashlib.sha256()
    for a in parts:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def cifar10_valid_split(labels: np.ndarray, seed: int = SPLIT_SEED,
                        train_fraction: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, valid = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        cut = int(round(len(idx) * train_fraction))
        train.append(idx[:cut])
        valid.append(idx[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(valid))


FETCH_HINT = ("Get the official CIFAR-10 (170 MB, once, into the user cache) with `nasharness data fetch cifar10`, "
              "or point --dataset-root at a cifar-10-batches-py folder or --data-dir / NASHARNESS_DATA_DIR at a data "
              "root holding images/cifar10/cifar10-jpg.tar.")


def _bad(path: Path, what: str) -> DataError:
    return DataError(
        f"CIFAR-10 source {str(path)!r} is not usable: {what}. Use the staged cifar10-jpg.tar (see "
        f"../shared/data/images/cifar10/PROVENANCE.md) or a complete cifar-10-batches-py folder via --dataset-root."
    )


def _decode_one(data: bytes, name: str, where: str) -> np.ndarray:
    """One 32x32 JPEG to uint8 RGB: the one decoding path of the tar and of the shipped subset."""
    from PIL import Image  # noqa: PLC0415

    try:
        img = Image.open(io.BytesIO(data)).convert("RGB")
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types
        raise _bad(Path(where), f"member {name!r} is not a decodable image ({exc})") from exc
    if img.size != (32, 32):
        raise _bad(Path(where), f"member {name!r} is {img.size[0]}x{img.size[1]}, expected 32x32")
    return np.asarray(img, dtype=np.uint8)


def decode_jpegs(blob: np.ndarray, offsets: np.ndarray, where: str) -> np.ndarray:
    """Decode JPEG files stored back to back (``blob[offsets[j]:offsets[j+1]]``) to uint8 [k, 32, 32, 3]."""
    raw = blob.tobytes()
    out = np.empty((len(offsets) - 1, 32, 32, 3), np.uint8)
    for j in range(len(out)):
        out[j] = _decode_one(raw[offsets[j]:offsets[j + 1]], f"#{j}", where)
    return out


class SparseImages:
    """An image array of which only some rows are present (the subset shipped with the package). Indexing with
    present rows gives them; any other row is a DataError that says how to get the full set."""

    dtype = np.dtype(np.uint8)

    def __init__(self, n_total: int, index: np.ndarray, images: np.ndarray, what: str):
        self._pos = np.full(n_total, -1, np.int64)
        self._pos[np.asarray(index, np.int64)] = np.arange(len(index))
        self._images, self.what = images, what
        self.shape = (n_total, *images.shape[1:])

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx):
        pos = self._pos[idx]
        missing = int(np.count_nonzero(np.asarray(pos) < 0))
        if missing:
            raise DataError(
                f"this run needs {missing:,} CIFAR-10 image(s) that {self.what} does not hold: it covers the `ci` "
                f"budget's one-shot cells only, and larger budgets, other methods' subsets and the test images need "
                f"the full set. {FETCH_HINT}"
            )
        return self._images[pos]


def decode_jpg_tar(path: Path) -> Cifar10:
    """Decode every JPEG of the tar (``{train,test}/<class>/NNNN.jpg``), in sorted member order."""
    xs: dict[str, list] = {"train": [], "test": []}
    ys: dict[str, list] = {"train": [], "test": []}
    try:
        with tarfile.open(path) as tf:
            members = sorted((m for m in tf if m.isfile() and m.name.lower().endswith(".jpg")), key=lambda m: m.name)
            for m in members:
                parts = Path(m.name).parts
                if len(parts) < 3 or parts[-3] not in xs or parts[-2] not in CLASSES:
                    raise _bad(path, f"unexpected member {m.name!r} (expected train|test/<class>/NNNN.jpg)")
                xs[parts[-3]].append(_decode_one(tf.extractfile(m).read(), m.name, str(path)))
                ys[parts[-3]].append(CLASSES.index(parts[-2]))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _bad(path, f"it cannot be read as a tar ({exc})") from exc
    if len(xs["train"]) != 50_000 or len(xs["test"]) != 10_000:
        raise _bad(path, f"it holds {len(xs['train'])} train and {len(xs['test'])} test images, expected 50000/10000")
    return Cifar10(np.stack(xs["train"]), np.asarray(ys["train"], np.int64), np.stack(xs["test"]),
                   np.asarray(ys["test"], np.int64), source=str(path))


def read_batches_py(folder: Path) -> Cifar10:
    """The standard python pickles (``data_batch_1..5``, ``test_batch``), read without executing code."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise _bad(folder, f"the batch file(s) {', '.join(missing)} are missing")
    parts = []
    for n in names:
        try:
            with open(folder / n, "rb") as f:
                d = AllowListUnpickler(f, encoding="bytes").load()
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            y = np.asarray(d[b"labels"], dtype=np.int64)
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as exc:
            raise _bad(folder / n, f"it is not a CIFAR-10 batch ({type(exc).__name__}: {exc})") from exc
        if len(x) != len(y) or not len(x):
            raise _bad(folder / n, f"it holds {len(x)} images and {len(y)} labels; expected equal, non-zero counts")
        bad = np.flatnonzero((y < 0) | (y > 9))
        if len(bad):
            raise _bad(folder / n, f"{len(bad):,} of its {len(y):,} labels are outside 0..9 (label {int(y[bad[0]])} "
                                   f"at position {int(bad[0])}); CIFAR-10 has 10 classes")
        parts.append((x, y))
    return Cifar10(np.concatenate([p[0] for p in parts[:5]]), np.concatenate([p[1] for p in parts[:5]]),
                   parts[5][0], parts[5][1], source=str(folder), pickle_order=True)


def load_cifar10(data_dir=None, dataset_root=None, *, allow_subset: bool = True) -> Cifar10:
    """Decoded CIFAR-10 from the first source present, in this order:

    1. ``dataset_root`` (a ``cifar-10-batches-py`` folder or a folder / file ``cifar10-jpg.tar``);
    2. the data root's ``images/cifar10/cifar10-jpg.tar`` (``--data-dir``, ``NASHARNESS_DATA_DIR``, or
       ``../shared/data`` beside a checkout), decoded once and cached when its sha256 matches;
    3. the official archive installed by ``nasharness data fetch cifar10`` in the user cache;
    4. (``allow_subset``) the subset shipped with the package: exactly the ``ci`` one-shot cells' images, decoded
       from the same JPEG bytes as 2, so a ``ci`` run gives the same numbers from either.
    """
    if dataset_root is not None:
        root = Path(dataset_root).expanduser()
        if (root / "data_batch_1").exists() or (root / "test_batch").exists():
            return read_batches_py(root)
        if (root / "cifar-10-batches-py").is_dir():
            return read_batches_py(root / "cifar-10-batches-py")
        tar = root / "cifar10-jpg.tar" if root.is_dir() else root
        if not tar.is_file():
            raise _bad(root, "it is neither a cifar-10-batches-py folder nor holds cifar10-jpg.tar")
        return _decoded_tar(tar, None)
    root = find_data_dir(data_dir)
    if root is not None and ((root / JPG_TAR).is_file() or explicit_data_dir(data_dir) is not None):
        tar = root / JPG_TAR
        if not tar.is_file():
            raise _bad(tar, f"the file does not exist. {FETCH_HINT}")
        return _decoded_tar(tar, JPG_SHA256)
    from .fetch import installed_cifar10  # noqa: PLC0415

    fetched = installed_cifar10()
    if fetched is not None:
        return read_batches_py(fetched)
    if allow_subset:
        return shipped_cifar10()
    raise DataError(f"no CIFAR-10 images found (no --dataset-root, no data root, nothing fetched). {FETCH_HINT}")


def shipped_cifar10() -> Cifar10:
    """The CIFAR-10 subset shipped with the package as a :class:`Cifar10` whose train images are present only at the
    ``ci`` budget's indices (any other index raises a DataError naming ``nasharness data fetch cifar10``)."""
    from ..bundled import shipped_cifar10_files  # noqa: PLC0415

    f = shipped_cifar10_files()
    path, meta, index = f["path"], f["meta"], f["train_index"]
    train_y, test_y = f["train_labels"].astype(np.int64), f["test_labels"].astype(np.int64)
    images = decode_jpegs(f["jpeg"], f["offsets"], str(path))
    what = (f"the CIFAR-10 subset shipped with nasharness ({len(index):,} images: exactly those of the `ci` "
            f"budget's one-shot cells)")
    return Cifar10(SparseImages(len(train_y), index, images, what), train_y,
                   SparseImages(len(test_y), np.zeros(0, np.int64), images[:0], what), test_y,
                   source=f"{path} (package subset of {meta['source']['file']}, sha256 {meta['source']['sha256']})")


def _decoded_tar(tar: Path, expected: str | None) -> Cifar10:
    """The tar's images from the decode cache when the cache verifies, else decoded (and cached) again.

    The cache is ``cifar10-<tar sha>-v<N>.npz`` plus a sidecar ``.json`` with the npz's sha256, written after it. A
    cache whose sha256 differs from the sidecar's, or that cannot be read or holds the wrong shapes, dtypes or labels
    (whatever the exception: BadZipFile, zlib errors, a truncated member) is deleted and decoded again from the
    verified source, with a one-line notice on stderr; a cache from before the sidecar is checked by reading it."""
    sha = sha256_file(tar)
    if expected and sha != expected:
        raise _bad(tar, f"its sha256 is {sha}, expected {expected}; it is truncated or a different file")
    cached = cache_dir() / f"cifar10-{sha[:16]}-v{CACHE_VERSION}.npz"
    sidecar = cached.with_suffix(".json")
    if cached.exists():
        try:
            data = _read_decode_cache(cached, sidecar, str(tar))
            if not sidecar.exists():  # written before the sidecar existed: it read back whole, record its hash
                _write_sidecar(cached, sidecar, sha)
            return data
        except Exception as exc:  # noqa: BLE001 - any damage (zip, zlib, numpy, shapes) means: decode again
            import sys  # noqa: PLC0415

            from ..errors import shorten  # noqa: PLC0415

            for p in (cached, sidecar):
                p.unlink(missing_ok=True)
            sys.stderr.write(f"note: the CIFAR-10 decode cache {cached} was damaged ({type(exc).__name__}: "
                             f"{shorten(str(exc), 80)}); deleted it, decoding {tar.name} again.\n")
            sys.stderr.flush()
    data = decode_jpg_tar(tar)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, train_x=data.train_x, train_y=data.train_y, test_x=data.test_x, test_y=data.test_y)

    sidecar.unlink(missing_ok=True)  # never a sidecar that describes another npz
    atomic_write(cached, write)
    _write_sidecar(cached, sidecar, sha)
    from ..terminal import cache_written  # noqa: PLC0415

    cache_written(cached, "the decoded CIFAR-10 images")  # a large file in the user's cache: say so, once
    return data


def _write_sidecar(cached: Path, sidecar: Path, source_sha: str) -> None:
    from ..io import atomic_write_json  # noqa: PLC0415

    atomic_write_json(sidecar, {"npz_sha256": sha256_file(cached), "source_sha256": source_sha,
                                "cache_version": CACHE_VERSION})


#: The arrays of a decode cache: (shape after the image count, dtype).
_SHAPES = {"train_x": ((32, 32, 3), np.uint8), "train_y": ((), np.int64), "test_x": ((32, 32, 3), np.uint8),
           "test_y": ((), np.int64)}


def _read_decode_cache(cached: Path, sidecar: Path, source: str) -> Cifar10:
    """The decode cache, verified (sha256 against the sidecar when there is one; shapes, dtypes, labels); raises on
    any damage. Hashing the ~180 MB file costs a fraction of a second, against about a minute to decode the tar."""
    import json  # noqa: PLC0415

    if sidecar.exists():
        recorded = json.loads(sidecar.read_text()).get("npz_sha256")
        actual = sha256_file(cached)
        if actual != recorded:
            raise ValueError(f"sha256 {actual[:16]}… differs from the recorded {str(recorded)[:16]}…")
    with np.load(cached, allow_pickle=False) as z:
        arrays = {k: z[k] for k in _SHAPES}
    for k, (shape, dtype) in _SHAPES.items():
        a, n = arrays[k], len(arrays[k.replace("_y", "_x")])
        if a.ndim != 1 + len(shape) or a.shape[1:] != shape or a.dtype != dtype or not len(a) or len(a) != n:
            raise ValueError(f"{k} is {a.dtype}{list(a.shape)}, expected {np.dtype(dtype)}{[n or 'n', *shape]}")
    for k in ("train_y", "test_y"):
        if arrays[k].min() < 0 or arrays[k].max() > 9:
            raise ValueError(f"{k} holds labels outside 0..9")
    return Cifar10(arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"], source=source)
