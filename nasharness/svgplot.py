"""A small, dependency-free SVG line chart for the docs' generated figures (``benchmarks/make_docs.py``).

The output is deterministic text (fixed number formatting, no timestamps, no fonts embedded), so a committed figure
can be checked for staleness like a generated table, on any machine: regenerate it from the CSV and compare. That is
why the docs' figures are not drawn with matplotlib (``report.plots`` draws the run artifacts), whose SVG output
changes with its version and fonts, and which would bring numpy into ``doctables``. Only what the docs need: lines
with markers, vertical error bars, horizontal reference lines, axis ticks, a legend and notes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["HLine", "Series", "line_chart", "nice_ticks"]


@dataclass(frozen=True)
class Series:
    """One line: ``points`` (x, y) in data units, drawn in ``color`` (``dash``: an SVG dash array, "" = solid);
    ``bars``: (x, low, high) vertical error bars; ``markers``: (x, y) drawn as filled circles (not joined)."""

    label: str
    color: str
    points: Sequence[tuple[float, float]] = ()
    dash: str = ""
    bars: Sequence[tuple[float, float, float]] = ()
    markers: Sequence[tuple[float, float]] = ()
    #: Bars and markers are drawn this many pixels to the right (series ending at the same x stay apart).
    shift_px: float = 0.0


@dataclass(frozen=True)
class HLine:
    label: str
    y: float
    color: str = "#555555"
    dash: str = "6 4"


@dataclass(frozen=True)
class _Frame:
    x0: float
    x1: float
    y0: float
    y1: float
    left: float
    top: float
    width: float
    height: float

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, y: float) -> float:
        return self.top + (self.y1 - y) / (self.y1 - self.y0) * self.height


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about ``target`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        raise ValueError(f"tick range must be finite and increasing, got [{lo}, {hi}]")
    raw = (hi - lo) / max(1, target - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _tick_label(v: float) -> str:
    if abs(v) >= 1000 and float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:g}"


def line_chart(series: Sequence[Series], *, title: str, x_label: str, y_label: str, hlines: Sequence[HLine] = (),
               notes: Sequence[str] = (), width: int = 760, height: int = 420, legend_width: int = 230) -> str:
    """The chart as an SVG document (text). Axes span every point, bar, marker and reference line; ``notes``:
    lines of text under the legend."""
    xs = [p[0] for s in series for p in (*s.points, *s.markers)] + [b[0] for s in series for b in s.bars]
    ys = ([p[1] for s in series for p in (*s.points, *s.markers)] + [v for s in series for b in s.bars
                                                                     for v in b[1:]] + [h.y for h in hlines])
    xs, ys = [x for x in xs if math.isfinite(x)], [y for y in ys if math.isfinite(y)]
    if not xs or not ys:
        raise ValueError("a chart needs at least one finite point")
    x_ticks = nice_ticks(min(0.0, min(xs)), max(xs) if max(xs) > min(0.0, min(xs)) else min(xs) + 1)
    lo, hi = min(ys), max(ys)
    y_ticks = nice_ticks(lo, hi if hi > lo else lo + 0.1)
    f = _Frame(x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1], left=64, top=36,
               width=width - legend_width - 64 - 16, height=height - 36 - 52)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{_fmt(f.left)}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>']
    for t in y_ticks:
        y = f.py(t)
        out.append(f'<line x1="{_fmt(f.left)}" y1="{_fmt(y)}" x2="{_fmt(f.left + f.width)}" y2="{_fmt(y)}" '
                   f'stroke="#e4e4e4"/>')
        out.append(f'<text x="{_fmt(f.left - 6)}" y="{_fmt(y + 4)}" text-anchor="end">{_tick_label(t)}</text>')
    for t in x_ticks:
        x = f.px(t)
        out.append(f'<line x1="{_fmt(x)}" y1="{_fmt(f.top)}" x2="{_fmt(x)}" y2="{_fmt(f.top + f.height)}" '
                   f'stroke="#f0f0f0"/>')
        out.append(f'<text x="{_fmt(x)}" y="{_fmt(f.top + f.height + 16)}" text-anchor="middle">'
                   f'{_tick_label(t)}</text>')
    out.append(f'<rect x="{_fmt(f.left)}" y="{_fmt(f.top)}" width="{_fmt(f.width)}" height="{_fmt(f.height)}" '
               f'fill="none" stroke="#333333"/>')
    out.append(f'<text x="{_fmt(f.left + f.width / 2)}" y="{height - 14}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<text transform="translate(16 {_fmt(f.top + f.height / 2)}) rotate(-90)" text-anchor="middle">'
               f'{escape(y_label)}</text>')
    legend: list[tuple[str, str, str, bool]] = []
    for h in hlines:
        y = f.py(h.y)
        out.append(f'<line x1="{_fmt(f.left)}" y1="{_fmt(y)}" x2="{_fmt(f.left + f.width)}" y2="{_fmt(y)}" '
                   f'stroke="{h.color}" stroke-width="1.5" stroke-dasharray="{h.dash}"/>')
        legend.append((h.label, h.color, h.dash, False))
    for s in series:
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        pts = [(x, y) for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
        if len(pts) > 1:
            coords = " ".join(f"{_fmt(f.px(x))},{_fmt(f.py(y))}" for x, y in pts)
            out.append(f'<polyline points="{coords}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{_fmt(f.px(x))}" cy="{_fmt(f.py(y))}" r="2.5" fill="{s.color}"/>')
        for x, low, high in s.bars:
            px = _fmt(f.px(x) + s.shift_px)
            out.append(f'<line x1="{px}" y1="{_fmt(f.py(low))}" x2="{px}" y2="{_fmt(f.py(high))}" '
                       f'stroke="{s.color}" stroke-width="1.5"/>')
        for x, y in s.markers:
            out.append(f'<circle cx="{_fmt(f.px(x) + s.shift_px)}" cy="{_fmt(f.py(y))}" r="5" fill="{s.color}" '
                       f'stroke="white" stroke-width="1"/>')
        legend.append((s.label, s.color, s.dash, bool(s.markers)))
    lx, ly = width - legend_width + 4, f.top + 4
    for k, (label, color, dash, marker) in enumerate(legend):
        y = ly + 18 * k
        d = f' stroke-dasharray="{dash}"' if dash else ""
        # the sample line, long enough to show its dash pattern, and the marker at its end (as in the chart)
        out.append(f'<line x1="{lx}" y1="{_fmt(y)}" x2="{lx + 28}" y2="{_fmt(y)}" stroke="{color}" '
                   f'stroke-width="2"{d}/>')
        if marker:
            out.append(f'<circle cx="{lx + 28}" cy="{_fmt(y)}" r="4" fill="{color}"/>')
        out.append(f'<text x="{lx + 38}" y="{_fmt(y + 4)}">{escape(label)}</text>')
    for k, line in enumerate(notes):
        out.append(f'<text x="{lx}" y="{_fmt(ly + 18 * len(legend) + 10 + 15 * k)}" font-size="11" '
                   f'fill="#444444">{escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
