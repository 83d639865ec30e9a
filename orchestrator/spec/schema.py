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


def _report_value(check: FileCheck, error: ValidationError, path: JsonPath) -> None:
    keyword = error.validator
    value = error.instance
    secret = is_secret_path(path)
    where = format_path(path) or "file"
    location = check.location(path)
    expected_value = error.validator_value
    from_env = path in check.from_env
    shown = "the password" if secret else check.shown(path, value)

    if keyword == "type":
        names = [expected_value] if isinstance(expected_value, str) else list(expected_value)
        expected = " or ".join(_TYPE_NAMES.get(name, name) for name in names)
        message = f"{where}: expected {expected}, found {_found(check, path, value)}"
        written = check.document.plain_numbers.get(path)
        if "string" in names and written is not None and not secret:
            message += f'; put it in quotes: "{written}"'
        elif value is None:
            message += "; give a value or remove the " + (
                "entry" if path and isinstance(path[-1], int) else "key"
            )
    elif keyword == "const":
        if path == ("version",):
            message = (
                f"version: {shown} is not supported; this orchestrator reads version: "
                f"{expected_value}"
            )
        else:
            message = f"{where}: must be {show(expected_value)}, found {shown}"
    elif keyword == "enum":
        choices = [
            show(choice) if not isinstance(choice, str) else choice for choice in expected_value
        ]
        unique = list(dict.fromkeys(choices))
        hint = (
            suggestion(value, [c for c in expected_value if isinstance(c, str)])
            if isinstance(value, str)
            else ""
        )
        message = f"{where}: {shown} is not one of {', '.join(unique)}{hint}"
    elif keyword == "minimum":
        message = f"{where}: {shown} is less than the minimum of {expected_value}"
    elif keyword == "maximum":
        message = f"{where}: {shown} is more than the maximum of {expected_value}"
    elif keyword == "minLength":
        message = f"{where}: is empty; give a value or remove the key"
    elif keyword == "maxLength":
        length = len(value) if isinstance(value, str) else 0
        message = f"{where}: {length} characters long; at most {expected_value} allowed"
    elif keyword == "pattern":
        rule = _PATTERN_RULES.get(str(expected_value), f"must match {expected_value}")
        if value == "":
            message = f"{where}: is empty; {rule}"
        elif path and path[-1] == "caller_id" and isinstance(value, str) and not from_env:
            message = f"{where}: {shown} {_bad_characters(value)}; {rule}"
        elif expected_value == URL_PATTERN and isinstance(value, str) and not from_env:
            message = f"{where}: {show(shown_url(value))}: {rule}"  # its secrets never shown
        else:
            message = f"{where}: {shown}: {rule}"
    elif keyword == "minItems":
        message = (
            f"{where}: list at least {expected_value} item{'s' if expected_value != 1 else ''}"
        )
    elif keyword == "maxItems":
        count = len(value) if isinstance(value, list) else 0
        message = f"{where}: {count} items; at most {expected_value} allowed"
    elif keyword == "uniqueItems" and isinstance(value, list):
        index = _first_repeat(value)
        location = check.location((*path, index))
        message = f"{where}: {check.shown((*path, index), value[index])} is listed twice"
    elif secret or from_env:
        message = f"{where}: {shown} is not valid here"  # the library's text would quote it
    else:
        message = f"{where}: {error.message}"
    check.error(location, message)


def _first_repeat(items: list[Any]) -> int:
    seen: set[str] = set()
    for index, item in enumerate(items):
        marker = json.dumps(item, sort_keys=True, default=str)
        if marker in seen:
            return index
        seen.add(marker)
    return 0


def _bad_characters(value: str) -> str:
    allowed = set("-_~!.+ ")
    bad = sorted({ch for ch in value if not (ch.isascii() and (ch.isalnum() or ch in allowed))})
    if not bad:
        return "is not allowed"
    return "contains " + ", ".join(repr(ch) for ch in bad)
