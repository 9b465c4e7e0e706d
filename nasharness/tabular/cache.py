"""Build-once, load-fast cache of converted benchmark tables.

A table is stored as ``<name>.parquet`` plus a sidecar ``<name>.json`` holding the format version, the sha256,
size and mtime of every source file, and the sha256 of the parquet file itself. On load:

* a source whose size/mtime changed is re-hashed; a changed sha256 (or format version, or source list) rebuilds;
* a parquet file that fails its page checksums (written with every page), or cannot be read, is a
  :class:`CacheError` that says how to rebuild it (we never silently trust a damaged cache).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import CacheError, DataError
from ..io import atomic_write, atomic_write_json, sha256_file
from ..paths import cache_dir


@dataclass(frozen=True)
class Source:
    """One input file of a converter, with the sha256 it must have when known (None: any content)."""

    key: str
    path: Path
    expected_sha256: str | None = None


def write_table(table: pd.DataFrame, path: Path, *, compact: bool = False) -> None:
    """Atomically write ``table`` as parquet with a CRC on every page: lz4 without dictionaries (fast to read) for
    caches; ``compact`` (zstd level 19 with dictionaries, for the tables shipped inside the package) is about half
    the size and reads as fast."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    options = ({"compression": "zstd", "compression_level": 19, "use_dictionary": True} if compact
               else {"compression": "lz4", "use_dictionary": False})
    atomic_write(path, lambda tmp: pq.write_table(arrow, tmp, write_page_checksum=True, **options))


def read_table(path: Path, name: str) -> pd.DataFrame:
    """Read a cached table, verifying page checksums; damage is a CacheError with the fix."""
    try:
        arrow = pq.read_table(path, use_threads=False, memory_map=True, page_checksum_verification=True)
        return arrow.to_pandas(use_threads=False)
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise _corrupt(name, path, exc) from exc


def _stat(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def check_source(src: Source, sha: str | None = None) -> str:
    """Return the source's sha256, raising a DataError when it is not the expected file."""
    sha = sha or sha256_file(src.path)
    if src.expected_sha256 and sha != src.expected_sha256:
        raise DataError(
            f"source file {str(src.path)!r} has sha256 {sha}, expected {src.expected_sha256} (the value in its "
            f"PROVENANCE.md). It is corrupt, truncated or a different version; restore the original file."
        )
    return sha


def cache_paths(name: str, root: Path) -> tuple[Path, Path]:
    tag = hashlib.md5(str(root).encode()).hexdigest()[:10]
    base = cache_dir() / f"{name}-{tag}"
    return base.with_suffix(".parquet"), base.with_suffix(".json")


def _sources_unchanged(meta: dict, sources: list[Source]) -> bool:
    recorded = meta.get("sources", {})
    if set(recorded) != {s.key for s in sources}:
        return False
    for s in sources:
        rec = recorded[s.key]
        if {"size": rec.get("size"), "mtime_ns": rec.get("mtime_ns")} == _stat(s.path):
            continue
        if check_source(s) != rec.get("sha256"):
            return False
    return True


def load_or_build(
    name: str,
    root: Path,
    sources: list[Source],
    build: Callable[[Mapping[str, Path]], pd.DataFrame],
    format_version: int,
    *,
    force: bool = False,
    extra_meta: Callable[[pd.DataFrame], dict] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Return ``(table, metadata)``, converting the sources only when the cache is absent or stale."""
    table_path, meta_path = cache_paths(name, root)
    if not force and table_path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise _corrupt(name, meta_path, exc) from exc
        if meta.get("format_version") == format_version and _sources_unchanged(meta, sources):
            table = read_table(table_path, name)
            meta["cache"] = {"path": str(table_path), "hit": True}
            return table, meta

    t0 = time.perf_counter()
    shas = {s.key: check_source(s) for s in sources}
    table = build({s.key: s.path for s in sources})
    meta = {
        "name": name,
        "format_version": format_version,
        "data_root": str(root),
        "sources": {s.key: {"path": str(s.path), "sha256": shas[s.key], **_stat(s.path)} for s in sources},
        "n_rows": len(table),
        "columns": list(map(str, table.columns)),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.perf_counter() - t0, 3),
    }
    if extra_meta:
        meta.update(extra_meta(table))
    write_table(table, table_path)
    meta["table_sha256"] = sha256_file(table_path)
    atomic_write_json(meta_path, meta)
    meta["cache"] = {"path": str(table_path), "hit": False}
    return table, meta


def _corrupt(name: str, path: Path, why: object) -> CacheError:
    return CacheError(
        f"the cached {name} table {str(path)!r} is damaged ({why}). Rebuild it from the sources with "
        f"`nasharness bench prepare {name.split('-')[0].removeprefix('nb')} --force`, or delete the file; "
        f"nothing else is lost (the sources are untouched)."
    )
