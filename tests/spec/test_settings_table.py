"""The settings table against what it stands for: the schema, the model, the API contract.

A setting the schema accepts but the table does not classify, a model field the
table does not build, or a field the API does not know fails here.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.dial_request import dial_fields, initiate_call_fields
from orchestrator.spec import load_spec, schema
from orchestrator.spec.model import Participant, ParticipantSettings, Retry
from orchestrator.spec.setting_fields import DialInput
from orchestrator.spec.settings_table import (
    BY_KEY,
    POLICIES,
    SETTINGS,
    build_settings,
    fingerprint,
    upgrade_fingerprint,
)
from orchestrator.texml import contract
from tests.spec.support import write

# Every setting set, nested keys included, so each one's dial fields all show up.
FULL = """\
version: 1
conference:
  name: full
  application_sid: "1846572522338780702"
  from: "+12065550200"
participants:
  - name: alice
    to: "+12065550100"
  - name: bob
    to: ["+12065550101", "+12065550102"]
    from: "+12065550300"
    caller_id: Bridge
    timeout: 45
    time_limit: 600
    muted: true
    hold: true
    beep: onExit
    start_conference_on_enter: false
    end_conference_on_exit: true
    early_media: true
    wait_url: https://music.example/wait.mp3
    coach: alice
    record: true
    recording:
      channels: dual
      track: both
      trim: trim-silence
      status_callback: {url: "https://hooks.example/rec", method: GET, events: [completed]}
    machine_detection:
      mode: DetectMessageEnd
      timeout_ms: 5000
      speech_threshold_ms: 2000
      speech_end_threshold_ms: 900
      silence_timeout_ms: 3000
      cancel_playback_on_machine_detection: true
      cancel_playback_on_detect_message_end: false
      status_callback: {url: "https://hooks.example/amd", method: POST}
      on_machine: hangup
      beep_min_frequency_hz: 400
      beep_max_frequency_hz: 2000
      beep_min_tone_duration_ms: 100
      beep_profile: both
      beep_spectral_confirmation: true
      beep_spectral_min_purity: 0.5
      beep_spectral_reject_fax_cng: true
      beep_spectral_window_ms: 50
    status_callback: {url: "https://hooks.example/calls", method: POST, events: [answered]}
    sip_auth: {username: bob, password: "${BOB_PASSWORD}"}
    preferred_codecs: [PCMA, PCMU]
    custom_headers: {X-Ticket: "4711"}
    retry: {attempts: 2, interval_s: 5}
    reconnect: {attempts: 1, backoff_s: 20, window_s: 600}
"""
PASSWORD = "pw-88e1"


def full(tmp_path: Path) -> tuple[Any, Participant]:
    spec = load_spec(write(tmp_path, FULL), env={"BOB_PASSWORD": PASSWORD})
    return spec, spec.participant("bob")


def test_the_schemas_participant_settings_are_the_tables() -> None:
    properties = schema()["properties"]
    defaults = set(properties["defaults"]["properties"])
    participant = set(properties["participants"]["items"]["properties"])
    assert defaults | {"to"} == set(BY_KEY)  # to is the participant's own
    assert participant == set(BY_KEY) | {"name", "role"}


def test_the_models_settings_are_the_tables() -> None:
    """ParticipantSettings names each setting too (its typed readers need it): one field each."""
    fields = {f.name for f in dataclasses.fields(ParticipantSettings)}
    assert fields == {s.attribute for s in SETTINGS if s.attribute is not None}
    # The two that are not settings of the model stand on the participant itself.
    assert {s.key for s in SETTINGS if s.attribute is None} == {"to", "coach"}
    assert {"to", "coach"} <= {f.name for f in dataclasses.fields(Participant)}


def test_every_setting_is_classified() -> None:
    classified = {s.key: s.policy for s in SETTINGS}
    assert set(classified.values()) <= set(POLICIES)
    chosen = {
        # UpdateTexmlConferenceParticipant takes them (beep: its on-exit part, BeepOnExit).
        "update": {"muted", "hold", "coach", "end_conference_on_exit", "beep", "wait_url"},
        # The live call keeps what it was dialed with.
        "redial": {
            "to",
            "from",
            "caller_id",
            "time_limit",
            "status_callback",
            "record",
            "recording",
            "preferred_codecs",
            "custom_headers",
            "start_conference_on_enter",
        },
        # Nothing to a connected call.
        "next_dial": {
            "timeout",
            "early_media",
            "sip_auth",
            "machine_detection",
            "retry",
            "reconnect",
        },
    }
    for policy, keys in chosen.items():
        assert {k for k in keys if classified[k] != policy} == set(), policy
    # An update-class setting says what the update carries; no other does.
    assert {s.key for s in SETTINGS if s.update is not None} == {
        k for k, p in classified.items() if p == "update"
    }


def test_the_fields_named_are_the_apis() -> None:
    live_keys = set(typing.get_type_hints(contract.ParticipantResource))
    for setting in SETTINGS:
        assert set(setting.dial) <= set(contract.DIAL_FIELDS), setting.key
        assert set(setting.call) <= set(setting.dial), setting.key
        assert set(setting.call.values()) <= set(contract.INITIATE_CALL_FIELDS), setting.key
        assert set(setting.noun) <= set(setting.dial), setting.key
        assert set(setting.noun.values()) <= set(contract.CONFERENCE_NOUN_ATTRIBUTES), setting.key
        assert setting.live is None or setting.live in live_keys, setting.key
        for wanted in (True, False, "onExit", "https://music.example/a.mp3", "alice"):
            sent = setting.update_fields(wanted)
            assert set(sent) <= set(contract.UPDATE_PARTICIPANT_FIELDS), setting.key


def test_a_full_file_builds_every_setting_and_dials_every_field_declared(tmp_path: Path) -> None:
    spec, bob = full(tmp_path)
    empty = ParticipantSettings()
    unset = [
        f.name
        for f in dataclasses.fields(ParticipantSettings)
        if getattr(bob.settings, f.name) == getattr(empty, f.name)
    ]
    assert unset == []  # build_settings left nothing behind
    dial = DialInput(bob, spec.conference, "+12065550101", call_sid_to_coach="v3:alice")
    for setting in SETTINGS:
        sent = {name for name, value in setting.fields(dial) if value is not None}
        assert sent == set(setting.dial), setting.key
    fields = dial_fields(
        spec, bob, "+12065550101", creates_conference=False, call_sid_to_coach="v3:a"
    )
    assert list(fields)[:3] == ["To", "From", "Label"]
    assert fields["SipAuthPassword"].reveal() == PASSWORD  # type: ignore[union-attr]


def test_the_creating_call_carries_the_tables_call_fields_and_noun_attributes(
    tmp_path: Path,
) -> None:
    spec, bob = full(tmp_path)
    fields = initiate_call_fields(spec, bob, "+12065550101")
    assert set(fields) <= set(contract.INITIATE_CALL_FIELDS)
    assert {"CallerId", "TimeLimit", "PreferredCodecs", "AsyncAmdStatusCallback"} <= set(fields)
    assert "EarlyMedia" not in fields  # InitiateTexmlCall has no such field
    texml = str(fields["Texml"])
    for attribute in ("beep", "muted", "startConferenceOnEnter", "endConferenceOnExit", "waitUrl"):
        assert f" {attribute}=" in texml


def test_the_record_keeps_every_setting_by_its_key_and_never_the_password(tmp_path: Path) -> None:
    spec, bob = full(tmp_path)
    kept = fingerprint(bob, spec.conference)
    assert list(kept) == [s.key for s in SETTINGS]
    assert kept["sip_auth"] == "bob" and PASSWORD not in json.dumps(kept)
    assert kept["custom_headers"] == [["X-Ticket", "4711"]]
    assert kept["machine_detection"]["on_machine"] == "hangup"
    assert kept["retry"] == {"attempts": 2, "interval_s": 5.0}
    alice = spec.participant("alice")
    # Where the participant sets none, the conference's: what the dial carries.
    assert fingerprint(alice, spec.conference)["from"] == "+12065550200"


def test_a_record_written_under_the_old_keys_reads_under_the_yaml_keys() -> None:
    old = {
        "to": ["+12065550101"],
        "record": None,
        "from": None,
        "codecs": ["PCMU"],
        "headers": [["X-A", "1"]],
    }
    assert upgrade_fingerprint(old) == {
        "to": ["+12065550101"],
        "record": None,
        "preferred_codecs": ["PCMU"],
        "custom_headers": [["X-A", "1"]],
        # An old record kept the participant's own from only: the call's is not known.
    }
    assert upgrade_fingerprint({**old, "from": "+12065550300"})["from"] == "+12065550300"
    today = {"preferred_codecs": [], "from": None}
    assert upgrade_fingerprint(today) == today


@pytest.mark.parametrize(
    ("key", "was", "wanted", "policy"),
    [
        ("muted", None, False, None),  # unset is the API's default
        ("muted", False, True, "update"),
        ("beep", "onEnter", "true", "update"),  # the beep on leaving changes
        ("beep", "true", "onExit", "next_dial"),  # only the beep on entering changes
        ("beep", "onExit", None, "redial"),  # the API's own beep cannot be asked for in place
        ("wait_url", "https://a.example/x", "https://a.example/y", "update"),
        ("wait_url", "https://a.example/x", None, "redial"),
        ("start_conference_on_enter", None, True, None),
        ("timeout", None, 30, None),
        ("time_limit", None, 600, "redial"),
        ("early_media", False, True, "next_dial"),
    ],
)
def test_what_a_change_takes(key: str, was: Any, wanted: Any, policy: str | None) -> None:
    assert BY_KEY[key].policy_for(was, wanted) == policy


def test_build_settings_reads_each_setting_by_its_key() -> None:
    built = build_settings({"from": "+12065550300", "muted": True, "retry": {"attempts": 1}})
    assert (built.from_, built.muted, built.retry) == ("+12065550300", True, Retry(attempts=1))
    assert built.timeout is None and built.preferred_codecs == ()
