"""The typed model built from a file's checked values (spec.convert turns each value).

Runs only on files without errors, so shapes are those the schema allows.
Participant settings are built as the settings table says (``build_settings``).
"""

from __future__ import annotations

from typing import Any

from orchestrator.spec import convert
from orchestrator.spec.context import FileCheck
from orchestrator.spec.model import Conference, ConferenceRecording, ConferenceSpec, Participant
from orchestrator.spec.rules import participant_entries
from orchestrator.spec.settings import DEFAULT_ROLE, MergedSettings
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
