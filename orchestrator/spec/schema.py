"""The JSON Schema of a conference file, and its findings rewritten as one plain sentence each.

The schema is static JSON (``schemas/conference.schema.json``, shipped inside the
package as ``orchestrator/schemas/``), so editors and other tools can use it as is.
It avoids ``oneOf``/``anyOf`` (a value that may be text or a list has
``"type": ["string", "array"]``), so every failure is one direct finding.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from jsonschema import (  # type: ignore[import-untyped, unused-ignore]  # no stubs in the test extra
    Draft202012Validator,
    ValidationError,
)

from orchestrator.masking import shown_url
from orchestrator.spec.context import FileCheck, show
from orchestrator.spec.model import JsonPath
from orchestrator.spec.paths import format_path, is_secret_path
from orchestrator.texml import contract

SCHEMA_FILE: Final = "conference.schema.json"
_SOURCE_SCHEMA: Final = Path(__file__).resolve().parents[2] / "schemas" / SCHEMA_FILE

NAME_PATTERN: Final = contract.FRIENDLY_NAME_PATTERN.pattern
DESTINATION_PATTERN: Final = contract.DESTINATION_PATTERN.pattern
URL_PATTERN: Final = r"^https?://[^\s]+$"
CODEC_PATTERN: Final = "^[A-Za-z0-9._/-]+$"
HEADER_NAME_PATTERN: Final = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"

# What a value must look like, by the pattern it failed.
_PATTERN_RULES: Final = {
    NAME_PATTERN: "use only letters, digits, '.', '_' and '-' (at most 128)",
    DESTINATION_PATTERN: (
        "expected an E.164 number (+ and country code, digits only, such as +12065550100) "
        "or a sip: URI such as sip:user@example.com"
    ),
    URL_PATTERN: "expected an http:// or https:// URL",
    CODEC_PATTERN: "expected one codec name such as PCMU; list several as [PCMA, PCMU]",
    HEADER_NAME_PATTERN: "a header name may only hold letters, digits and !#$%&'*+.^_`|~-",
    contract.CALLER_ID_PATTERN.pattern: (
        "a caller ID may only hold letters, digits, spaces and -_~!.+ (at most 128)"
    ),
}

_TYPE_NAMES: Final = {
    "string": "text",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping of keys",
    "array": "a list",
    "null": "null",
}

# One finding per value: when several rules fail on it, the first of these wins.
_PRIORITY: Final = ("type", "const", "enum", "maxLength", "minLength", "pattern")


def _read_schema_text() -> str:
    packaged = resources.files("orchestrator").joinpath("schemas", SCHEMA_FILE)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return _SOURCE_SCHEMA.read_text(encoding="utf-8")


@functools.cache
def schema_text() -> str:
    """The JSON Schema of a conference file, as published."""
    return _read_schema_text()


@functools.cache
def _schema() -> dict[str, Any]:
    parsed = json.loads(schema_text())
    assert isinstance(parsed, dict)
    return parsed


def schema() -> dict[str, Any]:
    """The parsed JSON Schema (loaded once)."""
    return _schema()


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


def subschema_at(path: JsonPath) -> dict[str, Any] | None:
    """The part of the schema that describes the value at ``path``, if any."""
    node: Any = _schema()
    for part in path:
        if isinstance(part, int):
            node = node.get("items")
        else:
            properties = node.get("properties", {})
            node = properties[part] if part in properties else node.get("additionalProperties")
        if not isinstance(node, dict):
            return None
    return node if isinstance(node, dict) else None


def expected_types(path: JsonPath) -> frozenset[str]:
    """The JSON types the schema accepts at ``path`` (empty when it does not say)."""
    node = subschema_at(path)
    if node is None:
        return frozenset()
    declared = node.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    choices = node.get("enum", [node["const"]] if "const" in node else [])
    return frozenset(_json_type(choice) for choice in choices)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _found(check: FileCheck, path: JsonPath, value: Any) -> str:
    secret = is_secret_path(path)
    if value is None:
        return "nothing (an empty value)"
    if path in check.from_env and not secret:
        return check.shown(path, value)
    if isinstance(value, bool):
        return "a boolean" if secret else show(value)
    if isinstance(value, int | float):
        return "a number" if secret else f"the number {show(value)}"
    if isinstance(value, str):
        return "text" if secret else f"text {show(value)}"
    return show(value)


def suggestion(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_schema(check: FileCheck) -> None:
    """Add one diagnostic per schema rule the file breaks."""
    best: dict[JsonPath, tuple[int, ValidationError]] = {}
    for error in _validator().iter_errors(check.data):
        path: JsonPath = tuple(error.absolute_path)
        keyword = str(error.validator)
        if keyword in ("additionalProperties", "required"):
            _report_keys(check, error, path)
            continue
        if check.is_unresolved(path):
            continue
        if keyword == "uniqueItems" and check.has_unresolved_below(path):
            continue
        if "propertyNames" in error.absolute_schema_path:
            _report_key_name(check, error, path)
            continue
        rank = _PRIORITY.index(keyword) if keyword in _PRIORITY else len(_PRIORITY)
        kept = best.get(path)
        if kept is None or rank < kept[0]:
            best[path] = (rank, error)
    for path, (_, error) in best.items():
        check.flagged.add(path)
        _report_value(check, error, path)


def _report_keys(check: FileCheck, error: ValidationError, path: JsonPath) -> None:
    instance = error.instance
    if not isinstance(instance, dict):
        return
    where = f"{format_path(path)}: " if path else ""
    if error.validator == "required":
        for key in error.validator_value:
            if key not in instance:
                check.error(check.location(path), f"{where}missing required key {key!r}")
        return
    known = sorted(error.schema.get("properties", {}))
    for key in instance:
        if key in known:
            continue
        message = f"{where}unknown key {key!r}{suggestion(key, known)}"
        if not suggestion(key, known):
            message += _misplaced_hint(key, path)
        check.error(check.key_location((*path, key)), message)


def _misplaced_hint(key: str, path: JsonPath) -> str:
    in_settings = path == ("defaults",) or (len(path) == 2 and path[0] == "roles")
    if key in ("name", "to", "role") and in_settings:
        return f"; {key} belongs on each participant"
    conference_keys = _schema()["properties"]["conference"]["properties"]
    settings_keys = _schema()["properties"]["defaults"]["properties"]
    if path == ("conference",) and key in settings_keys:
        return "; it is a participant setting: put it under defaults to apply it to everyone"
    if path != ("conference",) and key in conference_keys and key not in settings_keys:
        return "; it belongs under conference"
    return ""


def _report_key_name(check: FileCheck, error: ValidationError, path: JsonPath) -> None:
    name = error.instance
    where = format_path(path)
    rule = _PATTERN_RULES.get(str(error.validator_value), "not allowed here")
    check.error(check.key_location((*path, name)), f"{where}: name {show(name)} is invalid: {rule}")


@dataclass(frozen=True)
class _Refused:
    """A value the schema refused, with what every message about it starts from."""

    check: FileCheck
    error: ValidationError
    path: JsonPath
    where: str  # the path as written, or "file"
    shown: str  # the value as a message may show it (a password never)

    @property
    def value(self) -> Any:
        return self.error.instance

    @property
    def expected(self) -> Any:
        return self.error.validator_value

    @property
    def from_env(self) -> bool:
        """Taken from the environment: its variable is named, its value never quoted."""
        return self.path in self.check.from_env


def _report_value(check: FileCheck, error: ValidationError, path: JsonPath) -> None:
    value = error.instance
    refused = _Refused(
        check,
        error,
        path,
        where=format_path(path) or "file",
        shown="the password" if is_secret_path(path) else check.shown(path, value),
    )
    if error.validator == "uniqueItems" and isinstance(value, list):
        # Pointed at the second of the two, where the repeat stands.
        index = _first_repeat(value)
        shown = check.shown((*path, index), value[index])
        check.error(check.location((*path, index)), f"{refused.where}: {shown} is listed twice")
        return
    message = _VALUE_MESSAGES.get(str(error.validator), _other_message)
    check.error(check.location(path), message(refused))


def _type_message(refused: _Refused) -> str:
    expected, path, value = refused.expected, refused.path, refused.value
    names = [expected] if isinstance(expected, str) else list(expected)
    wanted = " or ".join(_TYPE_NAMES.get(name, name) for name in names)
    message = f"{refused.where}: expected {wanted}, found {_found(refused.check, path, value)}"
    written = refused.check.document.plain_numbers.get(path)
    if "string" in names and written is not None and not is_secret_path(path):
        return message + f'; put it in quotes: "{written}"'
    if value is None:
        entry = "entry" if path and isinstance(path[-1], int) else "key"
        return message + f"; give a value or remove the {entry}"
    return message


def _const_message(refused: _Refused) -> str:
    if refused.path == ("version",):
        return (
            f"version: {refused.shown} is not supported; this orchestrator reads version: "
            f"{refused.expected}"
        )
    return f"{refused.where}: must be {show(refused.expected)}, found {refused.shown}"


def _enum_message(refused: _Refused) -> str:
    choices = [c if isinstance(c, str) else show(c) for c in refused.expected]
    unique = list(dict.fromkeys(choices))
    value = refused.value
    words = [c for c in refused.expected if isinstance(c, str)]
    hint = suggestion(value, words) if isinstance(value, str) else ""
    return f"{refused.where}: {refused.shown} is not one of {', '.join(unique)}{hint}"


def _pattern_message(refused: _Refused) -> str:
    value, where, expected = refused.value, refused.where, refused.expected
    rule = _PATTERN_RULES.get(str(expected), f"must match {expected}")
    if value == "":
        return f"{where}: is empty; {rule}"
    if isinstance(value, str) and refused.path[-1:] == ("caller_id",) and not refused.from_env:
        return f"{where}: {refused.shown} {_bad_characters(value)}; {rule}"
    if isinstance(value, str) and expected == URL_PATTERN and not refused.from_env:
        return f"{where}: {show(shown_url(value))}: {rule}"  # its secrets never shown
    return f"{where}: {refused.shown}: {rule}"


def _min_items_message(refused: _Refused) -> str:
    count = refused.expected
    return f"{refused.where}: list at least {count} item{'s' if count != 1 else ''}"


def _max_length_message(refused: _Refused) -> str:
    length = len(refused.value) if isinstance(refused.value, str) else 0
    return f"{refused.where}: {length} characters long; at most {refused.expected} allowed"


def _max_items_message(refused: _Refused) -> str:
    count = len(refused.value) if isinstance(refused.value, list) else 0
    return f"{refused.where}: {count} items; at most {refused.expected} allowed"


def _other_message(refused: _Refused) -> str:
    if is_secret_path(refused.path) or refused.from_env:
        return f"{refused.where}: {refused.shown} is not valid here"  # the library's text quotes it
    return f"{refused.where}: {refused.error.message}"


# The message for a value, by the schema keyword it failed (any other: _other_message).
_VALUE_MESSAGES: Final[dict[str, Callable[[_Refused], str]]] = {
    "type": _type_message,
    "const": _const_message,
    "enum": _enum_message,
    "minimum": lambda r: f"{r.where}: {r.shown} is less than the minimum of {r.expected}",
    "maximum": lambda r: f"{r.where}: {r.shown} is more than the maximum of {r.expected}",
    "minLength": lambda r: f"{r.where}: is empty; give a value or remove the key",
    "maxLength": _max_length_message,
    "pattern": _pattern_message,
    "minItems": _min_items_message,
    "maxItems": _max_items_message,
}


def _first_repeat(items: list[Any]) -> int:
    seen: set[str] = set()
    for index, item in enumerate(items):
        marker = json.dumps(item, sort_keys=True, default=str)
        if marker in seen:
            return index
        seen.add(marker)
    return 0


def _bad_characters(value: str) -> str:
    allowed = set(contract.CALLER_ID_PUNCTUATION)
    bad = sorted({ch for ch in value if not (ch.isascii() and (ch.isalnum() or ch in allowed))})
    if not bad:
        return "is not allowed"
    return "contains " + ", ".join(repr(ch) for ch in bad)
