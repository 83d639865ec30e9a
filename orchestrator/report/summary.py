"""The reconciled summary of an apply: one row per participant, for people (text) or scripts (json).

Destinations are masked (middle digits hidden) in every format: reports end up
in CI logs and chat, and a name is enough to find the row. Whatever the size
of the run, the text ends with every participant that did not converge and
why; a table of more than ``LONG_TABLE`` rows shows only those unless
``full``. Errors are not part of it: they go to stderr (``error_lines``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from orchestrator.engine.results import ConferenceResult, ParticipantOutcome
from orchestrator.masking import mask_destination
from orchestrator.report.envelope import error_json, render_envelope
from orchestrator.report.style import PLAIN, Style, state_meaning
from orchestrator.report.words import plural, state_counts

LONG_TABLE = 50  # rows beyond which only the participants that did not converge are listed


def participant_json(outcome: ParticipantOutcome) -> dict[str, Any]:
    return {
        "name": outcome.name,
        "role": outcome.role,
        "to": mask_destination(outcome.to),
        "desired": str(outcome.desired),
        "observed": str(outcome.observed),
        "converged": outcome.converged,
        "call_sid": outcome.call_sid,
        "attempts": outcome.attempts,
        "error": outcome.error,
        "notes": list(outcome.notes),
        "answered_by": outcome.answered_by,
        "cause": outcome.cause,
        "since": iso_time(outcome.since),
    }


def iso_time(moment: float | None) -> str | None:
    """A Unix time as UTC ISO 8601 to the millisecond: 2026-12-07T20:50:56.123Z."""
    if moment is None:
        return None
    stamp = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def totals_json(result: ConferenceResult) -> dict[str, Any]:
    counts = Counter(str(p.observed) for p in result.participants)
    return {
        "participants": len(result.participants),
        "converged": sum(1 for p in result.participants if p.converged),
        "not_converged": sum(1 for p in result.participants if not p.converged),
        "by_state": dict(sorted(counts.items())),
        "dials": result.dials,
        "rate_limited": result.rate_limited,
    }


def result_json(result: ConferenceResult) -> dict[str, Any]:
    return {
        "file": result.path,
        "conference": {"name": result.name, "sid": result.sid, "status": result.status},
        "participants": [participant_json(p) for p in result.participants],
        "totals": totals_json(result),
        "error": result.error,
        "interrupted": result.interrupted,
        "stopped_by": result.stopped_by,
        "in_flight_at_stop": result.in_flight_at_stop,
        "exit_code": result.exit_code,
        "duration_s": round(result.duration_s, 3),
    }


def render_json(
    results: Sequence[ConferenceResult],
    *,
    exit_code: int,
    full: bool = True,
    style: Style = PLAIN,
    width: int | None = None,
) -> str:
    """The JSON envelope; its ``error``: what stopped conferences, as the stderr lines say it."""
    lines = error_lines(results)
    error = None
    if lines:
        failing = [r for r in results if r.error]
        message = "; ".join(line.removeprefix("error: ") for line in lines)
        error = error_json(message, file=failing[0].path if len(failing) == 1 else None)
    conferences = [result_json(r) for r in results]
    return render_envelope("apply", conferences, exit_code=exit_code, error=error)


def _short_sid(call_sid: str | None) -> str:
    if not call_sid:
        return "-"
    return call_sid if len(call_sid) <= 20 else call_sid[:19] + "\u2026"


def _note(outcome: ParticipantOutcome) -> str:
    parts = [*outcome.notes]
    if outcome.error:
        parts.append(outcome.error)
    return "; ".join(parts)


def table(
    rows: list[list[str]], colour_column: int | None = None, style: Style = PLAIN
) -> list[str]:
    """Rows padded into columns (the last one ragged); one column coloured by state."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        if colour_column is not None and number > 0:
            cell = row[colour_column]
            cells[colour_column] = (
                style(cell, state_meaning(cell)) + cells[colour_column][len(cell) :]
            )
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


# On a narrow terminal, the columns left out first (a row must never wrap into pieces).
_DROPPED_FIRST = ("CALL SID", "ROLE", "ATTEMPTS", "DESIRED", "TO")
INDENT = 2


def fit(rows: list[list[str]], width: int | None) -> list[list[str]]:
    """The table's rows within ``width`` (None: as they are): columns left out in the order of
    ``_DROPPED_FIRST`` until the rows fit, then the last (ragged) column cut short."""
    if width is None:
        return rows

    def widest(table_rows: list[list[str]]) -> int:
        widths = [max(len(row[i]) for row in table_rows) for i in range(len(table_rows[0]) - 1)]
        return INDENT + max(sum(widths) + 2 * len(widths) + len(row[-1]) for row in table_rows)

    for column in _DROPPED_FIRST:
        if widest(rows) <= width:
            return rows
        if column in rows[0]:
            index = rows[0].index(column)
            rows = [row[:index] + row[index + 1 :] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    room = max(width - INDENT - sum(widths) - 2 * len(widths), 4)
    return [
        [*row[:-1], row[-1] if len(row[-1]) <= room else row[-1][: room - 1] + "\u2026"]
        for row in rows
    ]


def why(outcome: ParticipantOutcome) -> str:
    """One line for a participant that did not converge: its state, and what went wrong."""
    text = f"{outcome.name}: {outcome.observed}"
    if outcome.desired != "connected" and not outcome.desired.live:
        text += f" (wanted {outcome.desired})"
    return text + (f" \u2014 {outcome.error}" if outcome.error else "")


def render_result_text(
    result: ConferenceResult,
    *,
    activity: bool = True,
    full: bool = False,
    style: Style = PLAIN,
    width: int | None = None,
) -> str:
    """The per-participant table, its totals, and who did not converge; fitted to ``width``
    (a terminal's) by leaving out columns, never by wrapping.

    ``activity=False`` leaves out what only a run has (attempts, dials, the digest).
    """
    sid = result.sid or "not running"
    status = f", {result.status}" if result.status else ""
    lines = [f"Conference {result.name} ({result.path}): {sid}{status}"]
    shown = result.participants
    if not full and len(shown) > LONG_TABLE:
        shown = [p for p in shown if not p.converged]
    rows = fit(_rows(shown, activity=activity), width)
    lines.extend(" " * INDENT + line for line in table(rows, rows[0].index("OBSERVED"), style))
    hidden = len(result.participants) - len(shown)
    if hidden:
        lines.append(f"  ... and {hidden} more, all converged (--full lists every row)")
    lines += _totals(result, activity=activity, width=width)
    failed = [p for p in result.participants if not p.converged]
    if activity and failed:
        lines.append(style("Did not converge:", "bad"))
        lines.extend(f"  {why(p)}" for p in failed)
    if result.interrupted:
        lines.append(_interruption(result))
    return "\n".join(lines) + "\n"


def _rows(shown: Sequence[ParticipantOutcome], *, activity: bool) -> list[list[str]]:
    """The table's header and one row per participant (ATTEMPTS only for a run)."""
    header = ["NAME", "ROLE", "TO", "DESIRED", "OBSERVED", "CALL SID", "ATTEMPTS", "NOTE"]
    if not activity:
        header.remove("ATTEMPTS")
    rows = [header]
    for p in shown:
        row = [p.name, p.role, mask_destination(p.to), p.desired, p.observed]
        row.append(_short_sid(p.call_sid))
        if activity:
            row.append(str(p.attempts))
        rows.append([*row, _note(p)])
    return rows


def _totals(result: ConferenceResult, *, activity: bool, width: int | None) -> list[str]:
    """``5 participants: 5 connected; all converged. 5 dials, 0 rate-limited, 2.7s.``, in two
    lines when one would not fit ``width``."""
    head = f"{plural(len(result.participants), 'participant')}: "
    counts = Counter(str(p.observed) for p in result.participants)
    room = None if width is None else width - len(head) - 1
    states = ", ".join(text for text, _ in state_counts(counts, room))
    if not activity:
        return [f"{head}{states}."]
    failed = sum(not p.converged for p in result.participants)
    verdict = "all converged" if not failed else f"{failed} did not converge"
    tail = (
        f"{verdict}. {plural(result.dials, 'dial')}, {result.rate_limited} rate-limited, "
        f"{result.duration_s:.1f}s."
    )
    line = f"{head}{states}; {tail}"
    if width is not None and len(line) > width:  # on a narrow terminal, two lines
        return [f"{head}{states};", tail]
    return [line]


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


def nothing_done(result: ConferenceResult) -> bool:
    """An error stopped the conference before anything was sent: its table would say nothing."""
    return result.error is not None and not any(
        p.attempts or p.call_sid for p in result.participants
    )


def render_text(
    results: Sequence[ConferenceResult],
    *,
    exit_code: int = 0,
    full: bool = False,
    style: Style = PLAIN,
    width: int | None = None,
) -> str:
    blocks = [
        render_result_text(r, full=full, style=style, width=width)
        for r in results
        if not nothing_done(r)
    ]
    return "\n".join(blocks)


def error_lines(results: Sequence[ConferenceResult]) -> list[str]:
    """Each distinct conference-wide error once; named by conference when they differ."""
    failing = [r for r in results if r.error]
    texts = list(dict.fromkeys(r.error for r in failing if r.error))
    if len(texts) == 1 and len(failing) == len(results):
        return [f"error: {texts[0]}"]
    return [
        f"error: {r.error}"
        if r.path in (r.error or "")
        else f"error: {r.name} ({r.path}): {r.error}"
        for r in failing
    ]


SUMMARY_REPORTERS = {"text": render_text, "json": render_json}
