"""SIGTERM and SIGHUP stop apply as the first Ctrl-C does; a second signal aborts at once.

apply runs in a subprocess against a sandbox served by a thread of the test, so
the local record is kept (an in-process --sandbox run records nothing).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.engine.state import StateStore
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import CliSession
from tests.engine.support import numbered

PEOPLE = 30


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliSession]:
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 11})) as info:
        yield CliSession(info, tmp_path)


def start_apply(cli: CliSession, path: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "apply", str(path), *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )


def read_until(process: subprocess.Popen[str], dials: int) -> list[str]:
    """stderr lines up to the ``dials``-th "dialed" one."""
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while sum(": dialed " in line for line in lines) < dials and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
    assert sum(": dialed " in line for line in lines) >= dials, "".join(lines)
    return lines


@pytest.mark.parametrize(
    ("signum", "code"),
    [
        (signal.SIGTERM, exit_codes.TERMINATED),
        (signal.SIGHUP, exit_codes.HUNG_UP),
        (signal.SIGINT, exit_codes.INTERRUPTED),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_signal_stops_new_dials_and_the_run_ends_as_usual(
    cli: CliSession, signum: signal.Signals, code: int
) -> None:
    path = cli.write(numbered(PEOPLE))
    report = cli.directory / "report.json"
    state_dir = cli.directory / "state"
    process = start_apply(
        cli,
        path,
        *("--dials-per-second", "10", "--dial-window", "1"),  # ten at once, then ten a second
        *("--report", str(report), "--state-dir", str(state_dir)),
    )
    before = read_until(process, 12)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    stderr = "".join(before) + stderr

    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    notices = [line for line in stderr.splitlines() if line.startswith("received ")]
    again = "Ctrl-C again" if signum == signal.SIGINT else "send it again"
    assert notices == [
        f"received {signum.name}: no new dials; finishing requests in flight ({again} to abort)"
    ]

    # The summary names every participant; those never dialed say so.
    lines = stdout.splitlines()
    totals = next(i for i, line in enumerate(lines) if line.startswith(f"{PEOPLE} participants:"))
    rows = {line.split()[0]: line for line in lines[2:totals]}
    assert sorted(rows) == [f"p{i:03d}" for i in range(PEOPLE)]
    assert any("not-dialed" in row for row in rows.values())
    # ... and the last lines name each of them, and why.
    digest = [line.split(":")[0].strip() for line in lines[totals + 2 :] if line.startswith("  ")]
    assert digest == [name for name, row in rows.items() if row.split()[4] != "connected"]
    by = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else signum.name
    [said] = [line for line in stdout.splitlines() if line.startswith("interrupted by")]
    assert said.startswith(f"interrupted by {by}: no dial was sent after it")

    envelope = json.loads(report.read_text())
    assert envelope["exit_code"] == code
    [document] = envelope["conferences"]
    assert document["interrupted"] is True and document["exit_code"] == code
    assert document["stopped_by"] == signum.name
    in_flight = document["in_flight_at_stop"]
    assert isinstance(in_flight, int) and in_flight >= 0
    if in_flight:
        assert f"; {in_flight} dial" in said
    by_name = {p["name"]: p for p in document["participants"]}
    assert len(by_name) == PEOPLE
    dialed = {n for n, p in by_name.items() if p["observed"] in ("connected", "connecting")}
    assert len(dialed) >= 12
    assert {p["observed"] for p in by_name.values()} <= {"connected", "connecting", "not-dialed"}
    # Nobody was dialed after the signal but what was already on its way.
    assert cli.dial_count() == len(dialed) < PEOPLE

    record = StateStore(state_dir).load(str(path), cli.info.account_sid, "test-bridge")
    assert set(record.participants) == dialed
    assert {r.call_sid for r in record.participants.values()} == {
        by_name[n]["call_sid"] for n in dialed
    }


def test_the_record_lets_the_next_apply_finish_the_job(cli: CliSession) -> None:
    path = cli.write(numbered(PEOPLE))
    state_dir = cli.directory / "state"
    flags = ("--state-dir", str(state_dir), "--dials-per-second", "10", "--dial-window", "1")
    process = start_apply(cli, path, *flags)
    read_until(process, 12)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == exit_codes.TERMINATED
    first = cli.dial_count()

    finished = cli.run("apply", str(path), "-q", *flags)
    assert finished.returncode == exit_codes.OK, finished.stdout + finished.stderr
    assert cli.dial_count() == PEOPLE  # the rest dialed, nobody twice
    assert f"{PEOPLE} participants: {PEOPLE} connected; all converged." in finished.stdout
    assert first < PEOPLE


@pytest.fixture
def slow_cli(tmp_path: Path) -> Iterator[CliSession]:
    """Every API answer takes half a second, so a run is still busy when a second signal comes."""
    scenario: dict[str, Any] = {"time_scale": 0.01, "seed": 11, "latency_ms": 500}
    with sandbox_in_thread(parse_scenario(scenario)) as info:
        yield CliSession(info, tmp_path)


@pytest.mark.parametrize(
    ("first", "second", "code"),
    [
        (signal.SIGTERM, signal.SIGTERM, exit_codes.TERMINATED),
        (signal.SIGHUP, signal.SIGINT, exit_codes.INTERRUPTED),
    ],
    ids=["SIGTERM-SIGTERM", "SIGHUP-SIGINT"],
)
def test_a_second_signal_aborts_at_once(
    slow_cli: CliSession, first: signal.Signals, second: signal.Signals, code: int
) -> None:
    path = slow_cli.write(numbered(PEOPLE))
    report = slow_cli.directory / "report.json"
    process = start_apply(slow_cli, path, "--report", str(report))
    read_until(process, 1)  # the conference exists; the others' dials are on the wire
    process.send_signal(first)
    time.sleep(0.2)
    sent = time.monotonic()
    process.send_signal(second)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 1.0  # no request in flight was waited for
    assert process.returncode == code, stderr
    assert stderr.splitlines()[-2:] == [
        f"received {first.name}: no new dials; finishing requests in flight (send it again to abort)",
        "aborted",
    ]
    assert "Traceback" not in stderr
    assert stdout == "" and not report.exists()
