"""Build-once, load-fast cache of converted benchmark tables.

A table is stored as ``<name>.parquet`` plus a sidecar ``<name>.json`` holding the format version, the sha256,
size and mtime of every source file, and the sha256 of the parquet file itself. On load:

* every source is re-hashed (sha256, not only when its size or mtime changed); a changed sha256 (or format version,
  or source list) rebuilds;
* the parquet file's sha256 is checked against the sidecar's ``table_sha256`` before it is read: a mismatch (a
  flipped or truncated byte anywhere, footer included) is rebuilt from the verified sources with a one-line notice;
* a parquet file that still fails its page checksums (written with every page), or an unreadable sidecar, is a
  short :class:`CacheError` that says how to rebuild it (we never silently trust a damaged cache).
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


def _sources_unchanged(meta: dict, sources: list[Source], shas: Mapping[str, str]) -> bool:
    """True when the sidecar records exactly these sources with these sha256. Sources are compared by content, never
    by size and mtime alone: an edit that restores both (``cp -p``, ``touch -r``) must not serve a stale table."""
    recorded = meta.get("sources", {})
    if set(recorded) != {s.key for s in sources}:
        return False
    return all(recorded[s.key].get("sha256") == shas[s.key] for s in sources)


def _notice(text: str) -> None:
    import sys  # noqa: PLC0415

    sys.stderr.write(f"note: {text}\n")
    sys.stderr.flush()


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
    # Every source is hashed on every load (also on a cache hit): for the staged NB201 sources (~13 MB) that is
    # about 30 ms, the NB101 slices (~1.4 MB) about 5 ms (measured on a shared 2-core machine), small next to reading
    # the table; a source edited with its size and mtime restored is then never served from a stale cache.
    shas = {s.key: check_source(s) for s in sources}
    if not force and table_path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise _corrupt(name, meta_path, exc) from exc
        if meta.get("format_version") == format_version and _sources_unchanged(meta, sources, shas):
            actual = sha256_file(table_path)
            if actual == meta.get("table_sha256"):
                table = read_table(table_path, name)
                meta["cache"] = {"path": str(table_path), "hit": True}
                return table, meta
            # the sources are present and verified: rebuilding is safe and loses nothing
            _notice(f"the cached {name} table {str(table_path)!r} is damaged (sha256 {actual[:12]}…, its sidecar "
                    f"records {str(meta.get('table_sha256'))[:12]}…); rebuilding it from the verified sources.")

    t0 = time.perf_counter()
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
    from ..errors import shorten  # noqa: PLC0415

    # pyarrow's messages run to dozens of lines (the whole Thrift footer dump): keep the first line, shortened
    first = next((line.strip() for line in str(why).splitlines() if line.strip()), type(why).__name__)
    if isinstance(why, BaseException):
        first = f"{type(why).__name__}: {first}"
    return CacheError(
        f"the cached {name} table {str(path)!r} is damaged ({shorten(first, 100)}). Rebuild it from the sources with "
        f"`nasharness bench prepare {name.split('-')[0].removeprefix('nb')} --force`, or delete the file; "
        f"nothing else is lost (the sources are untouched)."
    )
