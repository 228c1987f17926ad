"""The OTA timeline as an inline SVG chart: file offset served against time, one line per transfer.

A reviewer reads a transfer's health from its shape: a straight climb is a healthy transfer, a
flat stretch under an amber band is the CH asking the device to wait (WAIT_FOR_DATA), a red band
is the CH losing its radio, a triangle is the device asking again for data it had already been
sent, and a cross is where the transfer stalled or was aborted. Drawing that as SVG text (no
image files, no script) keeps the report self-contained and makes the chart a pure function of
the records: the same records always give byte-identical output, which is what the tests pin.

Time runs from the earliest transfer's start, so several transfers in one test (two devices
upgraded together, a retry after a failure) share one time axis and can be compared.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.evidence import TransferEventKind, TransferRecord, redact

# Geometry, in SVG user units (pixels at 100 % zoom).
WIDTH = 960
PLOT_HEIGHT = 300
MARGIN_LEFT = 84
MARGIN_RIGHT = 20
MARGIN_TOP = 16
MARGIN_BOTTOM = 46
LEGEND_LINE = 18

#: One colour per transfer, chosen to stay distinct from the amber (wait) and red (gap, stall) marks.
PALETTE = ("#1f5fa8", "#2e7d32", "#7b3fa0", "#00838f", "#5d4037", "#37474f")
WAIT_FILL = "#f2a900"
GAP_FILL = "#c62828"
FONT = 'font-family="Helvetica, Arial, sans-serif" font-size="11"'

_K = TransferEventKind


def _esc(value: object) -> str:
    return html.escape(redact(str(value)), quote=True)


def _num(x: float) -> str:
    """Coordinates with one decimal: enough for the eye, short, and stable across platforms."""
    text = f"{x:.1f}"
    return "0.0" if text == "-0.0" else text


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least ``maximum`` on a 1-2-5 step, about ``count`` of them."""
    if maximum <= 0 or not math.isfinite(maximum):
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    n = math.ceil(maximum / step - 1e-9)
    return [i * step for i in range(n + 1)]


def _tick_label(value: float, *, seconds: bool) -> str:
    if seconds:
        return f"{value:g}"
    return f"{int(round(value)):,}"


@dataclass(frozen=True, slots=True)
class _Scale:
    t0: float
    t_max: float  # seconds after t0 at the right edge
    y_max: float  # bytes at the top edge

    def x(self, t: float) -> float:
        return MARGIN_LEFT + (t - self.t0) / self.t_max * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT)

    def y(self, offset: float) -> float:
        return MARGIN_TOP + (1 - offset / self.y_max) * (PLOT_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM)

    @property
    def top(self) -> float:
        return self.y(self.y_max)

    @property
    def bottom(self) -> float:
        return self.y(0)


def _extent(transfers: Sequence[TransferRecord]) -> _Scale:
    t0 = min(t.started for t in transfers)
    t_end = t0
    y_end = 0.0
    for tr in transfers:
        t_end = max(t_end, tr.ended or tr.started)
        y_end = max(y_end, tr.image_size)
        for ev in tr.events:
            t_end = max(t_end, ev.t + ((ev.wait_s or 0) if ev.kind is _K.WAIT_FOR_DATA else 0))
            if ev.offset is not None:
                y_end = max(y_end, ev.offset + (ev.size or 0))
    x_ticks = nice_ticks(max(t_end - t0, 1e-3))
    y_ticks = nice_ticks(max(y_end, 1.0))
    return _Scale(t0=t0, t_max=x_ticks[-1], y_max=y_ticks[-1])


def progress_points(transfer: TransferRecord) -> list[tuple[float, float]]:
    """(time, end offset) of every block actually served -- the line a transfer draws."""
    return [
        (ev.t, ev.offset + (ev.size or 0))
        for ev in transfer.events
        if ev.kind is _K.BLOCK_RESPONSE and ev.offset is not None and ev.status in (None, "SUCCESS")
    ]


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop points that land on the same half-pixel as the one before: a 5,000-block image stays small."""
    kept: list[tuple[float, float]] = []
    last_key = None
    for i, (x, y) in enumerate(points):
        key = (round(x * 2), round(y * 2))
        if key != last_key or i == len(points) - 1:
            kept.append((x, y))
            last_key = key
    return kept


def _axes(scale: _Scale) -> list[str]:
    out: list[str] = []
    for value in nice_ticks(scale.y_max):
        y = _num(scale.y(value))
        out.append(f'<line x1="{MARGIN_LEFT}" y1="{y}" x2="{WIDTH - MARGIN_RIGHT}" y2="{y}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{MARGIN_LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" {FONT}>'
                   f'{_tick_label(value, seconds=False)}</text>')
    for value in nice_ticks(scale.t_max):
        x = _num(scale.x(scale.t0 + value))
        out.append(f'<line x1="{x}" y1="{_num(scale.top)}" x2="{x}" y2="{_num(scale.bottom)}" stroke="#eeeeee"/>')
        out.append(f'<text x="{x}" y="{_num(scale.bottom + 14)}" text-anchor="middle" {FONT}>'
                   f'{_tick_label(value, seconds=True)}</text>')
    left, bottom = MARGIN_LEFT, _num(scale.bottom)
    out.append(f'<line x1="{left}" y1="{_num(scale.top)}" x2="{left}" y2="{bottom}" stroke="#555"/>')
    out.append(f'<line x1="{left}" y1="{bottom}" x2="{WIDTH - MARGIN_RIGHT}" y2="{bottom}" stroke="#555"/>')
    mid_x = _num((MARGIN_LEFT + WIDTH - MARGIN_RIGHT) / 2)
    out.append(f'<text x="{mid_x}" y="{_num(scale.bottom + 34)}" text-anchor="middle" {FONT} font-weight="bold">'
               f'time since the first transfer started (s)</text>')
    mid_y = _num((scale.top + scale.bottom) / 2)
    out.append(f'<text transform="translate(16 {mid_y}) rotate(-90)" text-anchor="middle" {FONT} font-weight="bold">'
               f'file offset served (bytes)</text>')
    return out


def _bands(transfer: TransferRecord, scale: _Scale) -> list[str]:
    """Shaded intervals: WAIT_FOR_DATA (amber, from the response for wait_s) and radio gaps (red, ending at the resume)."""
    out: list[str] = []
    top, height = _num(scale.top), _num(scale.bottom - scale.top)
    for ev in transfer.events:
        if ev.kind is _K.WAIT_FOR_DATA:
            start, end, fill, what = ev.t, ev.t + (ev.wait_s or 0), WAIT_FILL, "WAIT_FOR_DATA"
        elif ev.kind is _K.GAP:
            start, end, fill, what = ev.t - (ev.wait_s or 0), ev.t, GAP_FILL, "radio gap"
        else:
            continue
        x = scale.x(start)
        width = max(scale.x(end) - x, 1.5)
        title = f"{transfer.device}: {what} at offset {ev.offset}" + (f", {ev.wait_s:g} s" if ev.wait_s else "")
        if ev.detail:
            title += f" ({ev.detail})"
        out.append(f'<rect class="hh-band hh-band-{"wait" if fill == WAIT_FILL else "gap"}" x="{_num(x)}" y="{top}" '
                   f'width="{_num(width)}" height="{height}" fill="{fill}" fill-opacity="0.22">'
                   f'<title>{_esc(title)}</title></rect>')
    return out


def _marks(transfer: TransferRecord, colour: str, scale: _Scale) -> list[str]:
    """Retries (triangles in the transfer's colour), stalls and aborts (red crosses), Upgrade End (square)."""
    out: list[str] = []
    reached = 0.0
    for ev in transfer.events:
        if ev.kind is _K.BLOCK_RESPONSE and ev.offset is not None:
            reached = max(reached, ev.offset + (ev.size or 0))
        offset = ev.offset if ev.offset is not None else reached
        x, y = scale.x(ev.t), scale.y(offset)
        title = _esc(f"{transfer.device}: {ev.kind.value} at {ev.t - scale.t0:.2f} s, offset {offset:g}"
                     + (f" ({ev.detail})" if ev.detail else ""))
        if ev.kind is _K.RETRY:
            pts = f"{_num(x)},{_num(y - 6)} {_num(x - 5)},{_num(y + 4)} {_num(x + 5)},{_num(y + 4)}"
            out.append(f'<polygon class="hh-retry" points="{pts}" fill="white" stroke="{colour}" stroke-width="1.5">'
                       f'<title>{title}</title></polygon>')
        elif ev.kind in (_K.STALL, _K.ABORT):
            d = f"M{_num(x - 5)} {_num(y - 5)}L{_num(x + 5)} {_num(y + 5)}M{_num(x - 5)} {_num(y + 5)}L{_num(x + 5)} {_num(y - 5)}"
            out.append(f'<path class="hh-stop" d="{d}" stroke="{GAP_FILL}" stroke-width="2.5">'
                       f'<title>{title}</title></path>')
        elif ev.kind is _K.UPGRADE_END:
            out.append(f'<rect class="hh-end" x="{_num(x - 4)}" y="{_num(y - 4)}" width="8" height="8" '
                       f'fill="{colour}"><title>{title}</title></rect>')
    return out


def _line(transfer: TransferRecord, colour: str, scale: _Scale) -> list[str]:
    points = _thin([(scale.x(t), scale.y(o)) for t, o in progress_points(transfer)])
    if not points:
        return []
    title = _esc(f"{transfer.device} ← {transfer.image_name}: {transfer.outcome.value}")
    if len(points) == 1:
        (x, y), = points
        return [f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3" fill="{colour}"><title>{title}</title></circle>']
    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    return [f'<polyline class="hh-progress" points="{coords}" fill="none" stroke="{colour}" stroke-width="2" '
            f'stroke-linejoin="round"><title>{title}</title></polyline>']


#: The symbol key under the chart: (shape at x, y), label, width taken on the line.
_KEY = (
    (lambda x, y: f'<rect x="{_num(x)}" y="{_num(y - 6)}" width="14" height="12" fill="{WAIT_FILL}" fill-opacity="0.35"/>',
     "WAIT_FOR_DATA (CH asked the device to wait)", 270),
    (lambda x, y: f'<rect x="{_num(x)}" y="{_num(y - 6)}" width="14" height="12" fill="{GAP_FILL}" fill-opacity="0.35"/>',
     "radio gap", 110),
    (lambda x, y: f'<polygon points="{_num(x + 7)},{_num(y - 6)} {_num(x + 2)},{_num(y + 4)} {_num(x + 12)},{_num(y + 4)}" '
                  f'fill="white" stroke="#333" stroke-width="1.5"/>',
     "retry (offset asked again)", 190),
    (lambda x, y: f'<path d="M{_num(x + 2)} {_num(y - 5)}L{_num(x + 12)} {_num(y + 5)}M{_num(x + 2)} {_num(y + 5)}'
                  f'L{_num(x + 12)} {_num(y - 5)}" stroke="{GAP_FILL}" stroke-width="2.5"/>',
     "stall / abort", 120),
    (lambda x, y: f'<rect x="{_num(x + 3)}" y="{_num(y - 4)}" width="8" height="8" fill="#333"/>',
     "Upgrade End Request", 150),
)


def _legend(transfers: Sequence[TransferRecord], top: float) -> list[str]:
    out: list[str] = []
    y = top
    for i, tr in enumerate(transfers):
        colour = PALETTE[i % len(PALETTE)]
        label = (f"{tr.device} ({tr.device_eui64}) ← {tr.image_name}: {tr.outcome.value}, "
                 f"{tr.bytes_sent:,} of {tr.image_size:,} bytes, {tr.retries} retries, {tr.gaps} gaps")
        out.append(f'<line x1="{MARGIN_LEFT}" y1="{_num(y)}" x2="{MARGIN_LEFT + 22}" y2="{_num(y)}" '
                   f'stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{MARGIN_LEFT + 28}" y="{_num(y)}" dominant-baseline="middle" {FONT}>{_esc(label)}</text>')
        y += LEGEND_LINE
    x = float(MARGIN_LEFT)
    for shape, label, width in _KEY:
        out.append(shape(x, y))
        out.append(f'<text x="{_num(x + 20)}" y="{_num(y)}" dominant-baseline="middle" {FONT}>{label}</text>')
        x += width
    return out


def timeline_svg(transfers: Sequence[TransferRecord]) -> str:
    """An ``<svg>`` element charting ``transfers``; escaped, redacted, and identical for identical input."""
    transfers = list(transfers)
    if not transfers:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="hh-timeline" role="img" width="{WIDTH}" height="40" '
                f'viewBox="0 0 {WIDTH} 40"><text x="{MARGIN_LEFT}" y="24" {FONT}>no transfer recorded</text></svg>')
    scale = _extent(transfers)
    height = PLOT_HEIGHT + LEGEND_LINE * (len(transfers) + 1) + 6
    summary = "; ".join(f"{t.device} ← {t.image_name}: {t.outcome.value}" for t in transfers)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="hh-timeline" role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}">',
        f"<title>OTA timeline: {_esc(summary)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>',
    ]
    parts += _axes(scale)
    for tr in transfers:
        parts += _bands(tr, scale)
    for i, tr in enumerate(transfers):
        parts += _line(tr, PALETTE[i % len(PALETTE)], scale)
    for i, tr in enumerate(transfers):
        parts += _marks(tr, PALETTE[i % len(PALETTE)], scale)
    parts += _legend(transfers, PLOT_HEIGHT + 4)
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["nice_ticks", "progress_points", "timeline_svg"]
