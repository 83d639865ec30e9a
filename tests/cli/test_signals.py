"""SIGTERM and SIGHUP stop apply as the first Ctrl-C does; a second signal aborts at once.

apply runs in a subprocess against a sandbox served by a thread of the test, so
the local record is kept (an in-process --sandbox run records nothing). A server
(``webhooks listen``, ``apply --watch --listen``) stops within its grace while a
client holds a request open, and at once on a second signal.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.engine.state import StateStore
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from orchestrator.serving import SHUTDOWN_GRACE_S
from tests.cli.support import OWN_SETTINGS, CliSession
from tests.engine.support import conference_file, numbered

# Every test runs orchestrator processes and signals them.
pytestmark = pytest.mark.long

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


SLOW_ANSWER_MS = 2000


@pytest.fixture
def slow_cli(tmp_path: Path) -> Iterator[CliSession]:
    """Every API answer takes two seconds, so a run is still busy when a second signal comes,
    and waiting for what is in flight would show."""
    scenario: dict[str, Any] = {"time_scale": 0.01, "seed": 11, "latency_ms": SLOW_ANSWER_MS}
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
    # The dials in flight have nearly two seconds to go: none was waited for.
    assert time.monotonic() - sent < 1.2
    assert process.returncode == code, stderr
    assert stderr.splitlines()[-2:] == [
        f"received {first.name}: no new dials; finishing requests in flight (send it again to abort)",
        "aborted",
    ]
    assert "Traceback" not in stderr
    assert stdout == "" and not report.exists()


# The headers of a request and 3 of the 100 bytes of body they announce.
HALF_A_REQUEST = b"POST /calls HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nabc"


def start(*args: str, python: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    """``orchestrator ARGS`` in a subprocess (``python``: the interpreter's own options), with
    none of the test's TELNYX_* or ORCH* settings."""
    return subprocess.Popen(
        [sys.executable, *python, "-m", "orchestrator", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)},
    )


def port_said(process: subprocess.Popen[str], pattern: str) -> int:
    """The port of the loopback URL on the first stderr line that matches ``pattern``."""
    assert process.stderr is not None
    lines = []
    while line := process.stderr.readline():
        lines.append(line)
        if re.search(pattern, line):
            found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            assert found is not None, line
            return int(found.group(1))
    raise AssertionError("".join(lines))


def hold_half_a_request(port: int) -> socket.socket:
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.sendall(HALF_A_REQUEST)
    time.sleep(0.3)  # the server has read the headers: a request is in progress
    return held


def refused(port: int) -> bool:
    """Whether new connections to ``port`` are refused, once they are (within five seconds);
    one on its way as the listening socket closes is reset instead."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except (ConnectionRefusedError, ConnectionResetError):
            return True
        time.sleep(0.01)
    return False


def stop_while_held(process: subprocess.Popen[str], port: int, signals: int) -> tuple[str, str]:
    """SIGTERM (``signals`` times) while a client holds half a request open; the output,
    once the process has ended within the grace (one signal) or at once (two)."""
    with hold_half_a_request(port) as held:
        process.send_signal(signal.SIGTERM)
        assert refused(port)  # no new connection from the first signal on
        if signals == 2:
            process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        # One signal: the grace, not a minute; two: not even the grace.
        limit = 10.0 if signals == 1 else SHUTDOWN_GRACE_S / 2
        try:
            stdout, stderr = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise AssertionError(f"still running {limit} s after the signal: {stderr}") from None
        assert time.monotonic() - sent < limit
        with contextlib.suppress(ConnectionResetError):  # closed, not left open
            assert held.recv(100) == b""
    assert "Traceback" not in stderr, stderr
    return stdout, stderr


@pytest.mark.parametrize("signals", [1, 2], ids=["SIGTERM", "SIGTERM-SIGTERM"])
def test_webhooks_listen_stops_promptly_while_a_client_holds_a_request(signals: int) -> None:
    process = start("webhooks", "listen", "--port", "0")
    port = port_said(process, r"listening on ")
    _, stderr = stop_while_held(process, port, signals)
    assert process.returncode == exit_codes.OK, stderr
    assert "stopped after 0 callbacks (0 rejected)" in stderr


@pytest.mark.parametrize("signals", [1, 2], ids=["SIGTERM", "SIGTERM-SIGTERM"])
def test_apply_watch_listen_stops_promptly_while_a_client_holds_a_request(
    tmp_path: Path, signals: int
) -> None:
    path = conference_file(tmp_path, numbered(2))
    scenario = tmp_path / "fast.yaml"
    scenario.write_text("time_scale: 0.01\n", encoding="utf-8")
    report = tmp_path / "report.json"
    process = start(
        *("apply", str(path), "--sandbox", "--scenario", str(scenario), "--report", str(report)),
        *("--watch", "--interval", "0.2", "--listen", "127.0.0.1:0"),
    )
    port = port_said(process, r"listening on ")
    stdout, stderr = stop_while_held(process, port, signals)
    if signals == 1:  # the watch ends as a stopped watch does: summary, report, verdict
        assert process.returncode in (exit_codes.OK, exit_codes.PARTIAL), stderr
        assert "2 participants: " in stdout
        assert json.loads(report.read_text())["exit_code"] == process.returncode
    else:  # the second signal aborts, as it does any run
        assert process.returncode == exit_codes.TERMINATED, stderr
        assert stderr.splitlines()[-1] == "aborted"
        assert stdout == "" and not report.exists()


@pytest.mark.parametrize(
    "moment",
    [
        r"\| +asyncio$",  # apply's modules are being imported
        r"\| +aiohttp$",  # ... the heaviest of them
        r"\| +orchestrator\.sandbox$",  # the run has begun; the sandbox is about to start
        r"^sandbox: simulated TeXML API",  # it has started; the files are being read
    ],
    ids=["importing", "importing-aiohttp", "starting-the-sandbox", "reading-the-files"],
)
def test_a_signal_at_any_moment_of_the_start_leaves_the_summary_and_the_report(
    tmp_path: Path, moment: str
) -> None:
    """The moments are told by what the process has done (``-X importtime`` prints each import
    as it ends) rather than by a clock, so that a loaded machine cannot move them."""
    path = conference_file(tmp_path, numbered(3))
    report = tmp_path / "report.json"
    process = start(
        "apply", str(path), "--sandbox", "--report", str(report), python=("-X", "importtime")
    )
    assert process.stderr is not None
    before = []
    while line := process.stderr.readline():
        before.append(line)
        if re.search(moment, line.rstrip("\n")):
            break
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    stderr = "".join(before) + stderr
    said = [line for line in stderr.splitlines() if not line.startswith("import time:")]

    assert process.returncode == exit_codes.TERMINATED, "\n".join(said)
    assert "Traceback" not in stderr
    assert len([line for line in said if line.startswith("received SIGTERM")]) == 1, said
    # Every participant is in the summary and the report, each with what became of it.
    names = [f"p{i:03d}" for i in range(3)]
    lines = stdout.splitlines()
    assert sorted(line.split()[0] for line in lines[2:5]) == names, stdout
    assert lines[5].startswith("3 participants: ")
    assert any(line.startswith("interrupted by SIGTERM") for line in lines)
    envelope = json.loads(report.read_text())
    assert envelope["exit_code"] == exit_codes.TERMINATED
    [document] = envelope["conferences"]
    assert document["stopped_by"] == "SIGTERM"
    outcomes = {p["name"]: p["observed"] for p in document["participants"]}
    assert sorted(outcomes) == names
    assert set(outcomes.values()) <= {"not-dialed", "connecting", "connected"}, outcomes


def test_a_signal_while_apply_asks_to_hang_up_hangs_nobody_up(cli: CliSession) -> None:
    """The question is answered no; the run that follows dials nobody and says so."""
    report = cli.directory / "report.json"
    state = ("--state-dir", str(cli.directory / "state"))
    path = cli.write(numbered(2))
    cli.apply(path, *state)
    cli.write(numbered(1))  # p001 left the file: --prune asks before it hangs the call up
    flags = ("--prune", *state, "--report", str(report))
    terminal, its_end = pty.openpty()  # the question needs a terminal to be asked on
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "apply", str(path), *flags],
        stdin=its_end,
        stdout=subprocess.PIPE,
        stderr=its_end,
        text=True,
        env=cli.env,
    )
    os.close(its_end)
    shown: list[bytes] = []
    asked = threading.Event()

    def read_the_terminal() -> None:  # to its end, so that the process never waits on it
        with contextlib.suppress(OSError):
            while chunk := os.read(terminal, 4096):
                shown.append(chunk)
                if b"Go ahead?" in b"".join(shown):
                    asked.set()

    reader = threading.Thread(target=read_the_terminal, daemon=True)
    reader.start()
    try:
        assert asked.wait(timeout=20), b"".join(shown)
        # As a person would: once it waits for the answer. (A signal in the instant between
        # the question and the read that waits for the answer is handled only after the read.)
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        reader.join(timeout=5)
        os.close(terminal)
    said = b"".join(shown).decode(errors="replace")
    assert process.returncode == exit_codes.INTERRUPTED, said
    assert "Traceback" not in said and "Aborted" not in said
    assert "received SIGINT before the first dial: nobody will be dialed" in said
    assert any(line.startswith("interrupted by Ctrl-C") for line in stdout.splitlines()), stdout
    assert "p001" in stdout and "apply --prune hangs it up" in stdout
    assert cli.live_labels("p000", "p001") == {"p000": True, "p001": True}  # nobody hung up
    assert json.loads(report.read_text())["exit_code"] == exit_codes.INTERRUPTED
