"""The run model: every participant's state, folded from the run's one event stream.

The engine publishes events (``engine.events``) here; ``RunModel`` folds each
into the state of its conference and participant (desired, observed, attempts
that may have placed a call, notes, the time of each change) and hands it on to
every subscriber. Whatever shows a run reads this model: the live display while
it runs, then the text summary and the JSON report from ``results()``, and the
exit code from ``exit_code()``; so the last frame, the summary and the report
cannot disagree, and each participant appears once.

The model is written from the event loop and read by the live display's
drawing thread: folds and snapshots hold one lock.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from orchestrator import exit_codes
from orchestrator.engine import events as ev
from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, State, ended

# Exit codes of a run stopped by each signal: 128 + its number, as a shell reports it.
SIGNAL_EXIT_CODES = {
    "SIGINT": exit_codes.INTERRUPTED,
    "SIGTERM": exit_codes.TERMINATED,
    "SIGHUP": exit_codes.HUNG_UP,
}
_SEVERITY = [exit_codes.OK, exit_codes.PARTIAL, exit_codes.FAILED, exit_codes.INTERRUPTED]

STRAY_PRUNED = "not in file; hung up (--prune)"
STRAY_LEFT_ALONE = "live, not in file; apply --prune hangs it up"


@dataclass
class ConferenceState:
    """One conference file's part of the run."""

    file: str
    name: str
    sid: str | None = None
    status: str | None = None
    error: str | None = None
    participants: dict[str, ParticipantOutcome] = field(default_factory=dict)  # in plan order
    dials: int = 0  # requests that placed, or may have placed, a call
    rate_limited: int = 0
    interrupted: bool = False
    in_flight_at_stop: int | None = None
    creating: str | None = None  # whose call is creating the conference
    waiting: dict[str, str] = field(default_factory=dict)  # coach -> whom it waits for
    started_at: float = field(default_factory=time.time)
    lost: dict[str, list[str]] = field(default_factory=dict)  # lost answers, per participant
    redials: dict[str, int] = field(default_factory=dict)  # apply --watch's, per participant
    refused_edit: ev.EditRefused | None = None  # apply --watch: the file's last invalid version
    edit_applied_at: float | None = None  # ... and when a valid one last took over


def worst_exit_code(codes: Iterable[int]) -> int:
    """Interrupted beats failed beats partial beats success."""
    return max(
        codes,
        key=lambda c: _SEVERITY.index(c) if c in _SEVERITY else len(_SEVERITY),
        default=exit_codes.OK,
    )


@dataclass(frozen=True)
class Tally:
    """The run at a glance, as a live display draws it: each participant under one label (its
    observed state; ``waiting`` while it has not been dialed yet), and why nothing moves."""

    total: int
    settled: int  # the engine is done with them, for now
    labels: dict[str, int]
    dials: int
    rate_limited: int
    paused_until: float
    pause_why: str
    creating: tuple[tuple[str, str], ...]  # (conference, whose call is creating it)
    waiting: tuple[tuple[str, str, str], ...]  # (conference, coach, whom it waits for)


def label(outcome: ParticipantOutcome) -> str:
    """The word a participant is counted under: its observed state, but ``waiting`` while the
    engine has yet to dial it. Once the run is over, the summary's word."""
    if outcome.active and outcome.observed == State.NOT_DIALED:
        return "waiting"
    return str(outcome.observed)


class RunModel:
    def __init__(self, *, watching: bool = False) -> None:
        self.watching = watching  # apply --watch: being stopped is how it ends, not a failure
        self.conferences: dict[str, ConferenceState] = {}  # by file, in the order first seen
        self.stopped_by: str | None = None  # the signal that stopped the run
        self.paused_until = 0.0  # Unix time until which dialing waits (a 429)
        self.pause_why = ""
        self.capped: ev.AccountCapped | None = None  # the dial cap that stopped dialing
        self.started_at = time.time()
        self._subscribers: list[ev.Subscriber] = []
        self._lock = threading.Lock()
        self._folds: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.ConferencePlanned: self._planned,
            ev.ConferenceSeen: self._seen,
            ev.ConferenceFailed: self._conference_failed,
            ev.Stopped: self._stopped,
            ev.RunStopped: self._run_stopped,
            ev.DialPaused: self._paused,
            ev.AccountCapped: self._capped,
            ev.Creating: self._creating,
            ev.Waiting: self._waiting,
            ev.DialRefused: self._refused,
            ev.CallPlaced: self._placed,
            ev.AnswerLost: self._answer_lost,
            ev.LostAnswerRuledOut: self._ruled_out,
            ev.Fallback: self._fallback,
            ev.Retrying: lambda event: None,
            ev.Connected: self._connected,
            ev.LegEnded: self._leg_ended,
            ev.MachineDetected: self._machine_detected,
            ev.Updated: self._updated,
            ev.HungUp: self._hung_up,
            ev.Dropped: lambda event: None,
            ev.RedialUnanswered: lambda event: None,
            ev.Redialing: self._redialing,
            ev.Noted: self._noted,
            ev.Finished: self._finished,
            ev.EditRefused: self._edit_refused,
            ev.EditApplied: self._edit_applied,
        }

    # The stream ------------------------------------------------------------

    def subscribe(self, subscriber: ev.Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: ev.Event) -> None:
        """Fold ``event`` in, then hand it to every subscriber, in the order they subscribed."""
        with self._lock:
            self._folds[type(event)](event)
        for subscriber in self._subscribers:
            subscriber(event)

    # Reading ---------------------------------------------------------------

    def participant(self, file: str, name: str) -> ParticipantOutcome | None:
        """The participant's state as it is now (a copy)."""
        with self._lock:
            conference = self.conferences.get(file)
            found = conference.participants.get(name) if conference is not None else None
            return _copy(found) if found is not None else None

    def results(self) -> list[ConferenceResult]:
        """Every conference as the summary, the report and the exit code see it now."""
        with self._lock:
            return [self._result(c) for c in self.conferences.values()]

    def tally(self) -> Tally:
        with self._lock:
            labels: dict[str, int] = {}
            total = settled = dials = limited = 0
            for conference in self.conferences.values():
                dials += conference.dials
                limited += conference.rate_limited
                for outcome in conference.participants.values():
                    total += 1
                    settled += not outcome.active
                    word = label(outcome)
                    labels[word] = labels.get(word, 0) + 1
            return Tally(
                total=total,
                settled=settled,
                labels=labels,
                dials=dials,
                rate_limited=limited,
                paused_until=self.paused_until,
                pause_why=self.pause_why,
                creating=tuple(
                    (c.name, c.creating) for c in self.conferences.values() if c.creating
                ),
                waiting=tuple(
                    (c.name, coach, whom)
                    for c in self.conferences.values()
                    for coach, whom in c.waiting.items()
                ),
            )

    def edits(self, file: str) -> tuple[ev.EditRefused | None, float | None]:
        """apply --watch: the file's last refused version (its findings), and when a valid
        version last took over (None, None: no edit seen)."""
        with self._lock:
            conference = self.conferences.get(file)
            if conference is None:
                return None, None
            return conference.refused_edit, conference.edit_applied_at

    def results_for(self, files: Iterable[str]) -> list[ConferenceResult]:
        """The conferences of these files, in this order (those the run got to)."""
        with self._lock:
            return [self._result(self.conferences[f]) for f in files if f in self.conferences]

    def result(self, file: str) -> ConferenceResult:
        with self._lock:
            return self._result(self.conferences[file])

    def exit_code(self) -> int:
        """The run's exit code, decided here and nowhere else: the worst of its conferences';
        a run stopped by a signal exits with that signal's code."""
        with self._lock:
            return worst_exit_code(self._exit_code(c) for c in self.conferences.values())

    def _exit_code(self, conference: ConferenceState) -> int:
        """130/143/129 stopped (not for a watch, which ends so); 1 when an error stopped the
        conference before any call may have been placed; 3 when some participant did not
        converge (an error after calls were placed included); else 0."""
        participants = conference.participants.values()
        if conference.interrupted and not self.watching:
            return SIGNAL_EXIT_CODES.get(self.stopped_by or "", exit_codes.INTERRUPTED)
        if conference.error is not None:
            placed = any(p.attempts or p.call_sid for p in participants)
            return exit_codes.PARTIAL if placed else exit_codes.FAILED
        return exit_codes.OK if all(p.converged for p in participants) else exit_codes.PARTIAL

    def _result(self, conference: ConferenceState) -> ConferenceResult:
        interrupted = conference.interrupted and not self.watching
        return ConferenceResult(
            path=conference.file,
            name=conference.name,
            sid=conference.sid,
            status=conference.status,
            participants=[self._row(conference, p) for p in conference.participants.values()],
            exit_code=self._exit_code(conference),
            duration_s=time.time() - conference.started_at,
            error=conference.error,
            interrupted=interrupted,
            dials=conference.dials,
            rate_limited=conference.rate_limited,
            in_flight_at_stop=conference.in_flight_at_stop if interrupted else None,
            stopped_by=self.stopped_by if interrupted else None,
        )

    def _row(self, conference: ConferenceState, outcome: ParticipantOutcome) -> ParticipantOutcome:
        row = _copy(outcome)
        redials = conference.redials.get(outcome.name, 0)
        if redials:
            row.notes.append(f"redialed {redials} time{'s' if redials > 1 else ''} after dropping")
        return row

    # Folding ---------------------------------------------------------------

    def _conference(self, event: ev.Event) -> ConferenceState:
        conference = self.conferences.get(event.file)
        if conference is None:
            conference = self.conferences[event.file] = ConferenceState(
                event.file, event.conference, started_at=event.at
            )
        return conference

    def _of(self, event: ev.ParticipantEvent) -> ParticipantOutcome:
        conference = self._conference(event)
        outcome = conference.participants.get(event.participant)
        if outcome is None:  # an event about someone no plan named: shown all the same
            outcome = conference.participants[event.participant] = ParticipantOutcome(
                name=event.participant, role="-", to="-"
            )
        return outcome

    @staticmethod
    def _observe(outcome: ParticipantOutcome, state: State, at: float) -> None:
        if outcome.observed != state:
            outcome.observed = state
            outcome.since = at

    @staticmethod
    def _note(outcome: ParticipantOutcome, text: str) -> None:
        if text not in outcome.notes:
            outcome.notes.append(text)

    def _planned(self, event: ev.ConferencePlanned) -> None:
        conference = self._conference(event)
        conference.name = event.conference
        conference.sid = event.sid or conference.sid
        conference.status = event.status or conference.status
        before = conference.participants
        conference.participants = {}
        for row in event.rows:
            outcome = before.get(row.name)
            if outcome is None:
                outcome = ParticipantOutcome(
                    name=row.name, role=row.role, to=row.to, desired=row.desired, since=event.at
                )
            outcome.role, outcome.desired, outcome.to = row.role, row.desired, row.to
            outcome.active = row.action not in ("leave", "none")
            if row.call_sid is not None:
                outcome.call_sid = row.call_sid
            if row.observed is not None:
                self._observe(outcome, row.observed, event.at)
            if row.action in ("hang up", "leave"):
                stray_note = STRAY_PRUNED if row.action == "hang up" else STRAY_LEFT_ALONE
                outcome.notes = [
                    n for n in outcome.notes if n not in (STRAY_PRUNED, STRAY_LEFT_ALONE)
                ]
                outcome.notes.append(stray_note)
            conference.participants[row.name] = outcome

    def _seen(self, event: ev.ConferenceSeen) -> None:
        conference = self._conference(event)
        conference.sid = event.sid or conference.sid
        conference.status = event.status or conference.status

    def _conference_failed(self, event: ev.ConferenceFailed) -> None:
        conference = self._conference(event)
        conference.error = event.error
        if event.before_any_request:
            for outcome in conference.participants.values():
                outcome.active = False
                if outcome.observed == State.NOT_DIALED and outcome.error is None:
                    outcome.error = "not dialed (see the conference error)"

    def _stopped(self, event: ev.Stopped) -> None:
        conference = self._conference(event)
        conference.interrupted = True
        conference.in_flight_at_stop = event.in_flight

    def _run_stopped(self, event: ev.RunStopped) -> None:
        self.stopped_by = event.signal

    def _paused(self, event: ev.DialPaused) -> None:
        self.paused_until = max(self.paused_until, event.at + event.seconds)
        self.pause_why = event.why

    def _capped(self, event: ev.AccountCapped) -> None:
        self.capped = self.capped or event

    def live_calls(self, *, besides: str | None = None) -> int:
        """The run's calls that are up or on their way, over every conference, but ``besides``."""
        with self._lock:
            return sum(
                1
                for conference in self.conferences.values()
                for p in conference.participants.values()
                if p.observed.live and p.call_sid and p.call_sid != besides
            )

    def _limit_met(
        self, outcome: ParticipantOutcome, limit: ev.AccountLimit, live: int | None = None
    ) -> None:
        """The participant's tries ended at the account's ``limit``: its cause, and the words."""
        outcome.cause = limit
        if limit == "concurrent-calls":
            seen = f" with {live} other calls up or ringing" if live else ""
            # The API does not say why a call failed: "likely", as the count of calls up suggests.
            outcome.error = f"likely the account concurrent-call limit (failed{seen})"
            return
        capped = self.capped
        allowed = ""
        if capped is not None and capped.allowed:
            allowed = f" ({capped.allowed} dial{'s' if capped.allowed != 1 else ''})"
        outcome.error = f"account dial cap{allowed} reached: no dial sent"

    def _creating(self, event: ev.Creating) -> None:
        self._conference(event).creating = event.participant
        self._of(event).error = None

    def _waiting(self, event: ev.Waiting) -> None:
        self._conference(event).waiting[event.participant] = event.whom

    def _refused(self, event: ev.DialRefused) -> None:
        if event.status == 429:
            self._conference(event).rate_limited += 1

    def _no_longer_waiting(self, event: ev.ParticipantEvent) -> ParticipantOutcome:
        """Its dial went, or it is done: not creating the conference, not waiting for anyone."""
        conference = self._conference(event)
        if conference.creating == event.participant:
            conference.creating = None
        conference.waiting.pop(event.participant, None)
        return self._of(event)

    def _dial_started(self, event: ev.ParticipantEvent, destination: str) -> ParticipantOutcome:
        outcome = self._no_longer_waiting(event)
        outcome.to = destination
        outcome.error = outcome.cause = None
        return outcome

    def _placed(self, event: ev.CallPlaced) -> None:
        conference = self._conference(event)
        outcome = self._dial_started(event, event.destination)
        if event.call_sid is not None:
            outcome.call_sid = event.call_sid
        self._observe(outcome, State.CONNECTING, event.at)
        if event.how == "answered":
            outcome.attempts += 1
            conference.dials += 1
        elif event.how == "found":
            lost = conference.lost.get(event.participant) or ["no answer"]
            self._note(outcome, f"its call found after the dial's answer was lost ({lost[-1]})")
        else:
            self._note(outcome, "already live (dialed by another apply); adopted")

    def _answer_lost(self, event: ev.AnswerLost) -> None:
        conference = self._conference(event)
        outcome = self._dial_started(event, event.destination)
        conference.lost.setdefault(event.participant, []).append(event.shown)
        outcome.attempts += 1  # it may have placed a call, until found or ruled out
        conference.dials += 1

    def _ruled_out(self, event: ev.LostAnswerRuledOut) -> None:
        outcome = self._of(event)
        outcome.attempts -= 1
        self._conference(event).dials -= 1

    def _fallback(self, event: ev.Fallback) -> None:
        self._note(self._of(event), f"fallback to number {event.number} after {event.after}")

    def _connected(self, event: ev.Connected) -> None:
        outcome = self._of(event)
        if event.call_sid is not None:
            outcome.call_sid = event.call_sid
        outcome.error = None
        self._observe(outcome, State.CONNECTED, event.at)

    def _leg_ended(self, event: ev.LegEnded) -> None:
        outcome = self._of(event)
        if event.call_sid is not None:
            outcome.call_sid = event.call_sid
        self._observe(outcome, ended(event.state), event.at)
        if event.limit is not None:
            self._limit_met(outcome, event.limit, event.live)

    def _machine_detected(self, event: ev.MachineDetected) -> None:
        outcome = self._of(event)
        outcome.answered_by = event.answered_by or "not_sure"
        if event.verdict == "human":
            return
        what = (
            "a machine answered"
            if event.verdict == "machine"
            else "detection could not tell who answered"
        )
        if event.answered_by is None:
            what += " (no result in time)"
        setting = "on_machine" if event.verdict == "machine" else "on_not_sure"
        done = "kept" if event.action == "accept" else "hung up"
        self._note(outcome, f"{what}; {done} (machine_detection.{setting}: {event.action})")

    def _updated(self, event: ev.Updated) -> None:
        self._note(self._of(event), "updated " + ", ".join(event.settings))

    def _hung_up(self, event: ev.HungUp) -> None:
        outcome = self._of(event)
        state = {
            "prune": State.ABSENT,
            "down": State.ABSENT,
            "machine": State.MACHINE,
        }.get(event.why, State.HUNG_UP)
        if event.why != "redial":
            self._observe(outcome, state, event.at)

    def _redialing(self, event: ev.Redialing) -> None:
        conference = self._conference(event)
        conference.redials[event.participant] = conference.redials.get(event.participant, 0) + 1

    def _noted(self, event: ev.Noted) -> None:
        self._note(self._of(event), event.text)

    def _edit_refused(self, event: ev.EditRefused) -> None:
        self._conference(event).refused_edit = event

    def _edit_applied(self, event: ev.EditApplied) -> None:
        self._conference(event).edit_applied_at = event.at

    def _finished(self, event: ev.Finished) -> None:
        outcome = self._no_longer_waiting(event)
        outcome.active = False
        if event.observed is not None:
            self._observe(outcome, event.observed, event.at)
        if event.error is not None:
            outcome.error = event.error
        if event.limit is not None and outcome.cause != event.limit:
            self._limit_met(outcome, event.limit)
        if event.note is not None:
            self._note(outcome, event.note)


def _copy(outcome: ParticipantOutcome) -> ParticipantOutcome:
    return dataclasses.replace(outcome, notes=list(outcome.notes))
