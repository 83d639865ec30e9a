"""down's lines: what was hung up, what was not there, what failed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.engine.teardown import HangUpResult, Teardown
from orchestrator.report.envelope import render_envelope

_MARKS = {HangUpResult.HUNG_UP: "-", HangUpResult.ABSENT: "=", HangUpResult.FAILED: "!"}


def render_down_text(teardowns: Sequence[Teardown], *, exit_code: int = 0) -> str:
    blocks: list[str] = []
    for teardown in teardowns:
        spec = teardown.spec
        name = spec.conference.name
        if teardown.conference_sid is None:
            blocks.append(f"Conference {name} ({spec.path}): not running; nothing to end")
            continue
        lines = [f"Conference {name} ({spec.path}): {teardown.conference_sid}"]
        if teardown.ended_conference:
            lines.append("  ended the conference (Status=completed); everyone in it was hung up")
        for hang_up in teardown.hang_ups:
            mark = _MARKS[hang_up.result]
            if hang_up.result == HangUpResult.HUNG_UP:
                lines.append(f"  {mark} hung up {hang_up.name}")
            elif hang_up.result == HangUpResult.ABSENT:
                lines.append(f"  {mark} {hang_up.name} was not in the conference")
            else:
                lines.append(f"  {mark} could not hang up {hang_up.name}: {hang_up.error}")
        if teardown.ended_with:
            lines.append(
                f"  the conference ended with {', '.join(teardown.ended_with)} "
                "(end_conference_on_exit); anyone else still in it was hung up too"
            )
        blocks.append("\n".join(lines))
    return "\n".join(blocks) + "\n"


def teardown_json(teardown: Teardown) -> dict[str, Any]:
    return {
        "file": teardown.spec.path,
        "conference": {"name": teardown.spec.conference.name, "sid": teardown.conference_sid},
        "ended_conference": teardown.ended_conference,
        "hang_ups": [
            {"name": h.name, "result": h.result.name.lower(), "error": h.error}
            for h in teardown.hang_ups
        ],
        "ended_with": list(teardown.ended_with),
        "ok": teardown.ok,
    }


def render_down_json(teardowns: Sequence[Teardown], *, exit_code: int = 0) -> str:
    return render_envelope("down", [teardown_json(t) for t in teardowns], exit_code=exit_code)


DOWN_REPORTERS = {"text": render_down_text, "json": render_down_json}
