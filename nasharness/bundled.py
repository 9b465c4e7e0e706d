"""What ships inside the package (``nasharness/package_data/``), read with :mod:`importlib.resources`.

* ``nb201.parquet`` / ``nb201.json``: the converted NAS-Bench-201 table (all 15,625 cells, every column the staged
  sources give), ``nb101.parquet`` / ``nb101.json``: the 1,342 labeled NAS-Bench-101 architectures of the staged
  slices. Each sidecar records the format version, every source file's sha256 and size, and the table's own sha256,
  which is checked before every load (a damaged installation is refused with the fix, never served).
* ``cifar10-ci.npz`` / ``cifar10-ci.json``: the CIFAR-10 training images the ``ci`` budget's one-shot cells
  (spos / fairnas / scarlet on NB201 and NB101) train and evaluate on, as the *original JPEG bytes* of the staged
  ``cifar10-jpg.tar`` members (so they decode to exactly the pixels the data root gives: lossless with respect to
  the data root), plus the labels of all 50,000 train and 10,000 test images (the splits are drawn from the labels).
  Layout of the ``.npz`` (no pickles): ``jpeg`` uint8 — the JPEG files concatenated; ``offsets`` int64 [k+1] — file
  ``j`` is ``jpeg[offsets[j]:offsets[j+1]]``; ``train_index`` int64 [k] — its position among the 50,000 train images
  in sorted member order (``train/<class>/NNNN.jpg``); ``train_labels`` uint8 [50000]; ``test_labels`` uint8 [10000].
* ``PROVENANCE.md`` and ``licenses/``: where each file comes from and under which licence.

``python -m nasharness.bundled --data-dir ../shared/data`` rebuilds all of it from the staged sources (maintainers);
a test checks that the converters still give the shipped tables.
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import CacheError, DataError
from .io import atomic_write, atomic_write_json, read_checked_sidecar, sha256_file

#: Version of the package-data layout (bump when the files or their meaning change).
LAYOUT_VERSION = 1
CIFAR_SUBSET = "cifar10-ci"
REINSTALL = ("Reinstall nasharness (`pip install --force-reinstall nasharness`, or `git checkout nasharness/"
             "package_data` in a checkout)")


def package_data_dir() -> Path:
    return Path(str(resources.files("nasharness") / "package_data"))


def _verified(name: str, suffix: str) -> tuple[Path, dict]:
    """The shipped file and its sidecar, after checking the file's sha256 against the sidecar."""
    folder = package_data_dir()
    path, meta_path = folder / f"{name}{suffix}", folder / f"{name}.json"
    if not path.is_file() or not meta_path.is_file():
        raise DataError(f"the package data file {str(path)!r} (or its sidecar {meta_path.name}) is missing: this "
                        f"installation of nasharness is incomplete. {REINSTALL}.")
    meta = read_checked_sidecar(path, meta_path, "sha256", "the package data file",
                                f"{REINSTALL}; the data can also be converted from the sources with --data-dir DIR.")
    return path, meta


def shipped_table(name: str, format_version: int):
    """``(table, meta)`` of a shipped benchmark table (``nb201`` or ``nb101``), checksum-verified."""
    from .tabular.cache import read_table  # noqa: PLC0415

    path, meta = _verified(name, ".parquet")
    if meta.get("format_version") != format_version:
        raise CacheError(f"the shipped {name} table has format version {meta.get('format_version')}, but this "
                         f"nasharness reads version {format_version}: the package data is stale. {REINSTALL}.")
    table = read_table(path, name)
    meta["cache"] = {"path": str(path), "hit": True, "shipped": True}
    return table, meta


def shipped_cifar10():
    """The shipped CIFAR-10 subset as a :class:`~nasharness.data.cifar.Cifar10` whose train images are present only
    at the ``ci`` budget's indices (any other index raises a DataError naming ``nasharness data fetch cifar10``)."""
    from .data.cifar import Cifar10, SparseImages, decode_jpegs  # noqa: PLC0415

    path, meta = _verified(CIFAR_SUBSET, ".npz")
    with np.load(path, allow_pickle=False) as z:
        blob, offsets = z["jpeg"], z["offsets"]
        index = z["train_index"]
        train_y, test_y = z["train_labels"].astype(np.int64), z["test_labels"].astype(np.int64)
    images = decode_jpegs(blob, offsets, str(path))
    what = (f"the CIFAR-10 subset shipped with nasharness ({len(index):,} images: exactly those of the `ci` "
            f"budget's one-shot cells)")
    return Cifar10(SparseImages(len(train_y), index, images, what), train_y,
                   SparseImages(len(test_y), np.zeros(0, np.int64), images[:0], what), test_y,
                   source=f"{path} (package subset of {meta['source']['file']}, sha256 {meta['source']['sha256']})")


# ---- building (maintainers: python -m nasharness.bundled) ---------------------------------------------------------
def _sources_meta(sources) -> dict:
    from .tabular.cache import check_source  # noqa: PLC0415

    return {s.key: {"sha256": check_source(s), "size": s.path.stat().st_size} for s in sources}


def _write_table(out: Path, name: str, table, sources, format_version: int) -> dict:
    from .tabular.cache import write_table  # noqa: PLC0415

    path = out / f"{name}.parquet"
    write_table(table, path, compact=True)
    meta = {"name": name, "layout_version": LAYOUT_VERSION, "format_version": format_version,
            "sources": _sources_meta(sources), "n_rows": len(table), "columns": list(map(str, table.columns)),
            "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    atomic_write_json(out / f"{name}.json", meta)
    return meta


def ci_image_indices(train_labels: np.ndarray) -> np.ndarray:
    """Positions (among the 50,000 train images) of every image the ``ci`` budget's one-shot cells use: the NB201
    ``cifar10-valid`` and the NB101 40k/10k subsets drawn exactly as the one-shot pipeline draws them."""
    from .data.cifar import Cifar10, draw_subsets  # noqa: PLC0415
    from .methods.oneshot import BUDGETS  # noqa: PLC0415

    # the splits as the one-shot adapters take them (the JPEG tar's order: not the pickle batches)
    labels_only = Cifar10(None, train_labels, None, None, source="labels")
    splits = {"201": labels_only.valid_split(), "101": labels_only.nb101_split()}
    parts = []
    for bench, (train_idx, valid_idx) in splits.items():
        s = BUDGETS[bench]["ci"][0]
        tr, va, _ = draw_subsets(train_idx, valid_idx, s.n_train, s.n_valid)
        parts += [tr, va]
    return np.unique(np.concatenate(parts))


def build_cifar_subset(out: Path, tar_path: Path) -> dict:
    """Write ``cifar10-ci.npz`` from the staged JPEG tar (the original bytes of the needed members)."""
    import tarfile  # noqa: PLC0415

    from .data.cifar import CLASSES, JPG_SHA256  # noqa: PLC0415

    sha = sha256_file(tar_path)
    if sha != JPG_SHA256:
        raise DataError(f"{str(tar_path)!r} has sha256 {sha}, expected {JPG_SHA256} (the staged cifar10-jpg.tar).")
    with tarfile.open(tar_path) as tf:
        members = sorted((m for m in tf if m.isfile() and m.name.lower().endswith(".jpg")), key=lambda m: m.name)
        split = {k: [m for m in members if Path(m.name).parts[-3] == k] for k in ("train", "test")}
        labels = {k: np.array([CLASSES.index(Path(m.name).parts[-2]) for m in v], np.uint8) for k, v in split.items()}
        index = ci_image_indices(labels["train"].astype(np.int64))
        files = [tf.extractfile(split["train"][i]).read() for i in index]
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in files])]).astype(np.int64)
    path = out / f"{CIFAR_SUBSET}.npz"

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, jpeg=np.frombuffer(b"".join(files), np.uint8), offsets=offsets, train_index=index,
                     train_labels=labels["train"], test_labels=labels["test"])

    atomic_write(path, write)
    meta = {"name": CIFAR_SUBSET, "layout_version": LAYOUT_VERSION, "n_images": len(index),
            "source": {"file": "images/cifar10/cifar10-jpg.tar", "sha256": sha},
            "members": "train/<class>/NNNN.jpg at the positions in train_index (sorted member order)",
            "covers": "the ci budget's one-shot cells (spos, fairnas, scarlet) on NB201 and NB101",
            "sha256": sha256_file(path), "bytes": path.stat().st_size}
    atomic_write_json(out / f"{CIFAR_SUBSET}.json", meta)
    return meta


def build(data_dir=None, out: Path | None = None) -> dict:
    """Convert the staged sources under the data root into the package data folder (tables and image subset)."""
    from .data.cifar import JPG_TAR  # noqa: PLC0415
    from .paths import resolve_data_dir  # noqa: PLC0415
    from .tabular import nb101, nb201  # noqa: PLC0415

    root = resolve_data_dir(data_dir)
    out = out or package_data_dir()
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    for name, module, builder in (("nb201", nb201, nb201.build_table), ("nb101", nb101, nb101.build_slices)):
        srcs = module.sources(root)
        table = builder({s.key: s.path for s in srcs})
        done[name] = _write_table(out, name, table, srcs, module.FORMAT_VERSION)
    done[CIFAR_SUBSET] = build_cifar_subset(out, root / JPG_TAR)
    return done


def _main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m nasharness.bundled", description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="data root with the staged sources (default: as for `run`)")
    ap.add_argument("--out", default=None, help="output folder (default: the package's package_data/)")
    args = ap.parse_args(argv)
    done = build(args.data_dir, Path(args.out) if args.out else None)
    for name, meta in done.items():
        print(f"{name}: {meta.get('n_rows', meta.get('n_images')):,} rows/images, {meta['bytes'] / 1e6:.2f} MB")


if __name__ == "__main__":
    _main()
