"""``history`` over real HTTP against the sandbox: runs listed and shown, a killed run told
as interrupted, a run completed from the API once, its recording kept, its page looked at."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.browser import launched, look
from tests.cli.support import PEOPLE, CliSession, envelope, invoke

RUNS = (".orchestrator", "runs")


def runs_of(cli: CliSession) -> list[Path]:
    return sorted(cli.directory.joinpath(*RUNS).iterdir())


def lines_of_log(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def test_apply_and_down_are_listed_newest_first(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    cli.run("down", str(path), "--yes")

    listed = cli.run("history", cwd=cli.directory)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0][:4] == ["RUN", "STARTED", "COMMAND", "FILE"]
    assert [row[3] for row in rows[1:]] == ["down", "apply"]
    assert rows[2][5:] == ["test-bridge", "3/3", rows[2][7], rows[2][8], "exit", "0"]
    assert rows[2][7].endswith("s") and rows[2][8].endswith("s")  # first and all connected

    document = envelope("history", cli.run("history", "-o", "json", cwd=cli.directory))
    down, applied = document["runs"]
    assert (down["command"], applied["command"]) == ("down", "apply")
    assert applied["conferences"][0]["converged"] == 3
    assert applied["files"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # down's hang-ups are events of its own run, written as apply's are.
    hung = [
        e for e in lines_of_log(cli.directory.joinpath(*RUNS, down["id"])) if e["kind"] == "hung-up"
    ]
    assert sorted((e["participant"], e["why"]) for e in hung) == [
        ("alice", "down"),
        ("bob", "down"),
        ("carol", "down"),
    ]

    only = envelope("history", cli.run("history", "-o", "json", "-n", "1", cwd=cli.directory))
    assert [r["command"] for r in only["runs"]] == ["down"]
    by_file = cli.run("history", "--file", str(path), "-o", "json", cwd=Path("/"))
    assert len(envelope("history", by_file)["runs"]) == 2
    other = cli.run("history", "--conference", "elsewhere", "-o", "json", cwd=cli.directory)
    assert envelope("history", other)["runs"] == []


def test_one_run_in_text_and_json_numbers_masked_unless_full(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    shown = cli.run("history", "last", cwd=cli.directory)
    assert shown.returncode == 0, shown.stderr
    assert "3 participants: 3 connected; all converged." in shown.stdout
    assert "first connected: " in shown.stdout and "+12065550101" not in shown.stdout
    assert "bob +1206•••0101: joined 20" in shown.stdout

    document = envelope("history", cli.run("history", "last", "-o", "json", cwd=cli.directory))
    [conference] = document["conferences"]
    assert document["run"]["exit_code"] == 0 and document["run"]["interrupted"] is False
    bob = next(p for p in conference["participants"] if p["name"] == "bob")
    assert bob["to"] == "+1206•••0101" and bob["legs"][0]["joined_at"].endswith("Z")
    assert conference["figures"]["wanted"] == 3
    full = cli.run("history", "last", "-o", "json", "--full", cwd=cli.directory)
    assert "+12065550101" in full.stdout


def test_no_secret_is_written_to_the_record(cli: CliSession) -> None:
    people = [
        *PEOPLE,
        {
            "name": "dan",
            "to": "sip:dan@example.com",
            "sip_auth": {"username": "dan", "password": "${SIP_PW}"},
        },
    ]
    path = cli.write(people)
    result = cli.run("apply", str(path), "-q", SIP_PW="s3cret-sip-pw")
    assert result.returncode == 0, result.stderr
    [run] = runs_of(cli)
    for file in run.rglob("*"):
        if file.is_file():
            text = file.read_text(errors="replace")
            assert cli.info.api_key not in text and "s3cret-sip-pw" not in text


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (
            ("history", "nope"),
            exit_codes.USAGE,
            "error: no run 'nope' (orchestrator history lists them)",
        ),
        (("history", "2"), exit_codes.USAGE, "error: run '2' is ambiguous: 2 runs start so"),
        (("history", "-o", "html"), exit_codes.USAGE, "error: -o html draws one run: name it"),
        (("history", "nope", "-o", "json"), exit_codes.USAGE, "error: no run 'nope'"),
        (
            ("history", "last", "--out", "/nonexistent/dir/run.html", "-o", "html"),
            exit_codes.FAILED,
            "error: --out /nonexistent/dir/run.html: cannot write it",
        ),
    ],
    ids=["unknown", "ambiguous", "html-without-run", "unknown-json", "unwritable-out"],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    cli: CliSession, args: tuple[str, ...], code: int, said: str
) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    cli.apply(path)
    result = cli.run(*args, cwd=cli.directory)
    assert result.returncode == code
    assert result.stderr.startswith(said) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_fetch_of_a_sandbox_run_says_there_is_nothing_left_to_ask(tmp_path: Path) -> None:
    path = CliSession(None, tmp_path).write(PEOPLE)  # type: ignore[arg-type]
    scenario = tmp_path / "fast.yaml"
    scenario.write_text("time_scale: 0.01\n", encoding="utf-8")
    assert (
        invoke("apply", str(path), "-q", "--sandbox", "--scenario", str(scenario)).returncode == 0
    )
    listed = invoke("history", "-o", "json", cwd=tmp_path)
    [run] = envelope("history", listed)["runs"]
    assert run["sandbox"] is True and run["exit_code"] == 0
    fetched = invoke("history", "last", "--fetch", cwd=tmp_path)
    assert fetched.returncode == exit_codes.FAILED
    assert "was made with --sandbox: its simulation ended with the run" in fetched.stderr
    shown = invoke("history", "last", cwd=tmp_path)
    assert "simulation ended with it; nothing more can be learned" in shown.stdout


def _wait_for(
    run_folder: Path, seen: Any, process: subprocess.Popen[str], timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """The log's events once ``seen(events)`` holds (the folder appears when the run starts)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the run ended first: {process.communicate()}")
        found = list(run_folder.glob("*/events.jsonl"))
        if found:
            events = [json.loads(x) for x in found[0].read_text().splitlines() if x.endswith("}")]
            if seen(events):
                return events
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout_s}s")


@pytest.mark.long
def test_an_apply_killed_with_sigkill_is_interrupted_and_its_events_readable(
    cli: CliSession,
) -> None:
    path = cli.write(PEOPLE)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "apply", str(path), "--watch", "--interval", "0.2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )
    try:
        runs = cli.directory.joinpath(*RUNS)
        _wait_for(runs, lambda events: sum(e["kind"] == "connected" for e in events) == 3, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    [run] = runs_of(cli)
    lines = (run / "events.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["at"].endswith("Z") for line in lines)
    listed = cli.run("history", cwd=cli.directory)
    assert listed.stdout.splitlines()[1].split()[-1] == "interrupted"
    document = envelope("history", cli.run("history", "last", "-o", "json", cwd=cli.directory))
    assert document["run"]["interrupted"] is True and document["run"]["ended"] is None
    observed = {p["name"]: p["observed"] for p in document["conferences"][0]["participants"]}
    assert observed == {"alice": "connected", "bob": "connected", "carol": "connected"}


# The done-when run: a drop redialed, a voicemail, a busy number, the conference recorded.
ALICE, BOB, CAROL, DAVE = "+12065550100", "+12065550101", "+12065550102", "+12065550103"
E2E_SCENARIO = {
    "time_scale": 0.01,
    "seed": 7,
    "numbers": {
        BOB: {"hangup_after": 150, "then": "answer"},  # drops 1.5 s after answering, once
        CAROL: {"answer": "busy"},
        DAVE: {"answered_by": "machine"},
    },
}
E2E_PEOPLE: list[dict[str, Any]] = [
    {"name": "alice", "to": ALICE, "role": "host"},
    {"name": "bob", "to": BOB, "reconnect": {"attempts": 1, "backoff_s": 1}},
    {"name": "carol", "to": CAROL},
    {"name": "dave", "to": DAVE, "machine_detection": {"mode": "Enable", "on_machine": "hangup"}},
]


@pytest.fixture
def recorded_run(tmp_path: Path) -> Iterator[tuple[CliSession, Path]]:
    """apply --watch of the four until bob's redial connected, then the conference ended."""
    with sandbox_in_thread(parse_scenario(E2E_SCENARIO)) as info:
        cli = CliSession(info, tmp_path)
        path = cli.write(E2E_PEOPLE, record="record-from-start")
        command = [sys.executable, "-m", "orchestrator", "apply", str(path), "-q"]
        process = subprocess.Popen(
            [*command, "--watch", "--interval", "0.2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env,
        )
        try:

            def redialed(events: list[dict[str, Any]]) -> bool:
                kinds = [(e["kind"], e.get("participant")) for e in events]
                return ("redial", "bob") in kinds and kinds[::-1].index(
                    ("connected", "bob")
                ) < kinds[::-1].index(("redial", "bob"))

            _wait_for(tmp_path.joinpath(*RUNS), redialed, process)
            sid = cli.conference_sid()
            cli.api(lambda c: c.update_conference(sid, {"Status": "completed"}))
            _, stderr = process.communicate(timeout=60)  # the watch ends with its conference
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == exit_codes.PARTIAL, stderr  # carol and dave did not converge
        yield cli, runs_of(cli)[0]


@pytest.mark.long
def test_a_run_is_completed_from_the_api_once_and_drawn_one_lane_each(
    recorded_run: tuple[CliSession, Path],
) -> None:
    cli, run = recorded_run
    listed = envelope("history", cli.run("history", "-o", "json", cwd=cli.directory))
    assert [r["id"] for r in listed["runs"]] == [run.name]

    fetched = cli.run("history", "last", "--fetch", "-o", "json", cwd=cli.directory)
    assert fetched.returncode == 0, fetched.stderr
    assert "fetched: " in fetched.stderr
    [conference] = envelope("history", fetched)["conferences"]
    assert conference["conference"]["end_reason"] == "conference-ended-via-api"
    assert conference["conference"]["ended_at"] is not None
    legs = {p["name"]: p["legs"] for p in conference["participants"]}
    for leg in [leg for person in legs.values() for leg in person]:
        assert leg["left_at"] is not None and leg["cause"] and leg["status"], leg
    assert [leg["cause"] for leg in legs["bob"]] == ["left the conference", "the conference ended"]
    assert all(leg["joined_at"] for leg in legs["bob"])
    assert [(leg["cause"], leg["status"], leg["joined_at"]) for leg in legs["carol"]] == [
        ("busy", "busy", None)
    ]
    [voicemail] = legs["dave"]
    assert voicemail["answered_by"] == "machine" and voicemail["cause"].startswith("a machine")
    assert legs["alice"][0]["cause"] == "the conference ended"
    assert legs["alice"][0]["status"] == "completed"

    [recording] = conference["recordings"]
    kept = run / recording["path"]
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == recording["sha256"]
    assert kept.stat().st_size == recording["bytes"] > 44  # a WAV header and sound
    assert [e["kind"] for e in lines_of_log(run)].count("recording-kept") == 1

    before = (run / "events.jsonl").read_bytes()
    again = cli.run("history", "last", "--fetch", cwd=cli.directory)
    assert again.returncode == 0, again.stderr
    assert "fetched: 0 new fact(s), 0 recording(s) kept" in again.stderr
    assert (run / "events.jsonl").read_bytes() == before
    learned = [e for e in lines_of_log(run) if e["kind"] == "call-learned"]
    assert all(e["source"] == "api" for e in learned)
    keys = [(e["call_sid"], e["field"]) for e in learned]
    assert len(keys) == len(set(keys))

    page = cli.directory / "run.html"
    made = cli.run("history", "last", "-o", "html", "--out", str(page), cwd=cli.directory)
    assert made.returncode == 0, made.stderr
    # The browser last: its loop would stand in the way of the commands' own.
    with launched() as browser:
        looked = look(browser, page, 1280)
    assert looked.errors == [] and looked.lanes == [4] and looked.width <= 1280
    assert f'href="{os.path.relpath(kept, page.parent)}"' in page.read_text()


@pytest.mark.long
def test_callbacks_heard_by_the_watch_keep_a_recording_once_and_a_hangup_cause(
    cli: CliSession,
) -> None:
    with socket.socket() as probe:  # a free port, named in the file before the listener binds it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = {"status_callback": {"url": f"http://127.0.0.1:{port}/recordings"}}
    people = [
        {"name": "alice", "to": ALICE, "role": "host"},
        # The sandbox's +1206...0101 of the cli fixture answers and stays: hung up below.
        {
            "name": "bob",
            "to": BOB,
            "record": True,
            "recording": hook,
            "status_callback": {"url": f"http://127.0.0.1:{port}/calls", "events": ["completed"]},
        },
    ]
    path = cli.write(people)
    command = [sys.executable, "-m", "orchestrator", "apply", str(path), "-q", "--watch"]
    process = subprocess.Popen(
        [*command, "--interval", "0.2", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )
    runs = cli.directory.joinpath(*RUNS)
    try:
        _wait_for(runs, lambda events: sum(e["kind"] == "connected" for e in events) == 2, process)
        sid = cli.conference_sid()
        bob = cli.api(lambda c: c.get_participant(sid, "bob"))["call_sid"]
        cli.api(lambda c: c.delete_participant(sid, bob))  # his leg's recording completes
        kept = _wait_for(
            runs,
            lambda events: {"recording-kept", "call-learned"} <= {e["kind"] for e in events},
            process,
        )
        cli.api(lambda c: c.update_conference(sid, {"Status": "completed"}))
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    [recording] = [e for e in kept if e["kind"] == "recording-kept"]
    assert (recording["source"], recording["participant"], recording["call_sid"]) == (
        "callback",
        "bob",
        bob,
    )
    # The call's completed callback says why it ended, which GET Calls/{sid} does not.
    causes = {e["field"]: e for e in kept if e["kind"] == "call-learned"}
    assert causes["hangup_cause"]["source"] == "callback"
    assert causes["hangup_cause"]["call_sid"] == bob and causes["hangup_cause"]["value"]
    [run] = runs_of(cli)
    assert hashlib.sha256((run / recording["path"]).read_bytes()).hexdigest() == recording["sha256"]
    # The end of the run lists the recordings again: the one kept is not fetched twice.
    assert [e["kind"] for e in lines_of_log(run)].count("recording-kept") == 1, stderr


def test_a_prune_is_kept_as_a_hang_up_in_its_run_under_state_dir(cli: CliSession) -> None:
    state = ("--state-dir", str(cli.directory / "kept"))
    path = cli.write(PEOPLE)
    cli.apply(path, *state)
    cli.write(PEOPLE[:2])  # carol left the file
    pruned = cli.run("apply", str(path), "-q", "--prune", "--yes", *state)
    assert pruned.returncode == 0, pruned.stderr
    assert not cli.directory.joinpath(*RUNS).exists()  # all of it under --state-dir

    document = envelope("history", cli.run("history", "-o", "json", *state))
    assert len(document["runs"]) == 2
    newest = document["runs"][0]["id"]
    log = lines_of_log(cli.directory / "kept" / "runs" / newest)
    assert [(e["participant"], e["why"]) for e in log if e["kind"] == "hung-up"] == [
        ("carol", "prune")
    ]
    page = cli.run("history", newest, "-o", "svg", *state)
    assert page.returncode == 0, page.stderr
    assert "<title>hung up by apply --prune</title>" in page.stdout
