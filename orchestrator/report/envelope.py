"""Every command's ``-o json``: one envelope, whatever the command, the number of files or
how the run ended.

``{"version": 1, "command": "apply", "conferences": [...], "error": null, "exit_code": N}``,
one object per file in the order given; keys are snake_case; text is UTF-8 as is (a
masked number reads +1206•••0100, not \\u2022 escapes). ``error`` says why the command
stopped (``error_json``): an invalid file, a refused key, an unreachable API, a usage
error found after the options were read; ``conferences`` then holds what was done
before, often nothing. ``apply --dry-run`` adds ``"dry_run": true``. Each report's
envelope is described by a JSON Schema in ``schemas/`` (``REPORT_SCHEMAS``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final, Literal

from orchestrator.errors import SpecError
from orchestrator.spec.model import Diagnostic

VERSION: Final = 1
Command = Literal["apply", "plan", "status", "down", "history"]
# The reports, each with its schema: a command's, and apply --dry-run's.
Report = Literal["apply", "plan", "status", "down", "dry-run", "history"]
REPORT_SCHEMAS: Final[dict[str, str]] = {
    "apply": "apply-report.schema.json",
    "plan": "plan-report.schema.json",
    "status": "status-report.schema.json",
    "down": "down-report.schema.json",
    "dry-run": "dry-run-report.schema.json",
    "history": "history-report.schema.json",
}


def envelope(
    command: Command,
    conferences: list[dict[str, Any]],
    *,
    exit_code: int,
    error: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "command": command,
        "conferences": conferences,
        **extra,
        "error": error,
        "exit_code": exit_code,
    }


def render_envelope(
    command: Command,
    conferences: list[dict[str, Any]],
    *,
    exit_code: int,
    error: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    document = envelope(command, conferences, exit_code=exit_code, error=error, **extra)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def finding_json(diagnostic: Diagnostic) -> dict[str, Any]:
    """A finding as ``validate -o json`` shows it."""
    location = diagnostic.location
    return {
        "file": location.file,
        "line": location.line,
        "col": location.col,
        "severity": diagnostic.severity,
        "message": diagnostic.message,
    }


def error_json(
    error: BaseException | str,
    *,
    file: str | None = None,
    findings: Iterable[Diagnostic] = (),
) -> dict[str, Any]:
    """The envelope's ``error``: the one-line message, the file it is about when it is about
    one, and (for invalid files) every finding; an invalid file's come from the error."""
    found = list(findings)
    if isinstance(error, SpecError):
        found += [d for d in error.diagnostics if isinstance(d, Diagnostic)]
    files = {d.location.file for d in found}
    if file is None and len(files) == 1:
        file = files.pop()
    return {
        "message": str(error),
        "file": file,
        "findings": [finding_json(d) for d in found],
    }


def render_error(report: Report, error: dict[str, Any], *, exit_code: int) -> str:
    """The envelope of a run that stopped on ``error`` before it had anything to report."""
    if report == "dry-run":
        return render_envelope("apply", [], exit_code=exit_code, error=error, dry_run=True)
    return render_envelope(report, [], exit_code=exit_code, error=error)
