"""apply, plan, status and down against the sandbox's field profile, where a conference can only
be made by a call running TeXML: that call carries no Label, and plan, status and down still know it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import exit_codes
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import PEOPLE, CliSession, lines_of


@pytest.fixture
def field(tmp_path: Path) -> Iterator[CliSession]:
    scenario = {"profile": "field", "time_scale": 0.01, "seed": 9}
    with sandbox_in_thread(parse_scenario(scenario)) as info:
        yield CliSession(info, tmp_path)


@pytest.mark.parametrize("with_record", [True, False], ids=["record", "no-record"])
@pytest.mark.long
def test_plan_status_and_down_know_the_call_that_created_the_conference(
    field: CliSession, with_record: bool
) -> None:
    path = field.write(PEOPLE)
    state = ("--state-dir", str(field.directory / ("state" if with_record else "elsewhere")))
    # --settle-timeout bounds the wait for the conference the host's first call never made.
    applied = field.run(
        "apply",
        str(path),
        "-q",
        "--settle-timeout",
        "2",
        "--state-dir",
        str(field.directory / "state"),
    )
    assert applied.returncode == exit_codes.OK, applied.stdout + applied.stderr
    [created] = [d for d in field.dials() if d["label"] is None]
    assert created["to"] == PEOPLE[0]["to"]  # alice, the host, made the conference

    plan = field.run("plan", str(path), "--detailed-exitcode", *state)
    assert plan.returncode == exit_codes.OK, plan.stdout + plan.stderr
    status = field.run("status", str(path), *state)
    assert status.returncode == exit_codes.OK, status.stdout + status.stderr
    assert lines_of(status.stdout)[2].split()[:5] == [
        "alice",
        "host",
        "+1206\u2022\u2022\u20220100",
        "connected",
        "connected",
    ]

    down = field.run("down", str(path), "--yes", *state)
    assert down.returncode == exit_codes.OK, down.stdout + down.stderr
    assert "- hung up alice" in lines_of(down.stdout)
    # Nobody dialed twice on the way, but alice: her first call ran the application's TeXML
    # (create_by_name: app-texml) and was hung up before the TeXML call created the conference.
    dials = field.dials()
    assert len(dials) == 4
    assert [d["conference_sid"] for d in dials if d["label"] == "alice"] == [None]
