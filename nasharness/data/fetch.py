"""Download the official CIFAR-10 python archive on explicit request (``nasharness data fetch cifar10``).

This is the only place nasharness uses the network, and only when called. It talks to the host the URL names and no
other: a redirect to another host is refused (pass the target with ``--url`` if you trust it), and the standard
``http_proxy``/``https_proxy``/``no_proxy`` variables are honoured except for loopback addresses, which are always
reached directly.

Layout under ``dest`` (default ``nasharness.paths.cache_dir() / "cifar10"``, i.e. ``$NASHARNESS_CACHE_DIR/cifar10``,
else ``$XDG_CACHE_HOME/nasharness/cifar10``, else ``~/.cache/nasharness/cifar10``)::

    downloads/cifar-10-python.tar.gz.part   while downloading (kept on a dropped connection, resumed with Range)
    cifar-10-batches-py/                     the installed batches, appearing in one rename, with
    cifar-10-batches-py/nasharness-manifest.json   url, md5 + sha256 of the archive, size + sha256 of every file

Checksums of the official archive (``cifar-10-python.tar.gz``, 170,498,071 bytes):

* MD5 ``c58f30108f718f92721af3b95e74349a``: published by the dataset's authors on
  https://www.cs.toronto.edu/~kriz/cifar.html.
* SHA-256 ``6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce``: not on the authors' page; pinned
  for the same URL by TensorFlow/Keras (``tensorflow/python/keras/datasets/cifar10.py``, ``get_file(...,
  file_hash=...)``). Both are checked, with the size.

Mirrors: ``NASHARNESS_CIFAR10_URL`` replaces the URL (the official MD5, SHA-256 and size still apply: a mirror must
serve the identical file); ``NASHARNESS_CIFAR10_MD5`` replaces the MD5 for a mirror serving a different archive in
the same layout, in which case only that MD5 (and ``size``, when given) is checked. Function arguments override the
variables.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ..errors import DataError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: Published on the authors' page, https://www.cs.toronto.edu/~kriz/cifar.html.
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
#: Pinned by TensorFlow/Keras for the same URL (tensorflow/python/keras/datasets/cifar10.py); not on the authors' page.
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_SIZE = 170_498_071
ARCHIVE_NAME = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
MANIFEST = "nasharness-manifest.json"
#: Members the archive must hold under ``cifar-10-batches-py/`` (it also holds ``readme.html``).
EXPECTED_MEMBERS = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta")

CHUNK = 256 * 1024
#: Seconds before retry k (times k) after a dropped connection, a timeout or a 5xx answer.
RETRY_DELAY_S = 2.0
#: No extracted file set may exceed this (the official one is about 178 MB).
MAX_EXTRACTED_BYTES = 1 << 30
_MEMBER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

Progress = Callable[[int, "int | None"], None]


class _Transient(Exception):
    """A failure that re-trying (or re-running) can cure: the ``.part`` file stays for resuming."""


def _default_dest(dest) -> Path:
    if dest is not None:
        return Path(dest).expanduser()
    from ..paths import cache_dir  # noqa: PLC0415

    return cache_dir() / "cifar10"


def _rerun(part: Path, done: int) -> str:
    kept = f"the {done:,} bytes received so far are kept in {str(part)!r}; " if done else ""
    return f"{kept}re-running the same command (nasharness data fetch cifar10) resumes the download."


# --------------------------------------------------------------------------------------------------- installed data


def _read_manifest(folder: Path) -> dict | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict) or not all(m in files for m in EXPECTED_MEMBERS):
            return None
        for name, entry in files.items():
            if not _MEMBER_NAME.fullmatch(name) or not isinstance(entry.get("size"), int):
                return None
        return manifest
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _matches(folder: Path, manifest: dict, verify: bool) -> bool:
    for name, entry in manifest["files"].items():
        p = folder / name
        try:
            if p.is_symlink() or not p.is_file() or p.stat().st_size != entry["size"]:
                return False
            if verify and _sha256(p) != entry.get("sha256"):
                return False
        except OSError:
            return False
    return True


def installed_cifar10(dest=None, *, verify: bool = False) -> Path | None:
    """The installed ``cifar-10-batches-py`` folder under ``dest``, or None.

    A folder counts when its manifest exists and lists every batch, and each listed file has the recorded size (a
    cheap check); with ``verify=True`` every file's sha256 is checked as well. ``dest`` defaults as for
    :func:`fetch_cifar10`.
    """
    folder = _default_dest(dest) / FOLDER
    manifest = _read_manifest(folder)
    if manifest is None or not _matches(folder, manifest, verify):
        return None
    return folder


def cifar10_info(dest=None, *, verify: bool = True) -> dict:
    """What is under ``dest``: the installed folder (path, bytes, fetched_at, verified) and any partial download."""
    root = _default_dest(dest)
    folder = root / FOLDER
    manifest = _read_manifest(folder)
    part = root / "downloads" / f"{ARCHIVE_NAME}.part"
    info: dict = {"dataset": "cifar10", "dest": str(root), "path": str(folder), "installed": False,
                  "verified": None, "size_bytes": None, "fetched_at": None, "url": None,
                  "partial_download_bytes": part.stat().st_size if part.is_file() else None}
    if folder.exists() and manifest is None:
        info["note"] = "a cifar-10-batches-py folder without a valid nasharness manifest (not installed by fetch)"
    if manifest is not None and _matches(folder, manifest, False):
        info.update(installed=True, size_bytes=sum(e["size"] for e in manifest["files"].values()),
                    fetched_at=manifest.get("fetched_at"), url=manifest.get("url"))
        if verify:
            info["verified"] = _matches(folder, manifest, True)
    return info


# --------------------------------------------------------------------------------------------------------- download


class _SameHostRedirect(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the host the URL names (e.g. http -> https there); refuse any other."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).hostname != urlsplit(req.full_url).hostname:
            raise DataError(
                f"downloading CIFAR-10 from {req.full_url!r}: the server redirected (HTTP {code}) to another host, "
                f"{newurl!r}, which nasharness does not follow. If you trust it, pass that address with --url "
                f"(or NASHARNESS_CIFAR10_URL); the checksums are verified either way."
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(url: str):
    handlers: list = [_SameHostRedirect()]
    if urlsplit(url).hostname in _LOOPBACK:
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``bytes a-b/N`` -> (a, b, N); ``bytes */N`` -> (None, None, N); missing or odd -> Nones."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*", value or "")
    if not m:
        return None, None, None
    a, b, n = m.groups()
    return (int(a) if a else None, int(b) if b else None, int(n) if n and n != "*" else None)


def _download(url: str, part: Path, size: int | None, timeout: float, progress: Progress | None, opener) -> None:
    """Bring ``part`` to the server's full length, resuming it; raise _Transient (resumable) or DataError."""
    for _restart in range(2):  # a second pass only after discarding a .part the server cannot continue
        have = part.stat().st_size if part.is_file() else 0
        if size is not None and have > size:  # larger than the archive can be: not a prefix of it
            part.unlink()
            have = 0
        if size is not None and have == size:
            return  # complete; the caller verifies it
        headers = {"User-Agent": "nasharness (data fetch)", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 416 and have:  # nothing after our offset: complete, or not a prefix of this file
                    total = _content_range(exc.headers.get("Content-Range"))[2]
                    if total == have and size is None:
                        return
                    part.unlink()
                    continue
                what = f"the server answered HTTP {exc.code} {exc.reason}"
                if exc.code >= 500 or exc.code in (408, 429):
                    raise _Transient(what) from None
                raise DataError(
                    f"downloading CIFAR-10 from {url!r} failed: {what}. Check the address (--url or "
                    f"NASHARNESS_CIFAR10_URL; the official one is {CIFAR10_URL}); {_rerun(part, have)}"
                ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise _Transient(f"connecting to {urlsplit(url).netloc} timed out after {timeout:g} s") from None
            raise DataError(
                f"downloading CIFAR-10 from {url!r} failed: could not connect to {urlsplit(url).netloc} ({reason}). "
                f"Check the network and the address (--url or NASHARNESS_CIFAR10_URL); {_rerun(part, have)}"
            ) from None
        except TimeoutError:
            raise _Transient(f"the server did not answer within {timeout:g} s") from None
        except (http.client.HTTPException, OSError) as exc:
            raise _Transient(f"the connection failed before the answer ({type(exc).__name__}: {exc})") from None
        with resp:
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.strip().isdigit() else None
            if resp.status == 206:
                start, _end, total = _content_range(resp.headers.get("Content-Range"))
                if start != have:  # resumed somewhere else: start over
                    part.unlink(missing_ok=True)
                    continue
                if total is None and length is not None:
                    total = have + length
                mode, done = "ab", have
            elif resp.status == 200:  # a full answer (a server ignoring Range): restart from zero
                mode, done, total = "wb", 0, length
            else:
                raise DataError(
                    f"downloading CIFAR-10 from {url!r} failed: unexpected HTTP {resp.status} {resp.reason}. Check "
                    f"the address (--url or NASHARNESS_CIFAR10_URL; the official one is {CIFAR10_URL})."
                )
            if size is not None and total is not None and total != size:
                part.unlink(missing_ok=True)
                raise DataError(
                    f"the server at {url!r} offers a file of {total:,} bytes, but the CIFAR-10 archive is {size:,} "
                    f"bytes, so it is not the expected file. Use the official address {CIFAR10_URL} or a mirror of "
                    f"that exact file (--url / NASHARNESS_CIFAR10_URL)."
                )
            expected = total if total is not None else size
            part.parent.mkdir(parents=True, exist_ok=True)
            with open(part, mode) as f:
                if progress:
                    progress(done, expected)
                while True:
                    try:
                        chunk = resp.read1(CHUNK)  # what has arrived (a stall loses nothing)
                    except TimeoutError:
                        raise _Transient(f"no data arrived for {timeout:g} s after {done:,} bytes") from None
                    except (http.client.HTTPException, OSError) as exc:
                        raise _Transient(f"the connection broke after {done:,} bytes ({type(exc).__name__})") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    done += len(chunk)
                    if expected is not None and done > expected:
                        f.close()
                        part.unlink()
                        raise DataError(
                            f"the server at {url!r} sent more than the {expected:,} bytes it announced; the partial "
                            f"file was deleted. Re-run the command; if it recurs, the server or a proxy is broken."
                        )
                    if progress:
                        progress(done, expected)
            if expected is not None and done < expected:
                raise _Transient(f"the connection closed after {done:,} of {expected:,} bytes")
            return
    raise _Transient("the server could not continue the partial download (twice)")


def _verify_archive(part: Path, url: str, size: int | None, md5: str, sha256: str | None) -> str:
    """Size, MD5 and (when known) sha256 of the complete download; a mismatch deletes it. Returns its sha256."""
    actual = part.stat().st_size
    h_md5, h_sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(part, "rb") as f:
        while block := f.read(1 << 20):
            h_md5.update(block)
            h_sha.update(block)
    problems = []
    if size is not None and actual != size:
        problems.append(f"its size is {actual:,} bytes, expected {size:,}")
    if h_md5.hexdigest() != md5:
        problems.append(f"its MD5 is {h_md5.hexdigest()}, expected {md5}")
    if sha256 is not None and h_sha.hexdigest() != sha256:
        problems.append(f"its SHA-256 is {h_sha.hexdigest()}, expected {sha256}")
    if problems:
        part.unlink()
        raise DataError(
            f"the file downloaded from {url!r} is not the expected CIFAR-10 archive: {'; '.join(problems)}. The "
            f"partial file was deleted. Re-run `nasharness data fetch cifar10` to download it again; if you use a "
            f"mirror (--url / NASHARNESS_CIFAR10_URL), check that it serves the official {ARCHIVE_NAME} (or set "
            f"NASHARNESS_CIFAR10_MD5 to the MD5 of the archive it serves)."
        )
    return h_sha.hexdigest()


# ---------------------------------------------------------------------------------------------------------- extract


def _extract(archive: Path, into: Path) -> dict:
    """Copy the regular files under ``cifar-10-batches-py/`` into ``into``; refuse anything else. Returns the files'
    sizes and sha256."""

    def bad(what: str) -> DataError:
        return DataError(
            f"the archive {str(archive)!r} is not a CIFAR-10 python archive: {what}. Nothing was installed. Use the "
            f"official {CIFAR10_URL} (without NASHARNESS_CIFAR10_MD5) or a mirror of that exact file."
        )

    files: dict[str, dict] = {}
    total = 0
    try:
        with tarfile.open(archive, "r:gz") as tf:
            for m in tf:
                name = m.name
                parts = PurePosixPath(name).parts
                if name.startswith("/") or PurePosixPath(name).is_absolute() or ".." in parts or not parts:
                    raise bad(f"member {name!r} has an absolute or parent-relative path")
                if parts[0] != FOLDER:
                    raise bad(f"member {name!r} is outside {FOLDER}/")
                if m.isdir() and len(parts) == 1:
                    continue
                if not m.isreg():
                    raise bad(f"member {name!r} is not a regular file (a link, device or sub-folder)")
                if len(parts) != 2 or not _MEMBER_NAME.fullmatch(parts[1]) or parts[1] == MANIFEST:
                    raise bad(f"member {name!r} is not a plain file directly in {FOLDER}/")
                if parts[1] in files:
                    raise bad(f"member {name!r} occurs twice")
                total += m.size
                if total > MAX_EXTRACTED_BYTES:
                    raise bad(f"it unpacks to more than {MAX_EXTRACTED_BYTES:,} bytes")
                src = tf.extractfile(m)
                h = hashlib.sha256()
                n = 0
                with src, open(into / parts[1], "xb") as out:
                    while block := src.read(1 << 20):
                        out.write(block)
                        h.update(block)
                        n += len(block)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(into / parts[1], 0o644)
                files[parts[1]] = {"size": n, "sha256": h.hexdigest()}
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a local disk problem (full, permissions): the archive itself may be fine
        raise bad(f"it cannot be read ({type(exc).__name__}: {exc})") from exc
    missing = [m for m in EXPECTED_MEMBERS if m not in files]
    if missing:
        raise bad(f"it lacks {', '.join(f'{FOLDER}/{m}' for m in missing)}")
    return files


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Lock:
    """An exclusive, non-blocking lock on ``<dest>/downloads/.lock`` (POSIX); two fetches never share a ``.part``."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = None

    def __enter__(self):
        try:
            import fcntl  # noqa: PLC0415
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise DataError(
                f"another `nasharness data fetch cifar10` is already downloading into {str(self.path.parent.parent)!r}"
                f". Wait for it to finish (or stop it); running the command again afterwards resumes or is a no-op."
            ) from None
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock


# ------------------------------------------------------------------------------------------------------------ fetch


def fetch_cifar10(dest=None, *, url: str | None = None, md5: str | None = None, size: int | None = None,
                  progress: Progress | None = None, timeout: float = 30, retries: int = 3) -> Path:
    """Download, verify and install the CIFAR-10 python archive; return the ``cifar-10-batches-py`` folder.

    ``dest``: where to install (default ``nasharness.paths.cache_dir() / "cifar10"``, honouring
    ``NASHARNESS_CACHE_DIR``). ``url``: argument > ``NASHARNESS_CIFAR10_URL`` > the official :data:`CIFAR10_URL`.
    ``md5``: argument > ``NASHARNESS_CIFAR10_MD5`` > the published :data:`CIFAR10_MD5`. With the official MD5 the
    official size and SHA-256 are checked too; with another MD5 only it and ``size`` (when given) are. ``progress``
    is called as ``progress(bytes_done, total_or_None)``. ``timeout``: seconds for the connection and for each read.
    ``retries``: how many times a dropped connection, a timeout or a 5xx answer is resumed automatically (after
    ``RETRY_DELAY_S`` x attempt seconds) before giving up with a :class:`DataError`.

    The download goes to ``<dest>/downloads/cifar-10-python.tar.gz.part`` and resumes an existing one with an HTTP
    Range request; it is used only once complete and verified (a mismatch deletes it). Extraction accepts only
    regular files directly under ``cifar-10-batches-py/`` and happens in a temporary folder beside the destination,
    which is renamed into place with its manifest, so the installed path never shows a partial state. When the data
    is already installed and verifies against its manifest (and was fetched with the same MD5) this is a no-op.
    """
    url = url or os.environ.get("NASHARNESS_CIFAR10_URL") or CIFAR10_URL
    md5 = (md5 or os.environ.get("NASHARNESS_CIFAR10_MD5") or CIFAR10_MD5).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise DataError(f"the MD5 {md5!r} (argument or NASHARNESS_CIFAR10_MD5) is not 32 hexadecimal digits; set the "
                        f"archive's MD5, or unset NASHARNESS_CIFAR10_MD5 to use the published {CIFAR10_MD5}.")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise DataError(f"the download address {url!r} is not an http(s) URL; pass one with --url (or "
                        f"NASHARNESS_CIFAR10_URL), e.g. the official {CIFAR10_URL}.")
    official = md5 == CIFAR10_MD5
    if size is None and official:
        size = CIFAR10_SIZE
    sha256 = CIFAR10_SHA256 if official else None
    root = _default_dest(dest)
    final = root / FOLDER

    def done_already() -> Path | None:
        manifest = _read_manifest(final)
        if manifest is not None and manifest.get("md5") == md5 and _matches(final, manifest, True):
            return final
        return None

    if done_already():
        return final
    downloads = root / "downloads"
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the download folder {str(downloads)!r} ({exc.strerror or exc}); choose a "
                        f"writable --dest, or set NASHARNESS_CACHE_DIR to a writable folder.") from exc
    with _Lock(downloads / ".lock"):
        if done_already():  # another process finished while we waited for nothing (the lock is non-blocking)
            return final
        if final.exists() and _read_manifest(final) is None:
            raise DataError(
                f"{str(final)!r} exists but was not installed by `nasharness data fetch` (no valid {MANIFEST}); "
                f"nasharness does not overwrite it. Use it directly with --dataset-root, remove it, or fetch into "
                f"another folder with --dest."
            )
        for stale in root.glob(f".{FOLDER}.*"):  # leftovers of an interrupted earlier run (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        part = downloads / f"{ARCHIVE_NAME}.part"
        opener = _opener(url)
        for attempt in range(retries + 1):
            try:
                _download(url, part, size, timeout, progress, opener)
                break
            except _Transient as exc:
                if attempt < retries:
                    time.sleep(RETRY_DELAY_S * (attempt + 1))
                    continue
                done = part.stat().st_size if part.is_file() else 0
                tries = f" (after {retries + 1} attempts)" if retries else ""
                raise DataError(f"downloading CIFAR-10 from {url!r} was interrupted{tries}: {exc}; "
                                f"{_rerun(part, done)}") from None
        archive_sha = _verify_archive(part, url, size, md5, sha256)
        tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", suffix=".tmp", dir=root))
        old = None
        try:
            try:
                files = _extract(part, tmp)
            except DataError:
                part.unlink(missing_ok=True)  # verified yet unusable: downloading it again gives the same bytes
                raise
            except OSError as exc:
                raise DataError(
                    f"unpacking CIFAR-10 into {str(root)!r} failed: {exc.strerror or exc} ({exc.filename or root}). "
                    f"Free disk space or fix the folder's permissions (or choose another --dest); the verified "
                    f"download is kept in {str(part)!r}, so re-running the same command only unpacks it."
                ) from exc
            manifest = {"dataset": "cifar10", "url": url, "md5": md5, "sha256": archive_sha,
                        "sha256_published": sha256 is not None, "archive_bytes": part.stat().st_size,
                        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"), "files": files}
            with open(tmp / MANIFEST, "x", encoding="utf-8") as f:
                f.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o755)
            _fsync_dir(tmp)
            if final.exists():  # an earlier install that no longer verifies: move aside, then swap in
                old = root / f".{FOLDER}.old-{uuid.uuid4().hex[:8]}"
                os.rename(final, old)
            os.rename(tmp, final)
            _fsync_dir(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        part.unlink(missing_ok=True)
    return final
