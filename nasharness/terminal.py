"""The one formatting layer of what nasharness prints: consoles, numbers, tables, progress, notices.

* **Consoles.** Results go to stdout, progress and status to stderr. When stdout is not a terminal (a pipe, a file,
  ``nohup``, CI) tables are rendered at full width with a plain box and no trailing blanks, so nothing — an
  architecture string, a path — is ever wrapped or split mid-token.
* **Numbers** are formatted by what they measure, read from the metric's name (:func:`kind_of`): accuracies and other
  percentages (``…@E``, regret, top-1) 2 decimals, correlations and precision 3, counts (``n``, ``n_*``, params,
  MAdds) integers with thousands separators, indices and seeds plain integers, seconds by magnitude.
* **Tables** (:class:`Table`) render to a rich table, Markdown, CSV or JSON (``--format table|md|csv|json``): the
  same cells, rounded in the human formats, rounded without separators in CSV, raw in JSON.
* **Progress** (:class:`ProgressReporter`): a rich bar when stderr is a terminal; otherwise plain lines
  ``[phase] step 120/1000 (12%) elapsed 1m02s ETA 7m30s`` every ``every_pct`` percent or ``interval_s`` seconds,
  whichever comes first.
* **Notices** (:func:`cache_written`): a one-time line on stderr when a run writes a large cache.

Nothing here imports rich (or anything heavy) at module level: the bench commands and ``--help`` stay light.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: ``--format`` choices of the commands that print a table.
FORMATS = ("table", "md", "csv", "json")
#: Console width when the output is not a terminal: wide enough that nothing wraps.
WIDE = 4096
DASH = "–"  # a value that does not exist (NaN, None)


# ---------------------------------------------------------------------------------------------------- consoles
def stdout_is_terminal() -> bool:
    from rich.console import Console  # noqa: PLC0415

    return Console().is_terminal


def stderr_is_terminal() -> bool:
    from rich.console import Console  # noqa: PLC0415

    return Console(stderr=True).is_terminal


def stdout_console():
    """The results console: the terminal's width in a terminal, else :data:`WIDE` (no wrapping in logs)."""
    from rich.console import Console  # noqa: PLC0415

    console = Console()
    return console if console.is_terminal else Console(width=WIDE)


def stderr_console(quiet: bool = False):
    from rich.console import Console  # noqa: PLC0415

    return Console(stderr=True, quiet=quiet)


def emit(renderable, console=None) -> None:
    """Print a rich renderable (or text) on stdout: as is in a terminal; otherwise at full width with the trailing
    blanks of each line removed, so a log holds whole tokens and no padding."""
    from rich.console import Console  # noqa: PLC0415

    out = console or Console()
    if out.is_terminal:
        out.print(renderable, soft_wrap=isinstance(renderable, str), markup=False, highlight=False)
        return
    buf = io.StringIO()
    Console(file=buf, width=WIDE, color_system=None, no_color=True).print(renderable, soft_wrap=True, markup=False,
                                                                          highlight=False)
    text = "\n".join(line.rstrip() for line in buf.getvalue().splitlines())
    out.file.write(text + "\n")
    out.file.flush()


# ---------------------------------------------------------------------------------------------------- numbers
_ID = {"index", "seed", "chosen_index", "eval_seed", "step", "epoch"}
_COUNT_LEAF = {"n", "count", "size", "epochs", "steps", "samples_seen", "arch_steps", "n_evaluated", "space_size",
               "rows", "architectures", "archs", "skip_connects", "layers", "channels", "cells_per_stage"}
_CORR = ("kendall", "spearman", "pearson", "ndcg", "tau", "precision")


def kind_of(name: str) -> str:
    """What a metric name measures: ``id``, ``count``, ``corr``, ``percent``, ``seconds``, ``ms``, ``mb``, ``rate``,
    ``bytes`` or ``number`` (anything else)."""
    n = str(name).lower()
    leaf = n.rsplit("/", 1)[-1].strip()
    if leaf in _ID or leaf.endswith("_index"):
        return "id"
    if (leaf in _COUNT_LEAF or leaf.startswith("n_") or leaf.endswith(("_n", "_count", "_archs", "_rows"))
            or "params" in n or "madds" in n):
        return "count"
    if leaf.endswith(("_bytes", "bytes")):
        return "bytes"
    if any(k in n for k in _CORR):
        return "corr"
    if "per_s" in leaf or leaf.endswith("/s"):
        return "rate"
    if "latency-ms" in n or leaf.endswith(("_ms", "-ms")):
        return "ms"
    if "mem_mb" in n or leaf.endswith(("_mb", "-mb")):
        return "mb"
    if "time-s" in n or "wall_s" in n or leaf.endswith(("_s", "-s", "seconds")) or leaf in ("wall", "time"):
        return "seconds"
    if "@" in n or "acc" in n or "regret" in n or "top1" in n or "top5" in n or "top-1" in n or "top-5" in n \
            or "percent" in n or "coverage" in n:
        return "percent"
    return "number"


def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return isinstance(value, float | int) and not isinstance(value, bool) and not math.isfinite(value)
    except TypeError:
        return False


def _as_number(value):
    """Python int/float for numpy scalars and numbers; the value itself otherwise."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return value
    return value


def decimals(kind: str, value: float) -> int:
    """Decimals to show for a value of ``kind`` (seconds: by magnitude)."""
    if kind == "corr":
        return 3
    if kind in ("percent", "ms", "rate"):
        return 2
    if kind == "seconds":
        a = abs(value)
        return 2 if a < 10 else 1 if a < 1000 else 0
    if kind in ("mb", "count", "id"):
        return 0
    return 3 if abs(value) < 1 else 2 if abs(value) < 1000 else 0


def fmt_num(value, kind: str = "number", *, plain: bool = False, digits: int | None = None) -> str:
    """``value`` formatted for ``kind``; ``plain``: no thousands separators (CSV); ``digits`` overrides the decimals.
    Missing values (None, NaN) are an en dash."""
    value = _as_number(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DASH if value is None else str(value)
    if not math.isfinite(value):
        return DASH
    sep = "" if plain else ","
    if kind == "id":
        return str(int(round(value)))
    if kind == "bytes":
        return str(int(value)) if plain else fmt_bytes(value)
    if kind == "count" and digits is None:
        if float(value).is_integer():
            return f"{int(value):{sep}d}"
        return f"{value:{sep}.1f}"  # a mean of counts over seeds
    if kind == "number" and digits is None and float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):{sep}d}"
    d = decimals(kind, value) if digits is None else digits
    return f"{value:{sep}.{d}f}"


def json_value(value, kind: str = "number"):
    """``value`` for JSON: unrounded; None for a missing value; counts and indices that are whole as integers."""
    value = _as_number(value)
    if _is_missing(value):
        return None
    if kind in ("count", "id") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def fmt_value(name: str, value, *, plain: bool = False) -> str:
    """``value`` formatted by the kind its metric ``name`` measures (see :func:`kind_of`)."""
    return fmt_num(value, kind_of(name), plain=plain)


def fmt_ci(name: str, value, low=None, high=None, n=None) -> str:
    """``value [low, high]`` (the bootstrap CI where it exists) and ``n=…`` where given."""
    out = fmt_value(name, value)
    if not (_is_missing(low) or _is_missing(high)):
        out += f" [{fmt_value(name, low)}, {fmt_value(name, high)}]"
    if n is not None:
        out += f"  n={fmt_num(n, 'count')}"
    return out


def fmt_duration(seconds: float) -> str:
    """``42s``, ``1m02s``, ``2h05m``."""
    if _is_missing(seconds):
        return "?"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def fmt_bytes(n: float) -> str:
    """Decimal units, as download sizes are quoted: ``812 B``, ``9.8 MB``, ``185 MB``, ``1.2 GB``."""
    n = float(n)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            v = n / scale
            return f"{v:.1f} {unit}" if v < 10 else f"{v:,.0f} {unit}"
    return f"{int(n)} B"


_RST = [(re.compile(r"``(.+?)``"), r"\1"), (re.compile(r":[a-z:]+:`~?(?:[\w.]*\.)?([^`]+)`"), r"\1"),
        (re.compile(r"`([^`]+)`"), r"\1"), (re.compile(r"\*\*(.+?)\*\*"), r"\1")]
_ABBREV = ("e.g.", "i.e.", "et al.", "vs.", "cf.", "etc.", "approx.", "Fig.", "no.")


def plain_text(text: str) -> str:
    """RST inline markup removed (````code````, ``:func:`x```, ```x```, ``**x**``), whitespace collapsed."""
    out = " ".join(str(text).split())
    for pattern, repl in _RST:
        out = pattern.sub(repl, out)
    return out


def first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, whole (a period inside parentheses or after an abbreviation does not end
    it), without RST markup."""
    text = plain_text((doc or "").strip().split("\n\n")[0])
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in ".!?" and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            if ch == "." and any(text[: i + 1].endswith(a) for a in _ABBREV):
                continue
            return text[: i + 1]
    return text


# ---------------------------------------------------------------------------------------------------- tables
@dataclass
class Column:
    """A table column. ``kind``: how its numbers are formatted (default: by the column's name, or per cell);
    ``no_wrap``: never wrapped (architecture strings, paths, names)."""

    name: str
    kind: str | None = None
    justify: str = "left"
    no_wrap: bool = False
    max_width: int | None = None  # in a terminal


@dataclass
class Table:
    """Rows of raw values, rendered by :meth:`render` as ``table`` (rich), ``md``, ``csv`` or ``json``.

    A cell's number format comes from the ``kinds`` given with its row (a metric name per cell, e.g. the row's
    metric), else from its column's ``kind``, else from the column's name. Strings are printed as they are."""

    columns: list[Column]
    title: str | None = None
    caption: str | None = None
    rows: list[list] = field(default_factory=list)
    _kinds: list[list[str | None]] = field(default_factory=list)

    def add_row(self, *values, kinds: Sequence[str | None] | None = None) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"row has {len(values)} values for {len(self.columns)} columns")
        self.rows.append(list(values))
        self._kinds.append(list(kinds) if kinds is not None else [None] * len(values))

    def _kind(self, r: int, c: int) -> str:
        given, col = self._kinds[r][c], self.columns[c]
        return kind_of(given) if given is not None else col.kind or kind_of(col.name)

    def _cell(self, r: int, c: int, *, plain: bool = False) -> str:
        return fmt_num(self.rows[r][c], self._kind(r, c), plain=plain)

    def _raw(self, r: int, c: int):
        return json_value(self.rows[r][c], self._kind(r, c))

    def render(self, fmt: str = "table") -> str | object:
        """``table``: a rich renderable (print with :func:`emit`); the other formats: text."""
        if fmt == "table":
            return self.rich()
        if fmt == "md":
            head = [c.name for c in self.columns]
            lines = ["| " + " | ".join(head) + " |",
                     "|" + "|".join("---:" if c.justify == "right" else "---" for c in self.columns) + "|"]
            for r in range(len(self.rows)):
                cells = [self._cell(r, c).replace("|", "\\|") for c in range(len(self.columns))]
                lines.append("| " + " | ".join(cells) + " |")
            return "\n".join(lines) + "\n"
        if fmt == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow([c.name for c in self.columns])
            for r in range(len(self.rows)):
                w.writerow(["" if _is_missing(_as_number(self.rows[r][c])) else self._cell(r, c, plain=True)
                            for c in range(len(self.columns))])
            return buf.getvalue()
        if fmt == "json":
            return json.dumps([{c.name: self._raw(r, k) for k, c in enumerate(self.columns)}
                               for r in range(len(self.rows))], indent=2, default=str) + "\n"
        raise ValueError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")

    def rich(self, *, terminal: bool | None = None):
        from rich import box  # noqa: PLC0415
        from rich.table import Table as RichTable  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415 - cells are text, never markup ("[low, high]" stays)

        terminal = stdout_is_terminal() if terminal is None else terminal
        t = RichTable(title=Text(self.title, style="italic") if self.title else None,
                      caption=Text(self.caption, style="dim") if self.caption else None, header_style="bold",
                      box=box.HEAVY_HEAD if terminal else box.SIMPLE, show_edge=terminal,
                      title_justify="center" if terminal else "left",
                      caption_justify="left")
        for c in self.columns:
            t.add_column(Text(c.name), justify=c.justify, no_wrap=c.no_wrap, overflow="ignore" if c.no_wrap else "fold",
                         max_width=c.max_width if terminal else None)
        for r in range(len(self.rows)):
            t.add_row(*[Text(self._cell(r, c)) for c in range(len(self.columns))])
        return t


def print_table(table: Table, fmt: str = "table") -> None:
    """``table`` on stdout in ``fmt``."""
    out = table.render(fmt)
    if isinstance(out, str):
        sys.stdout.write(out)
        sys.stdout.flush()
    else:
        emit(out)


# ---------------------------------------------------------------------------------------------------- progress
class ProgressReporter:
    """Progress of a long job, through the ``status(message)`` / ``progress(done, total)`` callbacks of
    :func:`nasharness.api.run` and friends.

    * stderr is a terminal (``live`` None → detected): a transient rich bar with the status as its description;
    * otherwise: a line ``[status] started`` per status, and ``[status] step 120/1000 (12%) elapsed 1m02s ETA 7m30s``
      whenever ``every_pct`` percent more are done or ``interval_s`` seconds have passed since the last line,
      whichever comes first, and when a phase completes. ``clock`` (seconds) is injectable for tests;
    * ``quiet``: nothing (notes too).

    Use as a context manager; :meth:`note` prints a line without breaking the bar.
    """

    def __init__(self, *, quiet: bool = False, live: bool | None = None, stream=None,
                 clock: Callable[[], float] | None = None, interval_s: float = 30.0, every_pct: float = 5.0):
        self.quiet = quiet
        self.live = (not quiet and stderr_is_terminal()) if live is None else (live and not quiet)
        self._stream = stream
        self.clock = clock or time.monotonic
        self.interval_s, self.every_pct = interval_s, every_pct
        self._bar = self._task = None
        self.phase = "working"
        self._reset(self.clock())

    # -- plain-line state
    def _reset(self, now: float) -> None:
        self._t_phase = now
        self._first: tuple[float, int] | None = None  # (time, done) of the phase's first update: the ETA's base
        self._last_t = now
        self._last_pct = 0.0
        self._last_done = -1
        self._total: int | None = None
        self._printed_done = -1

    @property
    def stream(self):
        return self._stream or sys.stderr

    def _write(self, line: str) -> None:
        s = self.stream
        s.write(line + "\n")
        s.flush()

    def __enter__(self) -> ProgressReporter:
        if self.live:
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=stderr_console(),
                                 transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("starting", total=None)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
            self._bar = None

    def note(self, message: str) -> None:
        """A line of its own (above the bar in a terminal)."""
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.console.print(message, soft_wrap=True, markup=False, highlight=False)
        else:
            self._write(message)

    def status(self, message: str) -> None:
        if self.quiet:
            return
        self.phase = message
        if self._bar is not None:
            self._bar.update(self._task, description=message, completed=0, total=None)
            return
        self._reset(self.clock())
        self._write(f"[{message}] started")

    def progress(self, done: int, total: int | None) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
            return
        now = self.clock()
        if done < self._last_done or (total != self._total and self._last_done >= 0):
            self._reset(now)  # a new loop under the same status (e.g. evaluation after training)
        self._last_done, self._total = done, total
        if self._first is None:
            self._first = (now, done)
        pct = 100.0 * done / total if total else None
        finished = total is not None and done >= total
        due = now - self._last_t >= self.interval_s or (pct is not None and pct - self._last_pct >= self.every_pct)
        if (due or finished) and done != self._printed_done:
            self._write(self.line(done, total, now))
            self._last_t, self._printed_done = now, done
            if pct is not None:
                self._last_pct = pct

    def line(self, done: int, total: int | None, now: float | None = None) -> str:
        """``[phase] step 120/1000 (12%) elapsed 1m02s ETA 7m30s``."""
        now = self.clock() if now is None else now
        elapsed = now - self._t_phase
        if not total:
            return f"[{self.phase}] step {done:,} elapsed {fmt_duration(elapsed)}"
        out = f"[{self.phase}] step {done:,}/{total:,} ({100.0 * done / total:.0f}%) elapsed {fmt_duration(elapsed)}"
        if done >= total:
            return out + " done"
        t0, d0 = self._first or (now, done)
        if done > d0 and now > t0:
            rate = (done - d0) / (now - t0)
            out += f" ETA {fmt_duration((total - done) / rate)}"
        return out

    # the callbacks, by name, for the library functions
    def callbacks(self) -> dict:
        return {"progress": self.progress, "status": self.status}


# ---------------------------------------------------------------------------------------------------- notices
_NOTICED: set[str] = set()


def cache_written(path: str | Path, what: str) -> None:
    """Say once per process, on stderr, that a run wrote a large cache file: what, where, how big, and how to see and
    remove the caches. Called by the writers of large caches (the decoded CIFAR-10)."""
    path = Path(path)
    if str(path) in _NOTICED:
        return
    _NOTICED.add(str(path))
    try:
        size = fmt_bytes(path.stat().st_size)
    except OSError:
        size = "size unknown"
    sys.stderr.write(f"note: wrote {what} to {path} ({size}), once, so later runs start faster; "
                     f"`nasharness cache info` lists the caches, `nasharness cache clear` removes them.\n")
    sys.stderr.flush()
