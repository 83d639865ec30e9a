"""``${VAR}`` references: expansion, unset variables, and secrets that never show."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.errors import SpecError
from orchestrator.report.diagnostics import DIAGNOSTIC_REPORTERS
from orchestrator.spec import load_spec, load_specs
from orchestrator.spec.env import dial_only, expand, is_reference_only
from tests.spec.support import VALID, check, findings, write


@pytest.mark.parametrize(
    ("text", "env", "expanded", "unset"),
    [
        ("plain", {}, "plain", ()),
        ("${A}", {"A": "1"}, "1", ()),
        ("x-${A}-y", {"A": "1"}, "x-1-y", ()),
        ("${A:-dflt}", {}, "dflt", ()),
        ("${A:-dflt}", {"A": ""}, "dflt", ()),
        ("${A:-}", {}, "", ()),
        ("${A}", {"A": ""}, "", ()),
        ("${A}${B}", {}, "${A}${B}", ("A", "B")),
        ("$${A}", {"A": "1"}, "${A}", ()),
        ("$$${A}", {"A": "1"}, "$${A}", ()),
        ("cost: $5", {}, "cost: $5", ()),
        ("${A:-a:-b}", {}, "a:-b", ()),
    ],
)
def test_expand(text: str, env: dict[str, str], expanded: str, unset: tuple[str, ...]) -> None:
    result = expand(text, env)
    assert (result.text, result.unset, result.error) == (expanded, unset, None)


@pytest.mark.parametrize("text", ["${", "a ${B", "${1X}", "${A-b}", "${}"])
def test_malformed_reference(text: str) -> None:
    assert expand(text, {"A": "1"}).error is not None


def test_reference_only() -> None:
    assert is_reference_only("${PW}")
    assert is_reference_only("${PW:-}")
    assert not is_reference_only("${PW:-secret}")
    assert not is_reference_only("x${PW}")


FILE = """\
version: 1
account_sid: ${TELNYX_ACCOUNT_SID}
conference:
  name: ${CONF_NAME:-test-bridge}
  from: "${FROM_NUMBER}"
  max_participants: ${MAX:-10}
participants:
  - name: alice
    to: ${ALICE_NUMBER}
    timeout: ${RING_S}
    muted: ${MUTED:-false}
    wait_url: https://example.com/$${literal}
"""


def test_unset_variables_are_warnings_and_skip_checks(tmp_path: Path) -> None:
    def used_in(name: str, where: str, line: int, col: int) -> str:
        return f"{line}:{col}: warning: environment variable {name} is not set (used in {where})"

    assert findings(tmp_path, FILE) == [
        used_in("TELNYX_ACCOUNT_SID", "account_sid", 2, 14),
        used_in("FROM_NUMBER", "conference.from", 5, 9),
        used_in("ALICE_NUMBER", "participants[0].to", 9, 9),
        used_in("RING_S", "participants[0].timeout", 10, 14),
    ]
    result = check(tmp_path, FILE)
    assert result.ok
    spec = result.specs[0]
    assert spec.account_sid is None
    assert spec.conference.name == "test-bridge"
    assert spec.conference.max_participants == 10
    alice = spec.participants[0]
    assert alice.settings.timeout is None
    assert alice.settings.muted is False
    assert alice.settings.wait_url == "https://example.com/${literal}"


def test_strict_env_makes_unset_variables_errors(tmp_path: Path) -> None:
    result = findings(tmp_path, FILE, env={"FROM_NUMBER": "+12065550200"}, strict_env=True)
    assert result == [
        "2:14: error: environment variable TELNYX_ACCOUNT_SID is not set (used in account_sid); "
        "set it or give a default: ${TELNYX_ACCOUNT_SID:-...}",
        "9:9: error: environment variable ALICE_NUMBER is not set (used in participants[0].to); "
        "set it or give a default: ${ALICE_NUMBER:-...}",
        "10:14: error: environment variable RING_S is not set (used in participants[0].timeout); "
        "set it or give a default: ${RING_S:-...}",
    ]


def test_values_from_the_environment_are_typed_and_checked(tmp_path: Path) -> None:
    env = {
        "TELNYX_ACCOUNT_SID": "acct-1",
        "FROM_NUMBER": "+12065550200",
        "ALICE_NUMBER": "+12065550101",
        "RING_S": "45",
        "MUTED": "true",
        "MAX": "12",
    }
    spec = load_spec(write(tmp_path, FILE), env=env)
    assert spec.account_sid == "acct-1"
    assert spec.conference.from_ == "+12065550200"
    assert spec.conference.max_participants == 12
    alice = spec.participants[0]
    assert (alice.to, alice.settings.timeout, alice.settings.muted) == (
        ("+12065550101",),
        45,
        True,
    )
    # A value from the environment is checked like any other, and named rather than shown:
    # the variable may hold a secret.
    bad = dict(env, RING_S="2", ALICE_NUMBER="555-0101")
    assert findings(tmp_path, FILE, env=bad) == [
        "9:9: error: participants[0].to: the value of '${ALICE_NUMBER}': expected an E.164 "
        "number (+ and country code, digits only, such as +12065550100) or a sip: URI such as "
        "sip:user@example.com",
        "10:14: error: participants[0].timeout: the value of '${RING_S}' is less than the "
        "minimum of 5",
    ]


def test_text_fields_keep_digits_from_the_environment_as_text(tmp_path: Path) -> None:
    text = """\
version: 1
conference: {name: c, application_sid: "${APP}", from: "+12065550200"}
participants:
  - {name: alice, to: "+12065550101", caller_id: "${CALLER}"}
"""
    spec = load_spec(write(tmp_path, text), env={"APP": "1846572522338780702", "CALLER": "123"})
    assert spec.conference.application_sid == "1846572522338780702"
    assert spec.participants[0].settings.caller_id == "123"


def test_malformed_reference_is_an_error(tmp_path: Path) -> None:
    text = """\
version: 1
conference: {name: c, from: "+12065550200"}
participants:
  - {name: alice, to: "+12065550101", wait_url: "https://example.com/${oops"}
"""
    assert findings(tmp_path, text) == [
        "4:49: error: participants[0].wait_url: '${' without a closing '}'; write ${NAME} or "
        "$${ for a literal ${"
    ]


SECRET_FILE = """\
version: 1
conference: {name: c, from: "+12065550200"}
participants:
  - name: alice
    to: sip:alice@example.sip.telnyx.com
    sip_auth: {username: alice, password: "${ALICE_PW}"}
  - name: bob
    to: sip:bob@example.sip.telnyx.com
    sip_auth: {username: bob, password: "written-in-the-file"}
    timeout: 2
  - name: carol
    to: sip:carol@example.sip.telnyx.com
    sip_auth: {username: carol, password: 12345678}
"""


def test_passwords_never_appear_in_any_output(tmp_path: Path) -> None:
    env = {"ALICE_PW": "from-the-environment"}
    result = check(tmp_path, SECRET_FILE, env=env)
    assert not result.ok
    outputs = [render(result) for render in DIAGNOSTIC_REPORTERS.values()]
    with pytest.raises(SpecError) as raised:
        load_spec(write(tmp_path, SECRET_FILE), env=env)
    outputs.append(str(raised.value))
    outputs.extend(str(d) for d in raised.value.diagnostics)
    for output in outputs:
        for secret in ("from-the-environment", "written-in-the-file", "12345678"):
            assert secret not in output
    assert json.loads(outputs[1])["summary"]["warnings"] == 1


def test_password_becomes_a_secret_in_the_model(tmp_path: Path) -> None:
    text = SECRET_FILE.split("  - name: bob")[0]
    spec = load_spec(write(tmp_path, text), env={"ALICE_PW": "from-the-environment"})
    auth = spec.participants[0].settings.sip_auth
    assert auth is not None
    assert auth.password.reveal() == "from-the-environment"
    assert "from-the-environment" not in repr(spec)
    assert str(auth.password) == "***"


def test_empty_password_means_no_sip_credentials(tmp_path: Path) -> None:
    text = SECRET_FILE.split("  - name: bob")[0].replace("${ALICE_PW}", "${ALICE_PW:-}")
    assert findings(tmp_path, text, strict_env=True) == []
    spec = load_spec(write(tmp_path, text), env={})
    assert spec.participants[0].settings.sip_auth is None


DIALED = """\
version: 1
conference:
  name: test-bridge
  application_sid: "1846572522338780702"
  from: "+12065550200"
defaults:
  custom_headers: {X-Ticket: "${TICKET}", X-Team: ops}
roles:
  desk:
    sip_auth: {username: desk, password: "${DESK_PW}"}
participants:
  - name: alice
    to: "+12065550101"
    custom_headers: {X-Ticket: "4711"}
  - name: bob
    to: "+12065550102"
    custom_headers: {X-Team: dev}
  - name: carol
    to: sip:carol@example.sip.telnyx.com
    role: desk
"""


def test_a_variable_only_dials_use_is_carried_by_each_participant_whose_dial_needs_it(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, DIALED)
    result = load_specs([path], env={}, strict_env=True, defer_dial_only=True)
    assert result.diagnostics == ()
    alice, bob, carol = result.specs[0].participants
    assert alice.unset == ()  # her own X-Ticket replaces the default's
    assert [(u.name, u.where, u.setting, u.location.line) for u in bob.unset] == [
        ("TICKET", "defaults.custom_headers.X-Ticket", "custom_headers", 7),
    ]
    assert [(u.name, u.where, u.location.line, u.location.col) for u in carol.unset] == [
        ("TICKET", "defaults.custom_headers.X-Ticket", 7, 30),
        ("DESK_PW", "roles.desk.sip_auth.password", 10, 42),
    ]
    # Without deferring, each use is an error, as before.
    strict = load_specs([path], env={}, strict_env=True)
    assert [(d.severity, d.location.line) for d in strict.diagnostics] == [
        ("error", 7),
        ("error", 10),
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("account_sid", "${ACCOUNT}"),
        ("conference.name", "${BRIDGE}"),
        ("conference.sid", "${BRIDGE_SID}"),
        ("participants[1].name", "${NAME}"),
        ("participants[0].to", "${NUMBER}"),
        ("participants[0].role", "${ROLE}"),
        ("participants[1].coach", "${COACHED}"),
        ("participants[0].muted", "${MUTED}"),
        ("participants[0].hold", "${HOLD}"),
        ("defaults.end_conference_on_exit", "${ENDS}"),
    ],
)
def test_a_variable_that_says_which_call_or_what_it_should_be_is_always_needed(
    tmp_path: Path, key: str, value: str
) -> None:
    document: dict[str, Any] = yaml.safe_load(VALID)
    document["participants"][1]["role"] = "coach"
    document["participants"][1]["coach"] = "alice"
    *parents, last = [int(p) if p.isdigit() else p for p in re.split(r"[.\[\]]+", key) if p]
    target = document
    for part in parents:
        target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
    target[last] = value
    path = tmp_path / "conf.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = load_specs([path], env={}, strict_env=True, defer_dial_only=True)
    [error] = result.errors
    assert error.message.startswith(f"environment variable {value[2:-1]} is not set"), error


@pytest.mark.parametrize(
    ("path", "dial_only_value"),
    [
        (("participants", 0, "sip_auth", "password"), True),
        (("roles", "desk", "custom_headers", "X-Ticket"), True),
        (("defaults", "status_callback", "url"), True),
        (("conference", "status_callback", "url"), True),
        (("conference", "application_sid"), True),
        (("participants", 0, "from"), True),
        (("participants", 0, "to", 1), False),
        (("participants", 0, "name"), False),
        (("participants", 0, "muted"), False),
        (("conference", "name"), False),
        (("conference", "sid"), False),
        (("account_sid",), False),
    ],
)
def test_dial_only(path: tuple[str | int, ...], dial_only_value: bool) -> None:
    assert dial_only(path) is dial_only_value
