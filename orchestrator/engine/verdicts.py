"""How a participant's tries went, and how its task ended when it did not simply converge:
what the executor hands the run model in its one ``Finished`` event."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engine import events as ev
from orchestrator.engine.results import LegState, ParticipantOutcome, State
from orchestrator.spec.model import Participant

# The lowest concurrent-call limit Telnyx documents (a new account's SIP connection): a call
# that fails while fewer of the run's calls are up did not meet that limit.
FEWEST_CONCURRENT_CALLS = 2


@dataclass(frozen=True)
class Tried:
    """How a participant's last try went: its leg's state (None: no news), why detection
    left it, and whether the tries end here (with the verdict, if any)."""

    last: LegState | None
    heard: str | None = None
    final: bool = False
    verdict: Verdict | None = None


def exhausted(participant: Participant, tried: Tried) -> Verdict:
    """Every number tried as often as ``retry`` allows, and nobody connected."""
    count = len(participant.to)
    if tried.last == "machine":
        why = tried.heard or "a machine answered"
        if count > 1:
            return Verdict(f"{why} on the last of {count} numbers")
        return Verdict(f"{why}, and there is no other number")
    if count > 1:
        return Verdict(f"no answer on any of {count} numbers (last: {tried.last})")
    return Verdict(f"no answer ({tried.last})")


@dataclass(frozen=True)
class Verdict:
    """How a participant's task ended, when it did not simply converge."""

    error: str | None = None
    observed: State | None = None
    note: str | None = None
    limit: ev.AccountLimit | None = None  # the account's limit that ended its tries


def failed(known: ParticipantOutcome | None, error: str) -> Verdict:
    """A participant's task that ended on ``error``: unknown if a dial may have placed a call."""
    if known is not None and known.attempts and known.observed == State.NOT_DIALED:
        return Verdict(error, State.UNKNOWN)  # a call may exist; its state is not known
    return Verdict(error)


def cap_words(allowed: int | None, frees_in_s: float | None, at: str | None = None) -> str:
    """The one line that says a dial cap stopped dialing (the notice, the board)."""
    of = f" ({allowed} dial{'s' if allowed != 1 else ''})" if allowed else ""
    later = f"; a place frees in {frees_in_s / 60:.0f} min" if frees_in_s else ""
    if frees_in_s is not None and frees_in_s >= 3600:
        later = "; a place frees in an hour or more"
    where = f" at {at}" if at else ""
    return (
        f"account dial cap{of} reached{where}: no more dials this run{later}; "
        "everyone not yet dialed is reported not-dialed"
    )
