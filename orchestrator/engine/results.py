"""What a run found: one outcome per participant in the file, and per conference."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from orchestrator import exit_codes

# Observed states. "ended: <why>" for legs that are gone.
CONNECTED = "connected"
CONNECTING = "connecting"
NOT_DIALED = "not-dialed"
UNKNOWN = "unknown"


def ended(reason: str) -> str:
    return f"ended: {reason}"


@dataclass
class ParticipantOutcome:
    name: str
    role: str
    to: str  # the destination dialed last (or the primary one when nothing was dialed)
    desired: str = CONNECTED
    observed: str = NOT_DIALED
    call_sid: str | None = None
    attempts: int = 0  # dial requests that may have placed a call
    error: str | None = None  # why it did not converge, in one line
    notes: list[str] = field(default_factory=list)  # what happened on the way (fallbacks, adoption)

    @property
    def converged(self) -> bool:
        if self.error is not None:
            return False
        if self.desired == CONNECTING:  # --no-wait: dialed is all that was asked
            return self.observed in (CONNECTING, CONNECTED)
        return self.observed == self.desired


@dataclass
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
            **{state: counts[state] for state in sorted(counts)},
            "dials": self.dials,
            "rate_limited": self.rate_limited,
        }


def exit_code(result: ConferenceResult) -> int:
    """130 stopped; 1 when an error stopped the conference before it sent any dial; 3 when
    some participant did not converge (an error after calls were placed included); else 0."""
    if result.interrupted:
        return exit_codes.INTERRUPTED
    if result.error is not None and not any(p.attempts for p in result.participants):
        return exit_codes.FAILED
    if result.error is not None:
        return exit_codes.PARTIAL
    return exit_codes.OK if all(p.converged for p in result.participants) else exit_codes.PARTIAL


def worst_exit_code(codes: list[int]) -> int:
    """Interrupted beats failed beats partial beats success."""
    order = [exit_codes.OK, exit_codes.PARTIAL, exit_codes.FAILED, exit_codes.INTERRUPTED]
    return max(
        codes, key=lambda c: order.index(c) if c in order else len(order), default=exit_codes.OK
    )
