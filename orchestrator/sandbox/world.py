"""The simulated world: conferences, call legs and recordings, and how they change over time.

Everything here is synchronous and runs on the event loop's thread: request
handlers call in after reading the body, and simulated time advances through
``loop.call_later`` timers. Because nothing awaits between looking a conference
up and inserting a new one, concurrent dials to one new name create exactly one
conference.

Randomness (SIDs, fault draws) comes from generators seeded by the scenario,
so the same scenario and the same sequence of requests give the same SIDs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final

from orchestrator.sandbox.callbacks import Webhook
from orchestrator.sandbox.documents import parse_conference_dial
from orchestrator.sandbox.fields import (
    E164_OR_SIP,
    ApiFailure,
    events_of,
    flag_of,
    int_of,
    invalid,
    text_of,
)
from orchestrator.sandbox.scenario import DEFAULT_REJECT_SECONDS, Scenario
from orchestrator.texml import contract
from orchestrator.texml.contract import (
    CallResource,
    ConferenceResource,
    FieldValue,
    ParticipantResource,
    RecordingResource,
)

log = logging.getLogger("orchestrator.sandbox")

API_PREFIX: Final = "/v2"
API_VERSION: Final = "v2/texml"
REGION: Final = "sandbox"
LIVE_CALL_STATUSES: Final = ("queued", "ringing", "in-progress")


def rfc2822(moment: datetime) -> str:
    """``Fri, 27 Oct 2023 07:41:58 +0000``, as the API writes dates."""
    return format_datetime(moment.replace(microsecond=0))


def is_uuid(text: str) -> bool:
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
    started_at: float  # monotonic seconds
    status: str = "processing"
    duration: int | None = None
    updated: datetime | None = None


@dataclass(eq=False)
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
    timeout_s: int
    time_limit_s: int | None
    status_subscription: Subscription | None
    record: bool
    recording_channels: int
    recording_subscription: Subscription | None
    join_name: str | None = None
    join_values: dict[str, FieldValue] = field(default_factory=dict)
    custom_headers: list[dict[str, str]] = field(default_factory=list)  # as the call would carry
    # Monotonic seconds from which the Calls resource, and the participant list, show the leg.
    known_at: float = 0.0
    listed_at: float = 0.0
    call_status: str = "ringing"
    answered: datetime | None = None
    answered_at: float | None = None  # monotonic, for durations
    ended: datetime | None = None
    recording: Recording | None = None
    callback_sequence: int = 0
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    @property
    def live(self) -> bool:
        return self.call_status in LIVE_CALL_STATUSES

    @property
    def initiated(self) -> bool:
        """Placed by InitiateTexmlCall rather than dialed into a conference."""
        return self.join_name is not None

    @property
    def participant_status(self) -> str:
        if self.call_status in ("queued", "ringing"):
            return "connecting"
        if self.call_status == "in-progress":
            return "connected"
        return "completed"


@dataclass(eq=False)
class Conference:
    sid: str
    seq: int
    friendly_name: str
    created: datetime
    updated: datetime
    max_participants: int
    status: str = "init"
    reason_ended: str | None = None
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

    def live_legs(self) -> list[Leg]:
        return list(self.live.values())

    def live_leg(self, call_sid_or_label: str) -> Leg | None:
        """The live leg with this call SID, or the newest live leg with this Label."""
        leg = self.live.get(call_sid_or_label)
        if leg is not None:
            return leg
        labelled = self.live_by_label.get(call_sid_or_label)
        return labelled[-1] if labelled else None

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


class Simulation:
    """The account's state and the rules by which it changes."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        account_sid: str,
        notify: Callable[[Webhook], None],
    ) -> None:
        self.scenario = scenario
        self.account_sid = account_sid
        self.public_base = API_PREFIX  # replaced by the absolute base URL once listening
        self._notify = notify
        self._ids = random.Random(f"{scenario.seed}:ids")
        self._faults = random.Random(f"{scenario.seed}:faults")
        self._started = time.monotonic()
        self._seq = 0
        self.conferences: dict[str, Conference] = {}
        self.calls: dict[str, Leg] = {}
        self.dials: list[Leg] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self.closed = False

    # Clock and randomness ---------------------------------------------------

    def restart_clock(self) -> None:
        self._started = time.monotonic()

    def uptime(self) -> float:
        return time.monotonic() - self._started

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def _new_call_sid(self) -> tuple[str, str]:
        raw = self._ids.getrandbits(320).to_bytes(40, "big")
        token = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        legacy = self._ids.getrandbits(128).to_bytes(16, "big").hex()
        return f"v3:{token}", f"v2:{legacy}"

    def draw_fault(self) -> float:
        return self._faults.random()

    def _later(self, seconds: float, action: Callable[[], None], leg: Leg | None = None) -> None:
        """Run ``action`` after ``seconds`` of simulated time (scaled by time_scale)."""
        if self.closed:
            return
        delay = self._real_seconds(seconds)
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            handle = holder[0]
            self._timers.discard(handle)
            if leg is not None and handle in leg.timers:
                leg.timers.remove(handle)
            try:
                action()
            except Exception:  # a bug in one transition must not stop the others
                log.exception("sandbox: simulated event failed")

        handle = loop.call_later(delay, fire)
        holder.append(handle)
        self._timers.add(handle)
        if leg is not None:
            leg.timers.append(handle)

    def _real_seconds(self, simulated: float) -> float:
        return max(0.0, simulated * self.scenario.time_scale)

    def close(self) -> None:
        """Stop simulated time: cancel every pending timer."""
        self.closed = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    # Dialing ----------------------------------------------------------------

    def dial(self, conference_ref: str, values: dict[str, FieldValue]) -> Leg:
        """Check a dial against the state and carry it out; raises ApiFailure without side effects."""
        to = _destination(values)
        from_ = text_of(values, "From")
        _check_caller_id(values)
        label = text_of(values, "Label")
        conference = self._conference_for_dial(conference_ref, values)
        if conference is not None:
            self._check_room(conference, values, label)
        elif flag_of(values, "Coaching", False):
            self._coach_target(None, values, None)  # nobody to coach in a conference not yet there

        if conference is None:
            conference = self._create_conference(conference_ref, values)
        leg = self._create_leg(values, to=to, from_=from_, label=label)
        self._enter(conference, leg, values)
        self._start(leg)
        return leg

    def initiate_call(self, values: dict[str, FieldValue]) -> Leg:
        """Place a call running the inline TeXML in ``values`` (InitiateTexmlCall).

        The call joins the document's conference only once answered. Raises
        ApiFailure without side effects.
        """
        to = _destination(values)
        for name, what in (
            ("From", "the caller's number"),
            ("ApplicationSid", "the TeXML application that handles the call"),
        ):
            if text_of(values, name) is None:
                raise invalid(
                    name, f"{name} is required: {what}", code=contract.CODE_MISSING_PARAMETER
                )
        _check_caller_id(values)
        texml = text_of(values, "Texml")
        if texml is None:
            if text_of(values, "Url") is not None:
                raise invalid(
                    "Url",
                    "the sandbox runs inline TeXML only and fetches nothing from Url:"
                    " give the document itself as Texml",
                )
            raise invalid(
                "Texml",
                "Texml is required: the sandbox runs inline TeXML only (it fetches nothing"
                " from Url or from the application)",
                code=contract.CODE_MISSING_PARAMETER,
            )
        document = parse_conference_dial(texml)
        call_fields = {k: v for k, v in values.items() if k in _INITIATE_LEG_FIELDS}
        leg = self._create_leg(
            {**call_fields, **document.values},
            to=to,
            from_=text_of(values, "From"),
            label=None,  # TeXML's <Conference> noun has no label attribute
            join_name=document.name,
        )
        self._start(leg)
        return leg

    def _conference_for_dial(self, ref: str, values: dict[str, FieldValue]) -> Conference | None:
        """The conference a dial joins, or None when it is to create one named ``ref``."""
        if is_uuid(ref):
            conference = self.conferences.get(ref.lower())
            if conference is None:
                raise not_found(f"no conference {ref} in this account")
            if conference.status == "completed":
                raise ApiFailure(
                    422,
                    contract.CODE_BAD_REQUEST,
                    "Conference has ended",
                    f"conference {ref} has ended; dial into a new one by name with an ApplicationSid",
                )
            return conference
        if not self.scenario.api.create_by_name:
            raise not_found(
                f"no conference {ref}: a friendly name does not name or create a conference here;"
                " a TeXML <Dial><Conference> executed for a call (POST .../Calls,"
                " InitiateTexmlCall) creates one, then dial into its conference SID",
            )
        if text_of(values, "ApplicationSid") is None:
            raise not_found(
                f"no conference {ref}; to create one by name, give an ApplicationSid",
            )
        running = [
            c
            for c in self.conferences.values()
            if c.friendly_name == ref and c.status != "completed"
        ]
        return max(running, key=lambda c: c.seq) if running else None

    def _check_room(
        self, conference: Conference, values: dict[str, FieldValue], label: str | None
    ) -> None:
        if (
            label is not None
            and label in conference.live_by_label
            and self.scenario.api.duplicate_labels == "reject"
        ):
            raise invalid("Label", f"a participant labelled {label!r} is already in the conference")
        if len(conference.live) >= conference.max_participants:
            raise invalid(
                "MaxParticipants",
                f"the conference is full ({conference.max_participants} participants, its MaxParticipants)",
            )
        if flag_of(values, "Coaching", False):
            self._coach_target(conference, values, None)

    def _coach_target(
        self, conference: Conference | None, values: dict[str, FieldValue], current: Leg | None
    ) -> str:
        target = text_of(values, "CallSidToCoach")
        if target is None and current is not None:
            target = current.coach_target
        if target is None:
            raise invalid(
                "CallSidToCoach",
                "Coaching=true needs CallSidToCoach: the call SID of the participant to coach",
                code=contract.CODE_MISSING_PARAMETER,
            )
        coached = None if conference is None else conference.live_leg(target)
        if coached is None or coached.sid != target:
            raise invalid(
                "CallSidToCoach",
                f"CallSidToCoach {target} is not a live participant of this conference",
            )
        if current is not None and coached is current:
            raise invalid("CallSidToCoach", "a participant cannot coach itself")
        return target

    def _create_conference(self, name: str, values: dict[str, FieldValue]) -> Conference:
        now = datetime.now(UTC)
        conference = Conference(
            sid=self._new_uuid(),
            seq=self._next_seq(),
            friendly_name=name,
            created=now,
            updated=now,
            max_participants=int_of(values, "MaxParticipants") or contract.DEFAULT_MAX_PARTICIPANTS,
        )
        self.conferences[conference.sid] = conference
        log.info("conference %s created as %r (status init)", conference.sid, name)
        return conference

    def _create_leg(
        self,
        values: dict[str, FieldValue],
        *,
        to: str,
        from_: str | None,
        label: str | None,
        join_name: str | None = None,
    ) -> Leg:
        """A new leg, known to Calls and /_sandbox/dials, in no conference yet."""
        sid, legacy = self._new_call_sid()
        now = datetime.now(UTC)
        coaching = flag_of(values, "Coaching", False)
        channels = 2 if values.get("RecordingChannels") == "dual" else 1
        leg = Leg(
            sid=sid,
            legacy_sid=legacy,
            seq=self._next_seq(),
            conference=None,
            label=label,
            to=to,
            from_=from_,
            created=now,
            updated=now,
            dialed_at=self.uptime(),
            muted=flag_of(values, "Muted", False),
            hold=False,
            coaching=coaching,
            coach_target=text_of(values, "CallSidToCoach"),
            start_conference_on_enter=flag_of(values, "StartConferenceOnEnter", True),
            end_conference_on_exit=flag_of(values, "EndConferenceOnExit", False),
            beep_on_exit=values.get("Beep") in ("true", "onExit"),
            timeout_s=int_of(values, "Timeout") or contract.DEFAULT_TIMEOUT_S,
            time_limit_s=int_of(values, "TimeLimit"),
            status_subscription=_subscription(
                values, "StatusCallback", default_events=("completed",)
            ),
            record=flag_of(values, "Record", False),
            recording_channels=channels,
            recording_subscription=_subscription(
                values, "RecordingStatusCallback", default_events=("completed",)
            ),
            join_name=join_name,
            join_values=dict(values) if join_name is not None else {},
            custom_headers=_custom_headers(values),
            known_at=time.monotonic() + self._real_seconds(self.scenario.api.calls_lag_s),
            call_status="queued" if join_name is not None else "ringing",
        )
        self.calls[sid] = leg
        self.dials.append(leg)
        return leg

    def _enter(self, conference: Conference, leg: Leg, values: dict[str, FieldValue]) -> None:
        """Put ``leg`` into ``conference`` with the conference settings its request carried."""
        leg.conference = conference
        leg.listed_at = time.monotonic() + self._real_seconds(
            self.scenario.api.participant_list_lag_s
        )
        conference.join(leg)
        conference.updated = datetime.now(UTC)
        if (
            values.get("ConferenceRecord") in ("true", "record-from-start")
            and not conference.record
        ):
            conference.record = True
            conference.recording_subscription = _subscription(
                values, "ConferenceRecordingStatusCallback", default_events=("completed",)
            )
            if conference.status == "in-progress":
                self._start_conference_recording(conference)
        self._register_conference_callbacks(conference, values)

    def _register_conference_callbacks(
        self, conference: Conference, values: dict[str, FieldValue]
    ) -> None:
        subscription = _subscription(values, "ConferenceStatusCallback", default_events=())
        if subscription is None or not subscription.events:
            return
        for i, known in enumerate(conference.subscriptions):
            if (known.url, known.method) == (subscription.url, subscription.method):
                conference.subscriptions[i] = Subscription(
                    known.url, known.method, known.events | subscription.events
                )
                return
        conference.subscriptions.append(subscription)

    # Leg lifecycle ----------------------------------------------------------

    def _start(self, leg: Leg) -> None:
        behaviour = self.scenario.behaviour(leg.to)
        if leg.conference is not None:
            log.info(
                "call %s dialed to %s%s into conference %s",
                leg.sid,
                leg.to,
                f" (label {leg.label})" if leg.label else "",
                leg.conference.sid,
            )
        else:
            log.info("call %s placed to %s for conference %r", leg.sid, leg.to, leg.join_name)
        self._call_event(leg, "initiated", "initiated")
        if behaviour.answer == "fail":
            self._later(
                _or(behaviour.seconds, DEFAULT_REJECT_SECONDS),
                lambda: self.end_leg(leg, "failed"),
                leg,
            )
            return
        leg.call_status = "ringing"
        self._call_event(leg, "ringing", "ringing")
        if behaviour.answer == "busy":
            self._later(
                _or(behaviour.seconds, DEFAULT_REJECT_SECONDS),
                lambda: self.end_leg(leg, "busy"),
                leg,
            )
            return
        if behaviour.answer == "no-answer":
            self._later(leg.timeout_s, lambda: self.end_leg(leg, "no-answer"), leg)
            return
        answer_after = (
            _or(behaviour.seconds, 0.0)
            if behaviour.answer == "after"
            else self.scenario.ring_seconds
        )
        if answer_after > leg.timeout_s:
            self._later(leg.timeout_s, lambda: self.end_leg(leg, "no-answer"), leg)
            return
        self._later(answer_after, lambda: self._answer(leg), leg)

    def _answer(self, leg: Leg) -> None:
        if not leg.live:
            return
        now = datetime.now(UTC)
        leg.call_status = "in-progress"
        leg.answered = now
        leg.answered_at = time.monotonic()
        leg.updated = now
        conference = leg.conference if leg.conference is not None else self._join_answered(leg)
        if conference is None:
            return
        conference.updated = now
        conference.ever_joined = True
        log.info("call %s answered; participant connected", leg.sid)
        self._call_event(leg, "answered", "in-progress")
        self._conference_event(conference, "join", "participant-join", leg)
        if leg.record:
            self._start_leg_recording(leg)
        if conference.status == "init" and leg.start_conference_on_enter:
            conference.status = "in-progress"
            log.info("conference %s in-progress", conference.sid)
            self._conference_event(conference, "start", "conference-start", leg)
            if conference.record:
                self._start_conference_recording(conference)
        behaviour = self.scenario.behaviour(leg.to)
        hangups = [s for s in (behaviour.hangup_after, leg.time_limit_s) if s is not None]
        if hangups:
            self._later(min(hangups), lambda: self.end_leg(leg, "completed"), leg)

    def _join_answered(self, leg: Leg) -> Conference | None:
        """Run an answered call's <Dial><Conference>: join the running conference of its name,
        or create it. A full conference ends the call, as its TeXML has nothing else to do."""
        name = leg.join_name or ""
        running = [
            c
            for c in self.conferences.values()
            if c.friendly_name == name and c.status != "completed"
        ]
        conference = max(running, key=lambda c: c.seq) if running else None
        if conference is not None and len(conference.live) >= conference.max_participants:
            log.info("call %s answered; conference %s is full, call ends", leg.sid, conference.sid)
            self._call_event(leg, "answered", "in-progress")
            self.end_leg(leg, "completed")
            return None
        if conference is None:
            conference = self._create_conference(name, leg.join_values)
        self._enter(conference, leg, leg.join_values)
        return conference

    def end_leg(self, leg: Leg, call_status: str) -> None:
        """End a live leg with its final call status, and let the conference react."""
        if not leg.live:
            return
        was_connected = leg.call_status == "in-progress"
        for handle in leg.timers:
            handle.cancel()
            self._timers.discard(handle)
        leg.timers.clear()
        now = datetime.now(UTC)
        leg.call_status = call_status
        leg.ended = now
        leg.updated = now
        conference = leg.conference
        if conference is not None:
            conference.leave(leg)
            conference.updated = now
        log.info("call %s ended: %s", leg.sid, call_status)
        self._call_event(leg, "completed", call_status)
        if leg.recording is not None and leg.recording.status == "processing":
            self._finish_recording(leg.recording)
        elif leg.record and leg.recording is None and leg.recording_subscription is not None:
            self._recording_absent(leg.recording_subscription, conference, leg.sid)
        if conference is None:
            return  # never joined (unanswered, or its conference was full)
        if was_connected:
            self._conference_event(conference, "leave", "participant-leave", leg)
        if conference.status == "completed" or conference.ending:
            return
        if was_connected and leg.end_conference_on_exit:
            self.end_conference(
                conference, "participant-with-end-conference-on-exit-left", ending_call_sid=leg.sid
            )
        elif conference.ever_joined and not conference.live:
            self.end_conference(conference, "last-participant-left", ending_call_sid=leg.sid)

    def hang_up(self, leg: Leg) -> None:
        """End a leg from our side: completed once answered, canceled while still ringing."""
        self.end_leg(leg, "completed" if leg.call_status == "in-progress" else "canceled")

    def end_conference(
        self, conference: Conference, reason: str, *, ending_call_sid: str | None
    ) -> None:
        if conference.status == "completed" or conference.ending:
            return
        conference.ending = True
        for leg in conference.live_legs():
            self.hang_up(leg)
        now = datetime.now(UTC)
        conference.status = "completed"
        conference.reason_ended = reason
        conference.call_sid_ending = ending_call_sid
        conference.updated = now
        conference.ending = False
        log.info("conference %s completed: %s", conference.sid, reason)
        if conference.recording is not None and conference.recording.status == "processing":
            self._finish_recording(conference.recording)
        elif (
            conference.record and conference.recording is None and conference.recording_subscription
        ):
            self._recording_absent(conference.recording_subscription, conference, None)
        self._conference_event(conference, "end", "conference-end", None)

    # Updates ----------------------------------------------------------------

    def update_participant(self, leg: Leg, values: dict[str, FieldValue]) -> None:
        conference = _room(leg)
        coaching = values.get("Coaching")
        target = leg.coach_target
        if coaching is False:
            target = None
        elif coaching is True or "CallSidToCoach" in values:
            target = self._coach_target(conference, values, leg)
        if isinstance(coaching, bool):
            leg.coaching = coaching
        leg.coach_target = target
        for name, attribute in (
            ("Muted", "muted"),
            ("Hold", "hold"),
            ("EndConferenceOnExit", "end_conference_on_exit"),
            ("BeepOnExit", "beep_on_exit"),
        ):
            value = values.get(name)
            if isinstance(value, bool):
                setattr(leg, attribute, value)
        if text_of(values, "AnnounceUrl"):
            log.info("call %s: announcement played", leg.sid)
        leg.updated = datetime.now(UTC)
        log.info(
            "call %s updated (muted=%s hold=%s coaching=%s)",
            leg.sid,
            leg.muted,
            leg.hold,
            leg.coaching,
        )

    def update_conference(self, conference: Conference, values: dict[str, FieldValue]) -> None:
        if text_of(values, "AnnounceUrl") and conference.status != "completed":
            log.info("conference %s: announcement played", conference.sid)
            conference.updated = datetime.now(UTC)
        if values.get("Status") == "completed":
            self.end_conference(conference, "conference-ended-via-api", ending_call_sid=None)

    # Recordings -------------------------------------------------------------

    def _new_recording(
        self,
        conference: Conference,
        call_sid: str | None,
        source: str,
        channels: int,
        sub: Subscription | None,
    ) -> Recording:
        now = datetime.now(UTC)
        recording = Recording(
            sid=self._new_uuid(),
            seq=self._next_seq(),
            conference=conference,
            call_sid=call_sid,
            source=source,
            channels=channels,
            subscription=sub,
            created=now,
            started_at=time.monotonic(),
            updated=now,
        )
        conference.recordings.append(recording)
        log.info(
            "recording %s started (%s)", recording.sid, call_sid or f"conference {conference.sid}"
        )
        self._recording_event(recording, "in-progress")
        return recording

    def _start_leg_recording(self, leg: Leg) -> None:
        # Twilio's sources: a leg dialed into a conference is DialVerb, an API call OutboundAPI.
        source = "OutboundAPI" if leg.initiated else "DialVerb"
        leg.recording = self._new_recording(
            _room(leg), leg.sid, source, leg.recording_channels, leg.recording_subscription
        )

    def _start_conference_recording(self, conference: Conference) -> None:
        if conference.recording is None:
            conference.recording = self._new_recording(
                conference, None, "Conference", 1, conference.recording_subscription
            )

    def _finish_recording(self, recording: Recording) -> None:
        elapsed = (time.monotonic() - recording.started_at) / max(self.scenario.time_scale, 1e-9)
        recording.duration = max(1, round(elapsed)) if self.scenario.time_scale > 0 else 1
        recording.status = "completed"
        recording.updated = datetime.now(UTC)
        log.info("recording %s completed (%ss)", recording.sid, recording.duration)
        self._recording_event(recording, "completed")

    def media_url(self, recording: Recording) -> str | None:
        if recording.status != "completed":
            return None
        return f"{self.public_base}{contract.SANDBOX_RECORDINGS_PATH.format(recording_sid=recording.sid)}"

    # Callbacks --------------------------------------------------------------

    def _send(self, subscription: Subscription, fields: dict[str, str], what: str) -> None:
        if self.closed:
            return
        self._notify(Webhook(subscription.url, subscription.method, fields, what))

    def _call_event(self, leg: Leg, event: str, call_status: str) -> None:
        subscription = leg.status_subscription
        if subscription is None or event not in subscription.events:
            return
        leg.callback_sequence += 1
        fields = {
            "AccountSid": self.account_sid,
            "CallSid": leg.sid,
            "CallSidLegacy": leg.legacy_sid,
            "CallStatus": call_status,
            "To": leg.to,
            "From": leg.from_ or "",
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(leg.callback_sequence - 1),
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        if leg.conference is not None:  # a placed call joins its conference only when answered
            fields["ConferenceSid"] = leg.conference.sid
        if event == "completed":
            fields["CallDuration"] = str(self._call_duration(leg))
        self._send(subscription, fields, f"{event} of call {leg.sid}")

    def _conference_event(
        self, conference: Conference, event: str, name: str, leg: Leg | None
    ) -> None:
        wanted = [s for s in conference.subscriptions if event in s.events]
        if not wanted:
            return
        conference.callback_sequence += 1
        fields = {
            "AccountSid": self.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": name,
            "SequenceNumber": str(conference.callback_sequence - 1),
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        if leg is not None:
            fields.update(
                {
                    "CallSid": leg.sid,
                    "Muted": _flag(leg.muted),
                    "Hold": _flag(leg.hold),
                    "Coaching": _flag(leg.coaching),
                    "EndConferenceOnExit": _flag(leg.end_conference_on_exit),
                    "StartConferenceOnEnter": _flag(leg.start_conference_on_enter),
                }
            )
            if leg.label is not None:
                fields["ParticipantLabel"] = leg.label
        if event == "end":
            fields["ReasonConferenceEnded"] = conference.reason_ended or ""
            fields["CallSidEndingConference"] = conference.call_sid_ending or ""
        for subscription in wanted:
            self._send(subscription, dict(fields), f"{name} of conference {conference.sid}")

    def _recording_event(self, recording: Recording, status: str) -> None:
        subscription = recording.subscription
        if subscription is None or status not in subscription.events:
            return
        fields = {
            "AccountSid": self.account_sid,
            "ConferenceSid": recording.conference.sid,
            "RecordingSid": recording.sid,
            "RecordingStatus": status,
            "RecordingSource": recording.source,
            "RecordingChannels": str(recording.channels),
            "RecordingStartTime": rfc2822(recording.created),
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        if recording.call_sid is not None:
            fields["CallSid"] = recording.call_sid
        url = self.media_url(recording)
        if url is not None:
            fields["RecordingUrl"] = url
            fields["RecordingDuration"] = str(recording.duration or 0)
        self._send(subscription, fields, f"{status} of recording {recording.sid}")

    def _recording_absent(
        self, subscription: Subscription, conference: Conference | None, call_sid: str | None
    ) -> None:
        if "absent" not in subscription.events:
            return
        fields = {
            "AccountSid": self.account_sid,
            "RecordingStatus": "absent",
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        if conference is not None:
            fields["ConferenceSid"] = conference.sid
        if call_sid is not None:
            fields["CallSid"] = call_sid
        what = call_sid or (conference.sid if conference is not None else "a call")
        self._send(subscription, fields, f"absent recording of {what}")

    def _call_duration(self, leg: Leg) -> int:
        if leg.answered_at is None:
            return 0
        elapsed = (time.monotonic() - leg.answered_at) / max(self.scenario.time_scale, 1e-9)
        return max(0, round(elapsed)) if self.scenario.time_scale > 0 else 0

    # Resources --------------------------------------------------------------

    def _account_path(self, template: str, **parts: str) -> str:
        return API_PREFIX + template.format(account_sid=self.account_sid, **parts)

    def participant_resource(self, leg: Leg) -> ParticipantResource:
        conference = _room(leg)
        coached = leg.coach_target if leg.coaching else None
        coached_leg = self.calls.get(coached) if coached else None
        status = leg.participant_status
        if status == "connected":
            status = self.scenario.api.connected_status
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid": leg.sid,
            "call_sid_legacy": leg.legacy_sid,
            "coaching": leg.coaching,
            "coaching_call_sid": coached,
            "coaching_call_sid_legacy": coached_leg.legacy_sid if coached_leg else None,
            "conference_sid": conference.sid,
            "date_created": rfc2822(leg.created),
            "date_updated": rfc2822(leg.updated),
            "end_conference_on_exit": leg.end_conference_on_exit,
            "hold": leg.hold,
            "muted": leg.muted,
            "status": status,
            "uri": self._account_path(
                contract.PARTICIPANT_PATH,
                conference_sid=conference.sid,
                call_sid_or_label=leg.sid,
            )
            + ".json",
        }

    def conference_resource(self, conference: Conference) -> ConferenceResource:
        base = self._account_path(contract.CONFERENCE_PATH, conference_sid=conference.sid)
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "call_sid_ending_conference": conference.call_sid_ending,
            "date_created": rfc2822(conference.created),
            "date_updated": rfc2822(conference.updated),
            "friendly_name": conference.friendly_name,
            "reason_conference_ended": conference.reason_ended,
            "region": REGION,
            "sid": conference.sid,
            "status": conference.status,
            "subresource_uris": {
                "participants": f"{base}/Participants.json",
                "recordings": f"{base}/Recordings.json",
            },
            "uri": f"{base}.json",
        }

    def call_resource(self, leg: Leg) -> dict[str, Any]:
        resource: CallResource = {
            "account_sid": self.account_sid,
            "sid": leg.sid,
            "status": leg.call_status,
            "to": leg.to,
            "date_created": rfc2822(leg.created),
            "date_updated": rfc2822(leg.updated),
            "uri": self._account_path(contract.CALL_PATH, call_sid=leg.sid) + ".json",
        }
        return {
            **resource,
            "from": leg.from_,
            "from_formatted": leg.from_,
            "to_formatted": leg.to,
            "caller_name": None,
            "direction": "outbound",
            "answered_by": None,
            "start_time": rfc2822(leg.answered) if leg.answered else None,
            "end_time": rfc2822(leg.ended) if leg.ended else None,
            "duration": str(self._call_duration(leg)) if leg.ended else None,
            "price": None,
            "price_unit": None,
        }

    def recording_resource(self, recording: Recording) -> dict[str, Any]:
        resource: RecordingResource = {
            "sid": recording.sid,
            "call_sid": recording.call_sid,
            "conference_sid": recording.conference.sid,
            "channels": recording.channels,
            "duration": recording.duration,
            "status": recording.status,
            "source": recording.source,
            "media_url": self.media_url(recording),
            "start_time": rfc2822(recording.created),
            "error_code": None,
            "date_created": rfc2822(recording.created),
            "date_updated": rfc2822(recording.updated or recording.created),
            "uri": self._account_path(
                contract.RECORDINGS_PATH, conference_sid=recording.conference.sid
            )
            + f"/{recording.sid}.json",
        }
        return {**resource, "account_sid": self.account_sid, "subresource_uris": {}}

    def dial_record(self, leg: Leg) -> dict[str, Any]:
        record: contract.DialRecord = {
            "conference_sid": leg.conference.sid if leg.conference is not None else None,
            "label": leg.label,
            "to": leg.to,
            "call_sid": leg.sid,
            "time": round(leg.dialed_at, 6),
        }
        return {
            **record,
            "from": leg.from_,
            "status": leg.call_status,
            "custom_headers": leg.custom_headers,
        }

    def recording(self, sid: str) -> Recording | None:
        for recording in self.all_recordings():
            if recording.sid == sid:
                return recording
        return None

    def all_recordings(self) -> Iterator[Recording]:
        for conference in self.conferences.values():
            yield from conference.recordings


def not_found(detail: str) -> ApiFailure:
    return ApiFailure(404, contract.CODE_NOT_FOUND, "Resource not found", detail)


# The InitiateTexmlCall fields that shape the placed leg itself (the conference side comes
# from its <Conference> noun).
_INITIATE_LEG_FIELDS: Final = frozenset(
    {
        "Timeout",
        "TimeLimit",
        "CustomHeaders",
        "StatusCallback",
        "StatusCallbackMethod",
        "StatusCallbackEvent",
        "Record",
        "RecordingChannels",
        "RecordingStatusCallback",
        "RecordingStatusCallbackMethod",
        "RecordingStatusCallbackEvent",
    }
)


def _custom_headers(values: dict[str, FieldValue]) -> list[dict[str, str]]:
    headers = values.get("CustomHeaders")
    if not isinstance(headers, list):
        return []
    return [dict(pair) for pair in headers if isinstance(pair, dict)]


def _room(leg: Leg) -> Conference:
    """The conference of a leg that is known to be in one (participant endpoints find it there)."""
    if leg.conference is None:
        raise RuntimeError(f"call {leg.sid} is in no conference")
    return leg.conference


def _destination(values: dict[str, FieldValue]) -> str:
    """The checked ``To``: an E.164 number or a SIP URI."""
    to = text_of(values, "To")
    if to is None:
        raise invalid(
            "To",
            "To is required: the number or SIP URI to dial",
            code=contract.CODE_MISSING_PARAMETER,
        )
    raw_to, to = to, to.strip()
    if not E164_OR_SIP.match(to):
        # In a form body an unescaped + arrives as a space.
        hint = (
            " (in a form body send + as %2B)" if to[:1].isdigit() and raw_to.startswith(" ") else ""
        )
        raise invalid(
            "To",
            f"To must be an E.164 number (+ and country code) or a sip: URI, got {to!r}{hint}",
        )
    return to


def _check_caller_id(values: dict[str, FieldValue]) -> None:
    caller_id = text_of(values, "CallerId")
    if caller_id is not None and not contract.CALLER_ID_PATTERN.match(caller_id):
        raise invalid(
            "CallerId",
            f"CallerId may hold at most {contract.CALLER_ID_MAX_LENGTH} letters, digits, spaces and -_~!.+",
        )


def _subscription(
    values: dict[str, FieldValue], name: str, *, default_events: tuple[str, ...]
) -> Subscription | None:
    url = text_of(values, name)
    if url is None:
        return None
    method = values.get(f"{name}Method")
    return Subscription(
        url=url,
        method=method if isinstance(method, str) else "POST",
        events=events_of(values, f"{name}Event", default_events),
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _flag(value: bool) -> str:
    return "true" if value else "false"
