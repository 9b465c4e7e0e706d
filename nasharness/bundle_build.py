"""Building what ships in the package (maintainers): the NB201/NB101 tables converted from the staged sources and
the ``ci`` budget's CIFAR-10 images, each with its sidecar (read by :mod:`nasharness.bundled`).
``python -m nasharness.bundle_build --data-dir ../shared/data`` rebuilds all of it."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .bundled import CIFAR_SUBSET, LAYOUT_VERSION, package_data_dir
from .errors import DataError
from .io import atomic_write, atomic_write_json, sha256_file


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
    from .weightsharing.nb101 import NB101Adapter  # noqa: PLC0415
    from .weightsharing.nb201 import NB201Adapter  # noqa: PLC0415

    # the splits as the one-shot adapters take them (the JPEG tar's order: not the pickle batches)
    labels_only = Cifar10(None, train_labels, None, None, source="labels")
    parts = []
    for adapter in (NB201Adapter, NB101Adapter):
        train_idx, valid_idx = adapter.split(labels_only)
        s = adapter.one_shot_budgets["ci"][0]
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
    ap = argparse.ArgumentParser(prog="python -m nasharness.bundle_build", description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="data root with the staged sources (default: as for `run`)")
    ap.add_argument("--out", default=None, help="output folder (default: the package's package_data/)")
    args = ap.parse_args(argv)
    done = build(args.data_dir, Path(args.out) if args.out else None)
    for name, meta in done.items():
        print(f"{name}: {meta.get('n_rows', meta.get('n_images')):,} rows/images, {meta['bytes'] / 1e6:.2f} MB")


if __name__ == "__main__":
    _main()
