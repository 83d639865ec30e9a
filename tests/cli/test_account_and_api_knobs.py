"""The CLI against the sandbox over real HTTP, one test per family of the newer scenario
knobs: creation by name (app-texml), a late answered_by, the limit on writes (apply and
down), and a new account's limits (its twelve-person bridge, in one clear summary)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import CliSession, envelope, lines_of
from tests.engine.support import numbered


@contextmanager
def session(tmp_path: Path, **scenario: Any) -> Iterator[CliSession]:
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 5, **scenario})) as info:
        yield CliSession(info, tmp_path)


@pytest.mark.long
def test_apply_when_dialing_into_the_name_runs_the_applications_texml(tmp_path: Path) -> None:
    with session(tmp_path, api={"create_by_name": "app-texml"}) as cli:
        path = cli.write(numbered(4))
        # --settle-timeout bounds the wait for the conference after the answer (at most 10 s).
        ran = cli.run("apply", str(path), "-o", "json", "--settle-timeout", "2")
        dials = cli.dials()
    assert ran.returncode == exit_codes.OK, ran.stdout + ran.stderr
    assert "the API places a call that joins no conference" in ran.stderr
    rows = envelope("apply", ran)["conferences"][0]["participants"]
    assert [r["attempts"] for r in rows] == [2, 1, 1, 1]
    assert len(dials) == 5  # everyone once, and the host's first call, hung up


@pytest.mark.long
def test_on_machine_works_when_answered_by_shows_late(tmp_path: Path) -> None:
    numbers = {"+15550000011": {"answered_by": "machine"}}
    people: list[dict[str, Any]] = [
        {"name": "host", "to": "+12065550001", "role": "host"},
        {
            "name": "oncall",
            "to": ["+15550000011", "+12065550150"],
            "machine_detection": {"mode": "Enable", "on_machine": "next"},
        },
    ]
    with session(tmp_path, numbers=numbers, api={"answered_by_lag_s": 3}) as cli:
        path = cli.write(people)
        ran = cli.run("apply", str(path), "--settle-timeout", "20")
    assert ran.returncode == exit_codes.OK, ran.stdout + ran.stderr
    assert "oncall: a machine answered; next" in ran.stderr
    assert "test-bridge/oncall: fallback to number 2 after a machine answered" in ran.stderr


@pytest.mark.long
def test_apply_and_down_pace_themselves_under_the_limit_on_writes(tmp_path: Path) -> None:
    with session(tmp_path, api={"writes_per_second": 4}) as cli:
        path = cli.write(numbered(8))
        applied = cli.run("apply", str(path), "-q", "--settle-timeout", "20")
        down = cli.run("down", str(path), "--yes")
        dials = cli.dials()
    assert applied.returncode == exit_codes.OK, applied.stdout + applied.stderr
    assert down.returncode == exit_codes.OK, down.stdout + down.stderr
    assert sum(line.startswith("- hung up") for line in lines_of(down.stdout)) == 8
    assert len(dials) == 8 and {d["status"] for d in dials} == {"completed"}


@pytest.mark.long
def test_a_new_accounts_twelve_person_bridge(tmp_path: Path) -> None:
    with session(tmp_path, profile="new-account") as cli:
        path = cli.write(numbered(12))
        ran = cli.run("apply", str(path), "--settle-timeout", "20")
    assert ran.returncode == exit_codes.PARTIAL, ran.stdout + ran.stderr
    lines = lines_of(ran.stdout)
    table = [line.split() for line in lines[2:14]]
    assert [row[4] for row in table[:5]] == ["connected"] * 5
    assert [row[4:6] for row in table[5:10]] == [["ended:", "failed"]] * 5
    assert all(
        "likely the account concurrent-call limit (failed with" in " ".join(row)
        for row in table[5:10]
    )
    assert [row[4] for row in table[10:]] == ["not-dialed"] * 2
    assert all("account dial cap (10 dials) reached" in " ".join(row) for row in table[10:])
    totals = "12 participants: 5 ended: failed, 2 not-dialed, 5 connected; 7 did not converge."
    assert lines[14].startswith(totals)
    [cap_line] = [line for line in ran.stderr.splitlines() if "dial cap" in line]
    assert cap_line.startswith("account dial cap (10 dials) reached at p010: no more dials")
