"""ImageNet-layout folders (``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``; ``valid/`` is accepted too), read with
Pillow, the papers' evaluation preprocessing, the shared 10-class subset, and ``prepare-val``.

Evaluation preprocessing (FairNAS / SCARLET ``verify``): resize the shorter side to 256 (bilinear), center-crop
224, scale to [0, 1], normalise with the ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).
At another resolution R the same proportions are kept: shorter side round(R * 256 / 224), center crop R.

Class indices: with all 1,000 ILSVRC-2012 classes present the sorted wnid folders are the indices (ImageFolder and
the released models agree). With a subset, each wnid's ImageNet-1k index comes from a ``classes.json`` next to (or one
level above) the split folders, as the shared subset ships, or from ``--synsets FILE`` (the 1,000 wnids in index
order, one per line); the model's 1,000 logits are then restricted to those classes and the result says so.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, UserError
from ..io import atomic_write, sha256_file
from ..paths import cache_dir, resolve_data_dir

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SUBSET_TAR = "images/imagenette/imagenette2-val-224-340pc.tar"
SUBSET_SHA256 = "9d6fe25acee15f354c684f2762385b3e14c93522d2e12c4919130a4dbe44c916"
_WNID = re.compile(r"^n\d{8}$")
_EXTS = (".jpeg", ".jpg", ".png")


@dataclass
class ImageFolder:
    """One split of an ImageNet-layout folder: files, labels (0..k-1 over the sorted wnids), the wnids, and each
    wnid's ImageNet-1k index where known."""

    root: Path
    files: list[Path]
    labels: np.ndarray
    wnids: list[str]
    imagenet_index: list[int] | None

    def __len__(self) -> int:
        return len(self.files)


def split_dir(root: Path, split: str) -> Path:
    names = ("val", "valid") if split in ("val", "valid") else (split,)
    for n in names:
        if (root / n).is_dir():
            return root / n
    if any(_WNID.match(p.name) for p in root.iterdir() if p.is_dir()):
        return root  # the split folder itself was given
    raise UserError(f"{str(root)!r} has no {'/'.join(names)}/<wnid>/ folders; pass the dataset root that holds "
                    f"{names[0]}/n01440764/... (run `nasharness imagenet prepare-val ROOT` on a flat ILSVRC2012 "
                    f"validation folder first).")


def _class_indices(root: Path, wnids: list[str], synsets: str | Path | None) -> list[int] | None:
    if len(wnids) == 1000 and synsets is None:
        return list(range(1000))
    if synsets is not None:
        order = [ln.split()[0] for ln in Path(synsets).read_text().splitlines() if ln.strip()]
        if len(order) != 1000:
            raise UserError(f"--synsets {str(synsets)!r} lists {len(order)} wnids; expected the 1,000 ILSVRC-2012 "
                            f"wnids in class-index order.")
        pos = {w: i for i, w in enumerate(order)}
    else:
        pos = {}
        for cand in (root / "classes.json", root.parent / "classes.json"):
            if cand.is_file():
                pos = {c["wnid"]: int(c["imagenet1k_index"]) for c in json.loads(cand.read_text())["classes"]}
                break
        if not pos:
            return None
    missing = [w for w in wnids if w not in pos]
    if missing:
        raise UserError(f"no ImageNet-1k index for wnid(s) {', '.join(missing[:5])}; pass --synsets FILE with the "
                        f"1,000 ILSVRC-2012 wnids in index order.")
    return [pos[w] for w in wnids]


def scan(root: str | Path, split: str = "val", synsets=None, max_per_class: int | None = None) -> ImageFolder:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"dataset root {str(root)!r} does not exist.")
    d = split_dir(root, split)
    wnids = sorted(p.name for p in d.iterdir() if p.is_dir())
    if not wnids:
        raise UserError(f"{str(d)!r} holds no class folders.")
    files, labels = [], []
    for k, w in enumerate(wnids):
        imgs = sorted(p for p in (d / w).iterdir() if p.suffix.lower() in _EXTS)
        files += imgs[:max_per_class] if max_per_class else imgs
        labels += [k] * len(imgs[:max_per_class] if max_per_class else imgs)
    if not files:
        raise UserError(f"{str(d)!r} holds no images (*.JPEG, *.jpg, *.png).")
    base = d.parent if d != root else root
    return ImageFolder(d, files, np.asarray(labels, dtype=np.int64), wnids, _class_indices(base, wnids, synsets))


def load_image(path: Path, resolution: int = 224):
    """Decode one image and apply the evaluation preprocessing up to the crop: uint8 [R, R, 3]."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            short = round(resolution * 256 / 224)
            scale = short / min(w, h)
            im = im.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BILINEAR)
            w, h = im.size
            left, top = (w - resolution) // 2, (h - resolution) // 2
            return np.asarray(im.crop((left, top, left + resolution, top + resolution)), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"image {str(path)!r} cannot be decoded ({exc}); remove or replace the file.") from exc


def normalize(batch_uint8: np.ndarray):
    """uint8 [N, R, R, 3] -> float tensor [N, 3, R, R] normalised with the ImageNet statistics."""
    import torch  # noqa: PLC0415

    x = torch.from_numpy(np.ascontiguousarray(batch_uint8)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def decode_all(folder: ImageFolder, resolution: int) -> np.ndarray:
    """Every image of ``folder`` preprocessed to ``resolution`` (cached by file list and resolution)."""
    import hashlib  # noqa: PLC0415

    h = hashlib.sha256()
    for f in folder.files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    cached = cache_dir() / f"imagefolder-{h.hexdigest()[:16]}-r{resolution}.npy"
    if cached.exists():
        try:
            arr = np.load(cached)
            if arr.shape == (len(folder), resolution, resolution, 3):
                return arr
        except (OSError, ValueError):
            pass
    arr = np.stack([load_image(f, resolution) for f in folder.files])

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, arr)

    atomic_write(cached, write)
    return arr


def shared_subset(data_dir=None) -> Path:
    """The shared 10-class ImageNet subset (Imagenette val, 3,400 images at 224x224), extracted once into the cache
    after its sha256 is checked; returns the root holding ``val/`` and ``classes.json``."""
    tar = resolve_data_dir(data_dir) / SUBSET_TAR
    if not tar.is_file():
        raise DataError(f"the ImageNet subset {str(tar)!r} is missing; see ../shared/data/images/imagenette/"
                        f"PROVENANCE.md, or pass --dataset-root with an ImageNet-layout folder.")
    dest = cache_dir() / "imagenette-val-224-340pc"
    done = dest / ".complete"
    if done.exists():
        return dest
    sha = sha256_file(tar)
    if sha != SUBSET_SHA256:
        raise DataError(f"{str(tar)!r} has sha256 {sha}, expected {SUBSET_SHA256}; it is damaged or another file.")
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar) as t:
        t.extractall(tmp, filter="data")
    if dest.exists():
        import shutil  # noqa: PLC0415

        shutil.rmtree(dest)
    os.replace(tmp, dest)
    done.write_text(SUBSET_SHA256)
    return dest


def train_val_split(labels: np.ndarray, val_per_class: int, seed: int = 224) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a fixed-seed shuffle: the first ``val_per_class`` images are held out, the rest train."""
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        va.append(idx[:val_per_class])
        tr.append(idx[val_per_class:])
    return np.sort(np.concatenate(tr)), np.sort(np.concatenate(va))


# ---- prepare-val ---------------------------------------------------------------------------------------------------
def read_labels(labels: str | Path, *, synsets: str | Path | None = None, meta: str | Path | None = None,
                files: list[str] | None = None) -> dict[str, str]:
    """filename -> wnid, from one of:

    * a two-column text file ``<file> <wnid>`` (or CSV ``<file>,<wnid> ...``, e.g. Kaggle's ``LOC_val_solution.csv``
      with its header);
    * the devkit's ``ILSVRC2012_validation_ground_truth.txt`` (one ILSVRC2012_ID, 1..1000, per image in file-name
      order) together with ``meta`` (the devkit's ``meta.mat``, mapping ILSVRC2012_ID to wnid) or ``synsets`` (the
      wnids in ILSVRC2012_ID order, one per line)."""
    lines = [ln.strip() for ln in Path(labels).read_text().splitlines() if ln.strip()]
    if lines and all(ln.isdigit() for ln in lines):
        if meta is not None:
            from scipy.io import loadmat  # noqa: PLC0415

            syn = loadmat(str(meta), squeeze_me=True)["synsets"]
            by_id = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in syn if int(s["ILSVRC2012_ID"]) <= 1000}
        elif synsets is not None:
            order = [ln.split()[0] for ln in Path(synsets).read_text().splitlines() if ln.strip()]
            by_id = {i + 1: w for i, w in enumerate(order)}
        else:
            raise UserError(f"{str(labels)!r} holds class IDs (the devkit ground truth); pass --meta meta.mat (or "
                            f"--synsets FILE) to map them to wnids.")
        names = files if files is not None else [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, len(lines) + 1)]
        if len(names) != len(lines):
            raise UserError(f"{str(labels)!r} has {len(lines):,} labels for {len(names):,} images.")
        bad = sorted({int(v) for v in lines if int(v) not in by_id})
        if bad:
            raise UserError(f"class IDs {bad[:5]} in {str(labels)!r} have no wnid in the mapping.")
        return {n: by_id[int(v)] for n, v in zip(names, lines, strict=True)}
    out = {}
    for ln in lines:
        parts = re.split(r"[,\s]+", ln)
        if len(parts) < 2 or not _WNID.match(parts[1]):
            if ln.lower().startswith(("imageid", "file")):  # a header
                continue
            raise UserError(f"cannot read the label line {ln!r} of {str(labels)!r}; expected '<file> <wnid>'.")
        name = parts[0] if Path(parts[0]).suffix else parts[0] + ".JPEG"
        out[name] = parts[1]
    return out


def prepare_val(root: str | Path, labels: str | Path, *, synsets=None, meta=None, progress=None) -> dict:
    """Move the flat validation images of ``root`` (``root/val/*.JPEG``, or ``root/*.JPEG``) into ``val/<wnid>/``.
    Each move is one atomic rename, so an interrupted run loses and duplicates nothing, and a re-run finishes the
    job (files already in place are counted, not moved again)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{str(root)!r} does not exist.")
    src = root / "val" if (root / "val").is_dir() else root
    dst = root / "val"
    flat = sorted(p.name for p in src.iterdir() if p.is_file() and p.suffix.lower() in _EXTS)
    mapping = read_labels(labels, synsets=synsets, meta=meta)
    unknown = [f for f in flat if f not in mapping]
    if unknown:
        raise UserError(f"{len(unknown):,} image(s) have no label in {str(labels)!r} (e.g. {unknown[0]}); nothing "
                        f"was moved.")
    dst.mkdir(exist_ok=True)
    moved = 0
    for k, name in enumerate(flat):
        target = dst / mapping[name] / name
        target.parent.mkdir(exist_ok=True)
        if target.exists():
            raise UserError(f"{str(target)!r} already exists and {str(src / name)!r} is still in the flat folder; "
                            f"remove one of the two copies by hand and re-run.")
        os.replace(src / name, target)
        moved += 1
        if progress:
            progress(k + 1, len(flat))
    placed = {n for w in set(mapping.values()) if (dst / w).is_dir() for n in os.listdir(dst / w)}
    missing = sorted(set(mapping) - placed)
    return {"moved": moved, "in_place": len(placed), "labels": len(mapping), "classes": len(set(mapping.values())),
            "missing": len(missing), "missing_examples": missing[:5]}
