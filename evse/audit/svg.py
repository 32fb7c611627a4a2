"""A very small SVG plotter for the review pack (no plotting library: two kinds of figure,
deterministic text, fixed number formatting so the same data gives the same bytes)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _f(x: float) -> str:
    return f"{x:.1f}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo if hi > lo else 1.0
    raw = span / n
    mag = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 0.1
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = (lo // step) * step
    out = []
    v = first
    while v <= hi + 1e-9:
        if v >= lo - 1e-9:
            out.append(round(v, 6))
        v += step
    return out


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: tuple[tuple[float, float], ...]
    step: bool = False  # a setpoint: held until the next point
    markers: bool = False  # samples: dots, no line


@dataclass(frozen=True, slots=True)
class Band:
    start: float
    end: float
    label: str


def line_panels(title: str, x_label: str, panels: list[tuple[str, list[Series]]],
                bands: list[Band], width: int = 900, panel_h: int = 220) -> str:
    """Stacked panels sharing the x axis; `bands` shade phases across all of them."""
    left, right, top, gap = 70, 170, 40, 50
    xs = [x for _, ss in panels for s in ss for x, _ in s.points] + [b.end for b in bands]
    x0, x1 = 0.0, max(xs) if xs else 1.0
    pw = width - left - right
    height = top + len(panels) * (panel_h + gap) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
           'font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>']

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0 or 1.0) * pw

    for k, (ylabel, series) in enumerate(panels):
        py = top + k * (panel_h + gap)
        ys = [y for s in series for _, y in s.points] or [0.0, 1.0]
        y0, y1 = min(0.0, min(ys)), max(ys) * 1.08 or 1.0

        def sy(y: float, py: int = py, y0: float = y0, y1: float = y1) -> float:
            return py + panel_h - (y - y0) / (y1 - y0 or 1.0) * panel_h

        for i, b in enumerate(bands):
            fill = "#f2f2f2" if i % 2 == 0 else "#e4ecf5"
            out.append(f'<rect x="{_f(sx(b.start))}" y="{py}" '
                       f'width="{_f(max(sx(b.end) - sx(b.start), 0.5))}" height="{panel_h}" '
                       f'fill="{fill}"/>')
            if k == 0 and sx(b.end) - sx(b.start) > 28:
                out.append(f'<text x="{_f((sx(b.start) + sx(b.end)) / 2)}" y="{py - 4}" '
                           f'text-anchor="middle" font-size="9">{escape(b.label)}</text>')
        out.append(f'<rect x="{left}" y="{py}" width="{pw}" height="{panel_h}" fill="none" '
                   'stroke="#444"/>')
        for t in _ticks(y0, y1):
            out.append(f'<line x1="{left - 4}" x2="{left}" y1="{_f(sy(t))}" y2="{_f(sy(t))}" '
                       'stroke="#444"/>')
            out.append(f'<text x="{left - 6}" y="{_f(sy(t) + 4)}" text-anchor="end">{t:g}</text>')
        out.append(f'<text x="16" y="{py + panel_h / 2:.1f}" transform="rotate(-90 16 '
                   f'{py + panel_h / 2:.1f})" text-anchor="middle">{escape(ylabel)}</text>')
        for t in _ticks(x0, x1, 10):
            out.append(f'<text x="{_f(sx(t))}" y="{py + panel_h + 14}" '
                       f'text-anchor="middle">{t:g}</text>')
        for j, s in enumerate(series):
            colour = COLOURS[j % len(COLOURS)]
            if s.markers:
                for x, y in s.points:
                    out.append(f'<circle cx="{_f(sx(x))}" cy="{_f(sy(y))}" r="3" '
                               f'fill="{colour}"/>')
            elif s.points:
                pts: list[str] = []
                prev: tuple[float, float] | None = None
                for x, y in s.points:
                    if s.step and prev is not None:
                        pts.append(f"{_f(sx(x))},{_f(sy(prev[1]))}")
                    pts.append(f"{_f(sx(x))},{_f(sy(y))}")
                    prev = (x, y)
                if s.step and prev is not None:
                    pts.append(f"{_f(sx(x1))},{_f(sy(prev[1]))}")
                out.append(f'<polyline points="{" ".join(pts)}" fill="none" '
                           f'stroke="{colour}" stroke-width="1.5"/>')
            ly = py + 14 + 16 * j
            out.append(f'<rect x="{left + pw + 10}" y="{ly - 8}" width="12" height="8" '
                       f'fill="{colour}"/>')
            out.append(f'<text x="{left + pw + 26}" y="{ly}">{escape(s.name)}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 4}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bars_against_bounds(title: str, rows: list[tuple[str, float, float]],
                        unit: str = "ms", width: int = 900) -> str:
    """Horizontal bars, one per row, each scaled to its own bound (the black line): bounds
    differ by orders of magnitude (100 ms e-stop, 16 s limits watchdog)."""
    left, right, top, bar_h = 280, 200, 40, 22
    height = top + len(rows) * (bar_h + 8) + 40
    pw = width - left - right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
           'font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="22" font-size="14" font-weight="bold">{escape(title)}</text>']
    for i, (name, measured, bound) in enumerate(rows):
        y = top + i * (bar_h + 8)
        scale = max(measured, bound) * 1.15 or 1.0
        colour = "#2ca02c" if measured <= bound else "#d62728"
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(name)}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{pw}" height="{bar_h}" fill="#f2f2f2"/>')
        out.append(f'<rect x="{left}" y="{y}" width="{_f(measured / scale * pw)}" '
                   f'height="{bar_h}" fill="{colour}"/>')
        bx = left + bound / scale * pw
        out.append(f'<line x1="{_f(bx)}" x2="{_f(bx)}" y1="{y - 3}" y2="{y + bar_h + 3}" '
                   'stroke="black" stroke-width="2"/>')
        share = 100.0 * measured / bound if bound else 0.0
        out.append(f'<text x="{left + pw + 8}" y="{y + 15}">{measured:g} of {bound:g} {unit} '
                   f'({share:.0f} %)</text>')
    out.append(f'<text x="{left}" y="{height - 12}">bar: measured in virtual time; black line: '
               'its bound (each row on its own scale; green: within)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
