"""Output a person and a script can trust: results on stdout, errors on stderr, failures last,
one JSON envelope that validates against its published schema, safe defaults, -v."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from orchestrator import exit_codes
from orchestrator.report.envelope import REPORT_SCHEMAS
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import PEOPLE, CliSession, invoke
from tests.engine.support import conference_file, numbered

SCHEMAS = Path(__file__).parents[2] / "schemas"


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


def schema_check(command: str, output: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(output)
    schema = json.loads((SCHEMAS / REPORT_SCHEMAS[command]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(document)]
    assert errors == [], errors
    assert (document["version"], document["command"]) == (1, command)
    return document


def test_every_commands_json_is_one_envelope_valid_against_its_schema(cli: CliSession) -> None:
    people = [*PEOPLE, {"name": "dave", "to": ["+15550000001", "+15550000002"]}]
    path = cli.write(people)
    other = conference_file(cli.directory, numbered(2, start=3000), name="retro")

    planned = schema_check("plan", cli.run("plan", str(path), str(other), "-o", "json").stdout)
    assert [c["conference"]["name"] for c in planned["conferences"]] == ["test-bridge", "retro"]

    applied_run = cli.run("apply", str(path), str(other), "-o", "json", "-q")
    applied = schema_check("apply", applied_run.stdout)
    assert applied["exit_code"] == applied_run.returncode == exit_codes.PARTIAL  # dave: busy
    assert "\\u2022" not in applied_run.stdout and "\u2022" in applied_run.stdout

    one = cli.run("apply", str(other), "-o", "json", "-q")  # one file: the same envelope
    assert len(schema_check("apply", one.stdout)["conferences"]) == 1

    status = schema_check("status", cli.run("status", str(path), "-o", "json").stdout)
    assert status["exit_code"] == exit_codes.DRIFT  # dave is not in the call

    down = cli.run("down", str(path), str(other), "-o", "json", "--yes")
    torn = schema_check("down", down.stdout)
    assert torn["exit_code"] == down.returncode == exit_codes.OK
    assert {h["result"] for c in torn["conferences"] for h in c["hang_ups"]} <= {
        "hung_up",
        "absent",
    }


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
        (
            {"TELNYX_BASE_URL": "http://127.0.0.1:9/v2"},
            "error: cannot reach the API at http://127.0.0.1:9/v2",
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
