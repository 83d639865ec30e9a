"""Conference files: loading, checking and building the typed model.

``load_specs`` checks any number of files and directories and never raises for
bad input: every problem becomes a :class:`Diagnostic`. ``load_spec`` loads one
file for commands that act on it and raises :class:`SpecError` when it is invalid.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import SpecError
from orchestrator.reading import is_special_file
from orchestrator.spec.check import check_file
from orchestrator.spec.model import ConferenceSpec, Diagnostic, Location
from orchestrator.spec.schema import schema, schema_text

YAML_SUFFIXES = (".yaml", ".yml")

__all__ = [
    "ValidationResult",
    "load_spec",
    "load_specs",
    "schema",
    "schema_text",
]


@dataclass(frozen=True)
class ValidationResult:
    files: tuple[str, ...]  # every file examined
    specs: tuple[ConferenceSpec, ...]  # files without errors, fully built models
    diagnostics: tuple[Diagnostic, ...]  # all files, sorted by file, line, col

    @property
    def ok(self) -> bool:
        """No error-severity diagnostics (warnings allowed)."""
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "warning")

    @property
    def invalid_files(self) -> tuple[str, ...]:
        """Files with at least one error, in the order examined."""
        bad = {d.location.file for d in self.errors}
        return tuple(f for f in self.files if f in bad)


def _yaml_files_below(directory: str) -> list[str]:
    found: list[str] = []
    for root, dirs, names in os.walk(directory):
        # Hidden folders hold other tools' YAML (.github/workflows, .pre-commit-config), not conferences.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.endswith(YAML_SUFFIXES) or name.startswith("."):
                continue
            path = os.path.join(root, name)
            # A FIFO, device or socket is no conference file (named on its own, it is refused).
            if not is_special_file(path):
                found.append(path)
    return sorted(found)


def _files_to_check(paths: Sequence[str | Path]) -> tuple[list[str], list[Diagnostic]]:
    files: list[str] = []
    problems: list[Diagnostic] = []
    seen: set[str] = set()

    def add(file: str) -> None:
        key = os.path.realpath(file)
        if key not in seen:
            seen.add(key)
            files.append(file)

    for raw in paths:
        shown = os.fspath(raw)
        if os.path.isdir(shown):
            below = _yaml_files_below(shown)
            if not below:
                files.append(shown)
                problems.append(
                    Diagnostic(
                        Location(shown, 1, 1),
                        "error",
                        "directory holds no *.yaml or *.yml files",
                    )
                )
            for file in below:
                add(file)
        else:
            add(shown)  # a missing file is reported when it is read
    return files, problems


def _sort_key(diagnostic: Diagnostic) -> tuple[str, int, int]:
    location = diagnostic.location
    return location.file, location.line, location.col


def load_specs(
    paths: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
    defer_dial_only: bool = False,
) -> ValidationResult:
    """Check files and directories (every *.yaml / *.yml below, sorted); never raises for bad input.

    ``env`` (default: ``os.environ``) fills ``${VAR}`` references; an unset variable
    without a default is a warning, or an error with ``strict_env``. With
    ``defer_dial_only`` too, one that only dial requests use (``spec.env.dial_only``) is
    left to whoever dials: the participants whose dial needs it name it
    (``Participant.unset``), and the file is valid.
    """
    environment = os.environ if env is None else env
    files, diagnostics = _files_to_check(paths)
    specs: list[ConferenceSpec] = []
    for file in files:
        if os.path.isdir(file):
            continue
        spec, found = check_file(file, environment, strict_env, defer_dial_only=defer_dial_only)
        diagnostics.extend(found)
        if spec is not None:
            specs.append(spec)
    unique = list(dict.fromkeys(diagnostics))
    return ValidationResult(
        files=tuple(files),
        specs=tuple(specs),
        diagnostics=tuple(sorted(unique, key=_sort_key)),
    )


def load_spec(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = True,
) -> ConferenceSpec:
    """Load one conference file; raises :class:`SpecError` (with every diagnostic) if invalid."""
    shown = os.fspath(path)
    if os.path.isdir(shown):
        location = Location(shown, 1, 1)
        diagnostic = Diagnostic(location, "error", "is a directory; name one conference file")
        raise SpecError(str(diagnostic), (diagnostic,))
    result = load_specs([shown], env=env, strict_env=strict_env)
    errors = result.errors
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise SpecError(f"{errors[0]}{more}", result.diagnostics)
    return result.specs[0]
