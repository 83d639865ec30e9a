"""status and down (and the local record they read) against the sandbox over HTTP."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys

import pytest

from orchestrator import exit_codes
from orchestrator.engine.state import StateStore
from tests.cli.support import PEOPLE, CliSession, lines_of


def test_status_exit_codes_in_sync_drift_and_error(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    fresh = cli.run("status", str(path))
    assert fresh.returncode == exit_codes.DRIFT  # nobody is there yet
    assert "not in the conference (apply dials it)" in fresh.stdout

    cli.apply(path)
    in_sync = cli.run("status", str(path))
    assert in_sync.returncode == exit_codes.OK, in_sync.stdout + in_sync.stderr
    lines = lines_of(in_sync.stdout)
    assert lines[0].startswith("Conference test-bridge") and lines[0].endswith(", in-progress")
    assert lines[1].split()[:5] == ["NAME", "ROLE", "TO", "DESIRED", "OBSERVED"]
    assert lines[2].split()[:5] == [
        "alice",
        "host",
        "+1206\u2022\u2022\u20220100",
        "connected",
        "connected",
    ]
    assert "no recordings" in lines
    assert lines[-1] == "in sync"
    assert cli.dial_count() == 3  # status changes nothing

    people = copy.deepcopy(PEOPLE)
    people[1]["muted"] = True
    cli.write(people)
    drift = cli.run("status", str(path))
    assert drift.returncode == exit_codes.DRIFT
    bob = next(line for line in lines_of(drift.stdout) if line.startswith("bob"))
    assert "differs: muted false -> true" in bob
    assert lines_of(drift.stdout)[-1] == "drift: the live conference differs from the file"

    envelope = json.loads(cli.run("status", str(path), "-o", "json").stdout)
    assert (envelope["command"], envelope["exit_code"]) == ("status", exit_codes.DRIFT)
    [document] = envelope["conferences"]
    assert document["in_sync"] is False
    assert document["conference"]["status"] == "in-progress"
    assert [p["name"] for p in document["participants"]] == ["alice", "bob", "carol"]

    failed = cli.run("status", str(path), TELNYX_API_KEY="KEYwrong")
    assert failed.returncode == exit_codes.FAILED
    assert failed.stderr.count("\n") == 1 and failed.stderr.startswith("error: ")
    assert "KEYwrong" not in failed.stderr + failed.stdout


def test_status_lists_recordings(cli: CliSession) -> None:
    path = cli.write(PEOPLE, record="record-from-start")
    cli.apply(path)
    result = cli.run("status", str(path))
    assert result.returncode == exit_codes.OK, result.stdout + result.stderr
    assert "recordings (1):" in lines_of(result.stdout)


def test_down_hangs_up_the_files_participants_only(cli: CliSession) -> None:
    people = [{**person, "role": "participant"} for person in PEOPLE]  # nobody ends it on exit
    path = cli.write(people)
    cli.apply(path)
    sid = cli.conference_sid()
    cli.api(lambda c: c.delete_participant(sid, "carol"))
    guest = cli.api(
        lambda c: c.dial(sid, {"To": "+12065550177", "From": "+12065550200", "Label": "guest"})
    )

    result = cli.run("down", str(path), "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = lines_of(result.stdout)
    assert lines[0] == f"Conference test-bridge ({path}): {sid}"
    assert "- hung up alice" in lines and "- hung up bob" in lines
    assert "= carol was not in the conference" in lines
    assert cli.api(lambda c: c.find_participant(sid, "bob")) is None
    assert "guest" not in result.stdout
    assert cli.api(lambda c: c.find_participant(sid, guest.resource["call_sid"])) is not None

    record = json.loads(next((path.parent / ".orchestrator").glob("*.json")).read_text())
    assert record["participants"] == {}


def test_down_hangs_up_the_host_last_and_says_the_conference_ended(cli: CliSession) -> None:
    path = cli.write(PEOPLE)  # alice, the host, ends the conference on exit and comes first
    cli.apply(path)
    sid = cli.conference_sid()

    result = cli.run("down", str(path), "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = lines_of(result.stdout)
    assert lines[1:] == [
        "- hung up bob",
        "- hung up carol",
        "- hung up alice",
        "the conference ended with alice (end_conference_on_exit); "
        "anyone else still in it was hung up too",
    ]
    assert cli.api(lambda c: c.get_conference(sid))["status"] == "completed"


def test_down_end_conference(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    sid = cli.conference_sid()
    result = cli.run("down", str(path), "--end-conference", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ended the conference (Status=completed)" in result.stdout
    conference = cli.api(lambda c: c.get_conference(sid))
    assert conference["status"] == "completed"
    again = cli.run("down", str(path), "--yes")
    assert again.returncode == 0
    assert "not running; nothing to end" in again.stdout
    assert cli.run("plan", str(path)).stdout.count("+ dial") == 3


def test_down_without_a_terminal_needs_yes(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    result = cli.run("down", str(path))
    assert result.returncode == exit_codes.USAGE
    assert result.stderr == (
        "error: down hangs up live calls and there is no terminal to confirm on; pass --yes\n"
    )
    assert cli.live_labels("alice", "bob", "carol") == {
        "alice": True,
        "bob": True,
        "carol": True,
    }


def test_state_is_ignored_by_git_and_an_unreadable_one_only_warns(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    folder = path.parent / ".orchestrator"
    assert (folder / ".gitignore").read_text() == "*\n"
    [record] = folder.glob("*.json")
    document = json.loads(record.read_text())
    assert set(document["participants"]) == {"alice", "bob", "carol"}
    assert document["participants"]["bob"]["to"] == "+12065550101"
    record.write_text("{not json", encoding="utf-8")

    result = cli.run("plan", str(path), "--detailed-exitcode")
    assert result.returncode == exit_codes.OK
    assert result.stderr.count("cannot read the local record") == 1

    elsewhere = path.parent / "state"
    moved = cli.run("apply", str(path), "-q", "--state-dir", str(elsewhere))
    assert moved.returncode == 0
    assert len(list(elsewhere.glob("*.json"))) == 1


@pytest.mark.parametrize("command", ["plan", "status", "apply"])
def test_commands_warn_about_a_deeply_nested_record_and_carry_on(
    cli: CliSession, command: str
) -> None:
    path = cli.write(PEOPLE)
    state_dir = cli.directory / "state"
    record = StateStore(state_dir).path_for(str(path), cli.info.account_sid, "test-bridge")
    record.parent.mkdir()
    record.write_text("[" * 100_000, encoding="utf-8")
    result = cli.run(command, str(path), "--state-dir", str(state_dir))
    assert result.returncode in (0, 2), result.stdout + result.stderr
    assert f"warning: {record}: cannot read the local record" in result.stderr
    assert "error:" not in result.stderr and "Traceback" not in result.stderr
    assert "alice" in result.stdout


def test_state_dir_from_the_environment(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    elsewhere = path.parent / "kept"
    result = cli.run("apply", str(path), "-q", ORCHESTRATOR_STATE_DIR=str(elsewhere))
    assert result.returncode == 0, result.stderr
    assert (elsewhere / ".gitignore").exists()
    assert not (path.parent / ".orchestrator").exists()


def test_a_record_that_cannot_be_written_only_warns_and_the_summary_stands(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    blocker = path.parent / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    result = cli.run("apply", str(path), "--state-dir", str(blocker / "state"), "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 participants: 3 connected; all converged." in result.stdout
    assert result.stderr.count("cannot write the local record") == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert cli.dial_count() == 3


@pytest.mark.long
def test_status_watch_redraws_until_ctrl_c_and_exits_with_the_last_verdict(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    cli.apply(path)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "status", str(path), "--watch", "--interval", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )
    assert watcher.stdout is not None
    refreshes = 0
    for line in watcher.stdout:
        refreshes += line.strip() == "in sync"
        if refreshes == 2:
            break
    watcher.send_signal(signal.SIGINT)
    _, errors = watcher.communicate(timeout=30)
    assert refreshes == 2
    assert watcher.returncode == exit_codes.OK, errors
    assert "Traceback" not in errors
