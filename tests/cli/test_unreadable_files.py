"""A FIFO or a device where a command expects a file: refused at once, in a line naming it.

Opening a FIFO to read waits for a writer and a device may never end, so each
test has a timeout well above what a refusal takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import exit_codes
from tests.cli.support import PEOPLE, CliSession, Ran

COMMANDS = [("validate",), ("plan",), ("apply", "-q"), ("status",), ("down", "--yes")]


def fifo_in(cli: CliSession, name: str = "conf.yaml") -> Path:
    path = cli.directory / name
    os.mkfifo(path)  # no writer ever comes
    return path


def lines_naming(result: Ran, path: Path) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if str(path) in line]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_named_pipe_as_a_conference_file_is_refused(
    cli: CliSession, command: tuple[str, ...]
) -> None:
    fifo = fifo_in(cli)
    result = cli.run(*command, str(fifo))
    assert result.returncode == exit_codes.FAILED, result.stdout + result.stderr
    assert lines_naming(result, fifo) == [
        f"{fifo}:1:1: error: is a named pipe (FIFO), not a regular file"
    ]
    assert "Traceback" not in result.stderr
    assert cli.dial_count() == 0


@pytest.mark.timeout(10)
def test_a_device_as_a_conference_file_is_refused(cli: CliSession) -> None:
    result = cli.run("apply", "-q", "/dev/zero")  # read to its end, it would fill memory
    assert result.returncode == exit_codes.FAILED
    assert lines_naming(result, Path("/dev/zero")) == [
        "/dev/zero:1:1: error: is a device, not a regular file"
    ]


@pytest.mark.timeout(10)
def test_a_directory_walk_passes_over_a_named_pipe(cli: CliSession) -> None:
    cli.write(PEOPLE)
    fifo_in(cli, "pipe.yaml")
    result = cli.run("validate", str(cli.directory))
    assert (result.returncode, result.stdout) == (exit_codes.OK, "1 file checked: all valid\n")


@pytest.mark.timeout(30)
@pytest.mark.long
def test_apply_of_a_named_pipe_ends_at_once_as_a_process(cli: CliSession) -> None:
    fifo = fifo_in(cli)
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "apply", str(fifo)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )
    try:
        stdout, stderr = process.communicate(timeout=15)
    finally:
        process.kill()  # a process stuck opening the FIFO is not left behind
        process.wait()
    assert process.returncode == exit_codes.FAILED
    assert (
        stderr.splitlines()[0] == f"{fifo}:1:1: error: is a named pipe (FIFO), not a regular file"
    )
    assert stdout == ""


@pytest.mark.timeout(10)
def test_a_named_pipe_as_the_scenario_is_refused(cli: CliSession) -> None:
    fifo = fifo_in(cli, "scenario.yaml")
    path = cli.write(PEOPLE)
    result = cli.run("apply", str(path), "-q", "--sandbox", "--scenario", str(fifo))
    assert result.returncode == exit_codes.FAILED
    assert result.stderr.splitlines() == [
        f"error: {fifo}: is a named pipe (FIFO), not a regular file"
    ]
