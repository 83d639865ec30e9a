"""Each rule beyond the schema, broken by a small file, at the exact line and column."""

from __future__ import annotations

from pathlib import Path

from tests.spec.support import findings

HEAD = """\
version: 1
conference:
  name: test-bridge
  from: "+12065550200"
participants:
"""  # participants start on line 6


def test_participant_names_are_unique(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: alice, to: '+12065550101'}\n"
        "  - {name: bob, to: '+12065550102'}\n"
        "  - {name: alice, to: '+12065550103'}\n"
    )
    assert findings(tmp_path, text) == [
        "8:12: error: participants[2].name: 'alice' is already the name of participants[0] "
        "(line 6); names must be unique"
    ]


def test_role_must_exist(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: alice, to: '+12065550101', role: hots}\n"
        "  - {name: bob, to: '+12065550102', role: responder}\n"
        "roles:\n"
        "  responder: {beep: false}\n"
    )
    assert findings(tmp_path, text) == [
        "6:45: error: participants[0].role: unknown role 'hots' (did you mean 'host'?); "
        "roles are coach, host, listener, participant, responder"
    ]


def test_coach_must_name_another_participant(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: agent, to: '+12065550101'}\n"
        "  - {name: mentor, to: '+12065550102', coach: agnet}\n"
    )
    assert findings(tmp_path, text) == [
        "7:47: error: participants[1].coach: no participant is named 'agnet' "
        "(did you mean 'agent'?)"
    ]


def test_coach_cannot_coach_itself(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: agent, to: '+12065550101'}\n"
        "  - {name: mentor, to: '+12065550102', coach: mentor}\n"
    )
    assert findings(tmp_path, text) == [
        "7:47: error: participants[1].coach: 'mentor' cannot coach itself"
    ]


def test_coach_cannot_coach_a_coach(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: agent, to: '+12065550101'}\n"
        "  - {name: mentor, to: '+12065550102', coach: agent}\n"
        "  - {name: head, to: '+12065550103', coach: mentor}\n"
    )
    assert findings(tmp_path, text) == [
        "8:45: error: participants[2].coach: 'mentor' is itself a coach (of 'agent'); "
        "a coach can only coach a participant who is not coaching"
    ]


def test_role_coach_needs_someone_to_coach(tmp_path: Path) -> None:
    text = HEAD + (
        "  - name: agent\n"
        "    to: '+12065550101'\n"
        "  - name: mentor\n"
        "    to: '+12065550102'\n"
        "    role: coach\n"
    )
    assert findings(tmp_path, text) == [
        "10:11: error: participants[1]: role coach needs coach: naming the participant to coach"
    ]


def test_any_role_may_coach_and_the_coach_can_come_from_a_role(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: agent, to: '+12065550101'}\n"
        "  - {name: mentor, to: '+12065550102', role: trainer}\n"
        "  - {name: lead, to: '+12065550103', role: host, coach: agent}\n"
        "roles:\n"
        "  trainer: {coach: agnt}\n"
    )
    # The finding points at the line that names the target: the role's.
    assert findings(tmp_path, text) == [
        "10:20: error: participants[1].coach: no participant is named 'agnt' "
        "(did you mean 'agent'?)"
    ]


def test_participant_count_within_max_participants(tmp_path: Path) -> None:
    text = HEAD.replace(
        '  from: "+12065550200"\n', '  from: "+12065550200"\n  max_participants: 2\n'
    )
    text += "".join(f"  - {{name: p{i}, to: '+1206555010{i}'}}\n" for i in range(3))
    assert findings(tmp_path, text) == [
        "5:21: error: participants: 3 participants but the conference admits at most 2 "
        "(conference.max_participants)"
    ]


def test_participant_count_within_the_api_default(tmp_path: Path) -> None:
    text = HEAD + "".join(f"  - {{name: p{i}, to: '+1206{i:07d}'}}\n" for i in range(251))
    assert findings(tmp_path, text) == [
        "5:1: error: participants: 251 participants but the conference admits at most 250 "
        "unless conference.max_participants says more"
    ]


def test_literal_sip_password_is_a_warning(tmp_path: Path) -> None:
    text = HEAD + (
        "  - name: alice\n"
        "    to: sip:alice@example.sip.telnyx.com\n"
        "    sip_auth: {username: alice, password: hunter2}\n"
        "  - name: bob\n"
        "    to: sip:bob@example.sip.telnyx.com\n"
        "    sip_auth: {username: bob, password: '${BOB_SIP_PASSWORD}'}\n"
        "  - name: carol\n"
        "    to: sip:carol@example.sip.telnyx.com\n"
        "    sip_auth: {username: carol, password: '${CAROL_SIP_PASSWORD:-fallback}'}\n"
    )
    result = findings(tmp_path, text, env={"BOB_SIP_PASSWORD": "b", "CAROL_SIP_PASSWORD": "c"})
    advice = (
        "the password is written in the file; write it as ${VAR} and set VAR in the environment"
    )
    assert result == [
        f"8:43: warning: participants[0].sip_auth.password: {advice}",
        f"14:43: warning: participants[2].sip_auth.password: {advice}",
    ]


def test_caller_id_characters_and_length(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: alice, to: '+12065550101', caller_id: 'Ünïcode'}\n"
        f"  - {{name: bob, to: '+12065550102', caller_id: '{'x' * 129}'}}\n"
        "  - {name: carol, to: '+12065550103', caller_id: 'Help Desk -_~!.+ 24'}\n"
    )
    assert findings(tmp_path, text) == [
        "6:50: error: participants[0].caller_id: 'Ünïcode' contains 'Ï', 'Ü'; a caller ID may "
        "only hold letters, digits, spaces and -_~!.+ (at most 128)".replace(
            "'Ï', 'Ü'", "'Ü', 'ï'"
        ),
        "7:48: error: participants[1].caller_id: 129 characters long; at most 128 allowed",
    ]


def test_every_participant_needs_a_from(tmp_path: Path) -> None:
    text = """\
version: 1
conference: {name: test-bridge}
roles:
  caller: {from: '+12065550200'}
participants:
  - {name: alice, to: '+12065550101', role: caller}
  - {name: bob, to: '+12065550102', from: '+12065550201'}
  - name: carol
    to: '+12065550103'
"""
    assert findings(tmp_path, text) == [
        "8:5: error: participants[2]: no from number to call from; set conference.from "
        "(or from in defaults, the role or the participant)"
    ]


def test_from_in_defaults_is_enough(tmp_path: Path) -> None:
    text = """\
version: 1
conference: {name: test-bridge}
defaults: {from: '+12065550200'}
participants:
  - {name: alice, to: '+12065550101'}
"""
    assert findings(tmp_path, text) == []


def test_numbers_are_unique_across_participants(tmp_path: Path) -> None:
    text = HEAD + (
        "  - {name: alice, to: ['+12065550101', '+12065550199']}\n"
        "  - {name: bob, to: '+12065550102'}\n"
        "  - {name: carol, to: ['+12065550103', '+12065550199']}\n"
        "  - {name: dave, to: SIP:Dave@example.com}\n"
        "  - {name: erin, to: sip:dave@example.com}\n"
    )
    assert findings(tmp_path, text) == [
        "8:40: error: participants[2].to[1]: +12065550199 is also dialled for 'alice' "
        "(participants[0]); set conference.allow_duplicate_numbers: true if that is intended",
        "10:22: error: participants[4].to: sip:dave@example.com is also dialled for 'dave' "
        "(participants[3]); set conference.allow_duplicate_numbers: true if that is intended",
    ]


def test_duplicate_numbers_allowed_when_asked(tmp_path: Path) -> None:
    text = HEAD.replace("conference:\n", "conference:\n  allow_duplicate_numbers: true\n") + (
        "  - {name: alice, to: '+12065550101'}\n  - {name: bob, to: '+12065550101'}\n"
    )
    assert findings(tmp_path, text) == []


def test_nested_settings_are_complete_once_merged(tmp_path: Path) -> None:
    text = """\
version: 1
conference: {name: test-bridge, from: '+12065550200'}
defaults:
  status_callback: {events: [answered]}
  machine_detection: {timeout_ms: 5000}
roles:
  monitored: {status_callback: {url: https://example.com/calls}}
participants:
  - {name: alice, to: '+12065550101', role: monitored, machine_detection: {mode: Enable}}
  - {name: bob, to: '+12065550102', sip_auth: {username: bob}}
  - {name: carol, to: '+12065550103', role: monitored}
"""
    assert findings(tmp_path, text) == [
        "4:20: error: defaults.status_callback: missing required key 'url' (needed by 'bob'; set "
        "it here or where they override it)",
        "5:22: error: defaults.machine_detection: missing required key 'mode' (needed by 'bob', "
        "'carol'; set it here or where they override it)",
        "10:47: error: participants[1].sip_auth: missing required key 'password'",
    ]


def test_schema_and_rule_findings_do_not_repeat_each_other(tmp_path: Path) -> None:
    # A bad role name is one finding (its pattern), not also "unknown role".
    text = HEAD + "  - {name: alice, to: '+12065550101', role: 'no such role'}\n"
    assert findings(tmp_path, text) == [
        "6:45: error: participants[0].role: 'no such role': use only letters, digits, '.', '_' "
        "and '-' (at most 128)"
    ]


def test_a_callback_url_must_read_as_written(tmp_path: Path) -> None:
    # The HTTP client would take part of this password for the host: the callbacks would go
    # elsewhere. The password itself is never shown.
    text = HEAD + (
        "  - name: alice\n"
        "    to: '+12065550101'\n"
        "    status_callback: {url: 'https://ci:s3[cr]t@hooks.example.com/calls'}\n"
    )
    [finding] = findings(tmp_path, text)
    assert finding.startswith("8:28: error: participants[0].status_callback.url: https://***: ")
    assert "s3" not in finding and "does not read as written" in finding


def test_a_wait_url_must_read_as_written_too(tmp_path: Path) -> None:
    text = HEAD + (
        "  - name: alice\n"
        "    to: '+12065550101'\n"
        "    wait_url: 'https://ci:s3#cr@hooks.example.com/hold.xml'\n"
    )
    [finding] = findings(tmp_path, text)
    assert finding.startswith("8:15: error: participants[0].wait_url: https://***: ")
    assert "s3" not in finding
