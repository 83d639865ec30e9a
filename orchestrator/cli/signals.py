"""SIGINT, SIGTERM and SIGHUP during a run: the first stops new dials, a second aborts.

What `timeout`, a cancelled CI job and `docker stop` send is SIGTERM, and a
closed terminal is SIGHUP: both must leave the same summary, report and local
record as Ctrl-C. The process then exits with 128 + the signal's number, as a
shell reports a process that signal ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from types import FrameType, TracebackType
from typing import Any, TypeVar

from orchestrator import exit_codes

T = TypeVar("T")

# Each signal that stops a run, with its exit code and how to send it again to abort.
STOPPING: dict[int, tuple[int, str]] = {
    signal.SIGINT: (exit_codes.INTERRUPTED, "Ctrl-C again to abort"),
    signal.SIGTERM: (exit_codes.TERMINATED, "send it again to abort"),
    signal.SIGHUP: (exit_codes.HUNG_UP, "send it again to abort"),
}


class Signals:
    """SIGINT, SIGTERM and SIGHUP while apply runs: the first stops new dials, a second aborts.

    Python-level handlers (rather than the event loop's) cover the whole command,
    so a signal before the loop starts or while the summary is written is handled
    too. A handler only records the signal and hands the rest to the loop; what it
    prints goes straight to the file descriptor, since it may run in the middle of
    another write to stderr.
    """

    def __init__(self, *, live: bool) -> None:
        self.received: int | None = None  # the signal that stopped the run
        self.aborted_by: int | None = None  # a second signal
        self._live = live  # a progress line is being redrawn on stderr
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[Any] | None = None
        self._finished = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOPPING:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def attach(self, stop: asyncio.Event, task: asyncio.Task[Any]) -> None:
        """The run has started: from now on a signal acts through its loop."""
        self._loop, self._stop, self._task = asyncio.get_running_loop(), stop, task
        if self.received is not None:  # it came while the loop was starting
            stop.set()

    def detach(self) -> None:
        self._loop = self._stop = self._task = None
        self._finished = True

    def abort(self) -> SystemExit:
        """Exit at once, with the code of the signal that aborted."""
        _say("aborted")
        return SystemExit(STOPPING[self.aborted_by or signal.SIGINT][0])

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            self.aborted_by = signum
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
                return
            raise self.abort()
        self.received = signum
        name = signal.Signals(signum).name
        again = STOPPING[signum][1]
        if self._finished:
            notice = f"received {name}: the run has ended; printing the summary ({again})"
        else:
            notice = f"received {name}: no new dials; finishing requests in flight ({again})"
        if not _say(("\n" if self._live else "") + notice) and signum == signal.SIGHUP:
            _leave_the_terminal()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


def _say(line: str) -> bool:
    """Write one line to stderr's descriptor, bypassing its buffer; whether it could be written."""
    try:
        os.write(sys.stderr.fileno(), (line + "\n").encode())
    except (OSError, ValueError):
        return False
    return True


def _leave_the_terminal() -> None:
    """After a hang-up the terminal is gone and every write to it fails: write nowhere instead.

    The run then still settles and writes its report and local record.
    """
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                if stream.isatty():
                    os.dup2(null, stream.fileno())
        os.close(null)


def run_with_signals(signals: Signals, run: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run the apply with ``signals`` acting on it; a second signal aborts it at once."""

    async def main() -> T:
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None
        signals.attach(stop, task)
        try:
            return await run(stop)
        finally:
            signals.detach()

    try:
        results = asyncio.run(main())
    except asyncio.CancelledError:
        raise signals.abort() from None
    if signals.aborted_by is not None:  # it came as the run ended, too late to cancel it
        raise signals.abort()
    return results
