"""Findings of ``validate``: text for people, JSON for scripts, annotations for GitHub Actions.

Messages never hold secrets (the checks never quote a SIP password), so the
reporters print them as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from orchestrator import exit_codes
from orchestrator.report.envelope import finding_json
from orchestrator.report.github import annotation
from orchestrator.report.words import plural
from orchestrator.spec import ValidationResult


def exit_code(result: ValidationResult) -> int:
    return exit_codes.OK if result.ok else exit_codes.FAILED


def summary(result: ValidationResult) -> str:
    """One line, such as ``3 files checked: 1 invalid (2 errors, 1 warning)``."""
    checked = f"{plural(len(result.files), 'file')} checked"
    errors, warnings = len(result.errors), len(result.warnings)
    if not errors:
        return f"{checked}: all valid" + (f" ({plural(warnings, 'warning')})" if warnings else "")
    counts = plural(errors, "error") + (f", {plural(warnings, 'warning')}" if warnings else "")
    return f"{checked}: {len(result.invalid_files)} invalid ({counts})"


def render_text(result: ValidationResult) -> str:
    lines = [str(diagnostic) for diagnostic in result.diagnostics]
    lines.append(summary(result))
    return "\n".join(lines) + "\n"


def render_json(result: ValidationResult) -> str:
    invalid = set(result.invalid_files)
    report = {
        "ok": result.ok,
        "exit_code": exit_code(result),
        "summary": {
            "files": len(result.files),
            "invalid": len(invalid),
            "errors": len(result.errors),
            "warnings": len(result.warnings),
            "text": summary(result),
        },
        "files": [{"path": file, "valid": file not in invalid} for file in result.files],
        "diagnostics": [finding_json(diagnostic) for diagnostic in result.diagnostics],
    }
    return json.dumps(report, indent=2) + "\n"


def render_github(result: ValidationResult) -> str:
    """Workflow commands (``::error file=...,line=...,col=...::message``), then the summary."""
    lines = []
    for diagnostic in result.diagnostics:
        lines.append(annotation(diagnostic.severity, diagnostic.location, diagnostic.message))
    lines.append(summary(result))
    return "\n".join(lines) + "\n"


DIAGNOSTIC_REPORTERS: dict[str, Callable[[ValidationResult], str]] = {
    "text": render_text,
    "json": render_json,
    "github": render_github,
}
