"""The lock an apply holds on a conference's local record while it runs: two applies of one
conference on one machine (or one shared state folder) take turns, as Terraform locks its
state.

An advisory ``flock`` on ``<record>.lock``; its holder writes who it is into the file, so
whoever waits can say whom it waits for. A file system that cannot lock (some network
mounts) or a folder that refuses the file only warns: the record is a cache, and the run
goes on unlocked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.errors import ConfigError

# Longer than an apply normally takes (a leg is waited on for up to 150 s by default, and
# fallbacks and retries may wait again).
DEFAULT_LOCK_TIMEOUT_S = 600.0


class StateLocked(ConfigError):
    """Another process held a conference's record lock for longer than the wait allowed."""

    def __init__(self, lock_path: Path, conference: str, holder: str, waited_s: float) -> None:
        super().__init__(
            f"{lock_path}: still locked after waiting {waited_s:g}s ({holder}): another apply of "
            f"conference {conference!r} is running; let it finish or stop it, then run again"
        )
        self.lock_path = lock_path


@contextlib.asynccontextmanager
async def holding(
    lock_path: Path,
    conference: str,
    *,
    prepare: Callable[[Path], None],
    on_wait: Callable[[str], None] | None,
    on_unlocked: Callable[[Path, OSError], None],
    timeout_s: float | None = DEFAULT_LOCK_TIMEOUT_S,
    poll_s: float = 0.15,
    clock: Clock = REAL_CLOCK,
) -> AsyncIterator[None]:
    """Hold the exclusive lock at ``lock_path`` for the length of the block.

    While another process (or another open of the same lock) holds it, calls
    ``on_wait`` once with a line naming the holder and polls every ``poll_s``
    seconds (of ``clock``) without blocking the event loop; raises :class:`StateLocked`
    after ``timeout_s`` (None: wait as long as it takes). A lock file that cannot be
    created (``prepare`` makes its folder) calls ``on_unlocked`` and the block runs
    unlocked. The lock is released when the block ends, however it ends.
    """
    try:
        prepare(lock_path.parent)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        on_unlocked(lock_path, error)
        fd = None
    if fd is None:
        yield
        return
    try:
        held = False
        try:
            await _acquire(fd, lock_path, conference, on_wait, timeout_s, poll_s, clock)
            held = True
        except OSError as error:  # a file system without locks (some network mounts)
            if error.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            on_unlocked(lock_path, error)
        if held:
            _write_holder(fd)
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)  # the holder's details leave with it
    finally:
        os.close(fd)  # closing the descriptor releases the lock


async def _acquire(
    fd: int,
    lock_path: Path,
    conference: str,
    on_wait: Callable[[str], None] | None,
    timeout_s: float | None,
    poll_s: float,
    clock: Clock,
) -> None:
    """Take the exclusive lock on ``fd``, polling so the event loop keeps running meanwhile."""
    started = clock.now()
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = _holder(lock_path)
        if not told:
            told = True
            if on_wait is not None:
                on_wait(
                    f"waiting for the lock on {lock_path} "
                    f"({holder}: another apply of this conference)"
                )
        waited = clock.now() - started
        if timeout_s is not None and waited >= timeout_s:
            raise StateLocked(lock_path, conference, holder, timeout_s)
        pause = poll_s if timeout_s is None else min(poll_s, timeout_s - waited)
        await clock.sleep(pause)


def _holder(lock_path: Path) -> str:
    """Who holds the lock, as its holder wrote it into the lock file."""
    try:
        with lock_path.open("rb") as handle:
            document = json.loads(handle.read(4096))
        pid = document["pid"]
        since = datetime.fromtimestamp(float(document["since"])).strftime("%H:%M:%S")
        host = document["host"]
        if type(pid) is not int or not isinstance(host, str):
            raise TypeError
    except (OSError, ValueError, TypeError, KeyError, OverflowError, RecursionError):
        # Gone, not written yet, or not ours: the lock itself is what counts.
        return "held by another process"
    where = "" if host == socket.gethostname() else f" on {host[:64]!r}"
    this = " (this process)" if pid == os.getpid() and not where else ""
    return f"held by pid {pid}{this}{where} since {since}"


def _write_holder(fd: int) -> None:
    """Say in the lock file who holds it, for the message of whoever waits."""
    holder = {"pid": os.getpid(), "since": time.time(), "host": socket.gethostname()}
    with contextlib.suppress(OSError):  # the message only; the lock holds regardless
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
