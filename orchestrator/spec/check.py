"""One file from bytes to model: read, expand variables, check the schema and the rules, build."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from orchestrator.spec.build import build_spec
from orchestrator.spec.context import FileCheck
from orchestrator.spec.env import dial_only, expand, is_reference_only
from orchestrator.spec.loader import LoadProblem, read_document
from orchestrator.spec.model import ConferenceSpec, Diagnostic, JsonPath, Location, Severity
from orchestrator.spec.paths import format_path, is_secret_path
from orchestrator.spec.rules import check_rules, merged_settings
from orchestrator.spec.schema import check_schema, expected_types

_INTEGER: Final = re.compile(r"[-+]?[0-9]+")
_NUMBER: Final = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_BOOLEANS: Final = {"true": True, "false": False}


def check_file(
    path: str, env: Mapping[str, str], strict_env: bool, *, defer_dial_only: bool = False
) -> tuple[ConferenceSpec | None, list[Diagnostic]]:
    """The model of the file at ``path`` (None when it has errors) and every finding.

    An unset variable is a warning, or with ``strict_env`` an error; with ``defer_dial_only``
    too, one that only dial requests use is neither, and the participants whose dial needs
    it carry it (``Participant.unset``).
    """
    try:
        document = read_document(path)
    except LoadProblem as problem:
        return None, [
            Diagnostic(Location(path, problem.line, problem.col), "error", problem.message)
        ]
    check = FileCheck(document)
    for found in document.problems:
        check.error(found.location, found.message)
    strictness = _Strictness(strict_env, defer_dial_only)
    _expand_variables(check, check.data, (), env, strictness)
    _convert_from_env(check)
    check_schema(check)
    merged = merged_settings(check.data)
    check_rules(check, merged)
    if check.has_errors:
        return None, check.diagnostics
    return build_spec(check, merged), check.diagnostics


@dataclass(frozen=True)
class _Strictness:
    strict: bool
    defer_dial_only: bool

    def severity(self, path: JsonPath) -> Severity | None:
        """What an unset variable in the value at ``path`` is; None: nothing to report."""
        if not self.strict:
            return "warning"
        return None if self.defer_dial_only and dial_only(path) else "error"


def _expand_variables(
    check: FileCheck, value: Any, path: JsonPath, env: Mapping[str, str], strict: _Strictness
) -> Any:
    """Expand ``${VAR}`` in every string value below ``value`` in place; returns the new value."""
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _expand_variables(check, item, (*path, key), env, strict)
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _expand_variables(check, item, (*path, index), env, strict)
        return value
    if not isinstance(value, str):
        return value
    where = format_path(path)
    if is_secret_path(path) and not is_reference_only(value):
        check.warning(
            check.location(path),
            f"{where}: the password is written in the file; write it as ${{VAR}} and set VAR "
            "in the environment",
        )
    expansion = expand(value, env)
    if expansion.error is not None:
        check.error(check.location(path), f"{where}: {expansion.error}")
        check.unresolved.add(path)
        return value
    severity = strict.severity(path) if expansion.unset else None
    for name in expansion.unset:
        message = f"environment variable {name} is not set (used in {where})"
        if severity == "error":
            check.error(
                check.location(path), f"{message}; set it or give a default: ${{{name}:-...}}"
            )
        elif severity == "warning":
            check.warning(check.location(path), message)
    if expansion.unset:
        check.unresolved.add(path)
        check.unset[path] = expansion.unset
    elif expansion.has_reference:
        check.from_env.add(path)
        check.written[path] = value
    return expansion.text


def _convert_from_env(check: FileCheck) -> None:
    """Give values taken from the environment the type the schema expects there.

    The environment only holds text, so ``timeout: ${RING_S:-30}`` would otherwise be
    the text "30" where an integer belongs. Text stays text wherever text is allowed.
    """
    for path in check.from_env:
        types = expected_types(path)
        if not types or "string" in types:
            continue
        parent: Any = check.data
        for part in path[:-1]:
            parent = parent[part]
        text = parent[path[-1]]
        converted = _convert(text.strip(), types)
        if converted is not _UNCHANGED:
            parent[path[-1]] = converted


_UNCHANGED: Final = object()


def _convert(text: str, types: frozenset[str]) -> Any:
    if "integer" in types and _INTEGER.fullmatch(text):
        return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        number = float(text)
        return int(number) if number.is_integer() and _INTEGER.fullmatch(text) else number
    if "boolean" in types and text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if "null" in types and not text:
        return None
    return _UNCHANGED
