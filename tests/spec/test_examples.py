"""The shipped examples validate cleanly and apply without any environment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.spec import load_spec, load_specs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_the_promised_examples_exist() -> None:
    assert {path.name for path in FILES} >= {
        "incident-bridge.yaml",
        "coaching-session.yaml",
        "board-meeting.yaml",
        "minimal.yaml",
    }


def test_examples_directory_validates_without_findings() -> None:
    result = load_specs([EXAMPLES], env={}, strict_env=True)
    assert result.diagnostics == ()
    assert len(result.specs) == len(FILES)
    names = [spec.conference.name for spec in result.specs]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_example_is_ready_for_the_sandbox(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schemas/conference.schema.json\n")
    assert "account_sid" not in text
    # Every reference has a default, so nothing needs to be set to run it.
    assert all(":-" in ref for ref in re.findall(r"\$\{[^}]*\}", text))
    spec = load_spec(path, env={})
    assert spec.conference.application_sid
    assert spec.conference.from_ is not None
    for participant in spec.participants:
        for destination in participant.to:
            assert re.fullmatch(r"\+1206555\d{4}", destination) or destination.startswith("sip:")


def test_incident_bridge_has_fallback_numbers_and_a_host() -> None:
    spec = load_spec(EXAMPLES / "incident-bridge.yaml", env={})
    assert any(len(p.to) > 1 for p in spec.participants)
    assert any(p.role == "host" for p in spec.participants)


def test_coaching_session_has_a_coach_a_listener_and_a_sip_leg() -> None:
    spec = load_spec(EXAMPLES / "coaching-session.yaml", env={})
    coach = next(p for p in spec.participants if p.role == "coach")
    assert coach.coach == "agent"
    assert coach.to[0].startswith("sip:")
    assert coach.settings.sip_auth is None  # no password in the environment: no credentials
    assert any(p.role == "listener" and p.settings.muted for p in spec.participants)
    with_password = load_spec(
        EXAMPLES / "coaching-session.yaml", env={"COACH_SIP_PASSWORD": "s3cret"}
    )
    auth = with_password.participant("coach").settings.sip_auth
    assert auth is not None and auth.password.reveal() == "s3cret"


def test_board_meeting_is_recorded_with_listeners() -> None:
    spec = load_spec(EXAMPLES / "board-meeting.yaml", env={})
    assert spec.conference.record == "record-from-start"
    assert spec.conference.recording is not None
    assert spec.conference.status_callback is not None
    assert sum(1 for p in spec.participants if p.settings.muted) >= 2
    assert any(p.role == "host" for p in spec.participants)


def test_minimal_has_two_people() -> None:
    spec = load_spec(EXAMPLES / "minimal.yaml", env={})
    assert len(spec.participants) == 2
