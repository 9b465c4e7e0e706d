"""Small I/O helpers: atomic writes, checksums, and unpicklers that never execute code."""

from __future__ import annotations

import _compat_pickle
import errno
import hashlib
import importlib
import io
import json
import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import CacheError, DataError, StorageError


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_UMASK = os.umask(0)
os.umask(_UMASK)


#: OS errors that mean "this place cannot be written" (full, read-only, not permitted, a file in a folder's place),
#: as opposed to a bug or a failing source read inside a ``write`` callback.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS,
                             errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EIO})


def read_checked_sidecar(path: Path, sidecar: Path, key: str, what: str, fix: str) -> dict:
    """The JSON sidecar of ``path`` after checking ``path``'s sha256 against the sidecar's ``key``: the one check of
    every file that ships or is prepared with a recorded checksum. An unreadable sidecar or a mismatch is a
    :class:`CacheError` naming ``what``, the values and ``fix``."""
    try:
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise CacheError(f"the sidecar {str(sidecar)!r} of {what} is unreadable ({type(exc).__name__}). {fix}") from exc
    if not isinstance(meta, dict):
        raise CacheError(f"the sidecar {str(sidecar)!r} of {what} is not a JSON object. {fix}")
    sha = sha256_file(path)
    if sha != meta.get(key):
        raise CacheError(f"{what} {str(path)!r} has sha256 {sha[:16]}…, but its sidecar records "
                         f"{str(meta.get(key))[:16]}…: it is damaged. {fix}")
    return meta


def make_dirs(path: str | os.PathLike) -> Path:
    """``mkdir -p`` that turns any OSError into a :class:`StorageError` naming the directory and the fix."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(path, exc, "create the directory") from exc
    return path


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Fail early (a :class:`StorageError`) when files cannot be created in the directory ``path`` (made if missing):
    a command that writes several outputs checks them all before it writes the first."""
    path = make_dirs(path)
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StorageError(path, exc, "write into") from exc
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``: readers see the old file or the new one, never half.

    A full or read-only filesystem, a directory that is not writable, or a file where a directory should be raises
    :class:`StorageError` (a UserError and an OSError) naming ``path``; the temporary file is removed and ``path``
    keeps its old content."""
    path = Path(path)
    make_dirs(path.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files (as open() would make)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                Path(tmp).unlink(missing_ok=True)
            except OSError:  # pragma: no cover - the directory vanished or turned read-only meanwhile
                pass
        if isinstance(exc, OSError) and not isinstance(exc, StorageError) and exc.errno in _STORAGE_ERRNOS:
            name = Path(str(exc.filename)).name if exc.filename else ""
            if name.startswith(f".{path.name}.") and name.endswith(".tmp"):  # name the target, not our temporary file
                raise StorageError(path, OSError(exc.errno, exc.strerror)) from exc
            raise StorageError(path, exc) from exc
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serializable: {type(obj).__name__}")


class AllowListUnpickler(pickle.Unpickler):
    """Resolves only the classes that rebuild numpy arrays and pandas frames, ``builtins.slice`` (pandas indexes) and
    ``_codecs.encode`` (how protocol-2 pickles spell bytes). Anything else — every callable that could run code — is
    refused."""

    _NUMPY = {"ndarray", "dtype", "_reconstruct", "scalar", "_frombuffer"}
    _NUMPY_MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric",
                      "numpy._core.numeric"}
    _PANDAS = {
        ("pandas.core.frame", "DataFrame"), ("pandas.core.series", "Series"),
        ("pandas.core.indexes.base", "_new_Index"), ("pandas.core.indexes.base", "Index"),
        ("pandas.core.indexes.range", "RangeIndex"), ("pandas.core.internals.managers", "BlockManager"),
        ("pandas.core.internals.managers", "SingleBlockManager"), ("pandas._libs.internals", "_unpickle_block"),
        ("pandas.core.internals.blocks", "new_block"),
    }
    _OTHER = {("builtins", "slice"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module in self._NUMPY_MODULES and name in self._NUMPY) or (module, name) in self._PANDAS | self._OTHER:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id (tensor storage)")


class NoGlobalsUnpickler(AllowListUnpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_data_pickle(path: str | os.PathLike) -> Any:
    """Load a pickle of numpy/pandas data without executing anything else."""
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # old pickles name numpy.core.* paths
            return AllowListUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise DataError(
            f"cannot read {str(path)!r} as a data pickle ({type(exc).__name__}: {exc}). The file is truncated, "
            f"corrupt or not the expected source; restore it from the copy described in its PROVENANCE.md."
        ) from exc


def load_plain_torch_save(path: str | os.PathLike) -> Any:
    """Read a ``torch.save`` zip that holds only plain Python objects, without torch and without globals."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl")]
            if len(names) != 1:
                raise pickle.UnpicklingError(f"expected one data.pkl in the archive, found {len(names)}")
            return NoGlobalsUnpickler(io.BytesIO(z.read(names[0]))).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, KeyError) as exc:
        raise DataError(
            f"cannot read {str(path)!r} as a torch.save archive of plain data ({type(exc).__name__}: {exc}). "
            f"The file is truncated or corrupt; restore it from the copy described in its PROVENANCE.md."
        ) from exc


# ---- benchmark result pickles (NAS-Bench-201 .pth, NATS-Bench .pickle.pbz2) ---------------------------------------
#: Containers those files are built from, on top of the numpy/pandas data classes above. ``OrderedDict``, ``set`` and
#: ``frozenset`` only build containers from the values the pickle hands them; none of them runs code.
_RESULTS_EXTRA = frozenset({("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset")})


def results_global(module: str, name: str) -> Any:
    """Resolve a global named in a benchmark-results pickle if it is on the allow-list, else raise UnpicklingError.

    The allow-list is :class:`AllowListUnpickler`'s (numpy array/scalar reconstruction, pandas frames, ``slice``,
    ``_codecs.encode``) plus :data:`_RESULTS_EXTRA`. Python 2 spellings that protocol 0-2 pickles use
    (``__builtin__.set``) are mapped to their Python 3 names first; the check is on the mapped name, so the mapping
    cannot admit anything the list does not name.
    """
    m, n = _compat_pickle.NAME_MAPPING.get((module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name))
    a = AllowListUnpickler
    if not ((m in a._NUMPY_MODULES and n in a._NUMPY) or (m, n) in a._PANDAS | a._OTHER | _RESULTS_EXTRA):
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core.* under numpy 2
        return getattr(importlib.import_module(m), n)


class _ResultsUnpickler(AllowListUnpickler):
    """:class:`AllowListUnpickler` that also admits the containers in :data:`_RESULTS_EXTRA` (see
    :func:`results_global`). Persistent ids (torch tensor storages) stay refused."""

    def find_class(self, module: str, name: str):
        return results_global(module, name)


def load_results_pickle(f: Any, source: str | os.PathLike) -> Any:
    """Load one benchmark-results pickle from the open binary stream ``f`` (e.g. ``bz2.open(path)``), executing
    nothing: only the globals :func:`results_global` allows are resolved. Damage and refused globals raise
    :class:`DataError` naming ``source``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return _ResultsUnpickler(f).load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refusing"):
            raise DataError(
                f"{str(source)!r} is not plain benchmark data: {exc}. Loading it would let the file run code, so it "
                f"is refused; only numpy/pandas data and plain containers are accepted. Use the original download "
                f"of the benchmark file."
            ) from exc
        raise _damaged_results(source, exc) from exc
    except (EOFError, ValueError, TypeError, AttributeError, ImportError, KeyError, IndexError, OSError) as exc:
        raise _damaged_results(source, exc) from exc


def _damaged_results(source: str | os.PathLike, exc: BaseException) -> DataError:
    return DataError(
        f"cannot read {str(source)!r} as a benchmark-results pickle ({type(exc).__name__}: {exc}). The file is "
        f"truncated or corrupt; download it again."
    )
