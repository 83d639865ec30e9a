"""Output a person and a script can trust: results on stdout, errors on stderr, failures last,
one JSON envelope that validates against its published schema, safe defaults, -v."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import PEOPLE, CliSession, Ran, envelope, envelopes, invoke
from tests.engine.support import conference_file, numbered


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliSession]:
    scenario = {
        "time_scale": 0.01,
        "seed": 4,
        "numbers": {
            "+15550000001": {"answer": "no-answer"},
            "+15550000002": {"answer": "busy"},
            "+15550000003": {"answer": "busy"},
        },
    }
    with sandbox_in_thread(parse_scenario(scenario)) as info:
        yield CliSession(info, tmp_path)


def schema_check(report: str, ran: Ran) -> dict[str, Any]:
    """The one envelope ``ran`` printed, valid against ``report``'s schema, with no error."""
    document = envelope(report, ran)
    assert (document["version"], document["error"]) == (1, None)
    return document


@pytest.mark.long
def test_every_commands_json_is_one_envelope_valid_against_its_schema(cli: CliSession) -> None:
    people = [*PEOPLE, {"name": "dave", "to": ["+15550000001", "+15550000002"]}]
    path = cli.write(people)
    other = conference_file(cli.directory, numbered(2, start=3000), name="retro")

    planned = schema_check("plan", cli.run("plan", str(path), str(other), "-o", "json"))
    assert [c["conference"]["name"] for c in planned["conferences"]] == ["test-bridge", "retro"]

    dry = schema_check("dry-run", cli.run("apply", str(other), "--dry-run", "-o", "json"))
    assert (dry["command"], dry["dry_run"], len(dry["conferences"])) == ("apply", True, 1)

    applied_run = cli.run("apply", str(path), str(other), "-o", "json", "-q")
    applied = schema_check("apply", applied_run)
    assert applied["exit_code"] == applied_run.returncode == exit_codes.PARTIAL  # dave: busy
    assert "\\u2022" not in applied_run.stdout and "\u2022" in applied_run.stdout

    one = cli.run("apply", str(other), "-o", "json", "-q")  # one file: the same envelope
    assert len(schema_check("apply", one)["conferences"]) == 1

    status = schema_check("status", cli.run("status", str(path), "-o", "json"))
    assert status["exit_code"] == exit_codes.DRIFT  # dave is not in the call

    down = cli.run("down", str(path), str(other), "-o", "json", "--yes")
    torn = schema_check("down", down)
    assert torn["exit_code"] == down.returncode == exit_codes.OK
    assert {h["result"] for c in torn["conferences"] for h in c["hang_ups"]} <= {
        "hung_up",
        "absent",
    }


COMMANDS = {
    "plan": ("plan",),
    "status": ("status",),
    "down": ("down", "--yes"),
    "apply": ("apply", "-q"),
    "dry-run": ("apply", "--dry-run"),
}
INVALID = """\
version: 1
conference: {name: broken, application_sid: "1846572522338780702", from: "+12065550200"}
participants:
  - {name: alice, to: "12065550100"}
"""


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("report", list(COMMANDS))
# Unreachable: the client's retries of a refused connection take a second of real time.
@pytest.mark.parametrize(
    "failure", ["wrong-key", pytest.param("unreachable", marks=pytest.mark.long), "invalid-file"]
)
def test_json_is_one_envelope_with_the_error_on_every_failure(
    cli: CliSession, report: str, failure: str
) -> None:
    path = cli.write(PEOPLE)
    settings: dict[str, str] = {}
    if failure == "wrong-key":
        settings["TELNYX_API_KEY"] = "KEYwrong"
    elif failure == "unreachable":
        settings["TELNYX_BASE_URL"] = f"http://127.0.0.1:{_closed_port()}/v2"
    else:
        path = cli.directory / "broken.yaml"
        path.write_text(INVALID, encoding="utf-8")
    command, *flags = COMMANDS[report]
    ran = cli.run(command, str(path), *flags, "-o", "json", **settings)
    document = envelope(report, ran)  # one envelope, valid, with the process's exit code
    assert cli.dial_count() == 0
    assert "KEYwrong" not in ran.stdout + ran.stderr
    if report == "dry-run" and failure != "invalid-file":  # offline: no API to fail
        assert (ran.returncode, document["error"]) == (exit_codes.OK, None)
        return
    assert ran.returncode == exit_codes.FAILED
    error = document["error"]
    # The same words as the line on stderr, which people still get.
    assert f"error: {error['message']}" in ran.stderr.splitlines()
    if failure == "invalid-file":
        assert error["file"] == str(path)
        [finding] = error["findings"]
        assert (finding["file"], finding["line"], finding["severity"]) == (str(path), 4, "error")
        assert f"{path}:4:{finding['col']}: error: {finding['message']}" in ran.stderr
    else:
        assert error["findings"] == []
        words = "refused the API key" if failure == "wrong-key" else "cannot reach the API"
        assert words in error["message"]


@pytest.mark.parametrize("report", list(COMMANDS))
def test_a_usage_error_after_the_options_is_an_envelope_too(cli: CliSession, report: str) -> None:
    path = cli.write(PEOPLE)
    scenario = cli.directory / "drill.yaml"
    scenario.write_text("time_scale: 0.01\n")
    command, *flags = COMMANDS[report]
    ran = cli.run(command, str(path), *flags, "--scenario", str(scenario), "-o", "json")
    assert ran.returncode == exit_codes.USAGE
    error = envelope(report, ran)["error"]
    assert error["message"].startswith("--scenario is for the sandbox")
    assert f"error: {error['message']}" in ran.stderr

    if report == "down":  # no terminal to confirm on, and no --yes
        unconfirmed = cli.run("down", str(path), "-o", "json")
        assert unconfirmed.returncode == exit_codes.USAGE
        assert "pass --yes" in envelope("down", unconfirmed)["error"]["message"]


@pytest.mark.long
def test_the_last_lines_name_every_participant_that_did_not_converge(cli: CliSession) -> None:
    people = numbered(60)
    people[7]["to"] = ["+15550000001", "+15550000003"]
    people[42]["to"] = "+15550000002"
    path = cli.write(people, max_participants=100)
    result = cli.run("apply", str(path), "-q")
    assert result.returncode == exit_codes.PARTIAL
    lines = result.stdout.splitlines()
    assert lines[-3:] == [
        "Did not converge:",
        "  p007: ended: busy \u2014 no answer on any of 2 numbers (last: busy)",
        "  p042: ended: busy \u2014 no answer (busy)",
    ]
    # More than 50 rows: the table lists who did not converge, and says what it left out.
    assert "  ... and 58 more, all converged (--full lists every row)" in lines
    full = cli.run("apply", str(path), "-q", "--full").stdout
    assert sum(line.startswith("  p0") for line in full.splitlines()) >= 60


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        pytest.param(
            {"TELNYX_BASE_URL": "http://127.0.0.1:9/v2"},
            "error: cannot reach the API at http://127.0.0.1:9/v2",
            marks=pytest.mark.long,  # the client's retries of a refused connection
        ),
        ({"TELNYX_API_KEY": "KEYwrong"}, "error: the API refused the API key (HTTP 401"),
        (
            {"TELNYX_ACCOUNT_SID": "no-such-account"},
            "error: the API does not know account no-such-account (404 for its conferences): "
            "check TELNYX_ACCOUNT_SID",
        ),
    ],
    ids=["unreachable", "wrong-key", "wrong-account"],
)
def test_when_nothing_could_be_done_stdout_is_empty_and_stderr_is_one_line(
    cli: CliSession, settings: dict[str, str], says: str
) -> None:
    path = cli.write(PEOPLE)
    result = cli.run("apply", str(path), "-q", **settings)
    assert result.returncode == exit_codes.FAILED
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(says), line
    assert "KEYwrong" not in line


def test_a_base_url_without_v2_is_named_as_the_cause(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    without = cli.info.base_url.removesuffix("/v2")
    result = cli.run("plan", str(path), TELNYX_BASE_URL=without)
    assert result.returncode == exit_codes.FAILED
    assert "the base URL has no /v2" in result.stderr


def test_scenario_without_sandbox_is_a_usage_error_and_sends_nothing(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    scenario = cli.directory / "drill.yaml"
    scenario.write_text("time_scale: 0.01\n")
    for command in ("apply", "plan", "status"):
        result = cli.run(command, str(path), "--scenario", str(scenario))
        assert result.returncode == exit_codes.USAGE, (command, result.stderr)
        assert "--scenario is for the sandbox" in result.stderr
    assert cli.dial_count() == 0


def test_dry_run_works_with_unset_variables_and_masks_url_credentials(tmp_path: Path) -> None:
    people = [
        {
            "name": "alice",
            "to": "+12065550100",
            "caller_id": "${CALLER_NAME}",
            "sip_auth": {"username": "alice", "password": "${ALICE_PASSWORD}"},
            "status_callback": {"url": "https://ops:hunter2@hooks.example.com/calls?token=s3cret"},
        }
    ]
    path = conference_file(tmp_path, people)
    result = invoke("apply", str(path), "--dry-run")
    assert result.returncode == exit_codes.OK, result.stderr
    fields = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[2:-2] if line}
    assert fields["CallerId"] == "${CALLER_NAME}"  # the placeholder, as written
    assert fields["StatusCallback"] == "https://***@hooks.example.com/calls?***"
    assert "hunter2" not in result.stdout and "s3cret" not in result.stdout
    assert "CALLER_NAME is not set" in result.stderr and "ALICE_PASSWORD" in result.stderr


def test_verbose_logs_each_request_and_no_secret(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    result = cli.run("apply", str(path), "-q", "-v")
    assert result.returncode == exit_codes.OK, result.stderr
    requests = [line for line in result.stderr.splitlines() if line.startswith("request: ")]
    assert any(" POST /texml/Accounts/" in line and "-> 200" in line for line in requests)
    assert any(line.startswith("request: GET ") and "attempt 1" in line for line in requests)
    assert all(" ms, attempt " in line for line in requests)
    assert cli.info.api_key not in result.stderr + result.stdout
    quiet = cli.run("status", str(path))
    assert "request: " not in quiet.stderr  # only when asked


def test_help_names_the_environment_and_true_exit_codes() -> None:
    for command in ("apply", "plan", "status", "down"):
        text = invoke(command, "--help").stdout
        assert "TELNYX_API_KEY" in text and "TELNYX_ACCOUNT_SID" in text, command
        assert "Exit codes:" in text and "PATH..." in text, command
    assert "in seconds" in invoke("apply", "--help").stdout
    down = invoke("down", "--help").stdout
    assert "3 " not in down.split("Exit codes:")[1].split("Environment:")[0]


def test_status_watch_prints_an_envelope_for_each_refresh_a_failed_one_with_its_error(
    cli: CliSession,
) -> None:
    path = cli.write(PEOPLE)
    command = ["status", str(path), "--watch", "--interval", "0.1", "-o", "json"]
    watcher = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**cli.env, "TELNYX_API_KEY": "KEYwrong"},
    )
    assert watcher.stdout is not None
    printed = ""
    for line in watcher.stdout:
        printed += line
        if printed.count("\n}\n") == 2:  # two whole envelopes
            break
    watcher.send_signal(signal.SIGINT)
    rest, errors = watcher.communicate(timeout=30)
    refreshes = envelopes("status", printed + rest)
    assert len(refreshes) >= 2
    for refresh in refreshes:
        assert refresh["exit_code"] == exit_codes.FAILED
        assert "refused the API key" in refresh["error"]["message"]
    assert watcher.returncode == exit_codes.FAILED, errors
    assert "Traceback" not in errors
