"""What happens during a run, as typed events: the one stream every view of a run derives from.

The engine publishes each step as it happens (``engine.run_model.RunModel.publish``);
the run model folds them into each participant's state, and any number of
subscribers (the progress log, the live display, a record on disk, a web page)
see the same events in the same order. An event says what happened, where it
was learned (``source``) and when; it never carries a secret. A destination
travels as a field of its own, so whoever shows an event masks it in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from orchestrator.engine.results import LegState, State

# Where a fact was learned: the engine's own doing, a poll of the API, a callback, an answer.
Source = Literal["engine", "poll", "callback", "api"]
# The account's own limits a run can meet: its concurrent calls (a leg fails), its hourly or
# daily dial cap (a dial is refused, and no dial goes after it; the rate-limit headers, read
# to at most an hour, cannot tell the two caps apart).
AccountLimit = Literal["concurrent-calls", "dial-cap"]


@dataclass(frozen=True, kw_only=True)
class Event:
    kind: ClassVar[str] = "event"
    file: str  # the conference file: the run's key for its conference
    conference: str  # the conference's name
    at: float = field(default_factory=time.time)  # Unix time
    source: Source = "engine"


@dataclass(frozen=True, kw_only=True)
class ParticipantEvent(Event):
    participant: str


# The conference ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlannedRow:
    """One participant as a plan sees it: who, what is wanted, and what will be done."""

    name: str
    role: str
    to: str  # the number it would be dialed at, or was dialed at when it is live
    desired: State
    # dial | update | noop | redial | hang up (a stray, --prune) | leave (a stray) | none
    action: str
    call_sid: str | None = None  # the live leg, when there is one
    observed: State | None = None  # what is live now, when known
    # How the file wants the leg while connected (a record's timeline draws it).
    muted: bool = False
    hold: bool = False
    coaching: str | None = None  # whom it coaches


@dataclass(frozen=True, kw_only=True)
class ConferencePlanned(Event):
    """The plan of a round: every participant of the file, and the live legs it no longer names.
    A participant named in an earlier round and in none of this one is no longer shown."""

    kind: ClassVar[str] = "planned"
    sid: str | None
    status: str | None
    rows: tuple[PlannedRow, ...]


@dataclass(frozen=True, kw_only=True)
class ConferenceSeen(Event):
    kind: ClassVar[str] = "conference"
    sid: str | None
    status: str | None


@dataclass(frozen=True, kw_only=True)
class ConferenceFailed(Event):
    """An error that stopped the conference; ``before_any_request``: nothing was sent for it."""

    kind: ClassVar[str] = "conference-failed"
    error: str
    before_any_request: bool = False


@dataclass(frozen=True, kw_only=True)
class Stopped(Event):
    """The run was stopped (a signal) while this conference was being applied."""

    kind: ClassVar[str] = "stopped"
    in_flight: int  # dial requests on the wire at that moment


@dataclass(frozen=True, kw_only=True)
class RunStopped(Event):
    """A signal stopped the run: no new dial is sent after it (``file`` and ``conference``: '')."""

    kind: ClassVar[str] = "run-stopped"
    signal: str  # SIGINT, SIGTERM, SIGHUP


@dataclass(frozen=True, kw_only=True)
class DialPaused(Event):
    """Every dial of the account waits (a 429): for how long, and why."""

    kind: ClassVar[str] = "paused"
    seconds: float
    why: str


@dataclass(frozen=True, kw_only=True)
class AccountCapped(Event):
    """A dial met the account's hourly or daily dial cap: the run sends no dial after it
    (``file`` and ``conference``: those of the dial that met it)."""

    kind: ClassVar[str] = "account-capped"
    limit: AccountLimit
    allowed: int | None = None  # dials the cap allows (x-ratelimit-limit)
    frees_in_s: float | None = None  # until a place frees (Retry-After or x-ratelimit-reset)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One reason a file's new version was refused, where it points (1-based line and column)."""

    path: str
    line: int
    col: int
    message: str


@dataclass(frozen=True, kw_only=True)
class EditRefused(Event):
    """apply --watch: the file changed and its new version is not valid; the last valid one
    stays in force."""

    kind: ClassVar[str] = "edit-refused"
    findings: tuple[Finding, ...]


@dataclass(frozen=True, kw_only=True)
class EditApplied(Event):
    """apply --watch: the file changed and its new version is the one applied from now on."""

    kind: ClassVar[str] = "edit-applied"


# A participant ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Creating(ParticipantEvent):
    """This participant's call is the one that creates the conference."""

    kind: ClassVar[str] = "creating"


@dataclass(frozen=True, kw_only=True)
class Waiting(ParticipantEvent):
    """A coach waits for whom it coaches to be connected."""

    kind: ClassVar[str] = "waiting"
    whom: str


@dataclass(frozen=True, kw_only=True)
class DialRefused(ParticipantEvent):
    """A dial the API refused: it placed nothing (a 429 is dialed again once the pacer allows)."""

    kind: ClassVar[str] = "dial-refused"
    destination: str
    status: int
    code: str | None = None


# How a call came to be the participant's: the dial's answer, found after the answer was lost,
# or adopted from another apply that dialed it (a 422 for a Label already live).
PlacedHow = Literal["answered", "found", "adopted"]


@dataclass(frozen=True, kw_only=True)
class CallPlaced(ParticipantEvent):
    kind: ClassVar[str] = "dialed"
    destination: str
    call_sid: str | None  # None: a creating call whose answer named none (found later)
    how: PlacedHow = "answered"


@dataclass(frozen=True, kw_only=True)
class AnswerLost(ParticipantEvent):
    """A dial that may have placed a call: its answer was lost (5xx, reset, timeout, garbled)."""

    kind: ClassVar[str] = "answer-lost"
    destination: str
    shown: str  # "HTTP 503", "no answer", "an unreadable answer"


@dataclass(frozen=True, kw_only=True)
class LostAnswerRuledOut(ParticipantEvent):
    """The API lists no call from a dial whose answer was lost: it placed nothing."""

    kind: ClassVar[str] = "answer-lost-no-call"


@dataclass(frozen=True, kw_only=True)
class Fallback(ParticipantEvent):
    """The next of the participant's numbers is dialed, after the last one did not answer."""

    kind: ClassVar[str] = "fallback"
    number: int  # 1-based: 2 for the first fallback
    after: str  # how the last one ended: no-answer, busy, failed, "a machine answered"...


@dataclass(frozen=True, kw_only=True)
class Retrying(ParticipantEvent):
    """The same number is dialed again (``retry``), after it did not answer."""

    kind: ClassVar[str] = "retry"
    after: LegState


@dataclass(frozen=True, kw_only=True)
class Connected(ParticipantEvent):
    kind: ClassVar[str] = "connected"
    call_sid: str | None = None


@dataclass(frozen=True, kw_only=True)
class LegEnded(ParticipantEvent):
    """The participant's leg ended (or never answered): how, as the API says it."""

    kind: ClassVar[str] = "ended"
    state: LegState
    call_sid: str | None = None
    # The account's limit the leg met, when its ending is taken for that (a leg failed at
    # once while ``live`` of the run's calls were up: the concurrent-call limit).
    limit: AccountLimit | None = None
    live: int | None = None


@dataclass(frozen=True, kw_only=True)
class MachineDetected(ParticipantEvent):
    """Answering-machine detection's result for the participant's call, and what apply did."""

    kind: ClassVar[str] = "machine-detection"
    answered_by: str | None  # the API's word (None: no result in time)
    verdict: Literal["human", "machine", "not_sure"]
    action: Literal["accept", "hangup", "next"]


@dataclass(frozen=True, kw_only=True)
class Updated(ParticipantEvent):
    """Settings changed on the live call, without a dial (by their YAML names)."""

    kind: ClassVar[str] = "updated"
    settings: tuple[str, ...]


HangUpWhy = Literal["prune", "redial", "machine", "not_sure", "down"]


@dataclass(frozen=True, kw_only=True)
class HungUp(ParticipantEvent):
    kind: ClassVar[str] = "hung-up"
    why: HangUpWhy
    call_sid: str | None = None


@dataclass(frozen=True, kw_only=True)
class Dropped(ParticipantEvent):
    """apply --watch: a connected leg left; what happens next (``redial 1 of 2 in 10s``)."""

    kind: ClassVar[str] = "dropped"
    next: str


@dataclass(frozen=True, kw_only=True)
class RedialUnanswered(ParticipantEvent):
    """apply --watch: redial ``number`` of ``of`` did not connect (``after``); what is next."""

    kind: ClassVar[str] = "redial-unanswered"
    number: int
    of: int
    after: str
    next: str


@dataclass(frozen=True, kw_only=True)
class Redialing(ParticipantEvent):
    """apply --watch: a dropped participant is dialed again (``number`` of ``of``)."""

    kind: ClassVar[str] = "redial"
    number: int
    of: int


@dataclass(frozen=True, kw_only=True)
class Noted(ParticipantEvent):
    """Something worth a line in the participant's row that changes nothing else."""

    kind: ClassVar[str] = "note"
    text: str


@dataclass(frozen=True, kw_only=True)
class Finished(ParticipantEvent):
    """The engine is done with the participant for this round: its verdict, if it has one.

    ``observed`` overrides the state only when the engine learned it otherwise (a call that
    may exist, or none placed after all); ``error``: why it did not converge; ``note``: how it
    ended (interrupted, not dialed this round)."""

    kind: ClassVar[str] = "finished"
    observed: State | None = None
    error: str | None = None
    note: str | None = None
    limit: AccountLimit | None = None  # the account's limit that ended its tries


Subscriber = Callable[[Event], None]
