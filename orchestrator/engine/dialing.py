"""One placed call for a participant: paced, idempotent by Label, creating the conference if due.

Idempotency rests on the Label: every participant is dialed with its name as
Label. A dial that fails ambiguously (5xx, reset, timeout after sending, an
answer that cannot be read) is never blindly repeated: the participant is first
looked up by Label and the call found is adopted; only a definite "not there"
is dialed again. A 422 saying the Label is already live (another apply of the
same file got there first) is answered the same way: look it up, adopt it.

What the API may do that a dial survives:
- 429: the pacer pauses and slows (see ``engine.pacer``); the dial goes again,
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
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from orchestrator.engine.account import Account
from orchestrator.engine.creation import Claim, Creation
from orchestrator.engine.dial_request import dial_fields, initiate_call_fields
from orchestrator.engine.events import EventKind, ProgressEvent, ProgressHook
from orchestrator.engine.pacer import PacerStopped
from orchestrator.engine.planner import find_conference
from orchestrator.engine.results import LegState, ParticipantOutcome
from orchestrator.engine.waiting import Stopped, sleep_unless
from orchestrator.engine.watcher import ended_state
from orchestrator.errors import (
    ApiUnreachable,
    DialUnconfirmed,
    NotFoundError,
    NotSent,
    RateLimitedError,
    RequestRejected,
)
from orchestrator.spec.model import ConferenceSpec, Participant
from orchestrator.texml import contract
from orchestrator.texml.client import DialAnswer
from orchestrator.texml.contract import InitiateCallResult

T = TypeVar("T")

# Waits between attempts while connections are refused (nothing was sent).
_REFUSED_FIRST_S = 0.5
_REFUSED_MAX_S = 4.0


class Retry(Exception):
    """Nothing was placed; go round and dial again."""


@dataclass(frozen=True)
class CreatorEnded:
    """How a conference-creating call ended before it made the conference."""

    state: LegState


@dataclass
class DialCounts:
    """One conference's dials, for its summary."""

    sent: int = 0  # dial requests that left
    rate_limited: int = 0  # of those, answered 429
    on_wire: int = 0  # sent, answer not arrived yet


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
        outcomes: Mapping[str, ParticipantOutcome],
        progress: ProgressHook | None,
    ) -> None:
        self.spec = spec
        self.account = account
        self.client = account.client
        self.pacer = account.pacer
        self.options = account.options
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self.creation = creation
        self.outcomes = outcomes
        self.counts = DialCounts()
        self._progress = progress

    def _say(self, participant: Participant, kind: EventKind, destination: str | None) -> None:
        if self._progress is not None:
            self._progress(
                ProgressEvent(
                    conference=self.spec.conference.name,
                    participant=participant.name,
                    kind=kind,
                    destination=destination,
                )
            )

    def _dialed(self, participant: Participant, destination: str) -> None:
        self._say(participant, EventKind.DIALED, destination)

    async def place(
        self, participant: Participant, destination: str, coach_sid: str | None
    ) -> str | CreatorEnded:
        """One placed call for ``participant`` (a new dial, or one adopted), by its call SID;
        or how a creating call ended when it never made the conference.

        Raises Stopped when the run stops first, or the error that refused the dial.
        """
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
                    self._say(participant, EventKind.CREATING, None)
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
                await sleep_unless(delay, self.stop)
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
                lambda clear: self.client.dial(sid, fields, stop=self.stop, clear_to_send=clear),
            )
        except (DialUnconfirmed, RequestRejected) as error:
            return await self._adopt_or_retry(participant, sid, error)
        self._dialed(participant, destination)
        return str(answer.resource["call_sid"])

    async def _create_by_dial(
        self, participant: Participant, destination: str, claim: Claim
    ) -> str | CreatorEnded:
        """Dial into the friendly name with the ApplicationSid, creating the conference."""
        fields = dial_fields(self.spec, participant, destination, creates_conference=True)
        name = self.spec.conference.name
        try:
            answer = await self._send(
                participant,
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
        except (DialUnconfirmed, RequestRejected) as error:
            if isinstance(error, RequestRejected) and not is_duplicate_label(error):
                raise
            # Placed or not, the conference may exist now (another apply may have made it).
            found = await find_conference(self.client, self.spec)
            if found is None:
                if isinstance(error, DialUnconfirmed):
                    self.outcomes[participant.name].attempts -= 1  # no conference: nothing placed
                raise Retry from error
            claim.created(found["sid"])
            return await self._adopt_or_retry(participant, found["sid"], error)
        claim.created(str(answer.resource["conference_sid"]))
        self._dialed(participant, destination)
        return str(answer.resource["call_sid"])

    async def _adopt_or_retry(
        self, participant: Participant, sid: str, error: DialUnconfirmed | RequestRejected
    ) -> str:
        """After an unconfirmed dial, or a 422 for a Label already live: the call carrying the
        Label, adopted; Retry when there is none (nothing was placed, or it left meanwhile)."""
        if isinstance(error, RequestRejected) and not is_duplicate_label(error):
            raise error
        outcome = self.outcomes[participant.name]
        found = await self.client.find_participant(sid, participant.name)
        call_sid = found.get("call_sid") if found is not None else None
        if not isinstance(call_sid, str) or not call_sid:
            if isinstance(error, DialUnconfirmed):
                outcome.attempts -= 1  # definitely not placed
            raise Retry from error
        if isinstance(error, DialUnconfirmed):
            outcome.notes.append(
                f"adopted {call_sid} after an unconfirmed dial ({error.status or 'no answer'})"
            )
        else:
            outcome.notes.append("already live (dialed by another apply); adopted")
        return call_sid

    async def _send(
        self,
        participant: Participant,
        send: Callable[[Callable[[], bool]], Awaitable[DialAnswer[T]]],
    ) -> DialAnswer[T]:
        """Send one dial through the pacer.

        ``send`` gets the check the client makes just before the request leaves; only from
        then on is it counted as sent and as an attempt (a dial that may have placed a call).
        A 429, or a dial held back by a pause that began while it waited for its place, is
        Retry; a stop is Stopped. A definite refusal (4xx) takes its attempt back.
        """
        outcome = self.outcomes[participant.name]
        counts = self.counts
        try:
            async with self.pacer.slot(self.stop) as ticket:
                sent = False

                def clear_to_send() -> bool:
                    nonlocal sent
                    if not self.pacer.clear_to_send(ticket):
                        return False
                    sent = True
                    counts.sent += 1
                    counts.on_wire += 1
                    outcome.attempts += 1
                    return True

                try:
                    answer = await send(clear_to_send)
                except RateLimitedError as error:
                    counts.rate_limited += 1
                    general = error.code == contract.CODE_TOO_MANY_REQUESTS
                    self.pacer.refused(ticket, error.rate, cut=not general)
                    raise
                except NotSent:
                    self.pacer.held_back(ticket)
                    raise
                except ApiUnreachable as error:
                    if not error.request_sent:
                        self.pacer.held_back(ticket)  # nothing reached the server
                        if sent:
                            counts.sent -= 1
                            outcome.attempts -= 1
                    raise
                finally:
                    if sent:
                        counts.on_wire -= 1
                self.pacer.accepted(ticket, answer.rate)
                return answer
        except RateLimitedError as error:
            outcome.attempts -= 1  # nothing was placed; the pacer has slowed down
            raise Retry from error
        except (RequestRejected, NotFoundError):
            outcome.attempts -= 1  # a definite refusal placed nothing
            raise
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
        outcome = self.outcomes[participant.name]
        fields = initiate_call_fields(self.spec, participant, destination)
        answer: InitiateCallResult
        try:
            answer = (
                await self._send(
                    participant,
                    lambda clear: self.client.initiate_call(
                        fields, stop=self.stop, clear_to_send=clear
                    ),
                )
            ).resource
        except DialUnconfirmed:
            answer = {}  # it may have been placed: the conference will tell
        named = answer.get("call_sid") or answer.get("sid")
        call_sid = named if isinstance(named, str) and named else None
        self._dialed(participant, destination)
        ring_s = participant.settings.timeout or contract.DEFAULT_TIMEOUT_S
        deadline = time.monotonic() + ring_s + self.options.settle_timeout_s
        poll = self.options.poll
        delay = poll.first_s
        conference_sid: str | None = None
        while time.monotonic() < deadline and not self.stop.is_set():
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
                    outcome.call_sid = call_sid
                    claim.created(None)
                    return CreatorEnded(state)
            await sleep_unless(delay, self.stop)
            delay = min(delay * poll.factor, poll.max_s)
        claim.created(conference_sid)
        outcome.call_sid = call_sid
        if conference_sid is None:
            outcome.notes.append("the creating call never made the conference")
        else:
            outcome.notes.append("created the conference; its call could not be identified")
        return CreatorEnded("unknown")

    async def _find_creator_call(self, conference_sid: str, destination: str) -> str | None:
        """The creating call's SID, when InitiateTexmlCall's answer named none: the live leg to
        its destination that no other participant of the run holds."""
        held = {o.call_sid for o in self.outcomes.values() if o.call_sid}
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
