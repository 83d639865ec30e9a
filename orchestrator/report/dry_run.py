"""Renders what apply would send offline (``engine.preview``): as text, or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from orchestrator import exit_codes
from orchestrator.engine.preview import Preview
from orchestrator.report.envelope import render_envelope
from orchestrator.report.words import plural


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def render_dry_run_text(previews: Sequence[Preview]) -> str:
    lines: list[str] = []
    for planned in previews:
        spec, requests = planned.spec, planned.requests
        lines.append(
            f"Conference {spec.conference.name} ({spec.path}): {plural(len(requests), 'dial')}"
        )
        for request in requests:
            after = f"  (after {', '.join(request.waits_for)})" if request.waits_for else ""
            lines.append(f"  {request.participant}: {request.method} {request.path}{after}")
            width = max(len(name) for name in request.fields)
            for name, value in request.fields.items():
                lines.append(f"      {name.ljust(width)}  {_value(value)}")
        lines.append("")
    lines.append("Dry run: nothing was sent.")
    return "\n".join(lines) + "\n"


def render_dry_run_json(previews: Sequence[Preview]) -> str:
    """apply's envelope, with ``"dry_run": true`` and each file's requests."""
    documents = [
        {
            "file": planned.spec.path,
            "conference": planned.spec.conference.name,
            "requests": [
                {
                    "participant": r.participant,
                    "method": r.method,
                    "path": r.path,
                    "fields": r.fields,
                    "waits_for": list(r.waits_for),
                }
                for r in planned.requests
            ],
        }
        for planned in previews
    ]
    return render_envelope("apply", documents, exit_code=exit_codes.OK, dry_run=True)


DRY_RUN_REPORTERS = {"text": render_dry_run_text, "json": render_dry_run_json}
