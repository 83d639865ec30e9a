"""What every check of one file shares: the values, where they stand, and the findings so far."""

from __future__ import annotations

from typing import Any

from orchestrator.spec.loader import Document
from orchestrator.spec.model import Diagnostic, JsonPath, Location, Severity


def show(value: Any) -> str:
    """A value as written in YAML, shortened to stay on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


class FileCheck:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.path = document.path
        self.data: dict[str, Any] = document.value
        # Values still holding a reference to an unset variable: their checks are skipped.
        self.unresolved: set[JsonPath] = set()
        # The unset variables each of those values names, in order of use.
        self.unset: dict[JsonPath, tuple[str, ...]] = {}
        # Values that came (partly) from the environment, and how they were written.
        self.from_env: set[JsonPath] = set()
        self.written: dict[JsonPath, str] = {}
        self.diagnostics: list[Diagnostic] = []
        # Values the schema already found wrong: the rules stay quiet about them.
        self.flagged: set[JsonPath] = set()

    def location(self, path: JsonPath) -> Location:
        """Where the value at ``path`` stands, or the closest enclosing value that does."""
        locations = self.document.locations
        while path:
            found = locations.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return locations.get((), Location(self.path, 1, 1))

    def key_location(self, path: JsonPath) -> Location:
        found = self.document.key_locations.get(path)
        return found if found is not None else self.location(path)

    def add(self, severity: Severity, location: Location, message: str) -> None:
        self.diagnostics.append(Diagnostic(location, severity, message))

    def error(self, location: Location, message: str) -> None:
        self.add("error", location, message)

    def warning(self, location: Location, message: str) -> None:
        self.add("warning", location, message)

    def shown(self, path: JsonPath, value: Any) -> str:
        """``value`` for a message; one taken from the environment is named, never shown,
        since the variable may hold a secret."""
        if path in self.from_env:
            return f"the value of {show(self.written[path])}"
        return show(value)

    def is_unresolved(self, path: JsonPath) -> bool:
        if not self.unresolved:
            return False
        return any(path[:length] in self.unresolved for length in range(len(path) + 1))

    def has_unresolved_below(self, path: JsonPath) -> bool:
        return any(candidate[: len(path)] == path for candidate in self.unresolved)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)
