"""The simulated account's records: conferences, call legs, recordings and callback subscriptions.

Plain data with the few questions every reader asks of it (is a leg live, which
live leg has this SID or Label). How records change over time is in
``lifecycle``; how they look on the wire is in ``resources`` and ``events``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

from orchestrator.clock import Timer
from orchestrator.sandbox.scenario import DEFAULT_BEHAVIOUR, NumberBehaviour
from orchestrator.texml import contract
from orchestrator.texml.contract import (
    AmdAnsweredBy,
    AnsweredBy,
    CallStatus,
    ConferenceEndReason,
    ConferenceStatus,
    FieldValue,
    ParticipantResource,
    ParticipantStatus,
    RecordingStatus,
)

# The join values of a leg that joins nothing by itself (a dialed leg): one shared, empty.
NO_VALUES: Final[Mapping[str, FieldValue]] = MappingProxyType({})


def is_uuid(text: str) -> bool:
    """True for a canonical UUID (a conference SID), as opposed to a friendly name."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return len(text) == 36


@dataclass(frozen=True)
class Subscription:
    """A callback URL given on a dial, with its method and the events it asked for."""

    url: str
    method: str
    events: frozenset[str]


@dataclass(frozen=True)
class Detection:
    """Answering-machine detection a call asked for (MachineDetection and its settings).

    ``blocking``: a placed call's TeXML waits for the result (InitiateTexmlCall
    without AsyncAmd=true, as documented); a dialed leg is in its conference
    from the dial on, so nothing of it waits.
    """

    mode: str  # Enable or DetectMessageEnd
    timeout_ms: int
    subscription: Subscription | None  # AmdStatusCallback (or AsyncAmdStatusCallback)
    blocking: bool = False


@dataclass(frozen=True)
class Departed:
    """A participant hung up through the API that the participant endpoints still return
    (``api.hangup_lag_s``): the resource as it was just before, until ``until``."""

    seq: int
    call_sid: str
    label: str | None
    until: float  # a moment of the sandbox's clock
    view: ParticipantResource


@dataclass(eq=False)
class Recording:
    sid: str
    seq: int
    conference: Conference
    call_sid: str | None
    source: str
    channels: int
    subscription: Subscription | None
    created: datetime
    started_at: float  # a moment of the sandbox's clock
    status: RecordingStatus = "processing"
    duration: int | None = None
    updated: datetime | None = None


# Slots, and shared empty values where a leg has none of its own: the sandbox keeps every
# leg it placed, and each object a leg holds is one more for every garbage collection to visit.
@dataclass(eq=False, slots=True)
class Leg:
    """One call leg: the Calls resource, and the participant while it is in a conference.

    A dialed leg is in its conference from the dial on. A leg placed by
    InitiateTexmlCall has no conference until it answers: ``join_name`` and
    ``join_values`` say which conference its TeXML joins, and how.
    """

    sid: str
    legacy_sid: str
    seq: int
    conference: Conference | None
    label: str | None
    to: str
    from_: str | None
    created: datetime
    updated: datetime
    dialed_at: float  # seconds since the sandbox started
    muted: bool
    hold: bool
    coaching: bool
    coach_target: str | None
    start_conference_on_enter: bool
    end_conference_on_exit: bool
    beep_on_exit: bool
    # What it hears while the conference waits to start, and while on hold (None: the
    # API's own); kept as told, since the sandbox plays no audio and no resource shows them.
    wait_url: str | None
    hold_url: str | None
    timeout_s: int
    time_limit_s: int | None
    status_subscription: Subscription | None
    record: bool
    recording_channels: int
    recording_subscription: Subscription | None
    join_name: str | None = None
    join_values: Mapping[str, FieldValue] = field(default_factory=lambda: NO_VALUES)
    custom_headers: tuple[dict[str, str], ...] = ()  # as the call would carry
    # Monotonic seconds from which the Calls resource, and the participant list, show the leg.
    known_at: float = 0.0
    listed_at: float = 0.0
    call_status: CallStatus = "ringing"
    answered: datetime | None = None
    answered_at: float | None = None  # a moment of the sandbox's clock, for durations
    ended: datetime | None = None
    ended_at: float | None = None  # a moment: a duration ends here, not at the next read
    # Why the leg ended, as the completed callback's HangupCause and HangupSource say it.
    hangup_cause: str = ""
    hangup_source: str = ""
    recording: Recording | None = None
    callback_sequence: int = 0
    timers: list[Timer] = field(default_factory=list)
    # What the scenario says this call to its number does (its first or a later call).
    behaviour: NumberBehaviour = DEFAULT_BEHAVIOUR
    detection: Detection | None = None
    # The detection's result once it is in: the Calls resource's answered_by (human,
    # machine, not_sure) and the AMD callback's AnsweredBy (see lifecycle).
    answered_by: AnsweredBy | None = None
    amd_result: AmdAnsweredBy | None = None
    # api.create_by_name app-texml: the conference SID the dial's answer named, which no
    # conference has (the call runs the application's TeXML and joins none).
    app_conference_sid: str | None = None
    # Placed over the account's concurrent-call limit: failing, and not counted as live.
    over_limit: bool = False

    @property
    def live(self) -> bool:
        return self.call_status in contract.CALL_LIVE_STATUSES

    @property
    def in_app_texml(self) -> bool:
        """Dialed into a friendly name under ``create_by_name: app-texml``: in no conference."""
        return self.app_conference_sid is not None

    @property
    def initiated(self) -> bool:
        """Placed by InitiateTexmlCall rather than dialed into a conference."""
        return self.join_name is not None

    @property
    def participant_status(self) -> ParticipantStatus:
        if self.call_status == "in-progress":
            return "connected"
        return "connecting" if self.live else "completed"

    @property
    def room(self) -> Conference:
        """The conference of a leg known to be in one (participant endpoints find it there)."""
        if self.conference is None:
            raise RuntimeError(f"call {self.sid} is in no conference")
        return self.conference


@dataclass(eq=False)
class Conference:
    sid: str
    seq: int
    friendly_name: str
    created: datetime
    updated: datetime
    max_participants: int
    status: ConferenceStatus = "init"
    reason_ended: ConferenceEndReason | None = None
    call_sid_ending: str | None = None
    ever_joined: bool = False
    ending: bool = False
    # Live legs by call SID in join order, and by Label (oldest first: a Label is
    # held by one leg unless the scenario allows duplicates): every dial and lookup
    # reads them, so they are indexed rather than filtered from every leg ever.
    live: dict[str, Leg] = field(default_factory=dict)
    live_by_label: dict[str, list[Leg]] = field(default_factory=dict)
    subscriptions: list[Subscription] = field(default_factory=list)
    record: bool = False
    recording_subscription: Subscription | None = None
    recording: Recording | None = None
    recordings: list[Recording] = field(default_factory=list)
    callback_sequence: int = 0
    # Participants hung up through the API that reads still return (api.hangup_lag_s).
    departed: dict[str, Departed] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return len(self.live) >= self.max_participants

    def live_legs(self) -> list[Leg]:
        return list(self.live.values())

    def live_leg(self, call_sid_or_label: str) -> Leg | None:
        """The live leg with this call SID, or the newest live leg with this Label."""
        leg = self.live.get(call_sid_or_label)
        if leg is not None:
            return leg
        labelled = self.live_by_label.get(call_sid_or_label)
        return labelled[-1] if labelled else None

    def still_shown(self, now: float) -> list[Departed]:
        """The departed participants that reads still return at ``now`` (forgets the rest)."""
        for sid in [sid for sid, gone in self.departed.items() if gone.until <= now]:
            del self.departed[sid]
        return list(self.departed.values())

    def departed_one(self, call_sid_or_label: str, now: float) -> Departed | None:
        """The departed participant with this call SID, or the newest with this Label."""
        shown = self.still_shown(now)
        for gone in shown:
            if gone.call_sid == call_sid_or_label:
                return gone
        labelled = [gone for gone in shown if gone.label == call_sid_or_label]
        return max(labelled, key=lambda gone: gone.seq) if labelled else None

    def join(self, leg: Leg) -> None:
        self.live[leg.sid] = leg
        if leg.label is not None:
            self.live_by_label.setdefault(leg.label, []).append(leg)

    def leave(self, leg: Leg) -> None:
        self.live.pop(leg.sid, None)
        if leg.label is None:
            return
        labelled = self.live_by_label.get(leg.label)
        if labelled is not None and leg in labelled:
            labelled.remove(leg)
            if not labelled:
                del self.live_by_label[leg.label]


@dataclass(eq=False)
class Account:
    """Everything the account holds, and where its clients reach it.

    ``public_base`` is the API's base URL: the path prefix until the server is
    listening, then the absolute URL, so media URLs in answers and webhooks work.
    """

    sid: str
    public_base: str
    conferences: dict[str, Conference] = field(default_factory=dict)
    calls: dict[str, Leg] = field(default_factory=dict)
    dials: list[Leg] = field(default_factory=list)  # every leg placed, in order

    def conference(self, sid: str) -> Conference | None:
        """The conference with this SID, in any case; None for an unknown SID or a name."""
        # SIDs are kept in canonical form: a SID as given is found without parsing it.
        found = self.conferences.get(sid)
        if found is None and is_uuid(sid):
            found = self.conferences.get(sid.lower())
        return found

    def running_conference(self, friendly_name: str) -> Conference | None:
        """The newest conference of this name that has not ended."""
        running = [
            c
            for c in self.conferences.values()
            if c.friendly_name == friendly_name and c.status != "completed"
        ]
        return max(running, key=lambda c: c.seq) if running else None

    def recording(self, sid: str) -> Recording | None:
        for recording in self.all_recordings():
            if recording.sid == sid:
                return recording
        return None

    def all_recordings(self) -> Iterator[Recording]:
        for conference in self.conferences.values():
            yield from conference.recordings
