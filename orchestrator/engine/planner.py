"""Desired against live state: what to do for each participant, and in which order.

Live state is read from the API: the conference (by SID, or the newest one of
that friendly name that has not completed) and, for each participant in the
file, the live leg that carries its name as Label. The local record of what
apply dialed (engine.state) adds what the API cannot say: which live Labels
came from this file before an edit, and the settings each leg was dialed with.
The plan is pure data; executing it is the executor's job.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal

from yarl import URL

from orchestrator.engine.state import ConferenceState, fingerprint, fingerprint_differences
from orchestrator.errors import ConfigError, NotFoundError
from orchestrator.masking import shown_url
from orchestrator.spec.model import ConferenceSpec, Participant
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.contract import ConferenceResource, ParticipantResource

# redial: hang up and dial again, for settings a live call cannot change (--redial-changed).
ActionKind = Literal["dial", "update", "noop", "redial"]

# In ``Action.waits_for``: the conference's SID (its creating dial must come first).
CONFERENCE = "conference"


@dataclass(frozen=True, kw_only=True)
class Change:
    field: str  # the model's name: muted, hold, coach
    live: object
    desired: object


@dataclass(frozen=True, kw_only=True)
class Action:
    kind: ActionKind
    participant: Participant
    live: ParticipantResource | None = None
    changes: tuple[Change, ...] = ()
    # What this action must wait for: CONFERENCE (its SID) and/or the participant it coaches.
    waits_for: tuple[str, ...] = ()
    # Settings that differ from the live call and only a new dial can change ("to", "record", ...).
    needs_redial: tuple[str, ...] = ()

    @property
    def changes_anything(self) -> bool:
        return self.kind != "noop"

    @property
    def redial_pending(self) -> bool:
        """A redial is needed and not part of this plan (no --redial-changed)."""
        return bool(self.needs_redial) and self.kind != "redial"


@dataclass(frozen=True, kw_only=True)
class Stray:
    """A live participant whose Label this file once dialed but no longer names."""

    label: str
    call_sid: str
    hang_up: bool  # --prune


@dataclass(frozen=True, kw_only=True)
class LiveState:
    conference: ConferenceResource | None
    participants: Mapping[str, ParticipantResource] = field(default_factory=dict)  # by Label
    # Destination each live file participant was dialed at (from the record, else GET Calls).
    destinations: Mapping[str, str] = field(default_factory=dict)
    # Settings each live file participant was dialed with, when the record knows its call.
    fingerprints: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    strays: Mapping[str, ParticipantResource] = field(default_factory=dict)  # by recorded Label
    unlabeled: tuple[str, ...] = ()  # live call SIDs neither the file nor the record accounts for
    by_number: tuple[str, ...] = ()  # participants found in a call without a Label, by its number


@dataclass(frozen=True, kw_only=True)
class Plan:
    spec: ConferenceSpec
    conference_sid: str | None  # None: the conference does not exist yet
    creator: str | None  # the participant whose dial creates the conference
    actions: tuple[Action, ...]
    strays: tuple[Stray, ...] = ()
    unlabeled: tuple[str, ...] = ()
    conference_status: str | None = None
    # Destination each live participant was dialed at, where known.
    destinations: Mapping[str, str] = field(default_factory=dict)

    @property
    def changes_present(self) -> bool:
        """Whether apply (with the same flags) would send anything."""
        return any(a.changes_anything for a in self.actions) or any(s.hang_up for s in self.strays)

    @property
    def drift(self) -> bool:
        """Whether the live conference differs from the file in any way (status)."""
        return (
            self.changes_present or any(a.needs_redial for a in self.actions) or bool(self.strays)
        )


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
    sid = conference["sid"]
    names = {participant.name for participant in spec.participants}
    entries = recorded.participants if recorded else {}
    stray_labels = sorted(label for label in entries if label not in names)
    everyone = await client.list_participants(sid)
    by_sid = {p.get("call_sid"): p for p in everyone}

    async def find(label: str) -> ParticipantResource | None:
        entry = entries.get(label)
        if entry is not None and entry.conference_sid == sid and entry.call_sid in by_sid:
            return by_sid[entry.call_sid]
        if look_up is not None and label not in look_up:
            return None
        found = await client.find_participant(sid, label)
        if found is None and entry is not None and entry.conference_sid == sid:
            found = await client.find_participant(sid, entry.call_sid)
        return found

    lookups = await asyncio.gather(*(find(participant.name) for participant in spec.participants))
    stray_lookups = await asyncio.gather(*(find(label) for label in stray_labels))
    live = {
        participant.name: found
        for participant, found in zip(spec.participants, lookups, strict=True)
        if found is not None
    }
    strays = {
        label: found
        for label, found in zip(stray_labels, stray_lookups, strict=True)
        if found is not None
    }
    destinations: dict[str, str] = {
        label: recorded.participants[label].to for label in strays if recorded is not None
    }
    fingerprints: dict[str, Mapping[str, object]] = {}
    unknown: list[str] = []
    for name, found in live.items():
        entry = entries.get(name)
        if entry is not None and entry.call_sid == found["call_sid"]:
            destinations[name] = entry.to
            fingerprints[name] = entry.fingerprint
        else:
            unknown.append(name)
    # Without a record of the dial, only the destination can be read back: one request each.
    calls = await asyncio.gather(
        *(_called_number(client, live[name]["call_sid"]) for name in unknown)
    )
    destinations.update({name: to for name, to in zip(unknown, calls, strict=True) if to})
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
        by_number=tuple(sorted(found_by_number)),
    )


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


def _choose_creator(participants: tuple[Participant, ...]) -> str | None:
    """Prefer an explicit start_conference_on_enter, then the API's default (true); never a coach."""
    candidates = [p for p in participants if p.coach is None]
    for wanted in (True, None, False):
        for participant in candidates:
            if participant.settings.start_conference_on_enter is wanted:
                return participant.name
    return None


def _changes(
    participant: Participant, live: ParticipantResource, state: LiveState
) -> tuple[Change, ...]:
    settings = participant.settings
    changes: list[Change] = []
    desired_muted = bool(settings.muted)
    if bool(live.get("muted")) != desired_muted:
        changes.append(Change(field="muted", live=bool(live.get("muted")), desired=desired_muted))
    desired_hold = bool(settings.hold)
    if bool(live.get("hold")) != desired_hold:
        changes.append(Change(field="hold", live=bool(live.get("hold")), desired=desired_hold))
    target = state.participants.get(participant.coach) if participant.coach else None
    desired_coaching = target["call_sid"] if target is not None else None
    live_coaching = live.get("coaching_call_sid") if live.get("coaching") else None
    if participant.coach is not None and target is not None and live_coaching != desired_coaching:
        changes.append(Change(field="coach", live=live_coaching, desired=participant.coach))
    if participant.coach is None and live.get("coaching"):
        changes.append(Change(field="coach", live=live_coaching, desired=None))
    return tuple(changes)


def _redial_fields(participant: Participant, state: LiveState) -> tuple[str, ...]:
    fields: list[str] = []
    dialed = state.destinations.get(participant.name)
    if dialed is not None and dialed not in participant.to:
        fields.append("to")
    recorded = state.fingerprints.get(participant.name)
    if recorded is not None:
        fields.extend(fingerprint_differences(dict(recorded), fingerprint(participant)))
    return tuple(fields)


def _recoach(actions: list[Action]) -> list[Action]:
    """A live coach whose coachee gets a new call (dialed, or redialed) must coach that call:
    its action waits for the coachee and updates CallSidToCoach once it is connected."""
    new_call = {a.participant.name for a in actions if a.kind in ("dial", "redial")}
    planned: list[Action] = []
    for action in actions:
        coachee = action.participant.coach
        if (
            coachee in new_call
            and action.kind in ("noop", "update")
            and not any(c.field == "coach" for c in action.changes)
        ):
            live = action.live
            current = (
                live.get("coaching_call_sid") if live is not None and live.get("coaching") else None
            )
            action = dataclasses.replace(
                action,
                kind="update",
                changes=(*action.changes, Change(field="coach", live=current, desired=coachee)),
                waits_for=(coachee,) if coachee else (),
            )
        planned.append(action)
    return planned


def make_plan(
    spec: ConferenceSpec,
    state: LiveState,
    *,
    prune: bool = False,
    redial_changed: bool = False,
) -> Plan:
    conference_sid = state.conference["sid"] if state.conference is not None else None
    creator = None if conference_sid else _choose_creator(spec.participants)
    actions: list[Action] = []
    for participant in spec.participants:
        coach = (participant.coach,) if participant.coach else ()
        live = state.participants.get(participant.name)
        if live is None:
            waits = (CONFERENCE,) if conference_sid is None and participant.name != creator else ()
            actions.append(Action(kind="dial", participant=participant, waits_for=waits + coach))
            continue
        redial = _redial_fields(participant, state)
        if redial and redial_changed:
            actions.append(
                Action(
                    kind="redial",
                    participant=participant,
                    live=live,
                    waits_for=coach,
                    needs_redial=redial,
                )
            )
            continue
        changes = _changes(participant, live, state)
        coaching_changes = any(c.field == "coach" for c in changes)
        actions.append(
            Action(
                kind="update" if changes else "noop",
                participant=participant,
                live=live,
                changes=changes,
                waits_for=coach if coaching_changes else (),
                needs_redial=redial,
            )
        )
    actions = _recoach(actions)
    strays = tuple(
        Stray(label=label, call_sid=found["call_sid"], hang_up=prune)
        for label, found in state.strays.items()
    )
    return Plan(
        spec=spec,
        conference_sid=conference_sid,
        creator=creator,
        actions=tuple(actions),
        strays=strays,
        unlabeled=state.unlabeled,
        conference_status=state.conference.get("status") if state.conference is not None else None,
        destinations=state.destinations,
    )
