"""What decides whether a participant may be dialed again in a round: its budget, and the
answers of its dials that were lost.

The budget is its numbers times ``1 + retry.attempts`` calls that may be placed
(``engine.executor``'s tries). Whatever the API answers, no more lost answers
than that are looked past either (``engine.lost``): after them the participant
ends unconfirmed, so a number is never called over and over by a run whose
answers keep getting lost. What the summary counts is the run model's
business: it folds the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.errors import DialUnconfirmed


class LostAnswer(Exception):
    """A dial that may have placed a call: its answer was lost (5xx, reset, timeout, garbled)."""

    def __init__(self, error: DialUnconfirmed, sent_at: float, shown: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent_at = sent_at  # monotonic, when the request left
        self.shown = shown  # "HTTP 503", "no answer"


@dataclass
class DialLedger:
    budget: int  # calls that may be placed: numbers x (1 + retry.attempts)
    lost: list[str] = field(default_factory=list)  # every lost answer: "HTTP 503", "no answer"
    unconfirmed: int = 0  # lost answers whose call was neither found nor ruled out

    @property
    def may_look_past_losses(self) -> bool:
        """Whether, the API showing no call from its lost answers, the participant may be
        dialed again: at most as many lost answers as its budget are looked past."""
        return len(self.lost) <= self.budget

    def unconfirmed_reason(self) -> str:
        count = len(self.lost)
        answers = (
            f"the answer to its dial was lost ({self.lost[0]})"
            if count == 1
            else f"the answers to its {count} dials were lost ({', '.join(self.lost)})"
        )
        if self.unconfirmed:
            return f"unconfirmed: {answers}; the call may have been placed"
        return f"not dialed: {answers} and the API lists no call from them; apply again to dial it"


class Unconfirmed(Exception):
    """The participant's answers were lost as often as its budget allows: it is dialed no more."""

    def __init__(self, ledger: DialLedger) -> None:
        super().__init__(ledger.unconfirmed_reason())
        self.ledger = ledger
