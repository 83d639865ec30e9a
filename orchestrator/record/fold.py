"""A run folded for the eye: per conference, per participant, its legs and marks over time.

``RunFold`` takes events one at a time, in the order of the stream (a live page can feed it
as they come; ``history`` feeds it the log), and keeps for each participant its legs (dialed,
connected, ended, and what the API said of them afterwards), the settings the file wanted on
each leg (muted, hold, whom it coaches) from the moment they were sent, and the marks worth a
glance (a refused dial, a fallback, a machine, a drop, a redial, a hang-up). ``spans`` turns a
participant into the intervals a timeline draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator.engine import events as ev
from orchestrator.engine.results import State
from orchestrator.record import facts
from orchestrator.record.codec import parse_iso

# Why apply or down hung a leg up, as a person reads it.
HUNG_UP_BY = {
    "prune": "hung up by apply --prune",
    "down": "hung up by down",
    "redial": "hung up for a redial",
    "machine": "a machine answered; hung up",
    "not_sure": "detection could not tell who answered; hung up",
}
ENDED_AS = {
    "busy": "busy",
    "no-answer": "no answer",
    "failed": "failed",
    "hung-up": "left the conference",
    "machine": "a machine answered",
    "unknown": "ended (how is not known)",
}


def _closer(stamp: Any, seen: float | None) -> float | None:
    """The API's time (``stamp``, to the second), or the run's own sight within that second."""
    if not isinstance(stamp, str):
        return seen
    try:
        moment = parse_iso(stamp)
    except ValueError:
        return seen
    return seen if seen is not None and moment <= seen < moment + 1 else moment


@dataclass(frozen=True)
class Settings:
    """How a leg is held from ``at`` on: what the file wanted when it was dialed or updated."""

    at: float
    muted: bool = False
    hold: bool = False
    coaching: str | None = None


@dataclass(frozen=True)
class Mark:
    at: float
    kind: str  # refused, paced, lost, fallback, retry, machine, drop, redial, unanswered, hangup
    label: str


@dataclass
class Leg:
    """One call of a participant."""

    call_sid: str | None
    to: str
    dialed_at: float | None  # None: live before this run
    connected_at: float | None = None
    ended_at: float | None = None  # when the run saw it end
    how: str | None = None  # how it ended, as the run saw it (ENDED_AS, HUNG_UP_BY)
    answered_by: str | None = None
    learned: dict[str, Any] = field(default_factory=dict)  # the API's word (facts.CALL_FIELDS)

    @property
    def end(self) -> float | None:
        """When it ended: the API's time if it gave one, which is to the second: the run's own
        sight of the end within that second is the closer one (never before the leg began)."""
        moment = _closer(self.learned.get("ended_at"), self.ended_at)
        if moment is None:
            return None
        return max(moment, self.connected_at or self.dialed_at or moment)

    @property
    def cause(self) -> str | None:
        """How it ended, in words: the run's own knowledge first, then the API's status."""
        status = self.learned.get("status")
        words = self.how
        if words is None and isinstance(status, str):
            words = {"completed": "hung up", "no-answer": "no answer"}.get(status, status)
        cause = self.learned.get("hangup_cause")
        if words is not None and isinstance(cause, str) and cause:
            words += f" (hangup cause {cause})"
        return words


@dataclass
class Lane:
    """One participant of a conference."""

    name: str
    role: str = "-"
    to: str = "-"
    desired: State | None = None
    wanted_settings: Settings = field(default_factory=lambda: Settings(0.0))
    legs: list[Leg] = field(default_factory=list)
    settings: list[Settings] = field(default_factory=list)  # as sent, in order
    marks: list[Mark] = field(default_factory=list)

    @property
    def wanted(self) -> bool:
        """The file wants this participant connected (strays and --no-wait runs aside)."""
        return self.desired == State.CONNECTED

    def leg_for(self, call_sid: str | None) -> Leg | None:
        """The leg of ``call_sid``; else the last leg (one whose SID the run did not learn)."""
        if call_sid is not None:
            for leg in reversed(self.legs):
                if leg.call_sid == call_sid:
                    return leg
            last = self.legs[-1] if self.legs else None
            if last is not None and last.call_sid is None:
                last.call_sid = call_sid
                return last
            return None
        return self.legs[-1] if self.legs else None


@dataclass
class ConferenceFold:
    file: str
    name: str
    planned_at: float
    sid: str | None = None
    status: str | None = None
    ended_at: float | None = None  # when the run saw it completed
    learned: dict[str, Any] = field(default_factory=dict)  # facts.CONFERENCE_FIELDS
    lanes: dict[str, Lane] = field(default_factory=dict)
    marks: list[Mark] = field(default_factory=list)  # the conference's own (paused dials)
    recordings: list[facts.RecordingKept] = field(default_factory=list)
    not_kept: dict[str, str] = field(default_factory=dict)  # recording SID -> why
    last_at: float = 0.0

    @property
    def end(self) -> float | None:
        """When it ended: as ``Leg.end``, the API's second or the run's sight within it."""
        return _closer(self.learned.get("ended_at"), self.ended_at)

    @property
    def start(self) -> float | None:
        """When the conference began: the API's creation time (or, within its second, the run's
        first dial, which made it), else its first connection."""
        legs = [leg for lane in self.lanes.values() for leg in lane.legs]
        dialed = min((leg.dialed_at for leg in legs if leg.dialed_at is not None), default=None)
        if isinstance(self.learned.get("created_at"), str):
            return _closer(self.learned["created_at"], dialed)
        return min((leg.connected_at for leg in legs if leg.connected_at is not None), default=None)

    def lane(self, name: str) -> Lane:
        found = self.lanes.get(name)
        if found is None:
            found = self.lanes[name] = Lane(name)
        return found


class RunFold:
    """Events in, conferences out; events it has no use for are passed over."""

    def __init__(self) -> None:
        self.conferences: dict[str, ConferenceFold] = {}
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._paused: list[Mark] = []

    def add(self, event: ev.Event) -> None:
        self.first_at = event.at if self.first_at is None else min(self.first_at, event.at)
        # What the API said afterwards is not when the run last did something.
        if event.source != "api" or self.last_at is None:
            self.last_at = event.at if self.last_at is None else max(self.last_at, event.at)
        if isinstance(event, ev.DialPaused):
            mark = Mark(event.at, "paced", f"dials paused {event.seconds:.1f}s")
            self._paused.append(mark)
            for conference in self.conferences.values():
                conference.marks.append(mark)
            return
        if not event.file:
            return
        conference = self._conference(event)
        if event.source != "api":
            conference.last_at = max(conference.last_at, event.at)
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(conference, event)

    def _conference(self, event: ev.Event) -> ConferenceFold:
        found = self.conferences.get(event.file)
        if found is None:
            found = self.conferences[event.file] = ConferenceFold(
                event.file, event.conference, event.at, marks=list(self._paused)
            )
        return found


def _planned(conference: ConferenceFold, event: ev.ConferencePlanned) -> None:
    conference.sid = event.sid or conference.sid
    conference.status = event.status or conference.status
    for row in event.rows:
        lane = conference.lane(row.name)
        lane.role, lane.to, lane.desired = row.role, row.to, row.desired
        lane.wanted_settings = Settings(event.at, row.muted, row.hold, row.coaching)
        if row.call_sid is not None and lane.leg_for(row.call_sid) is None:
            # Live before this run (an earlier apply's call): it is on from here.
            connected = event.at if row.observed == State.CONNECTED else None
            lane.legs.append(Leg(row.call_sid, row.to, None, connected_at=connected))
            lane.settings.append(lane.wanted_settings)


def _seen(conference: ConferenceFold, event: ev.ConferenceSeen) -> None:
    conference.sid = event.sid or conference.sid
    conference.status = event.status or conference.status
    if event.status == "completed" and conference.ended_at is None:
        conference.ended_at = event.at
        for lane in conference.lanes.values():
            for leg in lane.legs:
                if leg.ended_at is None and (leg.connected_at or leg.dialed_at):
                    leg.ended_at = event.at
                    leg.how = leg.how or "the conference ended"


def _dial(conference: ConferenceFold, event: ev.CallPlaced | ev.AnswerLost) -> None:
    lane = conference.lane(event.participant)
    lane.to = event.destination
    call_sid = event.call_sid if isinstance(event, ev.CallPlaced) else None
    if isinstance(event, ev.CallPlaced) and event.how == "found" and lane.legs:
        last = lane.legs[-1]
        if last.call_sid is None and last.ended_at is None:
            last.call_sid = call_sid  # the call a lost answer had placed
            return
    if isinstance(event, ev.CallPlaced) and event.how == "adopted":
        lane.marks.append(Mark(event.at, "adopted", "adopted (dialed by another apply)"))
    lane.legs.append(Leg(call_sid, event.destination, event.at))
    lane.settings.append(Settings(event.at, *_values(lane.wanted_settings)))
    if isinstance(event, ev.AnswerLost):
        lane.marks.append(Mark(event.at, "lost", f"dial's answer lost ({event.shown})"))


def _values(settings: Settings) -> tuple[bool, bool, str | None]:
    return settings.muted, settings.hold, settings.coaching


def _ruled_out(conference: ConferenceFold, event: ev.LostAnswerRuledOut) -> None:
    lane = conference.lane(event.participant)
    if lane.legs and lane.legs[-1].call_sid is None:
        lane.legs.pop()  # that dial placed nothing after all


def _connected(conference: ConferenceFold, event: ev.Connected) -> None:
    lane = conference.lane(event.participant)
    leg = lane.leg_for(event.call_sid)
    if leg is None:
        leg = Leg(event.call_sid, lane.to, None)
        lane.legs.append(leg)
    if leg.connected_at is None or leg.ended_at is not None:
        leg.connected_at = event.at
        leg.ended_at, leg.how = None, None


def _ended(conference: ConferenceFold, event: ev.LegEnded | ev.HungUp) -> None:
    lane = conference.lane(event.participant)
    leg = lane.leg_for(event.call_sid)
    if leg is None:
        return
    if isinstance(event, ev.HungUp):
        leg.how = HUNG_UP_BY[event.why]
        if event.why in ("prune", "down"):
            lane.marks.append(Mark(event.at, "hangup", leg.how))
    elif leg.how is None:
        leg.how = ENDED_AS.get(event.state, event.state)
        if event.state in ("busy", "no-answer", "failed") and leg.connected_at is None:
            lane.marks.append(Mark(event.at, "unreached", leg.how))
    if leg.ended_at is None:
        leg.ended_at = event.at


def _detected(conference: ConferenceFold, event: ev.MachineDetected) -> None:
    lane = conference.lane(event.participant)
    leg = lane.leg_for(None)
    if leg is not None:
        leg.answered_by = event.answered_by or "not_sure"
    if event.verdict != "human":
        what = "machine answered" if event.verdict == "machine" else "detection not sure"
        lane.marks.append(Mark(event.at, "machine", f"{what} ({event.action})"))


def _updated(conference: ConferenceFold, event: ev.Updated) -> None:
    lane = conference.lane(event.participant)
    lane.settings.append(Settings(event.at, *_values(lane.wanted_settings)))


def _mark(kind: str, words: Any) -> Any:
    def handle(conference: ConferenceFold, event: ev.ParticipantEvent) -> None:
        conference.lane(event.participant).marks.append(Mark(event.at, kind, words(event)))

    return handle


def _refused(conference: ConferenceFold, event: ev.DialRefused) -> None:
    kind = "paced" if event.status == 429 else "refused"
    label = "dial paced (429)" if event.status == 429 else f"dial refused (HTTP {event.status})"
    conference.lane(event.participant).marks.append(Mark(event.at, kind, label))


def _learned_call(conference: ConferenceFold, event: facts.CallLearned) -> None:
    lane = conference.lane(event.participant)
    leg = lane.leg_for(event.call_sid)
    if leg is None:
        leg = Leg(event.call_sid, lane.to, None)
        lane.legs.append(leg)
    leg.learned[event.field] = event.value
    if event.field == "answered_by" and isinstance(event.value, str):
        leg.answered_by = leg.answered_by or event.value


def _learned_conference(conference: ConferenceFold, event: facts.ConferenceLearned) -> None:
    conference.sid = conference.sid or event.sid
    conference.learned[event.field] = event.value
    if event.field == "status" and isinstance(event.value, str):
        conference.status = event.value


def _kept(conference: ConferenceFold, event: facts.RecordingKept) -> None:
    conference.not_kept.pop(event.recording_sid, None)
    if all(r.recording_sid != event.recording_sid for r in conference.recordings):
        conference.recordings.append(event)


def _not_kept(conference: ConferenceFold, event: facts.RecordingNotKept) -> None:
    if all(r.recording_sid != event.recording_sid for r in conference.recordings):
        conference.not_kept[event.recording_sid] = event.why


_HANDLERS: dict[type[ev.Event], Any] = {
    ev.ConferencePlanned: _planned,
    ev.ConferenceSeen: _seen,
    ev.CallPlaced: _dial,
    ev.AnswerLost: _dial,
    ev.LostAnswerRuledOut: _ruled_out,
    ev.Connected: _connected,
    ev.LegEnded: _ended,
    ev.HungUp: _ended,
    ev.MachineDetected: _detected,
    ev.Updated: _updated,
    ev.DialRefused: _refused,
    ev.Fallback: _mark("fallback", lambda e: f"fallback to number {e.number} after {e.after}"),
    ev.Retrying: _mark("retry", lambda e: f"dialed again after {e.after}"),
    ev.Dropped: _mark("drop", lambda e: f"dropped; {e.next}"),
    ev.Redialing: _mark("redial", lambda e: f"redial {e.number} of {e.of}"),
    ev.RedialUnanswered: _mark(
        "unanswered", lambda e: f"redial {e.number} of {e.of} not answered ({e.after})"
    ),
    facts.CallLearned: _learned_call,
    facts.ConferenceLearned: _learned_conference,
    facts.RecordingKept: _kept,
    facts.RecordingNotKept: _not_kept,
}
