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

``python -m nasharness.bundle_build --data-dir ../shared/data`` rebuilds all of it from the staged sources
(maintainers); a test checks that the converters still give the shipped tables.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from .errors import CacheError, DataError
from .io import read_checked_sidecar

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


def shipped_cifar10_files() -> dict:
    """The shipped CIFAR-10 subset's arrays (checked against its sidecar): ``jpeg``, ``offsets``, ``train_index``,
    ``train_labels``, ``test_labels``, plus ``path`` and ``meta``. :func:`nasharness.data.cifar.shipped_cifar10`
    decodes them."""
    path, meta = _verified(CIFAR_SUBSET, ".npz")
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in ("jpeg", "offsets", "train_index", "train_labels", "test_labels")}
    return {**out, "path": path, "meta": meta}
