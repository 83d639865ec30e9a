"""The apply command as a user runs it: its exit codes, stdout and stderr; Ctrl-C in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import Ran, invoke
from tests.engine.support import conference_file, numbered

SECRET_KEY = "KEYsecret-7f3a9c"
SIP_PASSWORD = "sip-pass-91c2e"


def run(*args: str, env: dict[str, str] | None = None) -> Ran:
    """orchestrator in this process, with no TELNYX_* settings but the ones given."""
    return invoke(*args, env=env)


def fast_scenario(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"time_scale": 0.01, "seed": 3, **extra}), encoding="utf-8")
    return path


def test_apply_sandbox_prints_a_summary_and_exits_zero(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(4))
    result = run("apply", str(path), "--sandbox", "--scenario", str(fast_scenario(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "no real calls are placed" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Conference test-bridge")
    for i in range(4):
        row = next(line for line in lines if line.strip().startswith(f"p{i:03d}"))
        assert "connected" in row
        assert f"+1206\u2022\u2022\u2022{1000 + i:04d}" in row  # masked destination
    assert "4 participants: 4 connected; all converged." in result.stdout


def test_apply_json_report_shape(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(3))
    report = tmp_path / "out" / "report.json"
    report.parent.mkdir()
    result = run(
        "apply",
        str(path),
        "--sandbox",
        "--scenario",
        str(fast_scenario(tmp_path)),
        "-o",
        "json",
        "--report",
        str(report),
        "-q",
    )
    assert result.returncode == 0, result.stderr
    envelope = json.loads(result.stdout)
    assert (envelope["version"], envelope["command"], envelope["exit_code"]) == (1, "apply", 0)
    [printed] = envelope["conferences"]
    [written] = json.loads(report.read_text())["conferences"]
    assert written | {"duration_s": 0} == printed | {"duration_s": 0}
    assert printed["conference"]["name"] == "test-bridge"
    assert printed["conference"]["status"] == "in-progress"
    assert [p["name"] for p in printed["participants"]] == ["p000", "p001", "p002"]
    assert {p["observed"] for p in printed["participants"]} == {"connected"}
    assert set(printed["participants"][0]) >= {
        "name",
        "role",
        "to",
        "desired",
        "observed",
        "call_sid",
        "attempts",
        "error",
    }
    assert printed["exit_code"] == 0
    assert printed["totals"]["participants"] == 3


def test_partial_run_exits_3(tmp_path: Path) -> None:
    people = numbered(2)
    people[1]["to"] = "+15550000001"
    path = conference_file(tmp_path, people)
    scenario = fast_scenario(tmp_path, numbers={"+15550000001": {"answer": "no-answer"}})
    result = run("apply", str(path), "--sandbox", "--scenario", str(scenario), "-q")
    assert result.returncode == 3, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.strip().startswith("p001"))
    assert "ended: no-answer" in row


@pytest.mark.long
def test_sigint_stops_dialing_and_writes_a_complete_report(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(60))
    report = tmp_path / "report.json"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "apply",
            str(path),
            "--sandbox",
            "--scenario",
            str(fast_scenario(tmp_path)),
            "--dials-per-second",
            "10",
            "--dial-window",
            "1",
            "--report",
            str(report),
            "-o",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
    )
    assert process.stderr is not None
    dialed = 0
    deadline = time.monotonic() + 30
    while dialed < 12 and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        dialed += ": dialed " in line
    assert dialed >= 12
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    [document] = json.loads(report.read_text())["conferences"]
    assert json.loads(stdout)["conferences"][0]["participants"] == document["participants"]
    assert document["interrupted"] is True and document["exit_code"] == 130
    participants = document["participants"]
    assert [p["name"] for p in participants] == [f"p{i:03d}" for i in range(60)]
    observed = {p["observed"] for p in participants}
    assert "not-dialed" in observed and observed & {"connected", "connecting"}
    assert all(p["observed"] in ("connected", "connecting", "not-dialed") for p in participants)


def test_no_secret_reaches_any_output(tmp_path: Path) -> None:
    people = numbered(2)
    people.append(
        {
            "name": "sip-user",
            "to": "sip:carol@example.sip.telnyx.com",
            "sip_auth": {"username": "carol", "password": "${SIP_SECRET}"},
        }
    )
    path = conference_file(tmp_path, people)
    report = tmp_path / "report.json"
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01}), api_key=SECRET_KEY) as info:
        env = {
            "TELNYX_API_KEY": SECRET_KEY,
            "TELNYX_BASE_URL": info.base_url,
            "TELNYX_ACCOUNT_SID": info.account_sid,
            "SIP_SECRET": SIP_PASSWORD,
        }
        applied = run("apply", str(path), "--report", str(report), env=env)
        as_json = run("apply", str(path), "-o", "json", env=env)
        dry = run("apply", str(path), "--dry-run", env=env)
        dry_json = run("apply", str(path), "--dry-run", "-o", "json", env=env)
    assert applied.returncode == 0, applied.stderr
    assert dry.returncode == 0, dry.stderr
    assert "SipAuthPassword" in dry.stdout and "***" in dry.stdout
    outputs = [
        applied.stdout,
        applied.stderr,
        as_json.stdout,
        as_json.stderr,
        dry.stdout,
        dry.stderr,
        dry_json.stdout,
        dry_json.stderr,
        report.read_text(),
    ]
    for text in outputs:
        assert SECRET_KEY not in text
        assert SIP_PASSWORD not in text


def test_dry_run_shows_every_request_offline(tmp_path: Path) -> None:
    people: list[dict[str, Any]] = [
        {"name": "agent", "to": "+12065550101", "role": "host"},
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent", "muted": True},
    ]
    path = conference_file(tmp_path, people)
    result = run(
        "apply", str(path), "--dry-run", "-o", "json", env={"TELNYX_ACCOUNT_SID": "acct-1"}
    )
    assert result.returncode == 0, result.stderr
    [document] = json.loads(result.stdout)["conferences"]
    agent, coach = document["requests"]
    assert agent["path"] == "/texml/Accounts/acct-1/Conferences/test-bridge/Participants"
    assert agent["fields"]["ApplicationSid"] == "1846572522338780702"
    assert agent["fields"]["Label"] == "agent"
    assert agent["fields"]["StartConferenceOnEnter"] is True
    assert coach["waits_for"] == ["conference", "agent"]
    assert coach["fields"]["Coaching"] is True and coach["fields"]["Muted"] is True
    assert "ApplicationSid" not in coach["fields"]


def test_no_api_key_and_no_sandbox_is_one_line(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(2))
    result = run("apply", str(path), env={"TELNYX_API_KEY": ""})
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "TELNYX_API_KEY" in result.stderr and "--sandbox" in result.stderr


def test_plain_http_base_url_is_refused_unless_loopback(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(2))
    env = {"TELNYX_API_KEY": "k", "TELNYX_ACCOUNT_SID": "a"}
    result = run("apply", str(path), "--base-url", "http://api.example.com/v2", env=env)
    assert result.returncode == 1
    assert "must use https" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_file_dials_nothing_and_points_at_the_place(tmp_path: Path) -> None:
    people = numbered(2)
    people[1]["timeout"] = 3
    path = conference_file(tmp_path, people)
    result = run("apply", str(path), "--sandbox")
    assert result.returncode == 1
    assert f"{path}:" in result.stderr and "timeout" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_conference_that_cannot_be_found_still_lists_every_participant(tmp_path: Path) -> None:
    missing = "9b0e1c7e-0000-4000-8000-000000000000"
    path = conference_file(tmp_path, numbered(3), sid=missing)
    result = run(
        "apply", str(path), "--sandbox", "--scenario", str(fast_scenario(tmp_path)), "-o", "json"
    )
    assert result.returncode == 1, result.stderr
    [report] = json.loads(result.stdout)["conferences"]
    assert missing in report["error"]
    assert f"error: {report['error']}" in result.stderr.splitlines()  # said on stderr too
    rows = report["participants"]
    assert [p["name"] for p in rows] == ["p000", "p001", "p002"]
    assert {p["observed"] for p in rows} == {"not-dialed"}
    # The cause is said once, for the conference, not repeated on every row.
    assert all(missing not in (p["error"] or "") for p in rows)
