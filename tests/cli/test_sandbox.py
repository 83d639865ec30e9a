"""``orchestrator sandbox`` refusing what it cannot serve: one line on stderr, before it listens.

Run in this process: nothing here serves, so nothing needs a process of its own (the
serving, signals and logs are in tests/sandbox/test_cli.py).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from tests.cli.support import Ran, invoke


def sandbox(*args: str) -> Ran:
    return invoke("sandbox", *args)


def test_a_bad_signing_key_file_is_one_line(tmp_path: Path) -> None:
    key_file = tmp_path / "not-a-key.pem"
    key_file.write_text("this is not a key\n", encoding="utf-8")
    result = sandbox("--port", "0", "--signing-key", str(key_file))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert str(key_file) in result.stderr and "Ed25519" in result.stderr
    assert result.stdout == ""  # it never started


def test_a_signing_key_that_cannot_be_read_is_one_line_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.pem"
    os.mkfifo(fifo)  # opening it to read would wait for a writer
    dangling = tmp_path / "link.pem"
    dangling.symlink_to(tmp_path / "nowhere" / "key.pem")  # cannot be created through either
    for path, problem in (
        (fifo, "is a named pipe (FIFO), not a regular file"),
        (dangling, "no such file or directory"),
    ):
        result = sandbox("--port", "0", "--signing-key", str(path))
        assert result.returncode == 1
        assert result.stderr == f"error: cannot read the signing key {path}: {problem}\n"
        assert result.stdout == ""


def test_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = sandbox("--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_remote_host_needs_allow_remote() -> None:
    result = sandbox("--host", "0.0.0.0", "--port", "0")
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_bad_scenario_is_one_line(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("faults:\n  error_rate: 2\n", encoding="utf-8")
    result = sandbox("--port", "0", "--scenario", str(scenario))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {scenario}: faults.error_rate: must be between 0 and 1, got 2"
    )
    missing = sandbox("--scenario", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1
    assert missing.stderr == f"error: {tmp_path / 'nope.yaml'}: no such file or directory\n"


def test_a_scenario_past_the_limits_is_one_line_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it to read would wait for a writer
    huge = tmp_path / "huge.yaml"
    huge.write_text("seed: 1" + "0" * 100_000 + "\n", encoding="utf-8")
    for path, problem in (
        (fifo, "is a named pipe (FIFO), not a regular file"),
        (huge, "line 1: a number longer than 100 characters"),
    ):
        result = sandbox("--port", "0", "--scenario", str(path))
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: {path}: {problem}")
        assert result.stderr.count("\n") == 1
        assert result.stdout == ""
