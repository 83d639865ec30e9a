"""What a run found: one outcome per participant in the file, and per conference.

A participant's state is a ``State``: a string enum, so reports and scripts
see the same words as ever (``connected``, ``ended: busy``) while the code can
only name states that exist.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from orchestrator.engine.planner import Stray

# How a leg settled, as the poller learns it (engine.settling); "unknown": it could not tell.
LegState = Literal["connected", "no-answer", "busy", "failed", "hung-up", "machine", "unknown"]


class State(StrEnum):
    """What a participant is (observed), or should be (desired)."""

    CONNECTED = "connected"
    CONNECTING = "connecting"  # dialed, not answered yet (or --no-wait: all that was asked)
    NOT_DIALED = "not-dialed"
    UNKNOWN = "unknown"  # a call may exist; its state could not be learned
    ABSENT = "absent"  # not in the conference (status), or hung up as asked (--prune)
    UNMANAGED = "unmanaged"  # live, dialed from this file once, no longer named in it
    NO_ANSWER = "ended: no-answer"
    BUSY = "ended: busy"
    FAILED = "ended: failed"
    HUNG_UP = "ended: hung-up"
    MACHINE = "ended: machine"  # answered by a machine, hung up as machine_detection asks

    @property
    def live(self) -> bool:
        """A call is up or on its way."""
        return self in (State.CONNECTED, State.CONNECTING)


_ENDED: dict[str, State] = {
    "no-answer": State.NO_ANSWER,
    "busy": State.BUSY,
    "failed": State.FAILED,
    "hung-up": State.HUNG_UP,
    "machine": State.MACHINE,
}


def ended(leg: LegState) -> State:
    """The participant's state once its leg settled without being connected."""
    return _ENDED.get(leg, State.UNKNOWN)


@dataclass(kw_only=True)
class ParticipantOutcome:
    name: str
    role: str
    to: str  # the destination dialed last (or the primary one when nothing was dialed)
    desired: State = State.CONNECTED
    observed: State = State.NOT_DIALED
    call_sid: str | None = None
    attempts: int = 0  # dial requests that may have placed a call
    error: str | None = None  # why it did not converge, in one line
    notes: list[str] = field(default_factory=list)  # what happened on the way (fallbacks, adoption)
    since: float | None = None  # Unix time its observed state began
    answered_by: str | None = None  # machine detection's word for who answered, when it ran
    # The account's limit that kept it from converging (engine.events.AccountLimit), if any.
    cause: str | None = None
    active: bool = False  # the engine is still at work on it (not settled yet)

    @property
    def converged(self) -> bool:
        if self.error is not None:
            return False
        if self.desired == State.CONNECTING:  # --no-wait: dialed is all that was asked
            return self.observed.live
        return self.observed == self.desired


def stray_outcome(stray: Stray, to: str) -> ParticipantOutcome:
    """The row of a live participant the file no longer names: hung up (--prune) or left alone."""
    if stray.hang_up:
        return ParticipantOutcome(
            name=stray.label,
            role="-",
            to=to,
            desired=State.ABSENT,
            observed=State.CONNECTED,
            call_sid=stray.call_sid,
            notes=["not in file; hung up (--prune)"],
        )
    return ParticipantOutcome(
        name=stray.label,
        role="-",
        to=to,
        desired=State.UNMANAGED,
        observed=State.UNMANAGED,
        call_sid=stray.call_sid,
        notes=["live, not in file; apply --prune hangs it up"],
    )


@dataclass(kw_only=True)
class ConferenceResult:
    path: str
    name: str
    sid: str | None
    status: str | None
    participants: list[ParticipantOutcome]
    exit_code: int = 0
    duration_s: float = 0.0
    error: str | None = None  # a failure that stopped the whole conference
    interrupted: bool = False
    dials: int = 0
    rate_limited: int = 0
    in_flight_at_stop: int | None = None  # dial requests on the wire when the run was stopped
    stopped_by: str | None = None  # the signal that stopped the run (SIGINT, SIGTERM, SIGHUP)

    def totals(self) -> dict[str, int]:
        counts = Counter(p.observed for p in self.participants)
        return {
            "participants": len(self.participants),
            "converged": sum(1 for p in self.participants if p.converged),
            "not_converged": sum(1 for p in self.participants if not p.converged),
            **{str(state): counts[state] for state in sorted(counts)},
            "dials": self.dials,
            "rate_limited": self.rate_limited,
        }
