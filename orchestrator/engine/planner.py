"""Desired against live state: what to do for each participant, and in which order.

Live state is read from the API: the conference (by SID, or the newest one of
that friendly name that has not completed) and, for each participant in the
file, the live leg that carries its name as Label. The plan is pure data;
executing it is the executor's job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal

from orchestrator.errors import ConfigError, NotFoundError
from orchestrator.spec.model import ConferenceSpec, Participant
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.contract import ConferenceResource, ParticipantResource

ActionKind = Literal["dial", "update", "noop"]


@dataclass(frozen=True)
class Change:
    field: str  # the model's name: muted, hold, coach
    live: object
    desired: object


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    participant: Participant
    live: ParticipantResource | None = None
    changes: tuple[Change, ...] = ()
    # Names this action must wait for: "conference" (its SID) and/or the participant it coaches.
    waits_for: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveState:
    conference: ConferenceResource | None
    participants: Mapping[str, ParticipantResource] = field(default_factory=dict)  # by Label


@dataclass(frozen=True)
class Plan:
    spec: ConferenceSpec
    conference_sid: str | None  # None: the conference does not exist yet
    creator: str | None  # the participant whose dial creates the conference
    actions: tuple[Action, ...]

    def action(self, name: str) -> Action:
        for action in self.actions:
            if action.participant.name == name:
                return action
        raise KeyError(name)

    def count(self, kind: ActionKind) -> int:
        return sum(1 for action in self.actions if action.kind == kind)


def _newest(conferences: list[ConferenceResource]) -> ConferenceResource | None:
    def created(conference: ConferenceResource) -> float:
        try:
            return parsedate_to_datetime(conference["date_created"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return 0.0

    return max(conferences, key=created, default=None)


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
        if conference["status"] == "completed":
            raise ConfigError(
                f"{spec.path}: conference {wanted.sid} has already ended; "
                "remove conference.sid to start a new one by name"
            )
        return conference
    found = await client.list_conferences(friendly_name=wanted.name)
    return _newest([c for c in found if c["status"] != "completed"])


async def read_live_state(client: TexmlClient, spec: ConferenceSpec) -> LiveState:
    conference = await find_conference(client, spec)
    if conference is None:
        return LiveState(conference=None)
    sid = conference["sid"]
    lookups = await asyncio.gather(
        *(client.find_participant(sid, participant.name) for participant in spec.participants)
    )
    live = {
        participant.name: found
        for participant, found in zip(spec.participants, lookups, strict=True)
        if found is not None
    }
    return LiveState(conference=conference, participants=live)


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
        changes.append(Change("muted", bool(live.get("muted")), desired_muted))
    desired_hold = bool(settings.hold)
    if bool(live.get("hold")) != desired_hold:
        changes.append(Change("hold", bool(live.get("hold")), desired_hold))
    target = state.participants.get(participant.coach) if participant.coach else None
    desired_coaching = target["call_sid"] if target is not None else None
    live_coaching = live.get("coaching_call_sid") if live.get("coaching") else None
    if participant.coach is not None and target is not None and live_coaching != desired_coaching:
        changes.append(Change("coach", live_coaching, participant.coach))
    if participant.coach is None and live.get("coaching"):
        changes.append(Change("coach", live_coaching, None))
    return tuple(changes)


def make_plan(spec: ConferenceSpec, state: LiveState) -> Plan:
    conference_sid = state.conference["sid"] if state.conference is not None else None
    creator = None if conference_sid else _choose_creator(spec.participants)
    actions: list[Action] = []
    for participant in spec.participants:
        live = state.participants.get(participant.name)
        if live is not None:
            changes = _changes(participant, live, state)
            kind: ActionKind = "update" if changes else "noop"
            waits = (
                (participant.coach,)
                if participant.coach and any(c.field == "coach" for c in changes)
                else ()
            )
            actions.append(Action(kind, participant, live, changes, waits))
            continue
        waits_for: list[str] = []
        if conference_sid is None and participant.name != creator:
            waits_for.append("conference")
        if participant.coach is not None:
            waits_for.append(participant.coach)
        actions.append(Action("dial", participant, None, (), tuple(waits_for)))
    return Plan(spec, conference_sid, creator, tuple(actions))
