"""Finding the call a dial placed when its answer was lost, or that another apply placed.

A dial whose answer was lost (5xx, reset, timeout after sending, an answer that
cannot be read) may have placed a call, so it is never blindly repeated: its
call is looked for, by Label among the live legs and in ``GET Calls`` among the
calls to its number that no other dial accounts for (which also shows a call
that has already ended), until ``lost_answer_grace_s`` after it was sent.
Found, it is the participant's call: adopted, and followed like any other. Not
found by then, the API shows no call, and the participant is dialed again, as
long as its ledger lets another loss be looked past (``engine.ledger``).

Calls are matched by ``date_created`` (whole seconds) read against the server's
own clock (its ``Date``), so the two machines' clocks need not agree. A 422
saying the Label is already live (another apply of the same file got there
first) is answered the same way: the call under the Label is adopted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from orchestrator.engine.events import LostAnswerRuledOut
from orchestrator.engine.ledger import LostAnswer, Unconfirmed
from orchestrator.engine.sending import Retry, Sender
from orchestrator.engine.waiting import poll
from orchestrator.errors import RequestRejected
from orchestrator.spec.model import Participant
from orchestrator.texml.client import TexmlClient, parse_http_date
from orchestrator.texml.contract import CallResource

# How far apart the server's clock and a call's date may seem: both are whole seconds.
_CLOCK_SLACK_S = 2.0


def is_duplicate_label(error: RequestRejected) -> bool:
    """A 422 saying a participant with this Label is already in the conference."""
    text = f"{error.pointer or ''} {error.detail or ''}".lower()
    return error.status == 422 and "label" in text and "already" in text


class Finder:
    def __init__(
        self, client: TexmlClient, sender: Sender, held_calls: Callable[[], set[str]]
    ) -> None:
        """``held_calls``: the calls the run holds now (none of them is a lost one)."""
        self.client = client
        self.clock = client.clock
        self.sender = sender
        self.options = sender.account.options
        self.known_calls: set[str] = set()  # every call this run placed or adopted
        self._held_calls = held_calls

    def held(self) -> set[str]:
        """Calls accounted for: placed or adopted by this run, or held by its participants."""
        return self.known_calls | self._held_calls()

    async def call_of(
        self, participant: Participant, destination: str, lost: LostAnswer, sid: str
    ) -> str:
        """The call a dial into conference ``sid`` placed: live under its Label, or listed in
        Calls (ended already, perhaps); Retry when the API shows none within the grace
        (nothing was placed), Unconfirmed when no more losses may be looked past."""

        async def look() -> str | None:
            live = await self.client.find_participant(sid, participant.name)
            call_sid = live.get("call_sid") if live is not None else None
            if isinstance(call_sid, str) and call_sid:
                return call_sid
            call = await self.unaccounted(destination, lost)
            return call["sid"] if call is not None else None

        found = await poll(
            look, self.sender.stop, self.options.poll, self.clock, until=self.deadline(lost)
        )
        if found is None:
            self.ruled_out(participant, lost)
        self.confirmed(participant, destination, found)
        return found

    def deadline(self, lost: LostAnswer) -> float:
        return lost.sent_at + self.options.lost_answer_grace_s

    def confirmed(self, participant: Participant, destination: str, call_sid: str) -> None:
        self.sender.ledger(participant).unconfirmed -= 1
        self.sender.placed(participant, destination, call_sid, "found")

    def ruled_out(self, participant: Participant, lost: LostAnswer) -> NoReturn:
        """The API shows no call from a dial whose answer was lost: dial again, if the ledger
        lets another loss be looked past."""
        ledger = self.sender.ledger(participant)
        ledger.unconfirmed -= 1
        self.sender.publish(LostAnswerRuledOut, participant)
        if not ledger.may_look_past_losses:
            raise Unconfirmed(ledger)
        raise Retry from lost.error

    async def adopt_live(
        self, participant: Participant, destination: str, sid: str, error: RequestRejected
    ) -> str:
        """After a 422 for a Label already live: the call carrying the Label, adopted; Retry when
        it left meanwhile (this request placed nothing)."""
        if not is_duplicate_label(error):
            raise error
        found = await self.client.find_participant(sid, participant.name)
        call_sid = found.get("call_sid") if found is not None else None
        if not isinstance(call_sid, str) or not call_sid:
            raise Retry from error
        self.sender.placed(participant, destination, call_sid, "adopted")
        return call_sid

    async def unaccounted(self, destination: str, lost: LostAnswer) -> CallResource | None:
        """A call to ``destination`` that started no earlier than the lost dial was sent and that
        no participant of the run holds: the call that dial placed."""
        local_now = datetime.now(UTC)
        # A day back: the server's date may be ahead of or behind ours.
        listed = await self.client.list_calls(
            to=destination, since=(local_now - timedelta(days=1)).date()
        )
        elapsed = self.clock.now() - lost.sent_at
        # Dates are whole seconds, and the server's clock is read from a whole-second Date.
        earliest = (listed.server_time or local_now) - timedelta(seconds=elapsed + _CLOCK_SLACK_S)
        held = self.held()
        candidates = [
            call
            for call in listed.calls
            if call["sid"] not in held
            and (created := parse_http_date(call.get("date_created"))) is not None
            and created >= earliest
        ]
        return candidates[-1] if candidates else None
