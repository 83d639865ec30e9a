"""Each schema rule, broken by a small file, reported once at the exact line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spec.support import findings

# Lines 1-7; a case adds lines from line 8 on, inside alice's mapping (indent 4)
# or as a new participant (indent 2).
PARTICIPANT = """\
version: 1
conference:
  name: test-bridge
  from: "+12065550200"
participants:
  - name: alice
    to: "+12065550101"
"""

# Lines 1-4; a case adds conference keys from line 5 on (indent 2).
CONFERENCE_HEAD = """\
version: 1
conference:
  name: test-bridge
  from: "+12065550200"
"""
CONFERENCE_TAIL = """\
participants:
  - name: alice
    to: "+12065550101"
"""

E164 = (
    "expected an E.164 number (+ and country code, digits only, such as +12065550100) "
    "or a sip: URI such as sip:user@example.com"
)
NAME_RULE = "use only letters, digits, '.', '_' and '-' (at most 128)"

PARTICIPANT_CASES = [
    ("    timeout: 3", "8:14: error: participants[0].timeout: 3 is less than the minimum of 5"),
    (
        "    timeout: 121",
        "8:14: error: participants[0].timeout: 121 is more than the maximum of 120",
    ),
    (
        "    timeout: 30s",
        "8:14: error: participants[0].timeout: expected an integer, found text '30s'",
    ),
    (
        "    tiemout: 30",
        "8:5: error: participants[0]: unknown key 'tiemout' (did you mean 'timeout'?)",
    ),
    (
        "    time_limit: 0",
        "8:17: error: participants[0].time_limit: 0 is less than the minimum of 30",
    ),
    (
        "    muted: 'yes'",
        "8:12: error: participants[0].muted: expected true or false, found text 'yes'",
    ),
    (
        "    hold: 1",
        "8:11: error: participants[0].hold: expected true or false, found the number 1",
    ),
    (
        "    early_media: maybe",
        "8:18: error: participants[0].early_media: expected true or false, found text 'maybe'",
    ),
    (
        "    beep: loud",
        "8:11: error: participants[0].beep: 'loud' is not one of true, false, onEnter, onExit",
    ),
    (
        "    beep: onexit",
        "8:11: error: participants[0].beep: 'onexit' is not one of true, false, onEnter, "
        "onExit (did you mean 'onExit'?)",
    ),
    (
        "    caller_id: 'Acme #1'",
        "8:16: error: participants[0].caller_id: 'Acme #1' contains '#'; a caller ID may only "
        "hold letters, digits, spaces and -_~!.+ (at most 128)",
    ),
    (
        "    caller_id: " + "A" * 129,
        "8:16: error: participants[0].caller_id: 129 characters long; at most 128 allowed",
    ),
    ("    from: '12065550200'", f"8:11: error: participants[0].from: '12065550200': {E164}"),
    (
        "    wait_url: example.com/hold.mp3",
        "8:15: error: participants[0].wait_url: 'example.com/hold.mp3': "
        "expected an http:// or https:// URL",
    ),
    (
        "    record: 'yes'",
        "8:13: error: participants[0].record: expected true or false, found text 'yes'",
    ),
    (
        "    recording: {channels: stereo}",
        "8:27: error: participants[0].recording.channels: 'stereo' is not one of mono, dual",
    ),
    (
        "    recording: {track: all}",
        "8:24: error: participants[0].recording.track: 'all' is not one of inbound, outbound, both",
    ),
    (
        "    recording: {trim: yes}",
        "8:23: error: participants[0].recording.trim: true is not one of trim-silence, do-not-trim",
    ),
    (
        "    recording: {status_callback: {url: https://e.example/r, events: [done]}}",
        "8:70: error: participants[0].recording.status_callback.events[0]: 'done' is not one of "
        "in-progress, completed, absent",
    ),
    (
        "    machine_detection: {mode: Always}",
        "8:31: error: participants[0].machine_detection.mode: 'Always' is not one of Enable, "
        "DetectMessageEnd",
    ),
    (
        "    machine_detection: {mode: Enable, timeout_ms: -1}",
        "8:51: error: participants[0].machine_detection.timeout_ms: -1 is less than the minimum of 500",
    ),
    (
        "    machine_detection: {mode: Enable, status_callback: {url: https://e.example/a, "
        "events: [completed]}}",
        "8:83: error: participants[0].machine_detection.status_callback: unknown key 'events'",
    ),
    (
        "    status_callback: {url: https://e.example/c, events: [answerd]}",
        "8:58: error: participants[0].status_callback.events[0]: 'answerd' is not one of "
        "initiated, ringing, answered, completed (did you mean 'answered'?)",
    ),
    (
        "    status_callback: {url: https://e.example/c, method: PUT}",
        "8:57: error: participants[0].status_callback.method: 'PUT' is not one of GET, POST",
    ),
    (
        "    status_callback: {url: https://e.example/c, events: [answered, answered]}",
        "8:68: error: participants[0].status_callback.events: 'answered' is listed twice",
    ),
    (
        "    status_callback: {url: https://e.example/c, events: []}",
        "8:57: error: participants[0].status_callback.events: list at least 1 item",
    ),
    (
        "    sip_auth: {username: '', password: '${PW}'}",
        "8:26: error: participants[0].sip_auth.username: is empty; give a value or remove the key",
    ),
    (
        "    sip_auth: {username: alice, password: 1234}",
        "8:43: error: participants[0].sip_auth.password: expected text, found a number",
    ),
    (
        "    preferred_codecs: PCMA,PCMU",
        "8:23: error: participants[0].preferred_codecs: expected a list, found text 'PCMA,PCMU'",
    ),
    (
        "    preferred_codecs: ['PCMA,PCMU']",
        "8:24: error: participants[0].preferred_codecs[0]: 'PCMA,PCMU': expected one codec name "
        "such as PCMU; list several as [PCMA, PCMU]",
    ),
    (
        "    custom_headers: {X-Ok: 1}",
        "8:28: error: participants[0].custom_headers.X-Ok: expected text, found the number 1; "
        'put it in quotes: "1"',
    ),
    (
        "    custom_headers: {'X Bad': v}",
        "8:22: error: participants[0].custom_headers: name 'X Bad' is invalid: a header name "
        "may only hold letters, digits and !#$%&'*+.^_`|~-",
    ),
    (
        "    retry: {attempts: 6}",
        "8:23: error: participants[0].retry.attempts: 6 is more than the maximum of 5",
    ),
    (
        "    retry: {interval_s: -1}",
        "8:25: error: participants[0].retry.interval_s: -1 is less than the minimum of 0",
    ),
    (
        "    role: 'bad role'",
        f"8:11: error: participants[0].role: 'bad role': {NAME_RULE}",
    ),
    (
        "    coach: 'bob smith'",
        f"8:12: error: participants[0].coach: 'bob smith': {NAME_RULE}",
    ),
    (
        "    recording: [dual]",
        "8:16: error: participants[0].recording: expected a mapping of keys, found a list",
    ),
    (
        "    timeout:",
        "8:13: error: participants[0].timeout: expected an integer, found nothing (an empty "
        "value); give a value or remove the key",
    ),
    # A second participant, from line 8.
    (
        "  - name: carol smith\n    to: '+12065550103'",
        f"8:11: error: participants[1].name: 'carol smith': {NAME_RULE}",
    ),
    ("  - name: carol", "8:5: error: participants[1]: missing required key 'to'"),
    ("  - to: '+12065550103'", "8:5: error: participants[1]: missing required key 'name'"),
    (
        "  - name: carol\n    to: ['+12065550103', '0800']",
        f"9:26: error: participants[1].to[1]: '0800': {E164}",
    ),
    ("  - name: carol\n    to: []", "9:9: error: participants[1].to: list at least 1 item"),
    (
        "  - name: carol\n    to: ['+12065550103', '+12065550103']",
        "9:26: error: participants[1].to: '+12065550103' is listed twice",
    ),
    (
        "  - name: carol\n    to: +12065550103",
        "9:9: error: participants[1].to: expected text or a list, found the number 12065550103; "
        'put it in quotes: "+12065550103"',
    ),
    (
        "  - name: carol\n    to: sip:carol",
        f"9:9: error: participants[1].to: 'sip:carol': {E164}",
    ),
    (
        "  - carol",
        "8:5: error: participants[1]: expected a mapping of keys, found text 'carol'",
    ),
]


@pytest.mark.parametrize(("lines", "expected"), PARTICIPANT_CASES)
def test_participant_rule(tmp_path: Path, lines: str, expected: str) -> None:
    assert findings(tmp_path, PARTICIPANT + lines + "\n", env={"PW": "x"}) == [expected]


CONFERENCE_CASES = [
    (
        "  max_participants: 1",
        "5:21: error: conference.max_participants: 1 is less than the minimum of 2",
    ),
    (
        "  max_participants: 801",
        "5:21: error: conference.max_participants: 801 is more than the maximum of 800",
    ),
    (
        "  max_participants: many",
        "5:21: error: conference.max_participants: expected an integer, found text 'many'",
    ),
    (
        "  record: sometimes",
        "5:11: error: conference.record: 'sometimes' is not one of true, false, "
        "record-from-start, do-not-record",
    ),
    (
        "  recording: {trim: none}",
        "5:21: error: conference.recording.trim: 'none' is not one of trim-silence, do-not-trim",
    ),
    (
        "  recording: {timeout: -5}",
        "5:24: error: conference.recording.timeout: -5 is less than the minimum of 0",
    ),
    (
        "  status_callback: {events: [start]}",
        "5:20: error: conference.status_callback: missing required key 'url'",
    ),
    (
        "  status_callback: {url: https://e.example/c, events: [begin]}",
        "5:56: error: conference.status_callback.events[0]: 'begin' is not one of start, end, "
        "join, leave",
    ),
    (
        "  recording: {status_callback: {url: https://e.example/r, events: [absent, started]}}",
        "5:76: error: conference.recording.status_callback.events[1]: 'started' is not one of "
        "in-progress, completed, failed, absent",
    ),
    (
        "  allow_duplicate_numbers: 'yes'",
        "5:28: error: conference.allow_duplicate_numbers: expected true or false, found text 'yes'",
    ),
    (
        "  sid: 42",
        '5:8: error: conference.sid: expected text or null, found the number 42; put it in quotes: "42"',
    ),
    (
        "  application_sid: 1846572522338780702",
        "5:20: error: conference.application_sid: expected text, found the number "
        '1846572522338780702; put it in quotes: "1846572522338780702"',
    ),
    (
        "  wait_url: ftp://example.com/hold.mp3",
        "5:13: error: conference.wait_url: 'ftp://example.com/hold.mp3': "
        "expected an http:// or https:// URL",
    ),
    ("  nmae: x", "5:3: error: conference: unknown key 'nmae' (did you mean 'name'?)"),
    (
        "  timeout: 30",
        "5:3: error: conference: unknown key 'timeout'; it is a participant setting: put it "
        "under defaults to apply it to everyone",
    ),
]


@pytest.mark.parametrize(("lines", "expected"), CONFERENCE_CASES)
def test_conference_rule(tmp_path: Path, lines: str, expected: str) -> None:
    assert findings(tmp_path, CONFERENCE_HEAD + lines + "\n" + CONFERENCE_TAIL) == [expected]


TOP_LEVEL_CASES = [
    (
        CONFERENCE_HEAD.replace("version: 1\n", "") + CONFERENCE_TAIL,
        "1:1: error: missing required key 'version'",
    ),
    (
        CONFERENCE_HEAD.replace("version: 1", "version: 2") + CONFERENCE_TAIL,
        "1:10: error: version: 2 is not supported; this orchestrator reads version: 1",
    ),
    (
        "version: 1\n" + CONFERENCE_TAIL,
        "1:1: error: missing required key 'conference'",
    ),
    (CONFERENCE_HEAD, "1:1: error: missing required key 'participants'"),
    (
        CONFERENCE_HEAD + "participants: []\n",
        "5:15: error: participants: list at least 1 item",
    ),
    (
        CONFERENCE_HEAD + "participants:\n",
        "5:14: error: participants: expected a list, found nothing (an empty value); "
        "give a value or remove the key",
    ),
    (
        "version: 1\nconference:\n  from: '+12065550200'\n" + CONFERENCE_TAIL,
        "3:3: error: conference: missing required key 'name'",
    ),
    (
        "version: 1\nconference:\n  name: incident 4711\n  from: '+12065550200'\n"
        + CONFERENCE_TAIL,
        f"3:9: error: conference.name: 'incident 4711': {NAME_RULE}",
    ),
    (
        "version: 1\nconference:\n  name: c\n  from: '+0200'\n" + CONFERENCE_TAIL,
        f"4:9: error: conference.from: '+0200': {E164}",
    ),
    (
        CONFERENCE_HEAD + CONFERENCE_TAIL + "defualts: {}\n",
        "8:1: error: unknown key 'defualts' (did you mean 'defaults'?)",
    ),
    (
        "account_sid: 1234\n" + CONFERENCE_HEAD + CONFERENCE_TAIL,
        '1:14: error: account_sid: expected text, found the number 1234; put it in quotes: "1234"',
    ),
    (
        CONFERENCE_HEAD + CONFERENCE_TAIL + "roles:\n  'bad role': {muted: true}\n",
        f"9:3: error: roles: name 'bad role' is invalid: {NAME_RULE}",
    ),
    (
        CONFERENCE_HEAD + CONFERENCE_TAIL + "roles:\n  r: {to: '+12065550109'}\n",
        "9:7: error: roles.r: unknown key 'to'; to belongs on each participant",
    ),
    (
        CONFERENCE_HEAD + CONFERENCE_TAIL + "defaults:\n  name: someone\n",
        "9:3: error: defaults: unknown key 'name'; name belongs on each participant",
    ),
    (
        CONFERENCE_HEAD + CONFERENCE_TAIL + "defaults:\n  max_participants: 3\n",
        "9:3: error: defaults: unknown key 'max_participants'; it belongs under conference",
    ),
    (
        CONFERENCE_HEAD + CONFERENCE_TAIL + "defaults:\n  muted: 0\n",
        "9:10: error: defaults.muted: expected true or false, found the number 0",
    ),
    (
        CONFERENCE_HEAD + CONFERENCE_TAIL + "roles:\n  r: {beep: sometimes}\n",
        "9:13: error: roles.r.beep: 'sometimes' is not one of true, false, onEnter, onExit",
    ),
]


@pytest.mark.parametrize(("text", "expected"), TOP_LEVEL_CASES)
def test_top_level_rule(tmp_path: Path, text: str, expected: str) -> None:
    assert findings(tmp_path, text) == [expected]


def test_more_participants_than_the_api_allows(tmp_path: Path) -> None:
    people = "".join(f"  - {{name: p{i}, to: '+1206{i:07d}'}}\n" for i in range(801))
    text = CONFERENCE_HEAD + "  max_participants: 800\nparticipants:\n" + people
    assert findings(tmp_path, text) == ["7:3: error: participants: 801 items; at most 800 allowed"]


def test_every_problem_in_a_file_is_reported(tmp_path: Path) -> None:
    text = PARTICIPANT + "    timeout: 3\n    beep: loud\n  - name: bob\n"
    assert findings(tmp_path, text) == [
        "8:14: error: participants[0].timeout: 3 is less than the minimum of 5",
        "9:11: error: participants[0].beep: 'loud' is not one of true, false, onEnter, onExit",
        "10:5: error: participants[1]: missing required key 'to'",
    ]
