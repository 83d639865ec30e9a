"""What apply would do, for people (text), scripts (json) and GitHub Actions (annotations).

Terraform-style: ``+`` dial, ``=`` unchanged, ``-`` hang up, ``?`` live but not
managed by the file; then one line per changed setting of a live participant,
under its YAML key, saying what apply does with it: ``~`` updated in place,
``-/+`` redialed (--redial-changed), ``!`` only a redial changes it, ``>`` it
counts from the next dial on and nothing is sent. Destinations are masked as in
apply's summary, URLs shown without credentials or query, header values never.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

from orchestrator.engine.planner import Action, Change, Plan
from orchestrator.masking import mask_destination, shown_url
from orchestrator.report.envelope import render_envelope
from orchestrator.report.github import annotation
from orchestrator.report.style import PLAIN, Meaning, Style
from orchestrator.spec.settings_table import BY_KEY


class PlanReporter(Protocol):
    def __call__(
        self, plans: Sequence[Plan], *, exit_code: int = ..., full: bool = ..., style: Style = ...
    ) -> str: ...


def shown_value(field: str, value: object) -> object:
    """A setting's value as reports may print it: as its entry in the settings table shows it
    (numbers masked, header names only), URLs without credentials or query."""
    setting = BY_KEY.get(field)
    return _without_credentials(setting.shown(value) if setting is not None else value)


def _without_credentials(value: object) -> object:
    if isinstance(value, str):
        return shown_url(value)
    if isinstance(value, dict):
        return {k: _without_credentials(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_credentials(v) for v in value]
    return value


def _value(field: str, value: object) -> str | None:
    """The value as a word; None for a structure, which is only said to have changed."""
    value = shown_value(field, value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(value) if value else "none"
    if isinstance(value, dict | list):
        return None
    return str(value)


def describe_change(change: Change) -> str:
    was, wanted = _value(change.field, change.live), _value(change.field, change.desired)
    if was is None or wanted is None:
        return f"{change.field} changed"
    return f"{change.field} {was} -> {wanted}"


# What apply does with a changed setting: the line's mark, and the words after the change.
_OUTCOMES: dict[str, tuple[str, str]] = {
    "update": ("~", "updated in place"),
    "redial": ("!", "takes effect when redialed: --redial-changed"),
    "next_dial": (">", "next dial only; nothing to send"),
}


def change_words(action: Action, change: Change) -> str:
    """``SETTING OLD -> NEW (what apply does)``."""
    what = "redialed" if action.kind == "redial" else _OUTCOMES[change.policy][1]
    return f"{describe_change(change)} ({what})"


def change_line(action: Action, change: Change) -> str:
    mark = "-/+" if action.kind == "redial" else _OUTCOMES[change.policy][0]
    return f"{mark} {action.participant.name}: {change_words(action, change)}"


def action_lines(action: Action) -> list[str]:
    """The participant's lines: its dial, each changed setting, or that it is unchanged."""
    participant = action.participant
    if action.kind == "dial":
        return [
            f"+ dial {participant.name} ({mask_destination(participant.to[0])}, {participant.role})"
        ]
    if not action.changes:
        return [f"= {participant.name} unchanged"]
    return [change_line(action, change) for change in action.changes]


def _lines(plan: Plan) -> list[str]:
    lines = [line for action in plan.actions for line in action_lines(action)]
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


def _bucket(action: Action) -> str:
    """Where the totals count a participant of the file: once, by what apply does first."""
    if action.kind != "noop":
        return action.kind
    if action.redial_pending:
        return "needs_redial"
    return "next_dial" if action.changes else "unchanged"


def totals(plans: Sequence[Plan]) -> dict[str, int]:
    buckets = Counter(_bucket(a) for plan in plans for a in plan.actions)
    return {
        "dial": buckets["dial"],
        "update": buckets["update"],
        "hang_up": sum(1 for plan in plans for s in plan.strays if s.hang_up),
        "redial": buckets["redial"],
        "unchanged": buckets["unchanged"],
        "needs_redial": buckets["needs_redial"],
        "next_dial": buckets["next_dial"],
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
            ("next_dial", "changed for the next dial only"),
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
    ">": "muted",
    "?": "muted",
}


def _styled(line: str, style: Style) -> str:
    """The line with its leading mark (+ ~ - -/+ ! > ?) coloured."""
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


def change_json(change: Change) -> dict[str, Any]:
    return {
        "field": change.field,
        "from": shown_value(change.field, change.live),
        "to": shown_value(change.field, change.desired),
        "policy": change.policy,
    }


def _action_json(action: Action) -> dict[str, Any]:
    participant = action.participant
    kind = {"noop": "unchanged"}.get(action.kind, action.kind)
    return {
        "action": kind,
        "name": participant.name,
        "role": participant.role,
        "to": mask_destination(participant.to[0]),
        "changes": [change_json(c) for c in action.changes],
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
        "differs": plan.differs,
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
        differs=any(p.differs for p in plans),
    )


def render_plan_github(
    plans: Sequence[Plan], *, exit_code: int = 0, full: bool = False, style: Style = PLAIN
) -> str:
    """A notice for each line but ``=``, on the changed setting's line where the participant
    sets it itself (else on its entry), then the plan line."""
    lines: list[str] = []
    for plan in plans:
        for index, action in enumerate(plan.actions):
            entry = action.participant.location
            if action.kind == "dial":
                lines += [annotation("notice", entry, line) for line in action_lines(action)]
            for change in action.changes:
                location = plan.spec.location_of(("participants", index, change.field))
                lines.append(annotation("notice", location, change_line(action, change)))
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
