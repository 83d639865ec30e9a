"""Sending one request that may place a call: through the dial pacer, every answer published to
the run model, each participant's lost answers kept (``engine.ledger``).

What an answer says is what the run model counts (``engine.run_model``): a call placed
(CallPlaced), one that may have been (AnswerLost, until its call is found or ruled out),
or nothing (DialRefused: a 4xx or a 429; a request that never left says nothing).

A 429 that asks for a wait longer than ``CAP_WAIT_S`` is no per-second limit but the
account's hourly or daily dial cap (Telnyx documents the caps, not their answer): the run
sends no dial after it, each participant still to dial ending ``Capped``. Which of the two
it is the headers cannot say (waits are read to at most an hour): the line names the cap by
the dials it allows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from orchestrator.engine.account import Account
from orchestrator.engine.events import (
    AccountCapped,
    AccountLimit,
    AnswerLost,
    CallPlaced,
    DialRefused,
    ParticipantEvent,
    PlacedHow,
)
from orchestrator.engine.ledger import DialLedger, LostAnswer
from orchestrator.engine.verdicts import cap_words
from orchestrator.engine.waiting import Stopped
from orchestrator.errors import (
    ApiError,
    ApiUnreachable,
    DialUnconfirmed,
    NotFoundError,
    NotSent,
    RateLimitedError,
    RequestRejected,
)
from orchestrator.pacing.dials import PacerStopped
from orchestrator.spec.model import ConferenceSpec, Participant
from orchestrator.texml import contract
from orchestrator.texml.client import DialAnswer

T = TypeVar("T")

# The dial limit's window is seconds; a 429 asking to wait longer than this is a dial cap.
CAP_WAIT_S: Final = 60.0


class Retry(Exception):
    """Nothing was placed; go round and dial again."""


class Capped(Exception):
    """The account's dial cap was reached: nothing was placed, and no dial goes this run."""

    def __init__(self, limit: AccountLimit) -> None:
        super().__init__(limit)
        self.limit = limit


def cap_of(error: RateLimitedError) -> AccountLimit | None:
    """The dial cap a 429 says was reached, if its wait is longer than any dial window."""
    wait = error.rate.wait_s if error.rate is not None else None
    return "dial-cap" if wait is not None and wait > CAP_WAIT_S else None


def shown_loss(error: DialUnconfirmed) -> str:
    """How a lost answer reads: "no answer", "an unreadable answer", "HTTP 503"."""
    if not error.status:
        return "no answer"
    return "an unreadable answer" if error.status < 300 else f"HTTP {error.status}"


class Sender:
    """One conference's dial requests: paced, counted, published."""

    def __init__(self, spec: ConferenceSpec, account: Account) -> None:
        self.spec = spec
        self.account = account
        self.pacer = account.pacer
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self.on_wire = 0  # dial requests sent whose answer has not arrived
        self.ledgers: dict[str, DialLedger] = {}

    def publish(
        self, kind: type[ParticipantEvent], participant: Participant, **fields: Any
    ) -> None:
        self.account.model.publish(
            kind(
                file=self.spec.path,
                conference=self.spec.conference.name,
                participant=participant.name,
                **fields,
            )
        )

    def placed(
        self,
        participant: Participant,
        destination: str,
        call_sid: str | None,
        how: PlacedHow = "answered",
    ) -> None:
        self.publish(CallPlaced, participant, destination=destination, call_sid=call_sid, how=how)

    def ledger(self, participant: Participant) -> DialLedger:
        ledger = self.ledgers.get(participant.name)
        if ledger is None:
            retry = participant.settings.retry
            budget = len(participant.to) * (1 + (retry.attempts if retry is not None else 0))
            ledger = self.ledgers[participant.name] = DialLedger(budget)
        return ledger

    def _refused(self, participant: Participant, destination: str, error: ApiError) -> None:
        self.publish(
            DialRefused, participant, destination=destination, status=error.status, code=error.code
        )

    async def send(
        self,
        participant: Participant,
        destination: str,
        send: Callable[[Callable[[], bool]], Awaitable[DialAnswer[T]]],
    ) -> DialAnswer[T]:
        """Send one dial through the pacer, and publish what its answer says.

        ``send`` gets the check the client makes just before the request leaves. A 429, or a
        dial held back by a pause that began while it waited for its place, is Retry; a stop is
        Stopped; an answer that leaves it unknown whether a call was placed is LostAnswer.
        A refusal (4xx, a 415 sent again in the other encoding) placed nothing. Once a dial
        cap is reached, Capped, and nothing is sent.
        """
        if self.account.capped is not None:
            raise Capped(self.account.capped)
        try:
            async with self.pacer.slot(self.stop) as ticket:
                sent_at: float | None = None

                def clear_to_send() -> bool:
                    nonlocal sent_at
                    if self.account.capped is not None or not self.pacer.clear_to_send(ticket):
                        return False
                    if sent_at is None:
                        self.on_wire += 1
                    sent_at = self.account.clock.now()
                    return True

                try:
                    answer = await send(clear_to_send)
                except RateLimitedError as error:
                    self._refused(participant, destination, error)
                    cap = cap_of(error)
                    if cap is not None:
                        self.pacer.held_back(ticket)  # refused, it takes no place in the window
                        raise self._capped(participant, cap, error) from error
                    general = error.code == contract.CODE_TOO_MANY_REQUESTS
                    self.pacer.refused(ticket, error.rate, cut=not general)
                    raise
                except (RequestRejected, NotFoundError) as error:
                    self._refused(participant, destination, error)
                    raise
                except NotSent:
                    self.pacer.held_back(ticket)
                    raise
                except ApiUnreachable as error:
                    if not error.request_sent:
                        self.pacer.held_back(ticket)  # nothing reached the server
                    raise
                except DialUnconfirmed as error:
                    assert sent_at is not None
                    raise self._lost(participant, destination, error, sent_at) from error
                finally:
                    if sent_at is not None:
                        self.on_wire -= 1
                self.pacer.accepted(ticket, answer.rate)
                return answer
        except RateLimitedError as error:
            raise Retry from error  # nothing was placed; the pacer has slowed down
        except NotSent as error:
            if error.held_back:
                raise Retry from error
            raise Stopped from error
        except PacerStopped as stopped:
            raise Stopped from stopped

    def _capped(self, participant: Participant, cap: AccountLimit, error: ApiError) -> Capped:
        """The first dial to meet a cap says so, once for the run; every dial after is Capped."""
        if self.account.capped is None:
            rate = error.rate
            allowed = rate.limit if rate is not None else None
            frees_in = rate.wait_s if rate is not None else None
            self.account.cap = cap
            self.account.cap_until = self.account.clock.now() + (frees_in or CAP_WAIT_S)
            self.account.model.publish(
                AccountCapped(
                    file=self.spec.path,
                    conference=self.spec.conference.name,
                    limit=cap,
                    allowed=allowed,
                    frees_in_s=frees_in,
                    source="api",
                )
            )
            self.account.notice(cap_words(allowed, frees_in, participant.name))
        return Capped(cap)

    def _lost(
        self, participant: Participant, destination: str, error: DialUnconfirmed, sent_at: float
    ) -> LostAnswer:
        shown = shown_loss(error)
        ledger = self.ledger(participant)
        ledger.lost.append(shown)
        ledger.unconfirmed += 1
        self.publish(AnswerLost, participant, destination=destination, shown=shown)
        return LostAnswer(error, sent_at, shown)
