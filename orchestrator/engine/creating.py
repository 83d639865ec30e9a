"""The dial that creates the conference, while it has no SID yet.

First by dialing into its friendly name with the ApplicationSid (one dial,
cheapest; implied by the SDK's wording, not documented). Where that is refused
(404), the documented way: InitiateTexmlCall with inline TeXML that runs
``<Dial><Conference>NAME</Conference></Dial>``, for this conference and the
run's later ones (``Account.create_by_call``). Either way, the others wait for
the SID (``engine.creation``'s claim), and a call whose answer was lost is
looked for before anyone dials again (``engine.lost``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from orchestrator.engine.creation import Claim
from orchestrator.engine.dial_request import dial_fields, initiate_call_fields
from orchestrator.engine.ledger import LostAnswer
from orchestrator.engine.live import find_conference
from orchestrator.engine.lost import Finder, is_duplicate_label
from orchestrator.engine.results import LegState
from orchestrator.engine.sending import Retry, Sender
from orchestrator.engine.settling import ended_state
from orchestrator.engine.waiting import poll
from orchestrator.errors import NotFoundError, RequestRejected
from orchestrator.spec.model import Participant
from orchestrator.texml import contract
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.contract import InitiateCallResult


@dataclass(frozen=True)
class CreatorEnded:
    """How a conference-creating call ended before it made the conference."""

    state: LegState
    call_sid: str | None = None
    note: str | None = None


class Creator:
    def __init__(self, client: TexmlClient, sender: Sender, finder: Finder) -> None:
        self.client = client
        self.clock = client.clock
        self.sender = sender
        self.finder = finder
        self.spec = sender.spec
        self.account = sender.account
        self.options = sender.account.options
        self.stop = sender.stop

    async def create(
        self, participant: Participant, destination: str, claim: Claim
    ) -> str | CreatorEnded:
        """The creating call's SID once the conference exists (its SID published through the
        claim), or how that call ended without making it."""
        if self.account.create_by_call:
            return await self._by_call(participant, destination, claim)
        return await self._by_dial(participant, destination, claim)

    async def _by_dial(
        self, participant: Participant, destination: str, claim: Claim
    ) -> str | CreatorEnded:
        """Dial into the friendly name with the ApplicationSid, creating the conference."""
        fields = dial_fields(self.spec, participant, destination, creates_conference=True)
        name = self.spec.conference.name
        try:
            answer = await self.sender.send(
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
            return await self._by_call(participant, destination, claim)
        except LostAnswer as lost:
            return await self._after_lost_dial(participant, destination, claim, lost)
        except RequestRejected as error:
            if not is_duplicate_label(error):
                raise
            # Another apply made the conference and dialed this participant into it.
            found = await find_conference(self.client, self.spec)
            if found is None:
                raise Retry from error
            claim.created(found["sid"])
            return await self.finder.adopt_live(participant, destination, found["sid"], error)
        claim.created(str(answer.resource["conference_sid"]))
        call_sid = str(answer.resource["call_sid"])
        self.sender.placed(participant, destination, call_sid)
        return call_sid

    async def _after_lost_dial(
        self, participant: Participant, destination: str, claim: Claim, lost: LostAnswer
    ) -> str | CreatorEnded:
        """A creating dial whose answer was lost: the conference it made (and the call in it),
        or the call still on its way to make it, or how that call ended; Retry if the API shows
        neither within the grace."""

        async def look() -> tuple[str | None, str | None] | None:
            found = await find_conference(self.client, self.spec)
            if found is not None:
                return found["sid"], None
            call = await self.finder.unaccounted(destination, lost)
            return (None, call["sid"]) if call is not None else None

        seen = await poll(
            look, self.stop, self.options.poll, self.clock, until=self.finder.deadline(lost)
        )
        if seen is None:
            self.finder.ruled_out(participant, lost)
        conference_sid, call_sid = seen
        if conference_sid is not None:
            claim.created(conference_sid)
            return await self.finder.call_of(participant, destination, lost, conference_sid)
        assert call_sid is not None
        self.finder.confirmed(participant, destination, call_sid)
        return await self._await_conference(participant, destination, claim, call_sid)

    async def _by_call(
        self, participant: Participant, destination: str, claim: Claim
    ) -> str | CreatorEnded:
        """Create the conference by a call running <Dial><Conference>, and wait until it exists."""
        wanted = self.spec.conference.max_participants
        most = contract.NOUN_MAX_PARTICIPANTS_RANGE[1]
        if wanted is not None and wanted > most:
            self.account.notice(
                f"{self.spec.conference.name}: a conference created by a TeXML call takes at most "
                f"{most} participants (the <Conference> noun's maxParticipants); it is created "
                f"with {most}, and every dial into it asks for {wanted} (MaxParticipants), which "
                "the API is not documented to apply to a running conference"
            )
        fields = initiate_call_fields(self.spec, participant, destination)
        answer: InitiateCallResult
        try:
            answer = (
                await self.sender.send(
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
            self.sender.placed(participant, destination, named if isinstance(named, str) else None)
        named = answer.get("call_sid") or answer.get("sid")
        call_sid = named if isinstance(named, str) and named else None
        return await self._await_conference(participant, destination, claim, call_sid)

    async def _await_conference(
        self, participant: Participant, destination: str, claim: Claim, call_sid: str | None
    ) -> str | CreatorEnded:
        """Wait for a creating call to make the conference: the call's SID once it has (the
        conference's SID is published by then), or how the call ended without making it."""
        ring_s = participant.settings.timeout or contract.DEFAULT_TIMEOUT_S
        conference_sid: str | None = None

        async def look() -> str | CreatorEnded | None:
            nonlocal conference_sid, call_sid
            if conference_sid is None:
                found = await find_conference(self.client, self.spec)
                conference_sid = found["sid"] if found is not None else None
                if conference_sid is not None:
                    claim.created(conference_sid)
            if conference_sid is not None:
                call_sid = call_sid or await self._creator_call(conference_sid, destination)
                return call_sid
            if call_sid:
                state = ended_state(await self._call_status(call_sid))
                if state is not None:
                    claim.created(None)
                    return CreatorEnded(state, call_sid)
            return None

        until = self.clock.now() + ring_s + self.options.settle_timeout_s
        done: str | CreatorEnded | None = await poll(
            look, self.stop, self.options.poll, self.clock, until=until
        )
        if done is not None:
            return done
        claim.created(conference_sid)
        if conference_sid is None:
            return CreatorEnded("unknown", call_sid, "the creating call never made the conference")
        return CreatorEnded(
            "unknown", call_sid, "created the conference; its call could not be identified"
        )

    async def _creator_call(self, conference_sid: str, destination: str) -> str | None:
        """The creating call's SID, when InitiateTexmlCall's answer named none: the live leg to
        its destination that no other participant of the run holds."""
        held = self.finder.held()
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
