"""What apply would do, for people (text), scripts (json) and GitHub Actions (annotations).

One line per participant, Terraform-style: ``+`` dial, ``~`` update in place,
``-`` hang up, ``-/+`` hang up and dial again, ``=`` unchanged, ``!`` differs
in a way only a new dial can fix, ``?`` live but not managed by the file.
Destinations are masked as in apply's summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from orchestrator.engine.planner import Action, Change, Plan
from orchestrator.masking import mask_destination
from orchestrator.report.envelope import render_envelope
from orchestrator.report.github import annotation
from orchestrator.report.style import PLAIN, Meaning, Style


class PlanReporter(Protocol):
    def __call__(
        self, plans: Sequence[Plan], *, exit_code: int = ..., full: bool = ..., style: Style = ...
    ) -> str: ...


def _value(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_change(change: Change) -> str:
    return f"{change.field} {_value(change.live)} -> {_value(change.desired)}"


def action_line(plan: Plan, action: Action) -> str:
    participant = action.participant
    name = participant.name
    if action.kind == "dial":
        return f"+ dial {name} ({mask_destination(participant.to[0])}, {participant.role})"
    if action.kind == "redial":
        return f"-/+ redial {name} ({', '.join(action.needs_redial)})"
    if action.kind == "update":
        return f"~ update {name}: " + ", ".join(describe_change(c) for c in action.changes)
    return f"= {name} unchanged"


def redial_line(action: Action) -> str:
    return f"! needs redial: {action.participant.name} ({', '.join(action.needs_redial)})"


def _lines(plan: Plan) -> list[str]:
    lines: list[str] = []
    for action in plan.actions:
        pending = action.redial_pending
        if action.kind != "noop" or not pending:
            lines.append(action_line(plan, action))
        if pending:
            lines.append(redial_line(action))
    for stray in plan.strays:
        if stray.hang_up:
            lines.append(f"- hang up {stray.label} (not in file; --prune)")
        else:
            lines.append(f"? {stray.label} unmanaged (not in file; apply --prune hangs it up)")
    lines.extend(f"? {call_sid} (no Label known; never touched)" for call_sid in plan.unlabeled)
    return lines


def hang_up_lines(plan: Plan) -> list[str]:
    """What apply with this plan's flags would hang up: strays (--prune) and redials."""
    name = plan.spec.conference.name
    lines = [f"- {name}/{s.label} (not in file; --prune)" for s in plan.strays if s.hang_up]
    lines += [
        f"-/+ {name}/{a.participant.name} ({', '.join(a.needs_redial)} changed; --redial-changed)"
        for a in plan.actions
        if a.kind == "redial"
    ]
    return lines


def totals(plans: Sequence[Plan]) -> dict[str, int]:
    actions = [a for plan in plans for a in plan.actions]
    return {
        "dial": sum(1 for a in actions if a.kind == "dial"),
        "update": sum(1 for a in actions if a.kind == "update"),
        "hang_up": sum(1 for plan in plans for s in plan.strays if s.hang_up),
        "redial": sum(1 for a in actions if a.kind == "redial"),
        "unchanged": sum(1 for a in actions if a.kind == "noop"),
        "needs_redial": sum(1 for a in actions if a.redial_pending),
        "unmanaged": sum(1 for plan in plans for s in plan.strays if not s.hang_up),
        "unlabeled": sum(len(plan.unlabeled) for plan in plans),
    }


def _header(plan: Plan) -> str:
    where = (
        f"{plan.conference_sid}, {plan.conference_status}"
        if plan.conference_sid
        else "not created yet"
    )
    return f"Conference {plan.spec.conference.name} ({plan.spec.path}): {where}"


def summary_line(plans: Sequence[Plan]) -> str:
    counts = totals(plans)
    line = (
        f"Plan: {counts['dial']} to dial, {counts['update']} to update, "
        f"{counts['hang_up']} to hang up."
    )
    extra = [
        f"{counts[key]} {label}"
        for key, label in (
            ("redial", "to redial"),
            ("unchanged", "unchanged"),
            ("needs_redial", "needing a redial"),
            ("unmanaged", "unmanaged"),
        )
        if counts[key]
    ]
    return line + (" " + ", ".join(extra) + "." if extra else "")


_MARK_MEANINGS: dict[str, Meaning] = {
    "+": "add",
    "~": "change",
    "-": "remove",
    "-/+": "change",
    "!": "bad",
    "?": "muted",
}


def _styled(line: str, style: Style) -> str:
    """The line with its leading mark (+ ~ - -/+ ! ?) coloured."""
    mark, _, rest = line.partition(" ")
    meaning = _MARK_MEANINGS.get(mark)
    return f"{style(mark, meaning)} {rest}" if meaning else line


def render_plan_text(
    plans: Sequence[Plan], *, exit_code: int = 0, full: bool = False, style: Style = PLAIN
) -> str:
    blocks = [
        "\n".join([_header(plan), *("  " + _styled(line, style) for line in _lines(plan))])
        for plan in plans
    ]
    return "\n\n".join(blocks) + "\n\n" + summary_line(plans) + "\n"


def _action_json(action: Action) -> dict[str, Any]:
    participant = action.participant
    kind = {"noop": "unchanged"}.get(action.kind, action.kind)
    return {
        "action": kind,
        "name": participant.name,
        "role": participant.role,
        "to": mask_destination(participant.to[0]),
        "changes": [{"field": c.field, "from": c.live, "to": c.desired} for c in action.changes],
        "needs_redial": list(action.needs_redial),
        "line": participant.location.line,
        "col": participant.location.col,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "file": plan.spec.path,
        "conference": {
            "name": plan.spec.conference.name,
            "sid": plan.conference_sid,
            "status": plan.conference_status,
        },
        "actions": [
            *(_action_json(a) for a in plan.actions),
            *(
                {
                    "action": "hang_up" if s.hang_up else "unmanaged",
                    "name": s.label,
                    "call_sid": s.call_sid,
                }
                for s in plan.strays
            ),
        ],
        "unlabeled": list(plan.unlabeled),
        "changes_present": plan.changes_present,
    }


def render_plan_json(
    plans: Sequence[Plan], *, exit_code: int = 0, full: bool = False, style: Style = PLAIN
) -> str:
    return render_envelope(
        "plan",
        [plan_json(p) for p in plans],
        exit_code=exit_code,
        totals=totals(plans),
        changes_present=any(p.changes_present for p in plans),
    )


def render_plan_github(
    plans: Sequence[Plan], *, exit_code: int = 0, full: bool = False, style: Style = PLAIN
) -> str:
    """A notice on the line of each participant that will change, then the plan line."""
    lines: list[str] = []
    for plan in plans:
        for index, action in enumerate(plan.actions):
            if action.kind == "noop" and not action.needs_redial:
                continue
            location = action.participant.location
            if action.changes:
                # On the changed setting's line when the participant sets it itself.
                changed = ("participants", index, action.changes[0].field)
                location = plan.spec.location_of(changed)
            message = redial_line(action) if action.redial_pending else action_line(plan, action)
            lines.append(annotation("notice", location, message))
        for stray in plan.strays:
            location = plan.spec.location_of(("participants",))
            message = (
                f"- hang up {stray.label} (not in file; --prune)"
                if stray.hang_up
                else f"{stray.label} is live but not in the file (apply --prune hangs it up)"
            )
            lines.append(annotation("notice", location, message))
    lines.append(summary_line(plans))
    return "\n".join(lines) + "\n"


PLAN_REPORTERS: dict[str, PlanReporter] = {
    "text": render_plan_text,
    "json": render_plan_json,
    "github": render_plan_github,
}
