"""What a folded conference comes to: each lane's intervals, and the figures a postmortem asks.

Times are Unix seconds; figures are seconds from the moment the run planned the conference
(when it began to act on it). A leg still on when the record ends is drawn to that end and
said to be open: the record does not know more until ``history --fetch`` asks the API.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from orchestrator.record.fold import ConferenceFold, Lane, Settings


@dataclass(frozen=True)
class Span:
    kind: str  # ringing, connected, muted, hold, coaching
    start: float
    end: float
    open: bool = False  # still on when the record ends
    label: str = ""


def record_end(conference: ConferenceFold, run_end: float | None) -> float:
    """Where the record of the conference stops: its end if known, else the last thing known."""
    ends = [conference.last_at, run_end or 0.0, conference.planned_at]
    if conference.end is not None:
        return max(conference.end, conference.planned_at)
    for lane in conference.lanes.values():
        ends += [leg.end for leg in lane.legs if leg.end is not None]
    return max(ends)


def spans(lane: Lane, until: float) -> list[Span]:
    """The lane's intervals, in the order drawn: ringing and connected first, then what held
    the leg while it was connected (muted, on hold, coaching someone)."""
    out: list[Span] = []
    connected: list[Span] = []
    for leg in lane.legs:
        end = leg.end
        if leg.dialed_at is not None:
            rang_until = leg.connected_at or end or until
            out.append(Span("ringing", leg.dialed_at, max(rang_until, leg.dialed_at)))
        if leg.connected_at is not None:
            stop = end if end is not None else until
            connected.append(
                Span("connected", leg.connected_at, max(stop, leg.connected_at), end is None)
            )
    out += connected
    for span in connected:
        out += _held(lane.settings, span)
    return out


def _held(settings: list[Settings], connected: Span) -> list[Span]:
    """Muted, hold and coaching within one connected span, as the settings sent say."""
    out: list[Span] = []
    for index, current in enumerate(settings):
        following = settings[index + 1].at if index + 1 < len(settings) else float("inf")
        start, end = max(current.at, connected.start), min(following, connected.end)
        if end <= start:
            continue
        is_open = connected.open and end == connected.end
        if current.muted:
            out.append(Span("muted", start, end, is_open))
        if current.hold:
            out.append(Span("hold", start, end, is_open))
        if current.coaching:
            out.append(Span("coaching", start, end, is_open, f"coaching {current.coaching}"))
    return out


def connected_spans(lane: Lane, until: float) -> list[tuple[float, float]]:
    """When the participant was connected (legs merged)."""
    pieces = sorted((s.start, s.end) for s in spans(lane, until) if s.kind == "connected")
    merged: list[tuple[float, float]] = []
    for start, end in pieces:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _intersect(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


@dataclass(frozen=True)
class Figures:
    origin: float  # when the run planned the conference
    until: float  # where the record stops
    wanted: int  # participants the file wants connected
    first_connected_s: float | None
    first_who: str | None
    all_connected_s: float | None  # None: never all at once
    joined_s: dict[str, float | None]  # per wanted participant
    longest_missing_s: float | None  # after all were first on; None: never all on
    longest_missing_who: tuple[str, ...]
    longest_missing_from_s: float | None


def figures(conference: ConferenceFold, run_end: float | None) -> Figures:
    origin = conference.planned_at
    until = record_end(conference, run_end)
    wanted = [lane for lane in conference.lanes.values() if lane.wanted]
    on = {lane.name: connected_spans(lane, until) for lane in wanted}
    joined = {name: (s[0][0] - origin if s else None) for name, s in on.items()}
    first = min(((s[0][0], name) for name, s in on.items() if s), default=None)
    together: list[tuple[float, float]] | None = None
    for lane_spans in on.values():
        together = lane_spans if together is None else _intersect(together, lane_spans)
    all_at = together[0][0] if together else None
    longest, who, gap_from = _longest_missing(on, together, until) if together else (None, (), None)
    return Figures(
        origin=origin,
        until=until,
        wanted=len(wanted),
        first_connected_s=first[0] - origin if first else None,
        first_who=first[1] if first else None,
        all_connected_s=all_at - origin if all_at is not None and wanted else None,
        joined_s=joined,
        longest_missing_s=longest,
        longest_missing_who=who,
        longest_missing_from_s=gap_from - origin if gap_from is not None else None,
    )


def _longest_missing(
    on: dict[str, list[tuple[float, float]]], together: list[tuple[float, float]], until: float
) -> tuple[float, tuple[str, ...], float | None]:
    """Once everyone wanted was on: the longest stretch with someone missing, who was missing,
    and when it began (0.0, nobody, None: never)."""
    gaps = [(b[0] - a[1], a[1], b[0]) for a, b in itertools.pairwise(together)]
    if together[-1][1] < until:
        gaps.append((until - together[-1][1], together[-1][1], until))
    if not gaps:
        return 0.0, (), None
    longest, start, end = max(gaps)
    middle = (start + end) / 2
    who = tuple(name for name, s in on.items() if not any(a <= middle < b for a, b in s))
    return longest, who, start
