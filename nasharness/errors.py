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


def unknown_name(kind: str, value: object, valid: list[str] | tuple[str, ...], hint: str = "") -> UserError:
    """The standard error for a name that is not registered: lists the valid names."""
    msg = f"unknown {kind} {value!r}; valid: {', '.join(sorted(valid))}."
    if hint:
        msg += f" {hint}"
    return UserError(msg)
