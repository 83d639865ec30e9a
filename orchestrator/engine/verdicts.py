"""How a participant's tries went, and how its task ended when it did not simply converge:
what the executor hands the run model in its one ``Finished`` event."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engine import events as ev
from orchestrator.engine.results import LegState, State
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
