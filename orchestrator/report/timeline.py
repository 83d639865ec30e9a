"""A conference's timeline as SVG: one lane per participant, drawn from the folded run.

It reads a ``ConferenceFold`` (events folded, ``record.fold``), never files, so a page that
folds events as they come can draw the same picture. Each lane shows the participant's legs
(ringing, then connected) and, while connected, whether it was muted, on hold or coaching
someone; marks show a refused or paced dial, a fallback, a machine, a drop, a redial and a
hang-up by --prune or down; the conference's own row shows its start and end.

Colour is never the only signal: every kind of bar has its own pattern and every mark its own
shape, all named in the legend; text is real ``<text>``; the picture has a ``<title>`` and a
``<desc>`` that say in words what it shows. ``compact`` draws for a phone's width (names above
their bars); otherwise names stand left of their bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from orchestrator.masking import mask_destination
from orchestrator.record.figures import Figures, Span, spans
from orchestrator.record.fold import ConferenceFold, Lane, Mark

FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)

# Each kind of bar: its fill (a pattern id, or a colour), and its words in the legend.
BARS = {
    "ringing": "ringing (dialed, not answered yet)",
    "connected": "connected",
    "muted": "muted",
    "hold": "on hold",
    "coaching": "coaching (heard only by whom it coaches)",
}
# Each kind of mark: the legend's words.
MARKS = {
    "refused": "dial refused",
    "paced": "dial paced (429 or the dial limit)",
    "lost": "dial's answer lost",
    "fallback": "fallback number dialed",
    "unreached": "not answered (busy, no answer, failed)",
    "retry": "same number dialed again",
    "machine": "machine detected",
    "drop": "dropped",
    "redial": "redialed",
    "unanswered": "redial not answered",
    "hangup": "hung up by --prune or down",
    "adopted": "adopted (dialed by another apply)",
    "start": "conference started",
    "end": "conference ended",
}


@dataclass(frozen=True)
class Layout:
    width: int
    label_w: int  # the names' column (0 when names stand above the bars)
    lane_h: int
    bar_h: int
    band_h: int  # the band below the bar: muted, hold, coaching
    font: int
    ticks: int

    @property
    def left(self) -> int:
        return self.label_w + 8

    @property
    def right(self) -> int:
        return self.width - 12


WIDE = Layout(width=1000, label_w=190, lane_h=40, bar_h=14, band_h=8, font=13, ticks=8)
COMPACT = Layout(width=360, label_w=0, lane_h=62, bar_h=14, band_h=8, font=13, ticks=4)


def _defs(p: str) -> str:
    """The patterns, ids prefixed by ``p`` so that two pictures on one page do not clash."""
    return f"""<defs>
<pattern id="{p}ringing" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fdf0d5"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b86e00" stroke-width="2"/></pattern>
<pattern id="{p}muted" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="#eeeeee"/><circle cx="2" cy="2" r="1" fill="#444444"/></pattern>
<pattern id="{p}hold" width="4" height="4" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="#efe6f7"/><line x1="2" y1="0" x2="2" y2="4" stroke="#6a3d9a" stroke-width="1.5"/></pattern>
<pattern id="{p}coaching" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#e3eefa"/><path d="M0,0 L6,6 M6,0 L0,6" stroke="#1f5fa8" stroke-width="1"/></pattern>
</defs>"""


def _fill(kind: str, p: str) -> str:
    return "#2e6b4f" if kind == "connected" else f"url(#{p}{kind})"


def _mark_shape(kind: str, x: float, y: float) -> str:
    """A shape of its own for each kind of mark, centred on (x, y)."""
    s = 5.5
    line = 'stroke="#111111" stroke-width="1.5"'
    ring = f'<circle cx="{x}" cy="{y}" r="{s}" fill="#ffffff" {line}/>'
    shapes = {
        "refused": f'<path d="M{x - s},{y - s} L{x + s},{y + s} M{x + s},{y - s} L{x - s},{y + s}" '
        f'{line} fill="none"/>',
        "paced": f'<rect x="{x - s}" y="{y - s}" width="{2 * s}" height="{2 * s}" fill="#ffffff" '
        f'{line}/><path d="M{x - 2},{y - 3} L{x - 2},{y + 3} M{x + 2},{y - 3} L{x + 2},{y + 3}" '
        f"{line}/>",
        "lost": f'<circle cx="{x}" cy="{y}" r="{s}" fill="#ffffff" stroke="#111111" '
        'stroke-width="1.5" stroke-dasharray="2 2"/>',
        "fallback": f'<path d="M{x - s},{y + s} L{x + s},{y} L{x - s},{y - s} Z" fill="#ffffff" '
        f"{line}/>",
        "unreached": f'<path d="M{x},{y - s - 2} L{x},{y + s + 2}" stroke="#111111" '
        f'stroke-width="2"/><circle cx="{x}" cy="{y + s + 2}" r="2" fill="#111111"/>',
        "retry": ring + f'<circle cx="{x}" cy="{y}" r="1.8" fill="#111111"/>',
        "redial": ring + f'<path d="M{x - 3},{y} L{x + 3},{y} M{x},{y - 3} L{x},{y + 3}" {line}/>',
        "unanswered": ring + f'<path d="M{x - 3.5},{y + 3.5} L{x + 3.5},{y - 3.5}" {line}/>',
        "machine": f'<path d="M{x},{y - s - 1} L{x + s + 1},{y} L{x},{y + s + 1} L{x - s - 1},{y} Z" '
        f'fill="#f1c40f" {line}/>',
        "drop": f'<path d="M{x - s},{y - s} L{x + s},{y - s} L{x},{y + s} Z" fill="#c0392b" {line}/>',
        "hangup": f'<rect x="{x - s}" y="{y - s}" width="{2 * s}" height="{2 * s}" '
        f'fill="#111111" {line}/>',
        "adopted": f'<path d="M{x},{y - s} L{x + s},{y + s} L{x - s},{y + s} Z" fill="#ffffff" '
        f"{line}/>",
        "start": f'<path d="M{x},{y - s - 2} L{x},{y + s + 2} M{x},{y - s - 2} L{x + 6},{y - s}" '
        'stroke="#111111" stroke-width="2.5" fill="none"/>',
        "end": f'<path d="M{x},{y - s - 2} L{x},{y + s + 2} M{x},{y - s - 2} L{x - 6},{y - s}" '
        'stroke="#111111" stroke-width="2.5" fill="none"/>',
    }
    return shapes.get(kind, ring)


def _step(duration: float, ticks: int) -> float:
    for step in _STEPS:
        if duration / step <= ticks:
            return step
    return _STEPS[-1]


def _clock(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m" + (f"{rest:02d}s" if rest else "")
    return f"{minutes // 60}h{minutes % 60:02d}m"


class _Canvas:
    def __init__(self, layout: Layout, t0: float, t1: float, prefix: str) -> None:
        self.l = layout
        self.t0, self.t1 = t0, max(t1, t0 + 1.0)
        self.p = prefix
        self.parts: list[str] = []

    def x(self, moment: float) -> float:
        share = (moment - self.t0) / (self.t1 - self.t0)
        return round(self.l.left + share * (self.l.right - self.l.left), 1)

    def text(
        self, x: float, y: float, words: str, *, size: int | None = None, **attrs: str
    ) -> None:
        extra = "".join(f' {k.rstrip("_").replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.parts.append(
            f'<text x="{x}" y="{y}" font-size="{size or self.l.font}"{extra}>{escape(words)}</text>'
        )


def _axis(c: _Canvas, y: float, origin: float) -> None:
    step = _step(c.t1 - c.t0, c.l.ticks)
    tick = 0.0
    while origin + tick <= c.t1 + 1e-9:
        x = c.x(origin + tick)
        c.parts.append(f'<line x1="{x}" y1="{y + 4}" x2="{x}" y2="{y + 10}" stroke="#555555"/>')
        c.text(
            x, y, _clock(round(tick, 3)), size=c.l.font - 2, text_anchor="middle", fill="#333333"
        )
        tick += step
    c.parts.append(
        f'<line x1="{c.l.left}" y1="{y + 10}" x2="{c.l.right}" y2="{y + 10}" stroke="#555555"/>'
    )


def _lane_words(lane: Lane, lane_spans: list[Span], full: bool) -> str:
    """What a lane shows, in words (its ``<title>``, read by a screen reader)."""
    to = lane.to if full else mask_destination(lane.to)
    connected = [s for s in lane_spans if s.kind == "connected"]
    said = f"{lane.name} ({lane.role}, {to}): "
    said += f"connected {len(connected)} time(s)" if connected else "never connected"
    if lane.marks:
        said += "; " + "; ".join(m.label for m in lane.marks)
    return said


def _lane(c: _Canvas, lane: Lane, top: float, until: float, full: bool) -> None:
    layout = c.l
    lane_spans = spans(lane, until)
    c.parts.append(f'<g class="lane" data-participant="{escape(lane.name)}">')
    c.parts.append(f"<title>{escape(_lane_words(lane, lane_spans, full))}</title>")
    if layout.label_w:
        c.text(8, top + layout.bar_h - 2, lane.name, font_weight="bold")
        c.text(8, top + layout.bar_h + 12, lane.role, size=layout.font - 3, fill="#444444")
        bar_y = top + 2
    else:
        c.text(
            layout.left, top + layout.font, f"{lane.name} \u00b7 {lane.role}", font_weight="bold"
        )
        bar_y = top + layout.font + 6
    c.parts.append(
        f'<rect x="{layout.left}" y="{bar_y}" width="{layout.right - layout.left}" '
        f'height="{layout.bar_h}" fill="#f7f7f7" stroke="#dddddd"/>'
    )
    band_y = bar_y + layout.bar_h + 2
    for span in lane_spans:
        x0, x1 = c.x(span.start), c.x(span.end)
        width = max(x1 - x0, 1.5)
        y, h = (
            (bar_y, layout.bar_h)
            if span.kind in ("ringing", "connected")
            else (band_y, layout.band_h)
        )
        c.parts.append(
            f'<rect class="span {span.kind}" x="{x0}" y="{y}" width="{round(width, 1)}" '
            f'height="{h}" fill="{_fill(span.kind, c.p)}" stroke="#333333" stroke-width="0.5">'
            f"<title>{escape(span.label or BARS[span.kind])}</title></rect>"
        )
        if span.kind == "coaching" and width > 60:
            c.text(
                x0 + 3,
                band_y + layout.band_h + 11,
                span.label,
                size=layout.font - 3,
                fill="#1f5fa8",
            )
        if span.open and span.kind == "connected":
            c.parts.append(
                f'<path d="M{x1},{bar_y - 2} L{x1 + 7},{bar_y + layout.bar_h / 2} '
                f'L{x1},{bar_y + layout.bar_h + 2} Z" fill="#2e6b4f"><title>still on when the '
                "record ends</title></path>"
            )
    for mark in lane.marks:
        _mark(c, mark, bar_y + layout.bar_h / 2)
    c.parts.append("</g>")


def _mark(c: _Canvas, mark: Mark, y: float) -> None:
    c.parts.append(
        f'<g class="mark {mark.kind}"><title>{escape(mark.label)}</title>'
        f"{_mark_shape(mark.kind, c.x(mark.at), y)}</g>"
    )


def _conference_row(c: _Canvas, conference: ConferenceFold, top: float) -> None:
    layout = c.l
    y = top + layout.bar_h / 2 + 2
    label_x = 8 if layout.label_w else layout.left
    c.parts.append('<g class="conference-row">')
    c.text(
        label_x,
        top + (layout.bar_h - 2 if layout.label_w else -2),
        "conference",
        font_style="italic",
    )
    start, end = conference.start, conference.end
    if start is not None:
        stop = end if end is not None else c.t1
        c.parts.append(
            f'<line x1="{c.x(start)}" y1="{y}" x2="{c.x(stop)}" y2="{y}" stroke="#111111" '
            'stroke-width="2" stroke-dasharray="6 3"/>'
        )
        _mark(c, Mark(start, "start", "conference started"), y)
    if end is not None:
        reason = conference.learned.get("reason")
        _mark(c, Mark(end, "end", "conference ended" + (f" ({reason})" if reason else "")), y)
    for mark in conference.marks:
        _mark(c, mark, y)
    c.parts.append("</g>")


def _legend(c: _Canvas, top: float, marks: set[str]) -> float:
    """The legend (every kind of bar, the kinds of mark drawn), wrapped to the width; returns
    where it ends."""
    layout = c.l
    x, y = 8.0, top
    items: list[tuple[str, str]] = [("bar:" + k, v) for k, v in BARS.items()]
    items += [("mark:" + k, v) for k, v in MARKS.items() if k in marks]
    for key, words in items:
        kind = key.split(":", 1)[1]
        needed = 26 + len(words) * (layout.font - 4) * 0.62
        if x + needed > layout.width - 8:
            x, y = 8.0, y + 20
        if key.startswith("bar:"):
            c.parts.append(
                f'<rect x="{x}" y="{y - 10}" width="18" height="11" fill="{_fill(kind, c.p)}" '
                'stroke="#333333" stroke-width="0.5"/>'
            )
        else:
            c.parts.append(_mark_shape(kind, x + 9, y - 4.5))
        c.text(x + 24, y, words, size=layout.font - 3)
        x += needed + 12
    return y + 12


def render_svg(
    conference: ConferenceFold,
    figures: Figures,
    *,
    title: str,
    description: str,
    compact: bool = False,
    full: bool = False,
    prefix: str = "t-",
    standalone: bool = True,
) -> str:
    """The timeline of ``conference`` as one ``<svg>`` element; ``standalone``: with its
    namespace, as a file of its own needs (inline in HTML it needs none)."""
    layout = COMPACT if compact else WIDE
    t0 = min(
        [
            figures.origin,
            *(
                leg.dialed_at or figures.origin
                for lane in conference.lanes.values()
                for leg in lane.legs
            ),
        ]
    )
    c = _Canvas(layout, t0, figures.until, prefix)
    top = 22.0
    _axis(c, top, figures.origin)
    top += 26
    _conference_row(c, conference, top + (0 if layout.label_w else layout.font + 4))
    top += layout.lane_h - (0 if layout.label_w else 8)
    for lane in conference.lanes.values():
        _lane(c, lane, top, figures.until, full)
        top += layout.lane_h
    drawn = {m.kind for lane in conference.lanes.values() for m in lane.marks}
    drawn |= {m.kind for m in conference.marks} | {"start", "end"}
    bottom = _legend(c, top + 14, drawn)
    height = round(bottom + 6)
    ids = f"{prefix}title {prefix}desc"
    return (
        "<svg"
        + (' xmlns="http://www.w3.org/2000/svg"' if standalone else "")
        + ' class="timeline" role="img" '
        f'viewBox="0 0 {layout.width} {height}" width="{layout.width}" height="{height}" '
        f'font-family="{FONT}" aria-labelledby="{ids}">'
        f'<title id="{prefix}title">{escape(title)}</title>'
        f'<desc id="{prefix}desc">{escape(description)}</desc>'
        f"{_defs(prefix)}"
        f'<rect width="{layout.width}" height="{height}" fill="#ffffff"/>'
        + "".join(c.parts)
        + "</svg>"
    )
