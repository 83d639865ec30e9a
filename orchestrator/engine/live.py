"""Reading the live conference: the conference the file describes, and who of the file (and
of the local record) is in it, as the planner's ``LiveState``.

The API returns no Labels in lists, so legs the record knows are found by call SID in one
list round; the others by Label, one GET each; a call without a Label (the one that created
the conference by a TeXML call) by the number it called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from email.utils import parsedate_to_datetime

from yarl import URL

from orchestrator.engine.planner import LiveState
from orchestrator.engine.state import ConferenceState
from orchestrator.errors import ConfigError, NotFoundError
from orchestrator.masking import shown_url
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.contract import ConferenceResource, ParticipantResource


def _newest(conferences: list[ConferenceResource]) -> ConferenceResource | None:
    def created(conference: ConferenceResource) -> float:
        try:
            return parsedate_to_datetime(conference["date_created"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return 0.0

    return max(conferences, key=created, default=None)


class ConferenceEnded(ConfigError):
    """The conference named by SID has ended."""


async def find_conference(client: TexmlClient, spec: ConferenceSpec) -> ConferenceResource | None:
    """The live conference the file describes, or None if it has to be created."""
    wanted = spec.conference
    if wanted.sid:
        try:
            conference = await client.get_conference(wanted.sid)
        except NotFoundError as error:
            raise ConfigError(
                f"{spec.path}: conference.sid {wanted.sid} does not exist for this account; "
                "remove conference.sid to create the conference by name"
            ) from error
        if conference.get("status") == "completed":
            raise ConferenceEnded(
                f"{spec.path}: conference {wanted.sid} has already ended; "
                "remove conference.sid to start a new one by name"
            )
        return conference
    try:
        found = await client.list_conferences(friendly_name=wanted.name)
    except NotFoundError as error:
        raise ConfigError(_unknown_account(client, spec)) from error
    return _newest([c for c in found if c.get("status") != "completed"])


def _unknown_account(client: TexmlClient, spec: ConferenceSpec) -> str:
    """Why listing the account's conferences can be 404, and what to check."""
    connection = client.connection
    if not URL(connection.base_url).path.rstrip("/").endswith("/v2"):
        return (
            f"the API answered 404 for the conferences list at {shown_url(connection.base_url)}: "
            "the base URL has no /v2 (Telnyx's is https://api.telnyx.com/v2); check "
            "TELNYX_BASE_URL or --base-url"
        )
    where = "account_sid in the file" if spec.account_sid else "TELNYX_ACCOUNT_SID"
    return (
        f"the API does not know account {connection.account_sid} (404 for its conferences): "
        f"check {where}; it is your organization id (GET /v2/whoami shows it)"
    )


async def read_live_state(
    client: TexmlClient,
    spec: ConferenceSpec,
    recorded: ConferenceState | None = None,
    *,
    look_up: Collection[str] | None = None,
) -> LiveState:
    """The live conference and who of the file (and of the record) is in it.

    One list round finds the legs the record knows by call SID (the API returns no
    Labels, and a conference-creating call has none); the others are looked up by
    Label, one GET each, and a recorded leg the list did not show yet by its SID.
    ``look_up`` limits those GETs to these names (apply --watch, which knows the rest).
    """
    conference = await find_conference(client, spec)
    if conference is None:
        return LiveState(conference=None)
    reader = _Reader(client, conference["sid"], recorded, look_up)
    everyone = await client.list_participants(reader.sid)
    reader.listed = {p.get("call_sid"): p for p in everyone}
    names = [participant.name for participant in spec.participants]
    live = await reader.find_all(names)
    strays = await reader.find_all(sorted(label for label in reader.entries if label not in names))
    destinations, fingerprints = await reader.what_was_dialed(live, strays)
    known = {p["call_sid"] for p in (*live.values(), *strays.values())}
    unlabeled = [p for p in everyone if p["call_sid"] not in known]
    found_by_number = await _match_by_number(client, spec, live, unlabeled)
    for name, (leg, to) in found_by_number.items():
        live[name] = leg
        destinations[name] = to
    claimed = {leg["call_sid"] for leg, _ in found_by_number.values()}
    return LiveState(
        conference=conference,
        participants=live,
        destinations=destinations,
        fingerprints=fingerprints,
        strays=strays,
        unlabeled=tuple(p["call_sid"] for p in unlabeled if p["call_sid"] not in claimed),
    )


class _Reader:
    """Who of the file and of the record is in the conference, and how each was dialed."""

    def __init__(
        self,
        client: TexmlClient,
        sid: str,
        recorded: ConferenceState | None,
        look_up: Collection[str] | None,
    ) -> None:
        self.client = client
        self.sid = sid
        self.entries = recorded.participants if recorded else {}
        self.look_up = look_up
        self.listed: Mapping[object, ParticipantResource] = {}

    async def find(self, label: str) -> ParticipantResource | None:
        entry = self.entries.get(label)
        ours = entry is not None and entry.conference_sid == self.sid
        if ours and entry is not None and entry.call_sid in self.listed:
            return self.listed[entry.call_sid]
        if self.look_up is not None and label not in self.look_up:
            return None
        found = await self.client.find_participant(self.sid, label)
        if found is None and ours and entry is not None:
            found = await self.client.find_participant(self.sid, entry.call_sid)
        return found

    async def find_all(self, labels: list[str]) -> dict[str, ParticipantResource]:
        found = await asyncio.gather(*(self.find(label) for label in labels))
        return {label: leg for label, leg in zip(labels, found, strict=True) if leg is not None}

    async def what_was_dialed(
        self, live: Mapping[str, ParticipantResource], strays: Mapping[str, ParticipantResource]
    ) -> tuple[dict[str, str], dict[str, Mapping[str, object]]]:
        """The destination each leg was dialed at, and the settings, where the record knows
        them; without a record of the dial only the destination can be read back (one GET)."""
        destinations = {label: self.entries[label].to for label in strays}
        fingerprints: dict[str, Mapping[str, object]] = {}
        unknown: list[str] = []
        for name, found in live.items():
            entry = self.entries.get(name)
            if entry is not None and entry.call_sid == found["call_sid"]:
                destinations[name] = entry.to
                fingerprints[name] = entry.fingerprint
            else:
                unknown.append(name)
        calls = await asyncio.gather(
            *(_called_number(self.client, live[name]["call_sid"]) for name in unknown)
        )
        destinations.update({name: to for name, to in zip(unknown, calls, strict=True) if to})
        return destinations, fingerprints


# Beyond this many calls without a Label, they are not looked up one by one to find participants.
_MAX_NUMBER_LOOKUPS = 50


async def _match_by_number(
    client: TexmlClient,
    spec: ConferenceSpec,
    live: Mapping[str, ParticipantResource],
    unlabeled: list[ParticipantResource],
) -> dict[str, tuple[ParticipantResource, str]]:
    """Participants not found by Label, in calls without one, found by the number called.

    A call placed by InitiateTexmlCall (how a conference is created where dialing into a name
    is refused) carries no Label; without the local record this is how a re-apply knows it.
    A number that two missing participants share, or two calls share, proves nothing.
    """
    missing = [p for p in spec.participants if p.name not in live]
    if not missing or not unlabeled or len(unlabeled) > _MAX_NUMBER_LOOKUPS:
        return {}
    numbers = await asyncio.gather(*(_called_number(client, p["call_sid"]) for p in unlabeled))
    legs_by_number: dict[str, list[ParticipantResource]] = {}
    for leg, number in zip(unlabeled, numbers, strict=True):
        if number is not None:
            legs_by_number.setdefault(number, []).append(leg)
    claims: dict[str, list[str]] = {}
    for participant in missing:
        for number in participant.to:
            if len(legs_by_number.get(number, ())) == 1:
                claims.setdefault(number, []).append(participant.name)
    matched: dict[str, tuple[ParticipantResource, str]] = {}
    for number, names in claims.items():
        if len(names) == 1 and names[0] not in matched:
            matched[names[0]] = (legs_by_number[number][0], number)
    return matched


async def _called_number(client: TexmlClient, call_sid: str) -> str | None:
    try:
        to = (await client.get_call(call_sid)).get("to")
    except NotFoundError:
        return None
    return to if isinstance(to, str) else None
