"""Which commands need which ``${VAR}``: one only a dial uses is needed by apply alone, one
that says which conference or call is the file's by every command that talks to the API."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from orchestrator import exit_codes
from tests.cli.support import PEOPLE, CliSession, envelope, lines_of

SECRETS = {"TICKET": "ticket-4711", "CAROL_PW": "carol-sip-pass"}


def _people() -> list[dict[str, Any]]:
    people = copy.deepcopy(PEOPLE)
    people[1]["custom_headers"] = {"X-Ticket": "${TICKET}"}
    people[2]["sip_auth"] = {"username": "carol", "password": "${CAROL_PW}"}
    return people


def _applied(cli: CliSession) -> Path:
    """The file, applied with its secrets set (the local record keeps what was dialed)."""
    path = cli.write(_people())
    result = cli.run("apply", str(path), "-q", "--settle-timeout", "20", **SECRETS)
    assert result.returncode == exit_codes.OK, result.stdout + result.stderr
    return path


def _uses(path: Path, name: str) -> str:
    """FILE:LINE:COL of the value that names ``name`` (one ``key: value`` line)."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if f"${{{name}}}" in line:
            return f"{path}:{number}:{line.index(': ') + 3}"
    raise AssertionError(name)


def test_plan_names_who_cannot_be_dialed_and_still_says_what_differs(cli: CliSession) -> None:
    path = _applied(cli)
    result = cli.run("plan", str(path), "--detailed-exitcode")
    assert result.returncode == exit_codes.OK, result.stderr  # nothing differs
    assert "Plan: 0 to dial, 0 to update, 0 to hang up. 3 unchanged." in result.stdout
    assert result.stderr.splitlines() == [
        f"{_uses(path, 'TICKET')}: warning: bob cannot be dialed: environment variable TICKET "
        "is not set (used in participants[1].custom_headers.X-Ticket); apply refuses to run "
        "without it",
        f"{_uses(path, 'CAROL_PW')}: warning: carol cannot be dialed: environment variable "
        "CAROL_PW is not set (used in participants[2].sip_auth.password); apply refuses to run "
        "without it",
    ]

    people = _people()
    people[0]["muted"] = True
    cli.write(people)
    changed = cli.run("plan", str(path), "--detailed-exitcode", "-o", "json")
    assert changed.returncode == exit_codes.CHANGES, changed.stderr
    planned = envelope("plan", changed)
    assert planned["error"] is None and planned["changes_present"] is True
    [conference] = planned["conferences"]
    assert [(a["name"], a["action"], a["needs_redial"]) for a in conference["actions"]] == [
        ("alice", "update", []),
        ("bob", "unchanged", []),  # its header, unknown here, is not taken for a change
        ("carol", "unchanged", []),
    ]
    assert "bob cannot be dialed" in changed.stderr


def test_status_and_down_run_without_what_only_a_dial_needs_but_not_without_the_rest(
    cli: CliSession,
) -> None:
    path = _applied(cli)
    dials = cli.dial_count()
    status = cli.run("status", str(path))
    # In sync: the header's value, unknown here, is not taken for a change.
    assert status.returncode == exit_codes.OK, status.stdout + status.stderr
    assert lines_of(status.stdout)[-1] == "in sync"
    assert status.stderr == ""

    down = cli.run("down", str(path), "--yes")
    assert down.returncode == exit_codes.OK, down.stderr
    assert "- hung up carol" in lines_of(down.stdout)
    conferences = cli.api(lambda c: c.list_conferences(friendly_name="test-bridge"))
    assert [c["status"] for c in conferences] == ["completed"]  # the host ended it on leaving
    assert cli.dial_count() == dials

    # A variable that says which conference or call is the file's is needed by them all.
    people = _people()
    people[0]["to"] = "${ALICE_NUMBER}"
    named = cli.write(people, name="${BRIDGE}")
    for command in (["plan"], ["status"], ["down", "--yes"], ["apply", "-q"]):
        result = cli.run(*command, str(named), **SECRETS)
        assert result.returncode == exit_codes.FAILED, (command, result.stdout)
        lines = result.stderr.splitlines()
        assert [line.split(": ", 1)[1].split(" (")[0] for line in lines[:-1]] == [
            "error: environment variable BRIDGE is not set",
            "error: environment variable ALICE_NUMBER is not set",
        ], command
        assert lines[-1].startswith("error: 2 errors in 1 file; no request was sent"), command
    assert cli.dial_count() == dials


def test_apply_refuses_before_any_request_and_names_each_participant(cli: CliSession) -> None:
    path = _applied(cli)
    cli.run("down", str(path), "--yes")
    dials = cli.dial_count()

    result = cli.run("apply", str(path), "-q", CAROL_PW=SECRETS["CAROL_PW"])
    assert result.returncode == exit_codes.FAILED
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{_uses(path, 'TICKET')}: error: bob cannot be dialed: environment variable TICKET "
        "is not set (used in participants[1].custom_headers.X-Ticket)",
        "error: 1 participant cannot be dialed without variables that are not set; nothing was "
        "sent. Set them and run again (plan, status and down run without them)",
    ]
    assert cli.dial_count() == dials

    as_json = cli.run("apply", str(path), "-q", "-o", "json")
    error = envelope("apply", as_json)["error"]
    assert as_json.returncode == exit_codes.FAILED
    assert [(f["severity"], f["message"].split(":")[0]) for f in error["findings"]] == [
        ("error", "bob cannot be dialed"),
        ("error", "carol cannot be dialed"),
    ]
    assert error["file"] == str(path)
    assert cli.dial_count() == dials
    assert SECRETS["CAROL_PW"] not in result.stderr + as_json.stdout + as_json.stderr
