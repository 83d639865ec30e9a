"""A named file is read at once, whole and within its bound, or refused in a few words."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from orchestrator.reading import (
    Unreadable,
    is_special_file,
    read_bounded,
    read_text_bounded,
    shown_size,
)


def reason(path: str | Path, limit: int = 1024) -> str:
    with pytest.raises(Unreadable) as caught:
        read_bounded(path, limit)
    return caught.value.reason


def test_a_regular_file_is_read_whole_up_to_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "at-the-bound"
    path.write_bytes(b"x" * 1024)
    assert read_bounded(path, 1024) == b"x" * 1024
    path.write_bytes(b"x" * 1025)
    assert reason(path) == "file is larger than 1 KB"


@pytest.mark.timeout(10)
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    assert reason(path) == "is a named pipe (FIFO), not a regular file"
    assert is_special_file(path)


@pytest.mark.timeout(10)
def test_devices_and_sockets_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert reason("/dev/zero") == "is a device, not a regular file"  # it would never end
    assert reason("/dev/null") == "is a device, not a regular file"
    monkeypatch.chdir(tmp_path)  # a socket's path must be short
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind("sock")
        assert reason("sock") == "is a socket, not a regular file"
        assert is_special_file("sock")


def test_missing_paths_and_directories(tmp_path: Path) -> None:
    assert reason(tmp_path / "absent") == "no such file or directory"
    assert reason(tmp_path) == "is a directory, not a file"
    # Neither is skipped by a walk: reading them says what is wrong.
    assert not is_special_file(tmp_path / "absent")
    assert not is_special_file(tmp_path)


def test_text_is_utf8_without_its_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"\xef\xbb\xbfKEY\n")
    assert read_text_bounded(path, 100) == "KEY\n"
    path.write_bytes(b"caf\xe9")
    with pytest.raises(Unreadable, match=r"^not UTF-8 text$"):
        read_text_bounded(path, 100)


def test_sizes_are_shown_in_the_largest_whole_unit() -> None:
    assert [shown_size(n) for n in (5 * 1024 * 1024, 64 * 1024, 100)] == [
        "5 MB",
        "64 KB",
        "100 bytes",
    ]
