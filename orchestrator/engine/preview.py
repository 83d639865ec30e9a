"""What apply would send, offline: one request per participant, secrets shown as ***.

Offline nothing is known of live state, so this shows a first run: the conference
is created by one dial (unless the file names its SID) and the others join it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.engine.dial_request import dial_fields
from orchestrator.engine.planner import LiveState, make_plan
from orchestrator.masking import shown_url
from orchestrator.secret import Secret
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml import contract


@dataclass(frozen=True)
class PlannedRequest:
    participant: str
    method: str
    path: str
    fields: dict[str, Any]
    waits_for: tuple[str, ...]


@dataclass(frozen=True)
class Preview:
    """One file's first run, request by request."""

    spec: ConferenceSpec
    requests: tuple[PlannedRequest, ...]


def preview(specs: list[ConferenceSpec], account_sid: str | None) -> list[Preview]:
    """Each file's requests; ``account_sid`` for files that name none (else a placeholder)."""
    return [Preview(s, tuple(planned_requests(s, s.account_sid or account_sid))) for s in specs]


def planned_requests(spec: ConferenceSpec, account_sid: str | None) -> list[PlannedRequest]:
    plan = make_plan(spec, LiveState(conference=None))
    account = account_sid or "{account_sid}"
    requests = []
    for action in plan.actions:
        participant = action.participant
        creates = spec.conference.sid is None and participant.name == plan.creator
        conference = spec.conference.sid or (
            spec.conference.name if creates else f"{{sid of {spec.conference.name}}}"
        )
        coach_sid = f"{{call SID of {participant.coach}}}" if participant.coach else None
        fields = dial_fields(
            spec,
            participant,
            participant.to[0],
            creates_conference=creates,
            call_sid_to_coach=coach_sid,
        )
        path = contract.PARTICIPANTS_PATH.format(account_sid=account, conference_sid=conference)
        shown = {k: _shown(v) for k, v in fields.items()}
        requests.append(PlannedRequest(participant.name, "POST", path, shown, action.waits_for))
    return requests


def _shown(value: object) -> object:
    """A field as it may be printed: secrets as ***, URLs without credentials or query."""
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return shown_url(value)
    return value
