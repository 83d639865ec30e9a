"""One placed call for a participant: paced, idempotent by Label, creating the conference if due.

Idempotency rests on the Label: every participant is dialed with its name as
Label. A dial whose answer was lost may have placed a call, so it is never
blindly repeated: its call is looked for first (``engine.lost``), within the
participant's ledger (``engine.ledger``). Sending, with the dial pacer and the
run model's events, is ``engine.sending``'s; the dial that creates the
conference, ``engine.creating``'s.

What the API may do that a dial survives:
- 429: the pacer pauses and slows (see ``pacing.dials``); the dial goes again,
  having placed nothing.
- 404 on dialing into a friendly name: the conference is created the
  documented way, by a call that runs ``<Dial><Conference>`` (InitiateTexmlCall),
  and everyone else is dialed into its SID; later conferences of the run go
  straight that way.
- a 422 for a Label already live: the call under it is adopted.
- connections refused: nothing was sent, so the dial is tried again until the
  API has not answered anything for ``give_up_s``.
- stop: no request that has not left is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.engine.account import Account
from orchestrator.engine.creating import Creator, CreatorEnded
from orchestrator.engine.creation import Creation
from orchestrator.engine.dial_request import dial_fields
from orchestrator.engine.events import Creating
from orchestrator.engine.ledger import DialLedger, LostAnswer
from orchestrator.engine.lost import Finder
from orchestrator.engine.sending import Retry, Sender
from orchestrator.engine.waiting import Stopped, sleep_unless
from orchestrator.errors import ApiUnreachable, RequestRejected
from orchestrator.spec.model import ConferenceSpec, Participant

# Waits between attempts while connections are refused (nothing was sent).
_REFUSED_FIRST_S = 0.5
_REFUSED_MAX_S = 4.0


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
        self.options = account.options
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self.creation = creation
        self.sender = Sender(spec, account)
        self.finder = Finder(account.client, self.sender, held_calls)
        self.creator = Creator(account.client, self.sender, self.finder)

    @property
    def on_wire(self) -> int:
        """Dial requests sent whose answer has not arrived."""
        return self.sender.on_wire

    @property
    def ledgers(self) -> dict[str, DialLedger]:
        return self.sender.ledgers

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
            self.finder.known_calls.add(placed)
        return placed

    async def _place(
        self, participant: Participant, destination: str, coach_sid: str | None
    ) -> str | CreatorEnded:
        refused_connections = 0
        while True:
            self.account.give_up_if_gone()
            if self.stop.is_set():
                raise Stopped
            try:
                return await self._attempt(participant, destination, coach_sid)
            except Retry:
                continue
            except ApiUnreachable as error:
                if error.request_sent:
                    raise
                # Nothing left this machine: wait and try again, until the API counts as gone.
                refused_connections += 1
                delay = min(_REFUSED_FIRST_S * 2 ** (refused_connections - 1), _REFUSED_MAX_S)
                await sleep_unless(delay, self.stop, self.client.clock)
                if self.client.unreachable_for() >= self.options.give_up_s:
                    self.account.give_up_if_gone()
                    raise

    async def _attempt(
        self, participant: Participant, destination: str, coach_sid: str | None
    ) -> str | CreatorEnded:
        """One try: into the conference's SID, or (holding the claim) creating it."""
        claim = await self.creation.claim(participant.name, self.stop)
        if claim is None:
            assert self.creation.sid is not None
            return await self._dial(participant, destination, coach_sid, self.creation.sid)
        with claim:
            self.sender.publish(Creating, participant)
            try:
                return await self.creator.create(participant, destination, claim)
            except (Retry, Stopped):
                raise  # nothing placed: the claim goes back as it came
            except ApiUnreachable as error:
                if error.request_sent:
                    claim.created(None)
                raise
            except BaseException:
                claim.created(None)  # this one cannot create it: anyone may try
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
            answer = await self.sender.send(
                participant,
                destination,
                lambda clear: self.client.dial(sid, fields, stop=self.stop, clear_to_send=clear),
            )
        except LostAnswer as lost:
            return await self.finder.call_of(participant, destination, lost, sid)
        except RequestRejected as error:
            return await self.finder.adopt_live(participant, destination, sid, error)
        call_sid = str(answer.resource["call_sid"])
        self.sender.placed(participant, destination, call_sid)
        return call_sid
