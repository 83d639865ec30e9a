"""status: the live conference as apply's summary shows it, plus recordings and strangers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator import exit_codes
from orchestrator.engine.inspect import Inspection
from orchestrator.engine.planner import Action
from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, State, stray_outcome
from orchestrator.report.envelope import render_envelope
from orchestrator.report.plan import change_json, change_words
from orchestrator.report.style import PLAIN, Style
from orchestrator.report.summary import render_result_text, result_json
from orchestrator.texml import contract


def _drift(action: Action) -> str | None:
    """Why this participant's live call is not as the file wants it, or None."""
    differs = [change_words(action, c) for c in action.changes if c.policy != "next_dial"]
    return f"differs: {'; '.join(differs)}" if differs else None


def _later(action: Action) -> list[str]:
    """Settings that differ only for the next dial: said, but no drift of the live call."""
    return [change_words(action, c) for c in action.changes if c.policy == "next_dial"]


def conference_result(inspection: Inspection) -> ConferenceResult:
    """The live conference as apply's summary shows it: one row per participant."""
    plan = inspection.plan
    rows: list[ParticipantOutcome] = []
    for action in plan.actions:
        participant = action.participant
        live = action.live
        outcome = ParticipantOutcome(
            name=participant.name,
            role=participant.role,
            to=plan.destinations.get(participant.name, participant.to[0]),
        )
        if live is None:
            outcome.observed = State.ABSENT
            outcome.error = "not in the conference (apply dials it)"
        else:
            outcome.call_sid = live["call_sid"]
            outcome.observed = (
                State.CONNECTED if contract.is_connected(live.get("status")) else State.CONNECTING
            )
            outcome.error = _drift(action)
            outcome.notes += _later(action)
        rows.append(outcome)
    rows += [stray_outcome(s, plan.destinations.get(s.label, "-")) for s in plan.strays]
    result = ConferenceResult(
        path=plan.spec.path,
        name=plan.spec.conference.name,
        sid=plan.conference_sid,
        status=plan.conference_status,
        participants=rows,
    )
    result.exit_code = exit_codes.DRIFT if plan.drift else exit_codes.OK
    return result


def _recording_lines(inspection: Inspection) -> list[str]:
    recordings = inspection.recordings
    if not recordings:
        return ["  no recordings"] if inspection.plan.conference_sid else []
    lines = [f"  recordings ({len(recordings)}):"]
    for recording in recordings:
        duration = f", {recording['duration']}s" if recording.get("duration") is not None else ""
        lines.append(f"    {recording['sid']}  {recording['status']}{duration}")
    return lines


def render_status_text(
    inspections: Sequence[Inspection],
    *,
    exit_code: int = 0,
    full: bool = False,
    style: Style = PLAIN,
) -> str:
    blocks: list[str] = []
    for inspection in inspections:
        plan = inspection.plan
        result = conference_result(inspection)
        lines = (
            render_result_text(result, activity=False, full=full, style=style)
            .rstrip("\n")
            .splitlines()
        )
        lines += _recording_lines(inspection)
        lines += [f"  ? {sid} (no Label known; never touched)" for sid in plan.unlabeled]
        lines.append(
            style("in sync", "good")
            if not plan.drift
            else style("drift: the live conference differs from the file", "bad")
        )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def render_status_json(
    inspections: Sequence[Inspection],
    *,
    exit_code: int = 0,
    full: bool = False,
    style: Style = PLAIN,
) -> str:
    documents: list[dict[str, Any]] = []
    for inspection in inspections:
        document = result_json(conference_result(inspection))
        changes = {a.participant.name: a.changes for a in inspection.plan.actions}
        for row in document["participants"]:
            row["changes"] = [change_json(c) for c in changes.get(row["name"], ())]
        for key in ("duration_s", "interrupted", "stopped_by", "in_flight_at_stop", "error"):
            document.pop(key, None)
        for key in ("dials", "rate_limited"):
            document["totals"].pop(key, None)
        document["recordings"] = [
            {k: r.get(k) for k in ("sid", "status", "duration", "channels", "source")}
            for r in inspection.recordings
        ]
        document["unlabeled"] = list(inspection.plan.unlabeled)
        document["in_sync"] = not inspection.plan.drift
        documents.append(document)
    return render_envelope("status", documents, exit_code=exit_code)


STATUS_REPORTERS = {"text": render_status_text, "json": render_status_json}
