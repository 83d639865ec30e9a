"""The board's words: the run model as the page shows it, and each event as a line.

Everything here reads the run model (``RunModel.results()`` and ``tally()``, the ones the
summary and the terminal read) and the board's fold of the same events; nothing reads the API.
A participant is counted under ``run_model.label``, the terminal's word, and the counts are
said by ``report.words.state_counts``, failures first. The page only lays these out: every word
it shows is chosen here. Numbers are masked unless the operator asked for ``--full``; a
refused edit's message is masked the same way, since it may quote the value it refuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from orchestrator.engine import events as ev
from orchestrator.engine.results import ConferenceResult, ParticipantOutcome
from orchestrator.engine.run_model import RunModel, Tally, label
from orchestrator.engine.verdicts import cap_words
from orchestrator.masking import mask_destination
from orchestrator.record.fold import ConferenceFold
from orchestrator.report.progress import describe
from orchestrator.report.style import state_meaning
from orchestrator.report.words import coach_words, creating_words, plural, state_counts

_NUMBER = re.compile(r"\+\d{7,15}")

# How a line of the recent events reads at a glance; the words say the rest.
_TONES: dict[type[ev.Event], str] = {
    ev.Connected: "good",
    ev.LegEnded: "bad",
    ev.Dropped: "bad",
    ev.RedialUnanswered: "bad",
    ev.DialRefused: "bad",
    ev.AnswerLost: "bad",
    ev.ConferenceFailed: "bad",
    ev.EditRefused: "bad",
    ev.MachineDetected: "pending",
    ev.DialPaused: "pending",
    ev.Redialing: "pending",
    ev.Fallback: "pending",
    ev.Retrying: "pending",
}


def masked(text: str, full: bool) -> str:
    """``text`` with every number in it masked, unless ``full``."""
    return text if full else _NUMBER.sub(lambda m: mask_destination(m.group()), text)


def counts(labels: Mapping[str, int]) -> list[dict[str, str]]:
    """The counts as the terminal says them, each with the meaning its colour shows."""
    return [
        {"text": text, "meaning": state_meaning(state) if state else "muted"}
        for text, state in state_counts(labels)
    ]


def _labels(participants: list[ParticipantOutcome]) -> dict[str, int]:
    found: dict[str, int] = {}
    for outcome in participants:
        word = label(outcome)
        found[word] = found.get(word, 0) + 1
    return found


def overview(tally: Tally, model: RunModel) -> dict[str, Any]:
    """The whole run at a glance, as the terminal's live display draws it."""
    return {
        "total": tally.total,
        "settled": tally.settled,
        "labels": dict(tally.labels),
        "counts": counts(tally.labels),
        "dials": plural(tally.dials, "dial"),
        "rate_limited": tally.rate_limited,
        "paused_until": tally.paused_until,
        "pause_why": tally.pause_why,
        "capped": (
            cap_words(model.capped.allowed, model.capped.frees_in_s) if model.capped else None
        ),
        "started_at": model.started_at,
        "watching": model.watching,
        "stopped_by": model.stopped_by,
    }


def _edit(model: RunModel, file: str, full: bool) -> dict[str, Any] | None:
    refused, applied_at = model.edits(file)
    if refused is None:
        return None
    return {
        "at": refused.at,
        "findings": [
            {"where": f"{f.path}:{f.line}:{f.col}", "message": masked(f.message, full)}
            for f in refused.findings
        ],
        # A valid version that took over after it: the refused one is history.
        "applied_at": applied_at if applied_at is not None and applied_at > refused.at else None,
    }


def _row(
    outcome: ParticipantOutcome,
    fold: ConferenceFold | None,
    last: tuple[float, str] | None,
    full: bool,
) -> dict[str, Any]:
    lane = fold.lanes.get(outcome.name) if fold is not None else None
    wanted = lane.wanted_settings if lane is not None else None
    word = label(outcome)
    notes = [masked(n, full) for n in outcome.notes]
    if outcome.error is not None:
        notes.append(masked(outcome.error, full))
    return {
        "name": outcome.name,
        "role": outcome.role,
        "to": outcome.to if full else mask_destination(outcome.to),
        "desired": str(outcome.desired),
        "desired_meaning": state_meaning(str(outcome.desired)),
        "observed": word,
        "observed_meaning": state_meaning(word),
        "converged": outcome.converged,
        "since": outcome.since,
        "attempts": outcome.attempts,
        "muted": bool(wanted and wanted.muted),
        "hold": bool(wanted and wanted.hold),
        "coaching": wanted.coaching if wanted is not None else None,
        "answered_by": outcome.answered_by,
        "notes": notes,
        "last": {"at": last[0], "text": last[1]} if last is not None else None,
    }


def conference(
    result: ConferenceResult,
    model: RunModel,
    tally: Tally,
    fold: ConferenceFold | None,
    said: Mapping[str, tuple[float, str]],
    full: bool,
) -> dict[str, Any]:
    """One conference: its state, its counts, why it does not move, its rows."""
    state = model.conferences.get(result.path)
    labels = _labels(result.participants)
    waits = [creating_words(who) for name, who in tally.creating if name == result.name]
    waits += [
        coach_words(coach, whom) for name, coach, whom in tally.waiting if name == result.name
    ]
    return {
        "file": result.path,
        "name": result.name,
        "sid": result.sid,
        "status": result.status,
        "started_at": state.started_at if state is not None else None,
        "error": masked(result.error, full) if result.error else None,
        "total": len(result.participants),
        "settled": sum(1 for p in result.participants if not p.active),
        "converged": sum(1 for p in result.participants if p.converged),
        "labels": labels,
        "counts": counts(labels),
        "dials": plural(result.dials, "dial"),
        "rate_limited": result.rate_limited,
        "waits": waits,
        "edit": _edit(model, result.path, full),
        "participants": [_row(p, fold, said.get(p.name), full) for p in result.participants],
    }


def _edit_words(event: ev.Event) -> str | None:
    if isinstance(event, ev.EditRefused):
        where = [f"{f.path}:{f.line}:{f.col}: {f.message}" for f in event.findings[:3]]
        return "; ".join(where) + "; not applied: the last valid version stays in force"
    if isinstance(event, ev.EditApplied):
        return f"{event.file}: changed; applying the new version"
    return None


_WORDS: dict[type[ev.Event], Callable[[Any], str | None]] = {
    ev.DialPaused: lambda e: f"dials paused {e.seconds:.1f}s: {e.why}",
    ev.AccountCapped: lambda e: cap_words(e.allowed, e.frees_in_s),
    ev.ConferenceFailed: lambda e: f"failed: {e.error}",
    ev.RunStopped: lambda e: f"stopped by {e.signal}",
    ev.EditRefused: _edit_words,
    ev.EditApplied: _edit_words,
}


def event_line(event: ev.Event, full: bool) -> dict[str, Any] | None:
    """One event as a line of the recent events (None: not worth one)."""
    words = _WORDS.get(type(event))
    text = words(event) if words is not None else describe(event)
    if text is None:
        return None
    destination = getattr(event, "destination", None)
    if full and isinstance(destination, str):
        # The log's words mask the number they name; with --full the board shows it whole.
        text = text.replace(mask_destination(destination), destination)
    who = event.participant if isinstance(event, ev.ParticipantEvent) else None
    return {
        "at": event.at,
        "conference": event.conference,
        "participant": who,
        "text": masked(text, full),
        "tone": _TONES.get(type(event), ""),
        "source": event.source,
    }
