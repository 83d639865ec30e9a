"""What apply would send, offline: one request per participant, secrets shown as ***.

Offline nothing is known of live state, so this shows a first run: the conference
is created by one dial (unless the file names its SID) and the others join it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.engine.dial_request import dial_fields
from orchestrator.engine.planner import LiveState, make_plan
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
        shown = {k: (str(v) if isinstance(v, Secret) else v) for k, v in fields.items()}
        requests.append(PlannedRequest(participant.name, "POST", path, shown, action.waits_for))
    return requests


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def render_dry_run_text(specs: Sequence[ConferenceSpec], account_sid: str | None) -> str:
    lines: list[str] = []
    for spec in specs:
        requests = planned_requests(spec, spec.account_sid or account_sid)
        lines.append(f"Conference {spec.conference.name} ({spec.path}): {len(requests)} dials")
        for request in requests:
            after = f"  (after {', '.join(request.waits_for)})" if request.waits_for else ""
            lines.append(f"  {request.participant}: {request.method} {request.path}{after}")
            width = max(len(name) for name in request.fields)
            for name, value in request.fields.items():
                lines.append(f"      {name.ljust(width)}  {_value(value)}")
        lines.append("")
    lines.append("Dry run: nothing was sent.")
    return "\n".join(lines) + "\n"


def render_dry_run_json(specs: Sequence[ConferenceSpec], account_sid: str | None) -> str:
    documents = [
        {
            "file": spec.path,
            "conference": spec.conference.name,
            "requests": [
                {
                    "participant": r.participant,
                    "method": r.method,
                    "path": r.path,
                    "fields": r.fields,
                    "waits_for": list(r.waits_for),
                }
                for r in planned_requests(spec, spec.account_sid or account_sid)
            ],
        }
        for spec in specs
    ]
    return json.dumps(documents[0] if len(documents) == 1 else documents, indent=2) + "\n"
