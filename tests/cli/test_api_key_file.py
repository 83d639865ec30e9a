"""--api-key-file: the key read from a file (a mounted secret) instead of $TELNYX_API_KEY."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator import exit_codes
from orchestrator.texml.connection import MAX_KEY_FILE_BYTES
from tests.cli.support import PEOPLE, CliSession


def key_file(cli: CliSession, content: str) -> Path:
    path = cli.directory / "telnyx.key"
    path.write_text(content, encoding="utf-8")
    return path


def test_the_key_in_the_file_is_used_and_wins_over_the_environment(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    key = key_file(cli, cli.info.api_key + "\n")  # as `echo` writes it: the newline is no part
    flags = ("--api-key-file", str(key))
    applied = cli.run("apply", str(path), "-q", *flags, TELNYX_API_KEY="KEYwrong")
    assert applied.returncode == exit_codes.OK, applied.stdout + applied.stderr
    assert "3 participants: 3 connected; all converged." in applied.stdout
    status = cli.run("status", str(path), *flags, TELNYX_API_KEY="")
    assert status.returncode == exit_codes.OK, status.stdout + status.stderr
    assert status.stdout.rstrip().endswith("in sync")
    down = cli.run("down", str(path), "--yes", *flags, TELNYX_API_KEY="")
    assert down.returncode == exit_codes.OK, down.stdout + down.stderr
    for ran in (applied, status, down):
        assert cli.info.api_key not in ran.stdout + ran.stderr


def test_a_wrong_key_in_the_file_is_refused_by_the_api(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    key = key_file(cli, "KEYnot-this-one")
    result = cli.run("plan", str(path), "--api-key-file", str(key))  # the right one in env
    assert result.returncode == exit_codes.FAILED
    assert result.stderr == (
        "error: the API refused the API key (HTTP 401 [code 10009]); "
        "check TELNYX_API_KEY or --api-key-file\n"
    )
    assert "KEYnot-this-one" not in result.stdout + result.stderr


def refused_before_any_request(cli: CliSession, key: Path, message: str) -> None:
    result = cli.run("apply", str(cli.write(PEOPLE)), "--api-key-file", str(key))
    assert result.returncode == exit_codes.FAILED
    assert result.stderr.splitlines() == [f"error: {message}"]
    assert result.stdout == ""
    assert cli.dial_count() == 0


def test_an_empty_file_stops_before_any_request(cli: CliSession) -> None:
    key = key_file(cli, " \n")
    refused_before_any_request(cli, key, f"the API key file {key} is empty")


def test_a_missing_file_stops_before_any_request(cli: CliSession) -> None:
    key = cli.directory / "telnyx.key"
    refused_before_any_request(
        cli, key, f"cannot read the API key file {key}: no such file or directory"
    )


@pytest.mark.timeout(10)
def test_a_named_pipe_or_a_device_stops_at_once(cli: CliSession) -> None:
    fifo = cli.directory / "telnyx.key"
    os.mkfifo(fifo)  # opening it to read would wait for a writer that never comes
    refused_before_any_request(
        cli,
        fifo,
        f"cannot read the API key file {fifo}: is a named pipe (FIFO), not a regular file",
    )
    zero = Path("/dev/zero")  # read to its end, it would fill memory
    refused_before_any_request(
        cli, zero, f"cannot read the API key file {zero}: is a device, not a regular file"
    )


def test_a_file_far_larger_than_a_key_is_refused(cli: CliSession) -> None:
    key = key_file(cli, "K" * (MAX_KEY_FILE_BYTES + 1))
    refused_before_any_request(
        cli, key, f"cannot read the API key file {key}: file is larger than 64 KB"
    )


def test_a_folder_is_no_key_file(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    result = cli.run("apply", str(path), "--api-key-file", str(cli.directory))
    assert result.returncode == exit_codes.USAGE
    assert "--api-key-file" in result.stderr and "is a directory" in result.stderr
    assert cli.dial_count() == 0
