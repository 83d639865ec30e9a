"""``history``'s reports: the runs kept, one line each, and one run in text or JSON.

Numbers are masked as everywhere else unless ``full``; the log keeps them whole. The JSON is
the envelope every command prints (``report.envelope``), described by
``schemas/history-report.schema.json``.
"""

from __future__ import annotations

from typing import Any

from orchestrator.masking import mask_destination
from orchestrator.record.figures import Figures
from orchestrator.record.fold import Leg
from orchestrator.record.runs import Header
from orchestrator.record.view import ConferenceView, RunView, unknown
from orchestrator.report.envelope import render_envelope
from orchestrator.report.style import PLAIN, Style
from orchestrator.report.summary import iso_time, render_result_text, result_json, table


def seconds(value: float | None) -> str:
    """2.1s, 1m05s, 1h02m; ``-`` when there is none."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _s(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def file_label(header: Header, file: str | None = None) -> str:
    """``bridge.yaml@1a2b3c4`` (``*``: changed since that commit); the first file if none named."""
    entries = [f for f in header.files if file is None or f.get("path") == file]
    if not entries:
        return file or "-"
    entry = entries[0]
    git = entry.get("git")
    label = str(entry.get("path"))
    if isinstance(git, dict) and isinstance(git.get("commit"), str):
        label += "@" + git["commit"][:7] + ("*" if git.get("modified") else "")
    return label


def outcome(header: Header) -> str:
    return "interrupted" if header.interrupted else f"exit {header.exit_code}"


def header_json(header: Header) -> dict[str, Any]:
    return {
        "id": header.id,
        "command": header.command,
        "argv": list(header.argv),
        "started": header.started,
        "ended": header.ended,
        "interrupted": header.interrupted,
        "exit_code": header.exit_code,
        "orchestrator": header.version,
        "sandbox": header.sandbox,
        "watch": header.watch,
        "files": list(header.files),
        "accounts": list(header.accounts),
    }


def figures_json(figures: Figures) -> dict[str, Any]:
    return {
        "planned_at": iso_time(figures.origin),
        "record_ends_at": iso_time(figures.until),
        "wanted": figures.wanted,
        "first_connected_s": _s(figures.first_connected_s),
        "first_connected": figures.first_who,
        "all_connected_s": _s(figures.all_connected_s),
        "joined_s": {name: _s(value) for name, value in figures.joined_s.items()},
        "longest_missing_s": _s(figures.longest_missing_s),
        "longest_missing": list(figures.longest_missing_who),
        "longest_missing_from_s": _s(figures.longest_missing_from_s),
    }


def _converged(view: ConferenceView) -> tuple[int, int]:
    if view.result is None:
        return 0, len(view.fold.lanes)
    rows = view.result.participants
    return sum(1 for p in rows if p.converged), len(rows)


def list_json(views: list[RunView]) -> list[dict[str, Any]]:
    runs = []
    for view in views:
        header = view.run.header
        conferences = []
        for conference in view.conferences:
            converged, total = _converged(conference)
            conferences.append(
                {
                    "file": conference.fold.file,
                    "name": conference.fold.name,
                    "sid": conference.fold.sid,
                    "converged": converged,
                    "participants": total,
                    "first_connected_s": _s(conference.figures.first_connected_s),
                    "all_connected_s": _s(conference.figures.all_connected_s),
                }
            )
        runs.append({**header_json(header), "conferences": conferences, "events": view.events})
    return runs


def render_list_json(views: list[RunView], *, full: bool = False) -> str:
    return render_envelope("history", [], exit_code=0, runs=list_json(views))


def render_list_text(views: list[RunView], *, full: bool = False) -> str:
    if not views:
        return "no runs recorded here\n"
    rows = [["RUN", "STARTED", "COMMAND", "FILE", "CONFERENCE", "OK", "FIRST", "ALL", "END"]]
    for view in views:
        header = view.run.header
        first = view.conferences[0] if view.conferences else None
        more = f" +{len(view.conferences) - 1}" if len(view.conferences) > 1 else ""
        converged, total = _converged(first) if first else (0, 0)
        rows.append(
            [
                header.id,
                header.started[:19].replace("T", " ") + "Z",
                header.command,
                file_label(header)
                + (f" +{len(header.files) - 1}" if len(header.files) > 1 else ""),
                (first.fold.name if first else "-") + more,
                f"{converged}/{total}",
                seconds(first.figures.first_connected_s) if first else "-",
                seconds(first.figures.all_connected_s) if first else "-",
                outcome(header),
            ]
        )
    return "\n".join(table(rows)) + "\n"


def leg_json(leg: Leg, *, full: bool) -> dict[str, Any]:
    learned = leg.learned
    return {
        "call_sid": leg.call_sid,
        "to": leg.to if full else mask_destination(leg.to),
        "dialed_at": iso_time(leg.dialed_at),
        "joined_at": iso_time(leg.connected_at),
        "left_at": iso_time(leg.end),
        "cause": leg.cause,
        "status": learned.get("status"),
        "answered_by": leg.answered_by,
        "duration_s": learned.get("duration_s"),
        "hangup_cause": learned.get("hangup_cause"),
        "hangup_source": learned.get("hangup_source"),
        "from_api": sorted(learned),
    }


def conference_json(view: ConferenceView, *, full: bool, sandbox: bool = False) -> dict[str, Any]:
    fold = view.fold
    document: dict[str, Any] = (
        result_json(view.result)
        if view.result is not None
        else {"file": fold.file, "participants": []}
    )
    document["conference"] = {
        "name": fold.name,
        "sid": fold.sid,
        "status": fold.status,
        "started_at": iso_time(fold.start),
        "ended_at": iso_time(fold.end),
        "end_reason": fold.learned.get("reason"),
    }
    by_name = {p["name"]: p for p in document["participants"]}
    for lane in fold.lanes.values():
        row = by_name.get(lane.name)
        if row is None:
            row = {"name": lane.name, "role": lane.role, "to": mask_destination(lane.to)}
            document["participants"].append(row)
        if full:
            row["to"] = lane.to
        row["legs"] = [leg_json(leg, full=full) for leg in lane.legs]
    document["figures"] = figures_json(view.figures)
    document["recordings"] = [
        {
            "sid": r.recording_sid,
            "participant": r.participant,
            "call_sid": r.call_sid,
            "path": r.path,
            "bytes": r.bytes,
            "sha256": r.sha256,
            "duration_s": r.duration_s,
            "channels": r.channels,
        }
        for r in fold.recordings
    ]
    document["unknown"] = unknown(view, sandbox=sandbox)
    return document


def render_run_json(view: RunView, *, full: bool = False) -> str:
    sandbox = view.run.header.sandbox
    conferences = [conference_json(c, full=full, sandbox=sandbox) for c in view.conferences]
    return render_envelope(
        "history",
        conferences,
        exit_code=0,
        run={
            **header_json(view.run.header),
            "folder": str(view.run.folder),
            "events": view.events,
            "unreadable_lines": view.unreadable,
        },
    )


def figure_lines(figures: Figures) -> list[str]:
    lines = [
        f"first connected: {seconds(figures.first_connected_s)}"
        + (f" ({figures.first_who})" if figures.first_who else ""),
        f"all {figures.wanted} wanted connected: "
        + (seconds(figures.all_connected_s) if figures.all_connected_s is not None else "never"),
    ]
    if figures.longest_missing_s is not None:
        who = ", ".join(figures.longest_missing_who)
        lines.append(
            f"longest with someone missing: {seconds(figures.longest_missing_s)}"
            + (f" ({who})" if who else "")
        )
    return lines


def render_run_text(
    view: RunView, *, full: bool = False, style: Style = PLAIN, width: int | None = None
) -> str:
    header = view.run.header
    lines = [
        f"Run {header.id}: orchestrator {' '.join(header.argv)}",
        f"  started {header.started}, "
        + ("interrupted: no end recorded" if header.interrupted else f"ended {header.ended}")
        + f", {outcome(header)}",
        f"  files: {', '.join(file_label(header, str(f.get('path'))) for f in header.files)}",
        f"  record: {view.run.folder} ({view.events} events"
        + (f", {view.unreadable} unreadable lines" if view.unreadable else "")
        + ")",
    ]
    blocks = ["\n".join(lines) + "\n"]
    for conference in view.conferences:
        part = ["  " + line for line in figure_lines(conference.figures)]
        for lane in conference.fold.lanes.values():
            for leg in lane.legs:
                to = leg.to if full else mask_destination(leg.to)
                part.append(
                    f"  {lane.name} {to}: joined {iso_time(leg.connected_at) or '-'}, "
                    f"left {iso_time(leg.end) or '-'}" + (f", {leg.cause}" if leg.cause else "")
                )
        for recording in conference.fold.recordings:
            part.append(
                f"  recording {recording.recording_sid}: {recording.path}, "
                f"{seconds(recording.duration_s)}, sha256 {recording.sha256[:12]}…"
            )
        gaps = unknown(conference, sandbox=header.sandbox)
        part += [f"  not known: {line}" for line in gaps]
        summary = (
            render_result_text(conference.result, full=full, style=style, width=width)
            if conference.result is not None
            else f"Conference {conference.fold.name} ({conference.fold.file})\n"
        )
        blocks.append(summary + "\n".join(part) + "\n")
    return "\n".join(blocks)
