"""The reconciled summary of an apply: one row per participant, for people (text) or scripts (json).

Destinations are masked (middle digits hidden) in every format: reports end up
in CI logs and chat, and a name is enough to find the row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.engine.results import ConferenceResult, ParticipantOutcome

REPORT_VERSION = 1
MASK = "\u2022\u2022\u2022"  # •••


def mask_destination(destination: str) -> str:
    """+12065550100 -> +1206•••0100; sip:carol@host -> sip:c•••@host."""
    if destination.startswith(("sip:", "sips:")):
        scheme, _, rest = destination.partition(":")
        user, at, host = rest.partition("@")
        if not at:
            return destination
        return f"{scheme}:{user[:1]}{MASK}@{host}"
    digits = re.sub(r"\D", "", destination)
    if len(digits) <= 6:
        return destination
    keep_head = 5 if destination.startswith("+") else 4
    return destination[:keep_head] + MASK + destination[-4:]


def participant_json(outcome: ParticipantOutcome) -> dict[str, Any]:
    return {
        "name": outcome.name,
        "role": outcome.role,
        "to": mask_destination(outcome.to),
        "desired": outcome.desired,
        "observed": outcome.observed,
        "converged": outcome.converged,
        "call_sid": outcome.call_sid,
        "attempts": outcome.attempts,
        "error": outcome.error,
        "notes": list(outcome.notes),
    }


def result_json(result: ConferenceResult) -> dict[str, Any]:
    return {
        "version": REPORT_VERSION,
        "file": result.path,
        "conference": {"name": result.name, "sid": result.sid, "status": result.status},
        "participants": [participant_json(p) for p in result.participants],
        "totals": result.totals(),
        "error": result.error,
        "interrupted": result.interrupted,
        "stopped_by": result.stopped_by,
        "in_flight_at_stop": result.in_flight_at_stop,
        "exit_code": result.exit_code,
        "duration_s": round(result.duration_s, 3),
    }


def render_json(results: Sequence[ConferenceResult]) -> str:
    """One object for one file; an array of them for several."""
    documents = [result_json(r) for r in results]
    return json.dumps(documents[0] if len(documents) == 1 else documents, indent=2) + "\n"


def _short_sid(call_sid: str | None) -> str:
    if not call_sid:
        return "-"
    return call_sid if len(call_sid) <= 20 else call_sid[:19] + "\u2026"


def _note(outcome: ParticipantOutcome) -> str:
    parts = [*outcome.notes]
    if outcome.error:
        parts.append(outcome.error)
    return "; ".join(parts)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def render_result_text(result: ConferenceResult, *, activity: bool = True) -> str:
    """The per-participant table; ``activity=False`` leaves out what only a run has (attempts, dials)."""
    sid = result.sid or "not running"
    status = f", {result.status}" if result.status else ""
    lines = [f"Conference {result.name} ({result.path}): {sid}{status}"]
    header = ["NAME", "ROLE", "TO", "DESIRED", "OBSERVED", "CALL SID", "ATTEMPTS", "NOTE"]
    if not activity:
        header.remove("ATTEMPTS")
    rows = [header]
    for p in result.participants:
        row = [
            p.name,
            p.role,
            mask_destination(p.to),
            p.desired,
            p.observed,
            _short_sid(p.call_sid),
        ]
        if activity:
            row.append(str(p.attempts))
        rows.append([*row, _note(p)])
    lines.extend("  " + line for line in _table(rows))
    totals = result.totals()
    counts = Counter(p.observed for p in result.participants)
    states = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    if activity:
        verdict = (
            "all converged"
            if not totals["not_converged"]
            else f"{totals['not_converged']} did not converge"
        )
        lines.append(
            f"{totals['participants']} participants: {states}; {verdict}. "
            f"{totals['dials']} dials, {totals['rate_limited']} rate-limited, "
            f"{result.duration_s:.1f}s."
        )
    else:
        lines.append(f"{totals['participants']} participants: {states}.")
    if result.error:
        lines.append(f"error: {result.error}")
    if result.interrupted:
        lines.append(_interruption(result))
    return "\n".join(lines) + "\n"


def _interruption(result: ConferenceResult) -> str:
    by = {"SIGINT": "Ctrl-C (SIGINT)"}.get(result.stopped_by or "", result.stopped_by or "a stop")
    in_flight = result.in_flight_at_stop
    if not in_flight:
        return f"interrupted by {by}: no dial was sent after it"
    were = "dial was" if in_flight == 1 else "dials were"
    return (
        f"interrupted by {by}: no dial was sent after it; {in_flight} {were} already on the wire "
        "and their answers are in the table"
    )


def render_text(results: Sequence[ConferenceResult]) -> str:
    return "\n".join(render_result_text(r) for r in results)


SUMMARY_REPORTERS: dict[str, Callable[[Sequence[ConferenceResult]], str]] = {
    "text": render_text,
    "json": render_json,
}
