"""Error types. Every user-facing error says what was wrong, the offending value, and how to fix it.

The CLI turns :class:`UserError` (and its subclasses) into a one-paragraph message and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake in user input: a name, a value, a file. Exit code 2 from the CLI."""

    exit_code = 2


class DataError(UserError):
    """A data file is missing, corrupt, or not the expected version."""


class CacheError(DataError):
    """A cached table is unreadable or does not match its recorded checksum."""


class ConfigError(UserError):
    """A configuration value is out of range or of the wrong kind."""


class StorageError(UserError, OSError):
    """A file could not be written: the filesystem is full or read-only, the directory is not writable, or a file
    stands where a directory should be. Names the path, the OS error and the fix; exit code 2 like every UserError.
    Also an :class:`OSError` (same ``errno``/``strerror``/``filename``), so code that tolerates an unwritable cache
    keeps doing so."""

    def __init__(self, path, exc: OSError, what: str = "write"):
        import errno  # noqa: PLC0415

        self.path = str(path)
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            fix = "free some space (or quota) on that filesystem, or choose another directory"
        elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            fix = "make the directory writable, or choose another directory"
        elif exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
            fix = "a file and a directory are in each other's place there; remove the one in the way, or choose " \
                  "another path"
        else:
            fix = "check the path and the disk, or choose another directory"
        other = f" on {exc.filename!r}" if exc.filename and str(exc.filename) != self.path else ""
        self.message = (f"cannot {what} {self.path!r}: {reason}{other} (errno {exc.errno}). Nothing was left "
                        f"half-written there; {fix}, then run the command again.")
        OSError.__init__(self, exc.errno, reason, self.path)

    def __str__(self) -> str:
        return self.message


def shorten(value: object, limit: int = 80) -> str:
    """``value`` (a string as it is, anything else as its ``repr``) fit for one line of an error message: whitespace
    runs (newlines included) become one space and anything past ``limit`` characters is cut with an ellipsis and the
    full length, so a 10 KB input or a multi-line YAML value never floods the message."""
    text = value if isinstance(value, str) else repr(value)
    flat = " ".join(text.split()) if any(c in text for c in "\n\r\t") else text
    if len(flat) <= limit:
        return flat
    return f"{flat[:max(limit - 1, 1)]}… ({len(text):,} characters)"


def brief(value: object, limit: int = 80) -> str:
    """Like :func:`shorten`, quoted as ``repr`` quotes a string (``'abc'``); other values as their shortened repr."""
    if isinstance(value, str):
        short = shorten(value, limit)
        return repr(short) if short == value else f"'{short}'"
    return shorten(value, limit)


#: Sentences of torch's ``weights_only`` load errors that give advice we never want repeated to a user (to retry
#: with ``weights_only=False``, i.e. to let the file run code; to allow-list globals; to file a torch issue).
_TORCH_ADVICE = ("weights_only", "weights only load failed", "trusted source", "file an issue", "allowlist",
                 "check the documentation", "add_safe_globals", "safe_globals")


def torch_load_reason(exc: BaseException, limit: int = 160) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, without torch's advice to load it with
    ``weights_only=False`` (which would execute whatever code the file holds): the remaining sentences, shortened."""
    import re  # noqa: PLC0415

    text = str(exc).replace("WeightsUnpickler error:", ". ")
    parts = [p.strip() for p in re.split(r"(?<=[.:])\s+|\n+", text) if p.strip()]
    keep = [p for p in parts if not any(a in p.lower() for a in _TORCH_ADVICE) and p.strip(".: ")]
    reason = " ".join(keep) or "it holds objects other than tensors and plain containers"
    return shorten(f"{type(exc).__name__}: {reason}", limit)


def unknown_name(kind: str, value: object, valid: list[str] | tuple[str, ...], hint: str = "") -> UserError:
    """The standard error for a name that is not registered: lists the valid names."""
    msg = f"unknown {kind} {brief(value)}; valid: {', '.join(sorted(valid))}."
    if hint:
        msg += f" {hint}"
    return UserError(msg)
