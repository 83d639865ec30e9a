"""Every command's ``-o json``: one envelope, whatever the command or the number of files.

``{"version": 1, "command": "apply", "conferences": [...], "exit_code": N}``, one
object per file in the order given; keys are snake_case; text is UTF-8 as is
(a masked number reads +1206•••0100, not \\u2022 escapes). Each command's
envelope is described by a JSON Schema in ``schemas/`` (``REPORT_SCHEMAS``).
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

VERSION: Final = 1
Command = Literal["apply", "plan", "status", "down"]
REPORT_SCHEMAS: Final[dict[str, str]] = {
    "apply": "apply-report.schema.json",
    "plan": "plan-report.schema.json",
    "status": "status-report.schema.json",
    "down": "down-report.schema.json",
}


def envelope(
    command: Command, conferences: list[dict[str, Any]], *, exit_code: int, **extra: Any
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "command": command,
        "conferences": conferences,
        **extra,
        "exit_code": exit_code,
    }


def render_envelope(
    command: Command, conferences: list[dict[str, Any]], *, exit_code: int, **extra: Any
) -> str:
    document = envelope(command, conferences, exit_code=exit_code, **extra)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
