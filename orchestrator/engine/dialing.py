"""One placed call for a participant: paced, idempotent by Label, creating the conference if due.

Idempotency rests on the Label: every participant is dialed with its name as
Label. A dial whose answer was lost (5xx, reset, timeout after sending, an
answer that cannot be read) may have placed a call, so it is never blindly
repeated: its call is looked for, by Label among the live legs and in
``GET Calls`` among the calls to its number that no other dial accounts for
(which also shows a call that has already ended), until ``lost_answer_grace_s``
after it was sent. Found, it is the participant's call: adopted, and followed
like any other. Not found by then, the API shows no call, and the participant
is dialed again. A 422 saying the Label is already live (another apply of the
same file got there first) is answered the same way: look it up, adopt it.

Each participant has a budget: its numbers times ``1 + retry.attempts`` calls
that may be placed (``engine.executor``). Whatever the API answers, no more
than that many lost answers are looked past either: after them the
participant ends unconfirmed, so a number is never called over and over by a
run whose answers keep getting lost (``DialLedger``).

What the API may do that a dial survives:
- 429: the pacer pauses and slows (see ``pacing.dials``); the dial goes again,
  having placed nothing.
- 404 on dialing into a friendly name: the conference is created the
  documented way, by a call that runs ``<Dial><Conference>`` (InitiateTexmlCall),
  and everyone else is dialed into its SID; later conferences of the run go
  straight that way.
- connections refused: nothing was sent, so the dial is tried again until the
  API has not answered anything for ``give_up_s``.
- stop: no request that has not left is sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar

from orchestrator.engine.account import Account
from orchestrator.engine.creation import Claim, Creation
from orchestrator.engine.dial_request import dial_fields, initiate_call_fields
from orchestrator.engine.events import (
    AnswerLost,
    CallPlaced,
    Creating,
    DialRefused,
    LostAnswerRuledOut,
    ParticipantEvent,
    PlacedHow,
)
from orchestrator.engine.live import find_conference
from orchestrator.engine.results import LegState
from orchestrator.engine.settling import ended_state
from orchestrator.engine.waiting import Stopped, sleep_unless
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
from orchestrator.texml.client import DialAnswer, parse_http_date
from orchestrator.texml.contract import CallResource, InitiateCallResult

T = TypeVar("T")

# How far apart the server's clock and a call's date may seem: both are whole seconds.
_CLOCK_SLACK_S = 2.0

# Waits between attempts while connections are refused (nothing was sent).
_REFUSED_FIRST_S = 0.5
_REFUSED_MAX_S = 4.0


class Retry(Exception):
    """Nothing was placed; go round and dial again."""


class LostAnswer(Exception):
    """A dial that may have placed a call: its answer was lost (5xx, reset, timeout, garbled)."""

    def __init__(self, error: DialUnconfirmed, sent_at: float, shown: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.sent_at = sent_at  # monotonic, when the request left
        self.shown = shown  # "HTTP 503", "no answer"


@dataclass(frozen=True)
class CreatorEnded:
    """How a conference-creating call ended before it made the conference."""

    state: LegState
    call_sid: str | None = None
    note: str | None = None


class Unconfirmed(Exception):
    """The participant's answers were lost as often as its budget allows: it is dialed no more."""

    def __init__(self, ledger: DialLedger) -> None:
        super().__init__(ledger.unconfirmed_reason())
        self.ledger = ledger


@dataclass
class DialLedger:
    """What decides whether a participant may be dialed again in this round.

    The budget (its numbers x ``1 + retry.attempts``) bounds the calls placed
    (``engine.executor``'s tries) and the lost answers looked past here. What the
    summary counts is the run model's business: it folds the same events.
    """

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


def is_duplicate_label(error: RequestRejected) -> bool:
    """A 422 saying a participant with this Label is already in the conference."""
    text = f"{error.pointer or ''} {error.detail or ''}".lower()
    return error.status == 422 and "label" in text and "already" in text


class Dialer:
    def __init__(
        self,
        spec: ConferenceSpec,
        account: Account,
        creation: Creation,
        held_calls: Callable[[], set[str]],
    ) -> None:
        """``held_calls``: the calls the run's participants hold now (none is a lost one)."""
        self.spec = spec
        self.account = account
        self.client = account.client
        self.pacer = account.pacer
        self.options = account.options
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self.clock = account.clock
        self.creation = creation
        self.on_wire = 0  # dial requests sent whose answer has not arrived
        self.ledgers: dict[str, DialLedger] = {}
        self.known_calls: set[str] = set()  # every call this run placed or adopted
        self._held_calls = held_calls

    def _publish(
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

    def _dialed(
        self,
        participant: Participant,
        destination: str,
        call_sid: str | None,
        how: PlacedHow = "answered",
    ) -> None:
        self._publish(CallPlaced, participant, destination=destination, call_sid=call_sid, how=how)

    def ledger(self, participant: Participant) -> DialLedger:
        ledger = self.ledgers.get(participant.name)
        if ledger is None:
            retry = participant.settings.retry
            budget = len(participant.to) * (1 + (retry.attempts if retry is not None else 0))
            ledger = self.ledgers[participant.name] = DialLedger(budget)
        return ledger

    async def place(
        self, participant: Participant, destination: str, coach_sid: str | None
    ) -> str | CreatorEnded:
        """One placed call for ``participant`` (a new dial, or one adopted), by its call SID;
        or how a creating call ended when it never made the conference.

        Raises Stopped when the run stops first, Unconfirmed when answers were lost as often as
        the budget allows, or the error that refused the dial.
        """
        placed = await self._place(participant, destination, coach_sid)
        if isinstance(placed, str):
            self.known_calls.add(placed)
        return placed

    async def _place(
        self, participant: Participant, destination: str, coach_sid: str | None
    ) -> str | CreatorEnded:
        refused_connections = 0
        while True:
            self.account.give_up_if_gone()
            if self.stop.is_set():
                raise Stopped
            claim = await self.creation.claim(participant.name, self.stop)
            try:
                if claim is None:
                    assert self.creation.sid is not None
                    return await self._dial(participant, destination, coach_sid, self.creation.sid)
                with claim:
                    self._publish(Creating, participant)
                    try:
                        if self.account.create_by_call:
                            return await self._create_by_call(participant, destination, claim)
                        return await self._create_by_dial(participant, destination, claim)
                    except (Retry, Stopped):
                        raise  # nothing placed: the claim goes back as it came
                    except ApiUnreachable as error:
                        if error.request_sent:
                            claim.created(None)
                        raise
                    except BaseException:
                        claim.created(None)  # this one cannot create it: anyone may try
                        raise
            except Retry:
                continue
            except ApiUnreachable as error:
                if error.request_sent:
                    raise
                # Nothing left this machine: wait and try again, until the API counts as gone.
                refused_connections += 1
                delay = min(_REFUSED_FIRST_S * 2 ** (refused_connections - 1), _REFUSED_MAX_S)
                await sleep_unless(delay, self.stop, self.clock)
                if self.client.unreachable_for() >= self.options.give_up_s:
                    self.account.give_up_if_gone()
                    raise

    async def _dial(
        self, participant: Participant, destination: str, coach_sid: str | None, sid: str
    ) -> str:
        fields = dial_fields(
            self.spec,
            participant,
            destination,
            creates_conference=False,
            call_sid_to_coach=coach_sid,
        )
        try:
            answer = await self._send(
                participant,
                destination,
                lambda clear: self.client.dial(sid, fields, stop=self.stop, clear_to_send=clear),
            )
        except LostAnswer as lost:
            return await self._look_for_lost_call(participant, destination, lost, sid)
        except RequestRejected as error:
            return await self._adopt_live(participant, destination, sid, error)
        call_sid = str(answer.resource["call_sid"])
        self._dialed(participant, destination, call_sid)
        return call_sid

    async def _create_by_dial(
        self, participant: Participant, destination: str, claim: Claim
    ) -> str | CreatorEnded:
        """Dial into the friendly name with the ApplicationSid, creating the conference."""
        fields = dial_fields(self.spec, participant, destination, creates_conference=True)
        name = self.spec.conference.name
        try:
            answer = await self._send(
                participant,
                destination,
                lambda clear: self.client.dial(name, fields, stop=self.stop, clear_to_send=clear),
            )
        except NotFoundError:
            # Dialing into a friendly name is refused here: create it by a TeXML call instead.
            self.account.create_by_call = True
            self.account.notice(
                f"{name}: the API does not create a conference by dialing into its name; "
                "creating it with a TeXML <Dial><Conference> call instead"
            )
            return await self._create_by_call(participant, destination, claim)
        except LostAnswer as lost:
            return await self._after_lost_creating_dial(participant, destination, claim, lost)
        except RequestRejected as error:
            if not is_duplicate_label(error):
                raise
            # Another apply made the conference and dialed this participant into it.
            found = await find_conference(self.client, self.spec)
            if found is None:
                raise Retry from error
            claim.created(found["sid"])
            return await self._adopt_live(participant, destination, found["sid"], error)
        claim.created(str(answer.resource["conference_sid"]))
        call_sid = str(answer.resource["call_sid"])
        self._dialed(participant, destination, call_sid)
        return call_sid

    async def _after_lost_creating_dial(
        self, participant: Participant, destination: str, claim: Claim, lost: LostAnswer
    ) -> str | CreatorEnded:
        """A creating dial whose answer was lost: the conference it made (and the call in it),
        or the call still on its way to make it, or how that call ended; Retry if the API shows
        neither."""
        deadline = lost.sent_at + self.options.lost_answer_grace_s
        delay = self.options.poll.first_s
        while True:
            found = await find_conference(self.client, self.spec)
            if found is not None:
                claim.created(found["sid"])
                return await self._look_for_lost_call(participant, destination, lost, found["sid"])
            call = await self._unaccounted_call(destination, lost)
            if call is not None:
                self._confirmed(participant, destination, call["sid"])
                return await self._await_conference(participant, destination, claim, call["sid"])
            if self.clock.now() >= deadline:
                return self._ruled_out(participant, lost)
            await sleep_unless(delay, self.stop, self.clock)
            if self.stop.is_set():
                raise Stopped
            delay = min(delay * self.options.poll.factor, self.options.poll.max_s)

    async def _look_for_lost_call(
        self, participant: Participant, destination: str, lost: LostAnswer, sid: str
    ) -> str:
        """The call a dial whose answer was lost placed: live under its Label, or listed in Calls
        (ended already, perhaps) until the grace after it was sent; Retry when the API shows
        none by then (nothing was placed), Unconfirmed when no more losses may be looked past.
        """
        deadline = lost.sent_at + self.options.lost_answer_grace_s
        delay = self.options.poll.first_s
        while True:
            live = await self.client.find_participant(sid, participant.name)
            call_sid = live.get("call_sid") if live is not None else None
            if not (isinstance(call_sid, str) and call_sid):
                call = await self._unaccounted_call(destination, lost)
                call_sid = call["sid"] if call is not None else None
            if call_sid:
                self._confirmed(participant, destination, call_sid)
                return call_sid
            if self.clock.now() >= deadline:
                self._ruled_out(participant, lost)
            await sleep_unless(delay, self.stop, self.clock)
            if self.stop.is_set():
                raise Stopped
            delay = min(delay * self.options.poll.factor, self.options.poll.max_s)

    def _confirmed(self, participant: Participant, destination: str, call_sid: str) -> None:
        self.ledger(participant).unconfirmed -= 1
        self._dialed(participant, destination, call_sid, "found")

    def _ruled_out(self, participant: Participant, lost: LostAnswer) -> NoReturn:
        """The API shows no call from a dial whose answer was lost: dial again, if the budget
        lets another loss be looked past."""
        ledger = self.ledger(participant)
        ledger.unconfirmed -= 1
        self._publish(LostAnswerRuledOut, participant)
        if not ledger.may_look_past_losses:
            raise Unconfirmed(ledger)
        raise Retry from lost.error

    async def _unaccounted_call(self, destination: str, lost: LostAnswer) -> CallResource | None:
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
        held = self.known_calls | self._held_calls()
        candidates = [
            call
            for call in listed.calls
            if call["sid"] not in held
            and (created := parse_http_date(call.get("date_created"))) is not None
            and created >= earliest
        ]
        return candidates[-1] if candidates else None

    async def _adopt_live(
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
        self._dialed(participant, destination, call_sid, "adopted")
        return call_sid

    def _refused(self, participant: Participant, destination: str, error: ApiError) -> None:
        self._publish(
            DialRefused, participant, destination=destination, status=error.status, code=error.code
        )

    async def _send(
        self,
        participant: Participant,
        destination: str,
        send: Callable[[Callable[[], bool]], Awaitable[DialAnswer[T]]],
    ) -> DialAnswer[T]:
        """Send one dial through the pacer, and count what its answer says it placed.

        ``send`` gets the check the client makes just before the request leaves. A 429, or a
        dial held back by a pause that began while it waited for its place, is Retry; a stop is
        Stopped; an answer that leaves it unknown whether a call was placed is LostAnswer
        (counted as unconfirmed until its call is found or ruled out). Nothing else counts:
        a refusal (4xx, a 415 sent again in the other encoding) placed nothing.
        """
        ledger = self.ledger(participant)
        try:
            async with self.pacer.slot(self.stop) as ticket:
                sent_at: float | None = None

                def clear_to_send() -> bool:
                    nonlocal sent_at
                    if not self.pacer.clear_to_send(ticket):
                        return False
                    if sent_at is None:
                        self.on_wire += 1
                    sent_at = self.clock.now()
                    return True

                try:
                    answer = await send(clear_to_send)
                except RateLimitedError as error:
                    general = error.code == contract.CODE_TOO_MANY_REQUESTS
                    self.pacer.refused(ticket, error.rate, cut=not general)
                    self._refused(participant, destination, error)
                    raise
                except RequestRejected as error:
                    self._refused(participant, destination, error)
                    raise
                except NotFoundError as error:
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
                    shown = (
                        "no answer"
                        if not error.status
                        else "an unreadable answer"
                        if error.status < 300
                        else f"HTTP {error.status}"
                    )
                    ledger.lost.append(shown)
                    ledger.unconfirmed += 1
                    self._publish(AnswerLost, participant, destination=destination, shown=shown)
                    raise LostAnswer(error, sent_at, shown) from error
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

    async def _create_by_call(
        self, participant: Participant, destination: str, claim: Claim
    ) -> str | CreatorEnded:
        """Create the conference by a call running <Dial><Conference>, and wait until it exists.

        Returns the creating call's SID (the conference's SID is published by then), or how the
        call ended without making the conference.
        """
        fields = initiate_call_fields(self.spec, participant, destination)
        answer: InitiateCallResult
        try:
            answer = (
                await self._send(
                    participant,
                    destination,
                    lambda clear: self.client.initiate_call(
                        fields, stop=self.stop, clear_to_send=clear
                    ),
                )
            ).resource
        except LostAnswer:
            answer = {}  # it may have been placed: the conference will tell
        else:
            named = answer.get("call_sid") or answer.get("sid")
            self._dialed(participant, destination, named if isinstance(named, str) else None)
        named = answer.get("call_sid") or answer.get("sid")
        call_sid = named if isinstance(named, str) and named else None
        return await self._await_conference(participant, destination, claim, call_sid)

    async def _await_conference(
        self, participant: Participant, destination: str, claim: Claim, call_sid: str | None
    ) -> str | CreatorEnded:
        """Wait for a creating call to make the conference: the call's SID once it has (the
        conference's SID is published by then), or how the call ended without making it."""
        ring_s = participant.settings.timeout or contract.DEFAULT_TIMEOUT_S
        deadline = self.clock.now() + ring_s + self.options.settle_timeout_s
        poll = self.options.poll
        delay = poll.first_s
        conference_sid: str | None = None
        while self.clock.now() < deadline and not self.stop.is_set():
            if conference_sid is None:
                found = await find_conference(self.client, self.spec)
                conference_sid = found["sid"] if found is not None else None
                if conference_sid is not None:
                    claim.created(conference_sid)
            if conference_sid is not None:
                call_sid = call_sid or await self._find_creator_call(conference_sid, destination)
                if call_sid:
                    return call_sid
            elif call_sid:
                state = ended_state(await self._call_status(call_sid))
                if state is not None:
                    claim.created(None)
                    return CreatorEnded(state, call_sid)
            await sleep_unless(delay, self.stop, self.clock)
            delay = min(delay * poll.factor, poll.max_s)
        claim.created(conference_sid)
        if conference_sid is None:
            return CreatorEnded("unknown", call_sid, "the creating call never made the conference")
        return CreatorEnded(
            "unknown", call_sid, "created the conference; its call could not be identified"
        )

    async def _find_creator_call(self, conference_sid: str, destination: str) -> str | None:
        """The creating call's SID, when InitiateTexmlCall's answer named none: the live leg to
        its destination that no other participant of the run holds."""
        held = self.known_calls | self._held_calls()
        for leg in await self.client.list_participants(conference_sid):
            call_sid = leg["call_sid"]
            if call_sid in held:
                continue
            with contextlib.suppress(NotFoundError):
                if (await self.client.get_call(call_sid)).get("to") == destination:
                    return call_sid
        return None

    async def _call_status(self, call_sid: str) -> str | None:
        try:
            status = (await self.client.get_call(call_sid)).get("status")
        except NotFoundError:
            return None
        return status if isinstance(status, str) else None
