"""The typed model built from a file's checked values (spec.convert turns each value).

Runs only on files without errors, so shapes are those the schema allows.
Participant settings are built as the settings table says (``build_settings``); a
value still naming an unset variable (allowed when the environment is not
strict, or when only dials use it) reads as "not set" where text is not
expected, and the participants whose dial request carries it name it
(``Participant.unset``).
"""

from __future__ import annotations

from typing import Any

from orchestrator.spec import convert
from orchestrator.spec.context import FileCheck
from orchestrator.spec.model import (
    Conference,
    ConferenceRecording,
    ConferenceSpec,
    JsonPath,
    Participant,
    UnsetVariable,
)
from orchestrator.spec.paths import format_path
from orchestrator.spec.rules import participant_entries
from orchestrator.spec.settings import DEFAULT_ROLE, PARTICIPANT_ONLY_KEYS, MergedSettings
from orchestrator.spec.settings_table import build_settings


def _conference(value: dict[str, Any]) -> Conference:
    recording = value.get("recording")
    return Conference(
        name=str(value.get("name", "")),
        sid=convert.text_or_none(value.get("sid")),
        application_sid=convert.text_or_none(value.get("application_sid")),
        from_=convert.text_or_none(value.get("from")),
        max_participants=convert.integer(value.get("max_participants")),
        wait_url=convert.text_or_none(value.get("wait_url")),
        status_callback=convert.callback(value.get("status_callback")),
        record=convert.conference_record(value.get("record")),
        recording=(
            ConferenceRecording(
                trim=convert.text(recording.get("trim")),
                timeout=convert.integer(recording.get("timeout")),
                status_callback=convert.callback(recording.get("status_callback")),
            )
            if isinstance(recording, dict)
            else None
        ),
        allow_duplicate_numbers=value.get("allow_duplicate_numbers") is True,
    )


def _unset_for(check: FileCheck, index: int, merged: MergedSettings) -> tuple[UnsetVariable, ...]:
    """The unset variables of the values ``participants[index]``'s dial request carries: its
    own entry's, those of the settings it takes from defaults or a role, the conference's."""
    if not check.unset:
        return ()
    own: JsonPath = ("participants", index)
    inherited = [origin for origin in merged.origins.values() if origin[:2] != own]
    found: list[UnsetVariable] = []
    for path, names in check.unset.items():
        if (
            path[0] in ("account_sid", "conference")
            or path[:2] == own
            or any(path[: len(origin)] == origin for origin in inherited)
        ):
            location, where, setting = check.location(path), format_path(path), _setting_of(path)
            found.extend(UnsetVariable(name, location, where, setting) for name in names)
    return tuple(found)


def _setting_of(path: JsonPath) -> str | None:
    match path:
        case ("defaults", str(key), *_) | ("roles", str(), str(key), *_):
            return key
        case ("participants", int(), str(key), *_) if key not in PARTICIPANT_ONLY_KEYS:
            return key
    return None


def build_spec(check: FileCheck, merged: dict[int, MergedSettings]) -> ConferenceSpec:
    data = check.data
    participants: list[Participant] = []
    for index, entry in participant_entries(data):
        values = merged[index].values
        to = entry.get("to")
        destinations = (to,) if isinstance(to, str) else tuple(str(item) for item in to or ())
        role = entry.get("role", DEFAULT_ROLE)
        participants.append(
            Participant(
                name=str(entry.get("name", "")),
                role=role if isinstance(role, str) else DEFAULT_ROLE,
                to=destinations,
                coach=convert.text(values.get("coach")),
                settings=build_settings(values),
                location=check.location(("participants", index)),
                unset=_unset_for(check, index, merged[index]),
            )
        )
    account_sid = data.get("account_sid")
    return ConferenceSpec(
        path=check.path,
        account_sid=(
            None if check.is_unresolved(("account_sid",)) else convert.text_or_none(account_sid)
        ),
        conference=_conference(convert.mapping(data.get("conference"))),
        participants=tuple(participants),
        locations=dict(check.document.locations),
        key_locations=dict(check.document.key_locations),
    )
