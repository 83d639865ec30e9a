"""Reading a file the user named: at once or not at all, and never more than a bound.

A path may name a FIFO, a device or a socket. Opening a FIFO for reading waits
for a writer, and reading a device may never end, so files are opened without
blocking and checked with fstat on the open descriptor (a check of the path
before opening could be answered by another file than the one then opened):
anything but a regular file is refused before a byte is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# Not on every platform; where it is missing, FIFOs are not either.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class Unreadable(Exception):
    """The file cannot be read; ``reason`` says why in a few words, without the path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The whole file at ``path``, which must be a regular file of at most ``limit`` bytes;
    raises :class:`Unreadable`."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise Unreadable("no such file or directory") from None
    except OSError as error:
        if error.errno == errno.ENXIO:  # what opening a socket answers
            raise Unreadable(_not_regular(path)) from None
        raise Unreadable(f"cannot read the file: {error.strerror or error}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise Unreadable("is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise Unreadable(_kind_of(mode))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as stream:
        try:
            # One byte more than allowed tells a file at the limit from one over it, even
            # when it grows while being read.
            data = stream.read(limit + 1)
        except OSError as error:
            raise Unreadable(f"cannot read the file: {error.strerror or error}") from None
    if len(data) > limit:
        raise Unreadable(f"file is larger than {shown_size(limit)}")
    return data


def read_text_bounded(path: str | Path, limit: int) -> str:
    """:func:`read_bounded` decoded as UTF-8; raises :class:`Unreadable`."""
    try:
        return read_bounded(path, limit).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8 text") from None


def is_special_file(path: str | Path) -> bool:
    """Whether ``path`` (followed through links) is a FIFO, a device or a socket: for walks that
    skip them. A path that cannot be looked at is not: reading it says why."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def shown_size(size: int) -> str:
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= scale:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def _not_regular(path: str | Path) -> str:
    try:
        return _kind_of(os.stat(path).st_mode)
    except OSError:
        return "not a regular file"


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    return "not a regular file"
