"""What nasharness keeps in the user cache (:func:`nasharness.paths.cache_dir`; ``NASHARNESS_CACHE_DIR`` moves it):
every file and folder there, what it is, its size, and what rebuilds it — for ``nasharness cache info`` and
``nasharness cache clear``.

Kinds (``cache clear --what``): ``tables`` (converted benchmark tables and what is derived from them — cheap to
rebuild from their source), ``images`` (decoded or extracted images — rebuilt from the data root on the next run that
needs them), ``fetched`` (downloads — cost a download again, so removed only when named), ``other`` (leftovers of
interrupted writes, and anything nasharness does not recognise — removed only when named).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import UserError
from .paths import cache_dir

KINDS = ("tables", "images", "fetched", "other")
#: What ``--what all`` removes: everything that rebuilds without a download.
ALL = ("tables", "images")


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    kind: str
    what: str
    rebuild: str
    size_bytes: int
    is_dir: bool

    def to_dict(self) -> dict:
        return asdict(self)


#: (pattern on the entry's name, kind, what it is, what rebuilds it); the first match wins.
_RULES: list[tuple[re.Pattern, str, str, str]] = [
    (re.compile(r"\..+\.tmp$|.+\.tmp\d+$"), "other", "leftover of an interrupted write",
     "nothing (safe to delete)"),
    (re.compile(r"nb201-official\.(parquet|json)$"), "tables",
     "NAS-Bench-201 table converted from an official NB201 / NATS-Bench file",
     "nasharness bench prepare 201 --source FILE"),
    (re.compile(r"nb101-full\.(parquet|json)$"), "tables",
     "NAS-Bench-101 table converted from the official TFRecord",
     "nasharness bench prepare 101 --source nasbench_only108.tfrecord"),
    (re.compile(r"nb201-[0-9a-f]+\.(parquet|json)$"), "tables",
     "NAS-Bench-201 table converted from a data root's sources",
     "nasharness bench prepare 201 --data-dir DIR (or the next use of that data root)"),
    (re.compile(r"nb101-[0-9a-f]+\.(parquet|json)$"), "tables",
     "NAS-Bench-101 table converted from a data root's sources",
     "nasharness bench prepare 101 --data-dir DIR (or the next use of that data root)"),
    (re.compile(r"encodings-nb\w+-.+\.npy$"), "tables", "ReNAS encodings of every architecture of a table",
     "the next renas / predictor-mse run"),
    (re.compile(r"latency-.+\.json$"), "tables", "block latency table measured on one device",
     "the next ImageNet-space search (measured again)"),
    (re.compile(r"cifar10-[0-9a-f]+-v\d+\.(npz|json)$"), "images", "decoded CIFAR-10 (from cifar10-jpg.tar)",
     "the next run that needs CIFAR-10 from the data root (decodes the tar again, about a minute)"),
    (re.compile(r"imagefolder-[0-9a-f]+-r\d+\.npy$"), "images", "decoded ImageNet-layout folder",
     "the next ImageNet run on that folder (decodes it again)"),
    (re.compile(r"imagenette-val-.+"), "images", "the shared ImageNet subset, extracted from the data root",
     "the next ImageNet-space run without --dataset-root (extracts it again)"),
    (re.compile(r"cifar10$"), "fetched", "CIFAR-10 fetched from its authors (and any partial download)",
     "nasharness data fetch cifar10 (a 163 MB download)"),
]


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def classify(name: str) -> tuple[str, str, str]:
    """(kind, what it is, what rebuilds it) of a cache entry's name."""
    for pattern, kind, what, rebuild in _RULES:
        if pattern.fullmatch(name):
            return kind, what, rebuild
    return "other", "not recognised (not written by this nasharness version)", "unknown: remove it by hand if unneeded"


def entries(root: str | Path | None = None) -> list[Entry]:
    """Every file and folder directly under the cache dir, with kind, description, size and rebuild command."""
    root = Path(root) if root is not None else cache_dir()
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir(), key=lambda q: q.name):
        kind, what, rebuild = classify(p.name)
        out.append(Entry(p.name, str(p), kind, what, rebuild, _size(p), p.is_dir() and not p.is_symlink()))
    return out


def parse_what(what: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The kinds ``--what`` names: ``all`` is :data:`ALL`; ``fetched`` and ``other`` only when named."""
    kinds: list[str] = []
    for w in what or ("all",):
        w = str(w).strip().lower()
        if w == "all":
            kinds += ALL
        elif w in KINDS:
            kinds.append(w)
        else:
            raise UserError(f"unknown cache kind {w!r}; valid: {', '.join((*KINDS, 'all'))} (fetched data is removed "
                            f"only when named: --what fetched).")
    return tuple(dict.fromkeys(kinds))


def clear(kinds: tuple[str, ...], root: str | Path | None = None) -> tuple[list[Entry], list[Entry]]:
    """Remove the entries of ``kinds``; returns (removed, kept)."""
    removed, kept = [], []
    for e in entries(root):
        if e.kind not in kinds:
            kept.append(e)
            continue
        p = Path(e.path)
        try:
            if e.is_dir:
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
        except OSError as exc:
            raise UserError(f"cannot remove {e.path!r} ({exc.strerror}); check its permissions.") from exc
        removed.append(e)
    return removed, kept
