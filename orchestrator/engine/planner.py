"""Desired against live state: what to do for each participant, and in which order.

Pure data in, pure data out: the live state (``LiveState``, read by ``engine.live``: the
conference, the leg carrying each participant's Label, and what the local record adds,
which live Labels came from this file before an edit and the settings each leg was
dialed with) and the file make the plan; executing it is the executor's job.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.spec.model import Conference, ConferenceSpec, Participant
from orchestrator.spec.settings_table import SETTINGS, Policy, Setting, fingerprint
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
