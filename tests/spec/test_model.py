"""The model built from a valid file: merged settings, normalised values, locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec import load_spec, load_specs
from orchestrator.spec.model import (
    Callback,
    LegRecording,
    Location,
    MachineDetection,
    Retry,
)
from tests.spec.support import VALID, write

FILE = """\
version: 1
account_sid: acct-1
conference:
  name: bridge
  sid: null
  application_sid: "1846572522338780702"
  from: "+12065550200"
  max_participants: 10
  wait_url: https://example.com/wait.mp3
  record: true
  recording: {trim: trim-silence, timeout: 0}
defaults:
  timeout: 30
  beep: true
  preferred_codecs: [PCMU, PCMA]
  status_callback: {url: https://example.com/calls, events: [answered, completed]}
  custom_headers: {X-Team: sre, X-Region: us}
roles:
  responder:
    beep: "false"
    status_callback: {method: GET}
    custom_headers: {X-Team: db}
  host:
    muted: false
participants:
  - name: alice
    to: "+12065550101"
    role: host
  - name: bob
    to: ["+12065550102", "+12065550103"]
    role: responder
    preferred_codecs: [G722]
    record: true
    recording: {channels: dual, track: both, trim: do-not-trim}
    machine_detection: {mode: DetectMessageEnd, timeout_ms: 4000}
    retry: {attempts: 2, interval_s: 1.5}
  - name: carol
    to: sip:carol@example.sip.telnyx.com
    role: coach
    coach: bob
    beep: onExit
  - name: dave
    to: "+12065550104"
    role: listener
    hold: true
    end_conference_on_exit: false
"""


@pytest.fixture
def spec_path(tmp_path: Path) -> Path:
    return write(tmp_path, FILE)


def test_conference(spec_path: Path) -> None:
    spec = load_spec(spec_path, env={})
    assert spec.path == str(spec_path)
    assert spec.account_sid == "acct-1"
    conference = spec.conference
    assert conference.name == "bridge"
    assert conference.sid is None
    assert conference.application_sid == "1846572522338780702"
    assert conference.from_ == "+12065550200"
    assert conference.max_participants == 10
    assert conference.wait_url == "https://example.com/wait.mp3"
    assert conference.record == "record-from-start"
    assert conference.recording is not None
    assert (conference.recording.trim, conference.recording.timeout) == ("trim-silence", 0)
    assert conference.allow_duplicate_numbers is False


def test_settings_merge_defaults_then_role_then_participant(spec_path: Path) -> None:
    spec = load_spec(spec_path, env={})
    alice, bob, carol, dave = spec.participants

    # Built-in host, with the file's host role merged over it.
    assert alice.role == "host"
    assert alice.settings.start_conference_on_enter is True
    assert alice.settings.end_conference_on_exit is True
    assert alice.settings.muted is False
    assert alice.settings.beep == "true"
    assert alice.settings.timeout == 30
    assert alice.settings.preferred_codecs == ("PCMU", "PCMA")

    # Nested mappings merge key by key, lists replace.
    assert bob.settings.beep == "false"
    assert bob.settings.status_callback == Callback(
        url="https://example.com/calls", method="GET", events=("answered", "completed")
    )
    assert bob.settings.custom_headers == (("X-Team", "db"), ("X-Region", "us"))
    assert bob.settings.preferred_codecs == ("G722",)
    assert bob.to == ("+12065550102", "+12065550103")
    assert bob.settings.record is True
    assert bob.settings.recording == LegRecording(channels="dual", track="both", trim="do-not-trim")
    assert bob.settings.machine_detection == MachineDetection(
        mode="DetectMessageEnd", timeout_ms=4000
    )
    assert bob.settings.retry == Retry(attempts=2, interval_s=1.5)

    assert (carol.role, carol.coach, carol.settings.beep) == ("coach", "bob", "onExit")
    assert carol.to == ("sip:carol@example.sip.telnyx.com",)

    assert dave.settings.muted is True  # built-in listener
    assert dave.settings.hold is True
    assert dave.settings.end_conference_on_exit is False
    assert dave.settings.from_ is None  # the conference's From applies
    assert dave.coach is None


def test_locations_of_values_and_keys(spec_path: Path) -> None:
    spec = load_spec(spec_path, env={})
    file = str(spec_path)
    assert spec.locations[("participants", 1, "to", 1)] == Location(file, 30, 26)
    assert spec.key_locations[("participants", 1, "to")] == Location(file, 30, 5)
    assert spec.participants[1].location == Location(file, 29, 5)
    assert spec.location_of(("participants", 3, "hold")) == Location(file, 45, 11)
    # A path that is not in the file falls back to its closest parent.
    assert spec.location_of(("participants", 3, "timeout")) == Location(file, 42, 5)
    assert spec.location_of(()) == Location(file, 1, 1)


def test_record_false_and_beep_false(tmp_path: Path) -> None:
    text = VALID.replace("  name: test-bridge\n", "  name: test-bridge\n  record: false\n")
    text += "    beep: false\n"
    spec = load_spec(write(tmp_path, text), env={})
    assert spec.conference.record == "do-not-record"
    assert spec.participants[1].settings.beep == "false"
    assert spec.participants[0].settings.beep is None
    assert spec.participants[0].role == "participant"


def test_load_spec_raises_with_every_finding(tmp_path: Path) -> None:
    text = VALID.replace("version: 1", "version: 9") + "    timeout: 1\n    beep: never\n"
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as raised:
        load_spec(path, env={})
    assert str(raised.value) == (
        f"{path}:1:10: error: version: 9 is not supported; this orchestrator reads version: 1 "
        "(and 2 more)"
    )
    assert len(raised.value.diagnostics) == 3


def test_load_spec_is_strict_about_the_environment_by_default(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('"+12065550200"', "${FROM}"))
    with pytest.raises(SpecError, match="environment variable FROM is not set"):
        load_spec(path, env={})
    assert load_spec(path, env={}, strict_env=False).conference.from_ == "${FROM}"
    assert load_spec(path, env={"FROM": "+12065550201"}).conference.from_ == "+12065550201"


def test_load_spec_wants_one_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="is a directory; name one conference file"):
        load_spec(tmp_path)
    with pytest.raises(SpecError, match="no such file or directory"):
        load_spec(tmp_path / "missing.yaml")


def test_load_specs_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, VALID.replace('"+12065550200"', "${SPEC_TEST_FROM}"))
    monkeypatch.setenv("SPEC_TEST_FROM", "+12065550299")
    result = load_specs([path])
    assert result.diagnostics == ()
    assert result.specs[0].conference.from_ == "+12065550299"


def test_large_file_loads_quickly(tmp_path: Path) -> None:
    import time

    people = "".join(
        f"  - name: p{i}\n    to: ['+1206{i:07d}', '+1207{i:07d}']\n    role: listener\n"
        "    recording: {channels: dual, track: both}\n"
        for i in range(800)
    )
    text = (
        "version: 1\nconference: {name: big, from: '+12065550100', max_participants: 800}\n"
        "defaults: {timeout: 30, status_callback: {url: https://example.com/cb}}\n"
        "participants:\n" + people
    )
    path = write(tmp_path, text)
    started = time.perf_counter()
    result = load_specs([path], env={})
    elapsed = time.perf_counter() - started
    assert result.ok, result.diagnostics[:3]
    assert len(result.specs[0].participants) == 800
    # Linear work takes a fraction of a second; the bound only catches a quadratic slip.
    assert elapsed < 5
