"""The published JSON Schema: valid, documented, closed, and in step with the API contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from orchestrator.spec import schema, schema_text
from orchestrator.spec.schema import _PATTERN_RULES
from orchestrator.texml import contract

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "conference.schema.json"


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, str(index)))


def at(*path: str) -> dict[str, Any]:
    node: Any = schema()
    for part in path:
        node = node[part]
    assert isinstance(node, dict)
    return node


def settings(name: str) -> dict[str, Any]:
    return at("properties", "defaults", "properties", name)


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema()["$id"] == "https://orchestrator.dev/schemas/conference.schema.json"


def test_schema_text_is_the_published_file() -> None:
    assert schema_text() == SCHEMA_PATH.read_text(encoding="utf-8")
    assert schema() == json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema() is schema()


def test_every_property_has_a_description() -> None:
    for path, node in walk(schema()):
        for name, child in (
            node.get("properties", {}).items() if path[-1:] != ("properties",) else []
        ):
            assert child.get("description"), "/".join((*path, "properties", name))


def test_every_object_with_properties_is_closed() -> None:
    for path, node in walk(schema()):
        if "properties" in node and path[-1:] != ("properties",):
            assert node.get("additionalProperties") is False, "/".join(path)


def test_participants_accept_every_setting_that_defaults_and_roles_do() -> None:
    participant = at("properties", "participants", "items", "properties")
    defaults = at("properties", "defaults", "properties")
    role = at("properties", "roles", "additionalProperties", "properties")
    assert set(participant) == set(defaults) | {"name", "to", "role"}
    assert defaults == role
    for key, value in defaults.items():
        assert participant[key] == value


def test_enums_and_ranges_match_the_api_contract() -> None:
    assert (settings("timeout")["minimum"], settings("timeout")["maximum"]) == (
        contract.TIMEOUT_RANGE
    )
    conference = at("properties", "conference", "properties")
    limit = conference["max_participants"]
    assert (limit["minimum"], limit["maximum"]) == contract.MAX_PARTICIPANTS_RANGE
    assert at("properties", "participants")["maxItems"] == contract.MAX_PARTICIPANTS_RANGE[1]
    assert settings("caller_id")["pattern"] == contract.CALLER_ID_PATTERN.pattern
    assert settings("caller_id")["maxLength"] == contract.CALLER_ID_MAX_LENGTH
    assert settings("beep")["enum"] == [*contract.BEEP_VALUES, True, False]
    assert conference["record"]["enum"] == [*contract.CONFERENCE_RECORD_VALUES, True, False]

    recording = settings("recording")["properties"]
    assert recording["channels"]["enum"] == list(contract.RECORDING_CHANNELS)
    assert recording["track"]["enum"] == list(contract.RECORDING_TRACKS)
    assert recording["trim"]["enum"] == list(contract.TRIM_VALUES)
    assert conference["recording"]["properties"]["trim"]["enum"] == list(contract.TRIM_VALUES)
    detection = settings("machine_detection")["properties"]
    assert detection["mode"]["enum"] == list(contract.MACHINE_DETECTION_MODES)
    # The documented ranges, in every copy of each setting (defaults, roles, participants).
    ranges = {
        "timeout": contract.TIMEOUT_RANGE,
        "time_limit": contract.TIME_LIMIT_RANGE,
        "timeout_ms": contract.MACHINE_DETECTION_TIMEOUT_RANGE,
    }
    seen: set[str] = set()
    for path, node in walk(schema()):
        key = path[-1] if path else ""
        if key in ranges and node.get("type") == "integer" and "recording" not in path:
            assert (node["minimum"], node["maximum"]) == ranges[key], path
            seen.add(key)
    assert seen == set(ranges)

    events = {
        ("defaults", "status_callback"): contract.CALL_STATUS_EVENTS,
        ("defaults", "recording", "status_callback"): contract.RECORDING_STATUS_EVENTS,
        ("conference", "status_callback"): contract.CONFERENCE_STATUS_EVENTS,
        ("conference", "recording", "status_callback"): contract.CONFERENCE_RECORDING_STATUS_EVENTS,
    }
    for path, allowed in events.items():
        node = at("properties", path[0])
        for part in path[1:]:
            node = node["properties"][part]
        assert node["properties"]["events"]["items"]["enum"] == list(allowed), path
    for path, node in walk(schema()):
        if path[-1:] == ("method",):
            assert node["enum"] == list(contract.HTTP_METHODS), path


def test_every_pattern_has_a_plain_words_message() -> None:
    patterns = {
        node["pattern"] for _, node in walk(schema()) if isinstance(node.get("pattern"), str)
    }
    assert patterns <= set(_PATTERN_RULES)


def test_no_branching_keywords() -> None:
    # oneOf/anyOf would turn one mistake into several findings.
    for path, node in walk(schema()):
        assert not {"oneOf", "anyOf", "allOf", "not"} & set(node), "/".join(path)
