"""How the account's records change on their own: conferences start and end, legs ring,
answer and hang up, machines are detected, recordings start and complete, each firing
its webhooks.

Everything runs synchronously on the event loop's thread, from a request
handler or from a timer of the simulated clock. A leg's pending timers are
cancelled when it ends, so nothing fires for a leg that is gone.

What a call to a number does is the scenario's ``numbers:`` entry for it; with
``then:`` every call after the number's first (counted here, per number, over
the sandbox's life) does what ``then`` says instead.

Answering-machine detection runs only for a call that asked for it
(``MachineDetection`` Enable or DetectMessageEnd, on a dial or a placed
call): from the answer, after a detection time in simulated seconds, the
result is stored on the call and sent to its ``AmdStatusCallback`` (or, for a
placed call, ``AsyncAmdStatusCallback``). Until then, and for a call that
asked for none, ``GET Calls/{sid}`` gives ``answered_by: null``; detection
never ends a call by itself (the client decides). What is reported, by the
number's ``answered_by``:

- human: after 2.5 s (a short greeting, then the silence of
  MachineDetectionSpeechEndThreshold); ``answered_by`` human, AnsweredBy
  ``human``.
- machine, Enable: after 4 s (a greeting longer than
  MachineDetectionSpeechThreshold); ``answered_by`` machine, AnsweredBy
  ``machine_start``.
- machine, DetectMessageEnd: after 4 s and a further 6 s of greeting, at the
  beep; ``answered_by`` machine, AnsweredBy ``machine_end_beep``.
- not_sure: when MachineDetectionTimeout runs out (default 30000 ms);
  ``answered_by`` not_sure, AnsweredBy ``unknown``.

A detection that would take longer than MachineDetectionTimeout reports at the
timeout instead: ``unknown`` / not_sure, except a machine already recognised
while waiting for its beep, which is ``machine_end_other`` / machine. The
callback's MachineDetectionDuration is the detection time in milliseconds.
``answered_by`` keeps the subset spec's enum (human, machine, not_sure), or
with ``api.answered_by_words: callback`` takes the AnsweredBy word; the
AnsweredBy words are those of Telnyx's TeXML AMD callback reference
(human, machine_start, machine_end_beep, machine_end_silence,
machine_end_other, fax, unknown), of which the sandbox sends the four above.
With ``api.answered_by_lag_s`` the result reaches the Calls resource (answered_by,
and the AnsweredBy of later callbacks) only that long after detection finished; the
AMD callback goes at once.
A placed call whose AMD is synchronous (no ``AsyncAmd=true``, the
documented default) runs its TeXML, and so joins its conference, only once
the result is in; its call-progress callbacks from then on carry AnsweredBy.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from orchestrator.sandbox.clock import SimulatedClock
from orchestrator.sandbox.dial_fields import subscription
from orchestrator.sandbox.events import Events
from orchestrator.sandbox.fields import int_of
from orchestrator.sandbox.ids import Identities
from orchestrator.sandbox.model import Account, Conference, Leg, Recording, Subscription
from orchestrator.sandbox.scenario import DEFAULT_REJECT_SECONDS, NumberBehaviour, Scenario
from orchestrator.texml import contract
from orchestrator.texml.contract import (
    AmdAnsweredBy,
    AnsweredBy,
    CallEndedStatus,
    ConferenceEndReason,
    FieldValue,
)

log = logging.getLogger("orchestrator.sandbox")

# Unpacked rather than spelled, so the reasons the sandbox gives are the contract's (an import
# error if its list changes shape); the sandbox never ends a conference for its time limit.
(
    ENDED_BY_LEG_WITH_END_ON_EXIT,
    ENDED_AS_LAST_PARTICIPANT_LEFT,
    ENDED_VIA_API,
    _ENDED_BY_TIME_LIMIT,
) = contract.CONFERENCE_END_REASONS

# Machine detection's timings (simulated seconds; see the module's docstring).
HUMAN_DETECTION_S: Final = 2.5
MACHINE_DETECTION_S: Final = 4.0
GREETING_S: Final = 6.0

# HangupCause and HangupSource of the completed callback, by the call's final status, when
# the called side or the network ended it (our own hang-ups say so themselves).
_ENDINGS: Final[dict[CallEndedStatus, tuple[str, str]]] = {
    "completed": ("normal_clearing", "callee"),
    "busy": ("user_busy", "callee"),
    "no-answer": ("no_answer", "unknown"),
    "failed": ("call_rejected", "callee"),
    "canceled": ("originator_cancel", "caller"),
}


def detection_result(
    answered_by: AnsweredBy, mode: str, timeout_ms: int
) -> tuple[float, AnsweredBy, AmdAnsweredBy]:
    """Simulated seconds after the answer, the resource's answered_by and the callback's
    AnsweredBy of detecting ``answered_by`` with ``mode`` and MachineDetectionTimeout."""
    timeout_s = timeout_ms / 1000
    result: tuple[AnsweredBy, AmdAnsweredBy]
    if answered_by == "human":
        seconds, result = HUMAN_DETECTION_S, ("human", "human")
    elif answered_by == "machine" and mode == "DetectMessageEnd":
        seconds, result = MACHINE_DETECTION_S + GREETING_S, ("machine", "machine_end_beep")
    elif answered_by == "machine":
        seconds, result = MACHINE_DETECTION_S, ("machine", "machine_start")
    else:
        seconds, result = timeout_s, ("not_sure", "unknown")
    if seconds > timeout_s:
        if answered_by == "machine" and timeout_s >= MACHINE_DETECTION_S:
            return timeout_s, "machine", "machine_end_other"
        return timeout_s, "not_sure", "unknown"
    return seconds, *result


class Lifecycle:
    def __init__(
        self,
        scenario: Scenario,
        account: Account,
        *,
        clock: SimulatedClock,
        ids: Identities,
        events: Events,
    ) -> None:
        self._scenario = scenario
        self._account = account
        self._clock = clock
        self._ids = ids
        self._events = events
        self._calls_to: Counter[str] = Counter()  # calls started, by number (for then:)

    # Conferences ------------------------------------------------------------

    def create_conference(self, name: str, values: Mapping[str, FieldValue]) -> Conference:
        now = datetime.now(UTC)
        conference = Conference(
            sid=self._ids.new_uuid(),
            seq=self._ids.next_seq(),
            friendly_name=name,
            created=now,
            updated=now,
            max_participants=int_of(values, "MaxParticipants") or contract.DEFAULT_MAX_PARTICIPANTS,
        )
        self._account.conferences[conference.sid] = conference
        log.info("conference %s created as %r (status init)", conference.sid, name)
        return conference

    def enter(self, conference: Conference, leg: Leg, values: Mapping[str, FieldValue]) -> None:
        """Put ``leg`` into ``conference`` with the conference settings its request carried."""
        leg.conference = conference
        leg.listed_at = self._clock.now() + self._clock.real_seconds(
            self._scenario.api.participant_list_lag_s
        )
        conference.join(leg)
        conference.updated = datetime.now(UTC)
        if (
            values.get("ConferenceRecord") in ("true", "record-from-start")
            and not conference.record
        ):
            conference.record = True
            conference.recording_subscription = subscription(
                values, "ConferenceRecordingStatusCallback", default_events=("completed",)
            )
            if conference.status == "in-progress":
                self._start_conference_recording(conference)
        self._register_conference_callbacks(conference, values)

    def _register_conference_callbacks(
        self, conference: Conference, values: Mapping[str, FieldValue]
    ) -> None:
        wanted = subscription(values, "ConferenceStatusCallback", default_events=())
        if wanted is None or not wanted.events:
            return
        for i, known in enumerate(conference.subscriptions):
            if (known.url, known.method) == (wanted.url, wanted.method):
                conference.subscriptions[i] = Subscription(
                    known.url, known.method, known.events | wanted.events
                )
                return
        conference.subscriptions.append(wanted)

    def end_conference(
        self, conference: Conference, reason: ConferenceEndReason, *, ending_call_sid: str | None
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
            self._events.recording_absent(conference.recording_subscription, conference, None)
        self._events.conference(conference, "end", None)

    # Legs -------------------------------------------------------------------

    def _behaviour_of(self, leg: Leg) -> NumberBehaviour:
        """What this call to its number does: the number's first call, or a later one."""
        key = self._scenario.number_key(leg.to) or leg.to
        earlier = self._calls_to[key]
        self._calls_to[key] = earlier + 1
        behaviour = self._scenario.behaviour(leg.to)
        return behaviour if earlier == 0 else behaviour.later()

    def start(self, leg: Leg) -> None:
        """Ring a new leg, and schedule what the scenario says its number does."""
        behaviour = leg.behaviour = self._behaviour_of(leg)
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
        self._events.call(leg, "initiated")
        if self._over_concurrent_limit(leg):
            return
        if behaviour.answer == "fail":
            self._end_later(leg, _or(behaviour.seconds, DEFAULT_REJECT_SECONDS), "failed")
            return
        leg.call_status = "ringing"
        self._events.call(leg, "ringing")
        if behaviour.answer == "busy":
            self._end_later(leg, _or(behaviour.seconds, DEFAULT_REJECT_SECONDS), "busy")
            return
        if behaviour.answer == "no-answer":
            self._end_later(leg, leg.timeout_s, "no-answer")
            return
        answer_after = (
            _or(behaviour.seconds, 0.0)
            if behaviour.answer == "after"
            else self._scenario.ring_seconds
        )
        if answer_after > leg.timeout_s:
            self._end_later(leg, leg.timeout_s, "no-answer")
            return
        self._clock.later(answer_after, lambda: self._answer(leg), leg.timers)

    def _over_concurrent_limit(self, leg: Leg) -> bool:
        """A call placed while the account already has ``account.concurrent_calls`` live ones
        fails at once, before it rings: the SIP 403 with which the network refuses it ends the
        call ``failed`` (HangupCause call_rejected, Q.850's cause for a 403)."""
        limit = self._scenario.account.concurrent_calls
        if limit <= 0:
            return False
        live = sum(
            1 for c in self._account.calls.values() if c is not leg and c.live and not c.over_limit
        )
        if live < limit:
            return False
        leg.over_limit = True
        log.info("call %s fails: the account has %d live calls (concurrent_calls)", leg.sid, live)
        self._end_later(leg, 0.0, "failed", "call_rejected")
        return True

    def _end_later(
        self, leg: Leg, seconds: float, call_status: CallEndedStatus, cause: str | None = None
    ) -> None:
        source = None if cause is None else "unknown"
        self._clock.later(
            seconds, lambda: self.end_leg(leg, call_status, cause=cause, source=source), leg.timers
        )

    def _answer(self, leg: Leg) -> None:
        if not leg.live:
            return
        now = datetime.now(UTC)
        leg.call_status = "in-progress"
        leg.answered = now
        leg.answered_at = self._clock.now()
        leg.updated = now
        detection = leg.detection
        if detection is not None:
            self._detect(leg, detection.mode, detection.timeout_ms)
        if leg.in_app_texml:
            log.info("call %s answered; it runs the application's TeXML, in no conference", leg.sid)
            self._events.call(leg, "answered")
            self._schedule_hangups(leg)
            return
        if leg.conference is None and detection is not None and detection.blocking:
            log.info("call %s answered; its TeXML waits for machine detection", leg.sid)
            self._events.call(leg, "answered")
            self._schedule_hangups(leg)
            return
        if self._connect(leg, announced=False):
            self._schedule_hangups(leg)

    def _connect(self, leg: Leg, *, announced: bool) -> bool:
        """An answered leg in its conference (a placed call joins it now), with the events
        that go with it; False when the call ended instead. ``announced``: its answered
        callback was already sent."""
        now = datetime.now(UTC)
        conference = (
            leg.conference if leg.conference is not None else self._join_answered(leg, announced)
        )
        if conference is None:
            return False
        conference.updated = now
        conference.ever_joined = True
        log.info("call %s answered; participant connected", leg.sid)
        if not announced:
            self._events.call(leg, "answered")
        self._events.conference(conference, "join", leg)
        if leg.record:
            self._start_leg_recording(leg)
        if conference.status == "init" and leg.start_conference_on_enter:
            conference.status = "in-progress"
            log.info("conference %s in-progress", conference.sid)
            self._events.conference(conference, "start", leg)
            if conference.record:
                self._start_conference_recording(conference)
        return True

    def _schedule_hangups(self, leg: Leg) -> None:
        """The callee's hang-up (hangup_after) or the dial's TimeLimit, whichever comes first."""
        hangup_after, time_limit = leg.behaviour.hangup_after, leg.time_limit_s
        if time_limit is not None and (hangup_after is None or time_limit < hangup_after):
            self._end_later(leg, time_limit, "completed", "time_limit")
        elif hangup_after is not None:
            self._end_later(leg, hangup_after, "completed")

    def _detect(self, leg: Leg, mode: str, timeout_ms: int) -> None:
        seconds, answered_by, amd_result = detection_result(
            leg.behaviour.answered_by, mode, timeout_ms
        )

        def shown() -> None:
            leg.answered_by = answered_by
            leg.amd_result = amd_result
            leg.updated = datetime.now(UTC)

        def detected() -> None:
            if not leg.live:
                return
            lag = self._scenario.api.answered_by_lag_s
            if lag > 0:  # not one of the leg's timers: the result shows even once it ended
                self._clock.later(lag, shown)
            else:
                shown()
            log.info("call %s: machine detection says %s", leg.sid, amd_result)
            self._events.amd(leg, amd_result, round(seconds * 1000))
            detection = leg.detection
            if leg.conference is None and detection is not None and detection.blocking:
                self._connect(leg, announced=True)

        self._clock.later(seconds, detected, leg.timers)

    def _join_answered(self, leg: Leg, announced: bool) -> Conference | None:
        """Run an answered call's <Dial><Conference>: join the running conference of its name,
        or create it. A full conference ends the call, as its TeXML has nothing else to do."""
        name = leg.join_name or ""
        conference = self._account.running_conference(name)
        if conference is not None and conference.full:
            log.info("call %s answered; conference %s is full, call ends", leg.sid, conference.sid)
            if not announced:
                self._events.call(leg, "answered")
            self.end_leg(leg, "completed", cause="normal_clearing", source="caller")
            return None
        if conference is None:
            conference = self.create_conference(name, leg.join_values)
        self.enter(conference, leg, leg.join_values)
        return conference

    def end_leg(
        self,
        leg: Leg,
        call_status: CallEndedStatus,
        *,
        cause: str | None = None,
        source: str | None = None,
    ) -> None:
        """End a live leg with its final call status, and let the conference react.

        ``cause`` and ``source``: the HangupCause and HangupSource; by default those of the
        called side or the network ending it with this status."""
        if not leg.live:
            return
        was_connected = leg.call_status == "in-progress"
        self._clock.cancel(leg.timers)
        now = datetime.now(UTC)
        default_cause, default_source = _ENDINGS[call_status]
        leg.hangup_cause = cause or default_cause
        leg.hangup_source = source or default_source
        leg.call_status = call_status
        leg.ended = now
        leg.ended_at = self._clock.now()
        leg.updated = now
        conference = leg.conference
        if conference is not None:
            conference.leave(leg)
            conference.updated = now
        log.info("call %s ended: %s", leg.sid, call_status)
        self._events.call(leg, "completed")
        self._end_leg_recording(leg)
        if conference is not None:  # None: never joined (unanswered, or its conference was full)
            self._left(conference, leg, was_connected=was_connected)

    def _end_leg_recording(self, leg: Leg) -> None:
        """Finish the ended leg's recording; one it asked for that never started is absent."""
        if leg.recording is not None and leg.recording.status == "processing":
            self._finish_recording(leg.recording)
        elif leg.record and leg.recording is None and leg.recording_subscription is not None:
            self._events.recording_absent(leg.recording_subscription, leg.conference, leg.sid)

    def _left(self, conference: Conference, leg: Leg, *, was_connected: bool) -> None:
        """An ended leg's conference says it left, and ends when it was the last or ends with it."""
        if was_connected:
            self._events.conference(conference, "leave", leg)
        if conference.status == "completed" or conference.ending:
            return
        if was_connected and leg.end_conference_on_exit:
            self.end_conference(conference, ENDED_BY_LEG_WITH_END_ON_EXIT, ending_call_sid=leg.sid)
        elif conference.ever_joined and not conference.live:
            self.end_conference(conference, ENDED_AS_LAST_PARTICIPANT_LEFT, ending_call_sid=leg.sid)

    def hang_up(self, leg: Leg) -> None:
        """End a leg from our side: completed once answered, canceled while still ringing."""
        if leg.call_status == "in-progress":
            self.end_leg(leg, "completed", cause="normal_clearing", source="caller")
        else:
            self.end_leg(leg, "canceled", cause="originator_cancel", source="caller")

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
            sid=self._ids.new_uuid(),
            seq=self._ids.next_seq(),
            conference=conference,
            call_sid=call_sid,
            source=source,
            channels=channels,
            subscription=sub,
            created=now,
            started_at=self._clock.now(),
            updated=now,
        )
        conference.recordings.append(recording)
        log.info(
            "recording %s started (%s)", recording.sid, call_sid or f"conference {conference.sid}"
        )
        self._events.recording(recording, "in-progress")
        return recording

    def _start_leg_recording(self, leg: Leg) -> None:
        # Twilio's sources: a leg dialed into a conference is DialVerb, an API call OutboundAPI.
        source = "OutboundAPI" if leg.initiated else "DialVerb"
        leg.recording = self._new_recording(
            leg.room, leg.sid, source, leg.recording_channels, leg.recording_subscription
        )

    def _start_conference_recording(self, conference: Conference) -> None:
        if conference.recording is None:
            conference.recording = self._new_recording(
                conference, None, "Conference", 1, conference.recording_subscription
            )

    def _finish_recording(self, recording: Recording) -> None:
        recording.duration = max(1, self._clock.elapsed(recording.started_at))
        recording.status = "completed"
        recording.updated = datetime.now(UTC)
        log.info("recording %s completed (%ss)", recording.sid, recording.duration)
        self._events.recording(recording, "completed")


def _or(value: float | None, default: float) -> float:
    return default if value is None else value
