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

from orchestrator.engine.state import ConferenceState
from orchestrator.errors import ConfigError, NotFoundError
from orchestrator.masking import shown_url
from orchestrator.spec.model import Conference, ConferenceSpec, Participant
from orchestrator.spec.settings_table import SETTINGS, Policy, Setting, fingerprint
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.contract import ConferenceResource, ParticipantResource

# redial: hang up and dial again, for settings a live call cannot change (--redial-changed).
ActionKind = Literal["dial", "update", "noop", "redial"]

# In ``Action.waits_for``: the conference's SID (its creating dial must come first).
CONFERENCE = "conference"


@dataclass(frozen=True, kw_only=True)
class Change:
    """A setting the file wants otherwise than the live leg has it."""

    field: str  # the setting's YAML key
    live: object  # as the participant resource shows it, else as the local record keeps it
    desired: object
    policy: Policy  # update: in place; redial: by a new dial; next_dial: nothing to send


@dataclass(frozen=True, kw_only=True)
class Action:
    kind: ActionKind
    participant: Participant
    live: ParticipantResource | None = None
    changes: tuple[Change, ...] = ()  # every setting that differs, in the settings table's order
    # What this action must wait for: CONFERENCE (its SID) and/or the participant it coaches.
    waits_for: tuple[str, ...] = ()

    @property
    def needs_redial(self) -> tuple[str, ...]:
        """Settings that differ from the live call and only a new dial can change."""
        return tuple(c.field for c in self.changes if c.policy == "redial")

    @property
    def updates(self) -> tuple[Change, ...]:
        """Settings an update of the live call changes in place."""
        return tuple(c for c in self.changes if c.policy == "update")

    @property
    def changes_anything(self) -> bool:
        return self.kind != "noop"

    @property
    def redial_pending(self) -> bool:
        """A redial is needed and not part of this plan (no --redial-changed)."""
        return bool(self.needs_redial) and self.kind != "redial"

    @property
    def differs(self) -> bool:
        """The file wants something else than the live call has, or than the record keeps."""
        return self.changes_anything or bool(self.changes)

    @property
    def drifted(self) -> bool:
        """The live call differs in a way that matters now: missing, or a setting it has that
        an update or a redial would change (status)."""
        return self.kind == "dial" or any(c.policy != "next_dial" for c in self.changes)


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
    def differs(self) -> bool:
        """Whether the file differs from the live conference or the local record (plan's
        --detailed-exitcode): apply would send something, a redial waits, or apply would
        take a setting for the next dial into the record."""
        return self.changes_present or any(a.differs for a in self.actions)

    @property
    def drift(self) -> bool:
        """Whether the live conference differs from the file in a way that matters (status):
        someone missing, a setting an update or a redial would change, a stray."""
        return any(a.drifted for a in self.actions) or bool(self.strays)


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
    participant: Participant, live: ParticipantResource, state: LiveState, conference: Conference
) -> tuple[Change, ...]:
    """Every setting of the file that the live leg does not have, as the settings table says
    where to read it: the participant resource, the number dialed, or the local record."""
    recorded = state.fingerprints.get(participant.name)
    desired = fingerprint(participant, conference)
    changes: list[Change | None] = []
    for setting in SETTINGS:
        if setting.compare == "destination":
            changes.append(_destination_change(participant, state))
        elif setting.compare == "coaching":
            changes.append(_coaching_change(participant, live, state))
        elif setting.key in desired:  # a value naming an unset variable is not known
            changes.append(_value_change(setting, desired[setting.key], live, recorded))
    return tuple(change for change in changes if change is not None)


def _value_change(
    setting: Setting,
    desired: object,
    live: ParticipantResource,
    recorded: Mapping[str, object] | None,
) -> Change | None:
    shown: Mapping[str, object] = live
    if setting.live is not None and setting.live in shown:
        was = shown[setting.live]
    elif recorded is not None and setting.key in recorded:
        was = recorded[setting.key]
    else:
        return None  # neither the API nor the record says what the call has
    policy = setting.policy_for(was, desired)
    if policy is None:
        return None
    return Change(
        field=setting.key, live=setting.normal(was), desired=setting.normal(desired), policy=policy
    )


def _destination_change(participant: Participant, state: LiveState) -> Change | None:
    """A call at a number the file no longer lists (one of the fallbacks is fine)."""
    dialed = state.destinations.get(participant.name)
    if dialed is None or dialed in participant.to:
        return None
    return Change(field="to", live=dialed, desired=participant.to[0], policy="redial")


def _coaching_change(
    participant: Participant, live: ParticipantResource, state: LiveState
) -> Change | None:
    target = state.participants.get(participant.coach) if participant.coach else None
    live_coaching = live.get("coaching_call_sid") if live.get("coaching") else None
    shown = _name_of_call(state, live_coaching)
    if participant.coach is not None and target is not None:
        if live_coaching == target["call_sid"]:
            return None
        return Change(field="coach", live=shown, desired=participant.coach, policy="update")
    if participant.coach is None and live.get("coaching"):
        return Change(field="coach", live=shown, desired=None, policy="update")
    return None


def _name_of_call(state: LiveState, call_sid: str | None) -> str | None:
    """The file's name for a live call, else its SID."""
    for name, leg in state.participants.items():
        if call_sid is not None and leg["call_sid"] == call_sid:
            return name
    return call_sid


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
                changes=(
                    *action.changes,
                    Change(field="coach", live=current, desired=coachee, policy="update"),
                ),
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
        changes = _changes(participant, live, state, spec.conference)
        action = Action(kind="noop", participant=participant, live=live, changes=changes)
        if action.needs_redial and redial_changed:
            actions.append(dataclasses.replace(action, kind="redial", waits_for=coach))
        elif action.updates:
            coaching = any(c.field == "coach" for c in action.updates)
            actions.append(
                dataclasses.replace(action, kind="update", waits_for=coach if coaching else ())
            )
        else:
            actions.append(action)
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
