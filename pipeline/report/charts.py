"""Charts drawn as inline SVG (no JavaScript, no fonts from the network), so the report stays one file.

Marks carry a `<title>` with the exact value; they are what a reader hovers and what the browser test counts.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from pipeline.report.markup import empty_note, esc, num, pct
from pipeline.report.thresholds import Threshold

BINS = 40
GRID_W = 520  # width of a chart in a two-column grid cell
PALETTE = ("#3b6fb6", "#e08a2e", "#4c9f70", "#b5485d", "#7b61a8", "#8c8c8c", "#2aa1a8", "#c9a227")


def _svg(chart_id: str, width: int, height: int, body: str, title: str) -> str:
    return (
        f'<svg class="chart" id="{esc(chart_id)}" data-chart="{esc(chart_id)}" role="img" '
        f'aria-label="{esc(title)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _text(x: float, y: float, s: str, anchor: str = "start", cls: str = "lbl") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{esc(s)}</text>'


def _series_style(i: int, overlay: bool) -> tuple[str, float]:
    """Overlaid series share one hue (the first, e.g. `in`, light; later ones dark); others take the palette."""
    if overlay:
        return PALETTE[0], 0.3 if i == 0 else 1.0
    return PALETTE[i % len(PALETTE)], 1.0


def hbar_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, list[float | None]]],
    overlay: bool = False,
    fmt=num,
    width: int = 720,
) -> str:
    """Horizontal bars, one row per label; several series side by side, or overlaid (in vs out)."""
    if not labels or not series:
        return empty_note(f"{title}: nothing to draw")
    label_w = int(min(190, 16 + 6.5 * max(len(lab) for lab in labels)))
    value_text = [
        " / ".join("–" if r >= len(vals) or vals[r] is None else fmt(vals[r]) for _, vals in series)
        for r in range(len(labels))
    ]
    value_w = int(min(200, 16 + 6 * max(len(t) for t in value_text)))
    pad = 8
    bar_area = width - label_w - value_w - pad
    per_row = 1 if overlay else len(series)
    bar_h = 14 if per_row == 1 else 10
    row_h = bar_h * per_row + 8
    legend_h = 22 if len(series) > 1 else 0
    height = legend_h + row_h * len(labels) + 6
    vmax = max([v for _, vals in series for v in vals if v is not None and math.isfinite(v)] + [0]) or 1
    parts = []
    x = label_w
    if len(series) > 1:
        for i, (name, _) in enumerate(series):
            color, op = _series_style(i, overlay)
            parts.append(f'<rect x="{x}" y="5" width="12" height="12" fill="{color}" fill-opacity="{op}"/>')
            parts.append(_text(x + 16, 15, name))
            x += 24 + 8 * len(name)
    for r, label in enumerate(labels):
        y0 = legend_h + r * row_h + 4
        short = label if len(label) <= 28 else label[:27] + "…"
        parts.append(_text(label_w - 6, y0 + row_h / 2, short, "end"))
        for i, (name, vals) in enumerate(series):
            v = vals[r] if r < len(vals) else None
            if v is None:  # no value (e.g. no target for this phase): no bar
                continue
            w = max(0.0, bar_area * v / vmax)
            y = y0 + (0 if overlay else i * bar_h)
            color, op = _series_style(i, overlay and len(series) > 1)
            parts.append(
                f'<rect class="mark" x="{label_w}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{bar_h - 2}" '
                f'fill="{color}" fill-opacity="{op}"><title>{esc(label)} · {esc(name)}: {esc(fmt(v))}</title></rect>'
            )
        parts.append(_text(width - value_w + 4, y0 + row_h / 2, value_text[r], "start", "val"))
    return _svg(chart_id, width, int(height), "".join(parts), title)


def histogram_chart(
    chart_id: str,
    title: str,
    values: np.ndarray,
    thresholds: list[Threshold],
    integer: bool = False,
    bins: int = BINS,
    width: int = 520,
    height: int = 170,
) -> tuple[str, str]:
    """A histogram of finite values with thresholds as dashed lines; returns (svg, caption note)."""
    v = values[np.isfinite(values)]
    if len(v) == 0:
        return empty_note(f"{title}: no values"), ""
    lo, hi = float(v.min()), float(v.max())
    note = ""
    p99 = float(np.quantile(v, 0.99))
    if lo >= 0 and hi > 10 * max(p99, 1e-12) and p99 > lo:
        cut = max([p99 * 1.5] + [t.value for t in thresholds if t.value <= hi])
        if cut < hi:
            note = f"long tail: values above {num(cut)} (max {num(hi)}) are in the last bin"
            hi = cut
    tvals = [t.value for t in thresholds]
    lo, hi = min([lo, *tvals]), max([hi, *tvals])
    integer = integer and hi - lo <= bins
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.arange(math.floor(lo), math.ceil(hi) + 2) - 0.5 if integer else np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
    left, right, bottom = 48, 24, 34
    top = 10 + 12 * len(thresholds)
    height += top - 10
    pw, ph = width - left - right, height - top - bottom
    cmax = int(counts.max()) or 1

    def sx(x: float) -> float:
        return left + pw * (x - edges[0]) / (edges[-1] - edges[0])

    parts = [
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" class="axis"/>',
        _text(left - 4, top + 4, num(cmax), "end"),
        _text(left - 4, top + ph, "0", "end"),
    ]
    for t in thresholds:  # shade the dropped side under the bars
        x = sx(t.value)
        if t.side == "min":
            parts.append(f'<rect x="{left}" y="{top}" width="{max(0.0, x - left):.1f}" height="{ph}" class="drop"/>')
        elif t.side == "max":
            parts.append(
                f'<rect x="{x:.1f}" y="{top}" width="{max(0.0, left + pw - x):.1f}" height="{ph}" class="drop"/>'
            )
    for i, c in enumerate(counts):
        x0, x1 = sx(edges[i]), sx(edges[i + 1])
        h = ph * c / cmax
        parts.append(
            f'<rect class="mark" x="{x0 + 0.5:.1f}" y="{top + ph - h:.1f}" width="{max(x1 - x0 - 1, 0.8):.1f}" '
            f'height="{max(h, 0.0):.1f}" fill="{PALETTE[0]}"><title>[{num(float(edges[i]))}, '
            f"{num(float(edges[i + 1]))}): {c:,}</title></rect>"
        )
    for k in range(5):
        xv = edges[0] + (edges[-1] - edges[0]) * k / 4
        parts.append(_text(sx(xv), top + ph + 14, num(float(xv)), "middle"))
    for j, t in enumerate(thresholds):
        x = sx(t.value)
        parts.append(
            f'<line class="threshold" x1="{x:.1f}" y1="{12 + 12 * j}" x2="{x:.1f}" y2="{top + ph}">'
            f"<title>{esc(t.label)}</title></line>"
        )
        anchor = "end" if x > left + pw * 0.6 else "start"
        parts.append(_text(x + (-3 if anchor == "end" else 3), 9 + 12 * j, t.param + "=" + num(t.value), anchor, "thr"))
    parts.append(_text(left + pw / 2, height - 4, title, "middle", "axis-title"))
    return _svg(chart_id, width, height, "".join(parts), title), note


def range_chart(
    chart_id: str, title: str, labels: list[str], ranges: list[tuple[float, float, float]], width: int = 520
) -> str:
    lo = min(r[0] for r in ranges)
    hi = max(r[2] for r in ranges)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    label_w, right, row_h, top = 80, 16, 22, 8
    pw = width - label_w - right
    height = top + row_h * len(labels) + 22

    def sx(x: float) -> float:
        return label_w + pw * (x - lo) / (hi - lo)

    parts = []
    for i, (label, (a, m, b)) in enumerate(zip(labels, ranges, strict=True)):
        y = top + i * row_h + row_h / 2
        parts.append(_text(label_w - 6, y + 4, label, "end"))
        parts.append(
            f'<rect class="mark" x="{sx(a):.1f}" y="{y - 5:.1f}" width="{max(sx(b) - sx(a), 1.5):.1f}" '
            f'height="10" fill="{PALETTE[1]}" fill-opacity="0.6"><title>{esc(label)}: {num(a)} – '
            f"{num(b)}, mean {num(m)}</title></rect>"
        )
        parts.append(f'<circle cx="{sx(m):.1f}" cy="{y:.1f}" r="3.5" fill="{PALETTE[3]}"/>')
    yb = top + row_h * len(labels) + 14
    for k in range(5):
        xv = lo + (hi - lo) * k / 4
        parts.append(_text(sx(xv), yb, num(float(xv)), "middle"))
    return _svg(chart_id, width, height, "".join(parts), title)


def counter_chart(chart_id: str, title: str, counts: Counter, top: int = 20, width: int = 520) -> str:
    items = counts.most_common()
    if len(items) > top:
        items = [*items[: top - 1], ("(other)", sum(n for _, n in items[top - 1 :]))]
    labels = ["(null)" if k is None else str(k) for k, _ in items]
    total = sum(counts.values())
    return hbar_chart(
        chart_id,
        title,
        labels,
        [(title, [n for _, n in items])],
        fmt=lambda v: f"{num(v)} ({pct(v, total)})",
        width=width,
    )


def line_chart(
    chart_id: str,
    title: str,
    x: list[float],
    series: list[tuple[str, list[float], list[float], list[float]]],
    x_label: str,
    y_label: str,
    zero_line: bool = False,
    colors: list[str] | None = None,
    width: int = 720,
    height: int = 260,
) -> str:
    """Lines over a shared x axis, each `(name, mean, low, high)`: the band from low to high is shaded (e.g. the
    spread over seeds), every point carries its values as a `<title>`. `colors` keeps a series' colour the same
    across charts that show different subsets."""
    if not x or not series:
        return empty_note(f"{title}: nothing to draw")
    ys = [v for _, m, lo, hi in series for v in (*m, *lo, *hi) if math.isfinite(v)] + ([0.0] if zero_line else [])
    ylo, yhi = min(ys), max(ys)
    if yhi == ylo:
        ylo, yhi = ylo - 0.5, yhi + 0.5
    ylo, yhi = ylo - 0.04 * (yhi - ylo), yhi + 0.04 * (yhi - ylo)
    xlo, xhi = min(x), max(x) if max(x) > min(x) else min(x) + 1
    left, right, top, bottom = 56, 16, 26, 38
    pw, ph = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + pw * (v - xlo) / (xhi - xlo)

    def sy(v: float) -> float:
        return top + ph * (yhi - v) / (yhi - ylo)

    parts = [
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" class="axis"/>',
    ]
    for k in range(5):
        yv, xv = ylo + (yhi - ylo) * k / 4, xlo + (xhi - xlo) * k / 4
        parts.append(_text(left - 4, sy(yv) + 4, f"{yv:.3g}", "end"))
        parts.append(_text(sx(xv), top + ph + 14, num(float(xv)), "middle"))
    if zero_line and ylo < 0 < yhi:
        parts.append(f'<line x1="{left}" y1="{sy(0):.1f}" x2="{left + pw}" y2="{sy(0):.1f}" class="threshold"/>')
    lx = left + 4
    for i, (name, mean, lo, hi) in enumerate(series):
        color = colors[i] if colors else PALETTE[i % len(PALETTE)]
        band = [f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(x, hi, strict=True)]
        band += [f"{sx(a):.1f},{sy(b):.1f}" for a, b in reversed(list(zip(x, lo, strict=True)))]
        parts.append(f'<polygon points="{" ".join(band)}" fill="{color}" fill-opacity="0.15" stroke="none"/>')
        line = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(x, mean, strict=True))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.8"/>')
        for a, m, a_lo, a_hi in zip(x, mean, lo, hi, strict=True):
            parts.append(
                f'<circle class="mark" cx="{sx(a):.1f}" cy="{sy(m):.1f}" r="2.5" fill="{color}"><title>{esc(name)} at '
                f"{num(float(a))}: {m:.4f} ({a_lo:.4f} – {a_hi:.4f})</title></circle>"
            )
        parts.append(f'<rect x="{lx}" y="6" width="12" height="12" fill="{color}"/>' + _text(lx + 16, 16, name))
        lx += 28 + 7 * len(name)
    parts.append(_text(left + pw / 2, height - 4, x_label, "middle", "axis-title"))
    parts.append(
        f'<text x="12" y="{top + ph / 2:.1f}" text-anchor="middle" class="axis-title" '
        f'transform="rotate(-90 12 {top + ph / 2:.1f})">{esc(y_label)}</text>'
    )
    return _svg(chart_id, width, height, "".join(parts), title)
