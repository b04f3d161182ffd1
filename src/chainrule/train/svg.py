"""Charts as inline SVG text, drawn from the numbers: no matplotlib, no script, no font.

The run report (``chainrule.train.report``) embeds these in its HTML, so a report exists
without the ``[plot]`` extra and opens offline. Every string that reaches the SVG (series
names, labels, titles) is escaped here. The SVG carries no ``xmlns`` (HTML5 parsers put
inline ``<svg>`` in its namespace themselves), so the page holds no URL at all.

Example:
    >>> svg = line_chart([Series("loss", [1, 2, 3], [0.9, 0.5, 0.4])], title="loss")
    >>> svg.startswith("<svg") and "<polyline" in svg
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

# colour-blind-safe palette (Okabe & Ito), then greys
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000", "#999999", "#7F3C8D")
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'


def esc(text: object) -> str:
    """``text`` escaped for HTML/SVG text and attribute values (quotes included)."""
    return html.escape(str(text), quote=True)


@dataclass
class Series:
    """One line of a chart: ``name`` in the legend, points ``(xs[i], ys[i])``; ``None``
    or NaN in ``ys`` breaks the line. ``dashed`` draws it dashed (validation curves)."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    dashed: bool = False
    color: str | None = None


def _finite(v: float | None, log: bool) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v) and \
        (v > 0 or not log)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[lo, hi]`` (1, 2 or 5 × 10^k apart).

    Example:
        >>> nice_ticks(0.0, 1.0)
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + step * 1e-9:
        ticks.append(float(f"{k * step:.12g}"))  # 0.6, not 0.6000000000000001
        k += 1
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in ``[lo, hi]`` (with 2× and 5× between them when there are few)."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks = [10.0 ** k for k in range(a, b + 1) if lo <= 10.0 ** k <= hi]
    if len(ticks) < 3:
        ticks = sorted({m * 10.0 ** k for k in range(a, b + 1) for m in (1, 2, 5)
                        if lo <= m * 10.0 ** k <= hi})
    if len(ticks) < 2:  # less than a decade: round linear values
        ticks = [t for t in nice_ticks(lo, hi, 4) if t > 0 and lo <= t <= hi] or [lo, hi]
    return ticks


def fmt(v: float) -> str:
    """A tick or value label: 3 significant digits, no trailing zeros (``0.25``, ``1e-5``).

    Example:
        >>> fmt(0.25), fmt(1500.0), fmt(1e-5), fmt(2e6)
        ('0.25', '1.5e3', '1e-5', '2e6')
    """
    return f"{v:.3g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def line_chart(series: Sequence[Series], *, title: str = "", xlabel: str = "epoch",
               ylabel: str = "", log_y: bool | None = None, width: int = 520,
               height: int = 300, hline: tuple[float, str] | None = None,
               vlines: Sequence[tuple[float, str]] = (), markers: bool | None = None,
               y_zero: bool = False) -> str:
    """A line chart as an ``<svg>`` element.

    Args:
        series: the lines (the legend lists them in this order).
        title, xlabel, ylabel: text (escaped).
        log_y: logarithmic y axis; ``None`` picks it when every value is > 0 and they
            span more than a factor of 20.
        hline: ``(y, label)``: a dotted reference line (e.g. a healthy ratio).
        vlines: ``(x, label)`` pairs: dotted vertical marks (e.g. the epoch kept).
        markers: dots on the points (default: when a series has at most 30 points); each
            dot has a tooltip with its numbers.
        y_zero: a linear y axis that starts at 0 (times, counts).

    Returns:
        SVG text sized by ``viewBox`` (it scales with the page).
    """
    values = [y for s in series for y in s.ys if _finite(y, False)]
    if log_y is None:
        log_y = bool(values) and min(values) > 0 and max(values) / min(values) > 20
    ys = [y for s in series for y in s.ys if _finite(y, log_y)]
    xs = [x for s in series for x, y in zip(s.xs, s.ys) if _finite(y, log_y)]
    left, right, top, bottom = 50, 14, 34, 44
    legend_rows = math.ceil(len(series) / 3) if len(series) > 1 else 0
    height += 16 * legend_rows
    pw, ph = width - left - right, height - top - bottom - 16 * legend_rows
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{esc(title)}" {FONT} font-size="12">',
           f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14" '
           f'font-weight="600">{esc(title)}</text>']
    if not ys:
        out.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" '
                   'fill="#666">no finite values to draw</text></svg>')
        return "".join(out)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if hline is not None and _finite(hline[0], log_y):
        ys = ys + [hline[0]]
    y0, y1 = min(ys), max(ys)
    if y_zero and not log_y:
        y0 = min(y0, 0.0)
        y1 = y1 if y1 > y0 else y0 + 1.0
    if log_y:
        ly0, ly1 = math.log10(y0), math.log10(y1)
        if ly1 - ly0 < 1e-9:
            ly0, ly1 = ly0 - 0.5, ly1 + 0.5
        pad = 0.04 * (ly1 - ly0)
        ly0, ly1 = ly0 - pad, ly1 + pad
        yticks = log_ticks(10 ** ly0, 10 ** ly1)

        def ty(v: float) -> float:
            return top + ph * (1 - (math.log10(v) - ly0) / (ly1 - ly0))
    else:
        if y1 - y0 < 1e-12 * max(1.0, abs(y1)):
            y0, y1 = y0 - 0.5 * max(abs(y0), 1e-3), y1 + 0.5 * max(abs(y1), 1e-3)
        pad = 0.05 * (y1 - y0)
        y0, y1 = (y0 if y_zero and y0 == 0 else y0 - pad), y1 + pad
        yticks = [t for t in nice_ticks(y0, y1) if y0 <= t <= y1]

        def ty(v: float) -> float:
            return top + ph * (1 - (v - y0) / (y1 - y0))

    # room for the longest tick label, and the axis title left of it
    label_w = 7 * max((len(fmt(t)) for t in yticks), default=3)
    left = max(left, label_w + (30 if ylabel else 12))
    pw = width - left - right

    def tx(v: float) -> float:
        return left + pw * (v - x0) / (x1 - x0)

    # frame, grid and ticks
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" '
               'stroke="#bbb"/>')
    for t in yticks:
        y = ty(t)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                   f'fill="#444">{esc(fmt(t))}</text>')
    xticks = [t for t in nice_ticks(x0, x1, 6) if x0 <= t <= x1]
    if all(float(x).is_integer() for x in xs):
        xticks = [t for t in xticks if float(t).is_integer()] or [x0, x1]
    for t in xticks:
        x = tx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" '
                   'stroke="#f2f2f2"/>')
        out.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle" '
                   f'fill="#444">{esc(fmt(t))}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph + 34}" text-anchor="middle" '
               f'fill="#222">{esc(xlabel)}</text>')
    if ylabel:
        out.append(f'<text transform="translate(14 {top + ph / 2:.1f}) rotate(-90)" '
                   f'text-anchor="middle" fill="#222">{esc(ylabel)}'
                   f'{" (log scale)" if log_y else ""}</text>')
    if hline is not None and _finite(hline[0], log_y):
        y = ty(hline[0])
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#2a2" stroke-dasharray="2 3"/>')
        out.append(f'<text x="{left + pw - 4}" y="{y - 4:.1f}" text-anchor="end" '
                   f'fill="#2a2" font-size="11">{esc(hline[1])}</text>')

    for x, label in vlines:
        if x0 <= x <= x1:
            out.append(f'<line x1="{tx(x):.1f}" x2="{tx(x):.1f}" y1="{top}" y2="{top + ph}" '
                       'stroke="#888" stroke-dasharray="3 3"/>')
            out.append(f'<text x="{tx(x) - 3:.1f}" y="{top + 12}" text-anchor="end" '
                       f'fill="#555" font-size="11">{esc(label)}</text>')

    # the lines
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        segment: list[str] = []
        segments = []
        pts = []
        for x, y in zip(s.xs, s.ys):
            if _finite(y, log_y):
                segment.append(f"{tx(x):.1f},{ty(y):.1f}")
                pts.append((x, y))
            elif segment:
                segments.append(segment)
                segment = []
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            else:
                out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} '
                           f'points="{" ".join(seg)}"/>')
        show = markers if markers is not None else len(pts) <= 30
        if show:
            for x, y in pts:
                out.append(f'<circle cx="{tx(x):.1f}" cy="{ty(y):.1f}" r="2.6" '
                           f'fill="{color}"><title>{esc(s.name)}: {esc(xlabel)} '
                           f'{esc(fmt(x))}, {esc(f"{y:.4g}")}'
                           f'</title></circle>')

    # the legend, three entries a row under the plot
    if legend_rows:
        col = pw / 3
        for i, s in enumerate(series):
            color = s.color or PALETTE[i % len(PALETTE)]
            lx = left + col * (i % 3)
            ly = top + ph + 50 + 16 * (i // 3)
            dash = ' stroke-dasharray="6 4"' if s.dashed else ""
            out.append(f'<line x1="{lx:.1f}" x2="{lx + 22:.1f}" y1="{ly - 4}" y2="{ly - 4}" '
                       f'stroke="{color}" stroke-width="2"{dash}/>')
            name = s.name if len(s.name) <= 28 else s.name[:27] + "…"
            out.append(f'<text x="{lx + 28:.1f}" y="{ly}" fill="#222">{esc(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def heatmap(matrix: Sequence[Sequence[float]], labels: Sequence[str], *,
            title: str = "", xlabel: str = "predicted", ylabel: str = "true",
            cell: int | None = None) -> str:
    """A confusion matrix ``matrix[true][predicted]`` as an ``<svg>``: each cell shaded by
    its share of its row (the fraction of that true class), its count written in it
    (up to 30 classes), the diagonal outlined; tooltips give the counts and shares."""
    n = len(matrix)
    size = cell or max(14, min(56, 440 // max(n, 1)))
    shown = [lab if len(lab) <= 10 else lab[:9] + "…" for lab in map(str, labels)]
    label_w = 14 + 7 * max((len(s) for s in shown), default=1)
    rotate = max((len(s) for s in shown), default=1) * 7 > size  # labels wider than a cell
    left, top = 34 + label_w, 44
    natural = left + n * size + 20
    width = max(natural, 280)  # room for the title; a small matrix is centred
    left += (width - natural) // 2
    height = top + n * size + (label_w if rotate else 22) + 30
    out = [f'<svg class="chart heatmap" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{esc(title)}" {FONT} font-size="{11 if size >= 24 else 9}" '
           f'style="max-width:{width}px">',
           f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14" '
           f'font-weight="600">{esc(title)}</text>']
    for i in range(n):
        total = sum(matrix[i]) or 1
        for j in range(n):
            v = matrix[i][j]
            share = v / total
            # white to the palette's blue, by the share of the row
            r, g, b = (int(255 + (c - 255) * share) for c in (0x00, 0x5A, 0xA8))
            x, y = left + j * size, top + i * size
            out.append(f'<rect x="{x}" y="{y}" width="{size}" height="{size}" '
                       f'fill="rgb({r},{g},{b})" stroke="#e4e4e4"><title>true '
                       f'{esc(labels[i])}, predicted {esc(labels[j])}: {v} '
                       f'({share:.0%} of the row)</title></rect>')
            if n <= 30 and v:
                color = "#fff" if share > 0.5 else ("#b00" if i != j else "#222")
                out.append(f'<text x="{x + size / 2:.1f}" y="{y + size / 2 + 4:.1f}" '
                           f'text-anchor="middle" fill="{color}" pointer-events="none">'
                           f'{v}</text>')
        out.append(f'<rect x="{left + i * size}" y="{top + i * size}" width="{size}" '
                   f'height="{size}" fill="none" stroke="#333" stroke-width="1.2"/>')
    for k, lab in enumerate(shown):
        c = left + k * size + size / 2
        out.append(f'<text x="{left - 6}" y="{top + k * size + size / 2 + 4:.1f}" '
                   f'text-anchor="end" fill="#333">{esc(lab)}</text>')
        if rotate:
            out.append(f'<text transform="translate({c + 4:.1f} {top + n * size + 8}) '
                       f'rotate(-90)" text-anchor="end" fill="#333">{esc(lab)}</text>')
        else:
            out.append(f'<text x="{c:.1f}" y="{top + n * size + 16}" text-anchor="middle" '
                       f'fill="#333">{esc(lab)}</text>')
    out.append(f'<text x="{left + n * size / 2:.1f}" y="{height - 8}" text-anchor="middle" '
               f'fill="#222">{esc(xlabel)}</text>')
    out.append(f'<text transform="translate(14 {top + n * size / 2:.1f}) rotate(-90)" '
               f'text-anchor="middle" fill="#222">{esc(ylabel)}</text>')
    out.append("</svg>")
    return "".join(out)


def bar_chart(names: Sequence[str], values: Sequence[float | None], *, title: str = "",
              log_x: bool = True, width: int = 520, color: str = PALETTE[0],
              ref: tuple[float, str] | None = None) -> str:
    """Horizontal bars, one per name (a value per layer, say), log scale by default."""
    rows = len(names)
    bar = 18
    name_w = min(200, 14 + 7 * max((len(str(s)) for s in names), default=1))
    left, top, right = name_w, 32, 60
    height = top + rows * (bar + 6) + 34
    pw = width - left - right
    vals = [v for v in values if _finite(v, log_x)]
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{esc(title)}" {FONT} font-size="12">',
           f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14" '
           f'font-weight="600">{esc(title)}</text>']
    if not vals:
        out.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" '
                   'fill="#666">no finite values to draw</text></svg>')
        return "".join(out)
    lo, hi = min(vals), max(vals)
    if ref is not None and _finite(ref[0], log_x):
        lo, hi = min(lo, ref[0]), max(hi, ref[0])
    if log_x:
        a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        b = max(b, a + 1)

        def tx(v: float) -> float:
            return left + pw * (math.log10(v) - a) / (b - a)
        ticks = [10.0 ** k for k in range(a, b + 1)]
    else:
        a, b = min(0.0, lo), hi if hi > 0 else 1.0

        def tx(v: float) -> float:
            return left + pw * (v - a) / (b - a)
        ticks = nice_ticks(a, b)
    base = left if log_x else tx(max(a, 0.0))
    for t in ticks:
        x = tx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" '
                   f'y2="{top + rows * (bar + 6)}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + rows * (bar + 6) + 14}" '
                   f'text-anchor="middle" fill="#444">{esc(fmt(t))}</text>')
    for k, (name, v) in enumerate(zip(names, values)):
        y = top + k * (bar + 6)
        label = str(name) if len(str(name)) <= 26 else str(name)[:25] + "…"
        out.append(f'<text x="{left - 6}" y="{y + bar - 5}" text-anchor="end" '
                   f'fill="#333">{esc(label)}</text>')
        if _finite(v, log_x):
            x = tx(v)
            out.append(f'<rect x="{min(base, x):.1f}" y="{y}" width="{abs(x - base):.1f}" '
                       f'height="{bar}" fill="{color}"><title>{esc(name)}: '
                       f'{esc(fmt(v))}</title></rect>')
            out.append(f'<text x="{max(base, x) + 4:.1f}" y="{y + bar - 5}" fill="#333">'
                       f'{esc(fmt(v))}</text>')
        else:
            out.append(f'<text x="{left + 4}" y="{y + bar - 5}" fill="#b00">'
                       f'{esc("not finite" if v is not None else "not measured")}</text>')
    if ref is not None and _finite(ref[0], log_x):
        x = tx(ref[0])
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" '
                   f'y2="{top + rows * (bar + 6)}" stroke="#2a2" stroke-dasharray="2 3"/>')
        out.append(f'<text x="{x + 3:.1f}" y="{top - 8}" fill="#2a2" font-size="11">'
                   f'{esc(ref[1])}</text>')
    out.append("</svg>")
    return "".join(out)


__all__ = ["PALETTE", "Series", "bar_chart", "esc", "fmt", "heatmap", "line_chart",
           "log_ticks", "nice_ticks"]
