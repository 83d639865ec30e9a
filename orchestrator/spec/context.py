"""What every check of one file shares: the values, where they stand, and the findings so far."""

from __future__ import annotations

from typing import Any

from orchestrator.spec.loader import Document
from orchestrator.spec.model import Diagnostic, JsonPath, Location, Severity


class FileCheck:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.path = document.path
        self.data: dict[str, Any] = document.value
        # Values still holding a reference to an unset variable: their checks are skipped.
        self.unresolved: set[JsonPath] = set()
        # Values that came (partly) from the environment.
        self.from_env: set[JsonPath] = set()
        self.diagnostics: list[Diagnostic] = []

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

    def is_unresolved(self, path: JsonPath) -> bool:
        if not self.unresolved:
            return False
        return any(path[:length] in self.unresolved for length in range(len(path) + 1))

    def has_unresolved_below(self, path: JsonPath) -> bool:
        return any(candidate[: len(path)] == path for candidate in self.unresolved)

    @property
    def has_errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)
