"""SIGINT, SIGTERM and SIGHUP during a run: the first stops new dials, a second aborts.

What `timeout`, a cancelled CI job and `docker stop` send is SIGTERM, and a
closed terminal is SIGHUP: both must leave the same summary, report and local
record as Ctrl-C. The process then exits with 128 + the signal's number, as a
shell reports a process that signal ended.

The command line installs the handlers as soon as it knows the command is
apply, before apply's modules are imported (most of its start-up time): a
signal that comes before the first dial makes a run that dials nobody and
still writes its summary and report. So this module imports nothing heavy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchestrator import exit_codes

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

# Each signal that stops a run, with its exit code and how to send it again to abort.
STOPPING: dict[int, tuple[int, str]] = {
    signal.SIGINT: (exit_codes.INTERRUPTED, "Ctrl-C again to abort"),
    signal.SIGTERM: (exit_codes.TERMINATED, "send it again to abort"),
    signal.SIGHUP: (exit_codes.HUNG_UP, "send it again to abort"),
}


# Where the command line keeps the handlers it installed for a command (click's ``meta``,
# which a command's contexts share).
_INSTALLED = "orchestrator.cli.signals"


class Signals:
    """SIGINT, SIGTERM and SIGHUP while apply runs: the first stops new dials, a second aborts.

    Python-level handlers (rather than the event loop's) cover the whole command,
    so a signal before the loop starts or while the summary is written is handled
    too. A handler only records the signal and hands the rest to the loop; what it
    prints goes straight to the file descriptor, since it may run in the middle of
    another write to stderr.
    """

    def __init__(self, *, live: bool = False) -> None:
        self.received: int | None = None  # the signal that stopped the run
        self.aborted_by: int | None = None  # a second signal
        self.live = live  # a progress line is being redrawn on stderr
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[Any] | None = None
        self._taken = False  # a run has started: it acts on the signal
        self._finished = False
        self._interrupting = False
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
        self.restore()

    def restore(self) -> None:
        """Put back the handlers there were before."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def release(self) -> None:
        """Put back the handlers there were before; a signal no run took is sent again."""
        self.restore()
        if self.received is not None and not self._taken and self.aborted_by is None:
            signal.raise_signal(self.received)

    @contextlib.contextmanager
    def for_the_run(self, *, live: bool) -> Iterator[Signals]:
        """The block runs apply and prints its summary (with a progress line redrawn on stderr
        if ``live``); the handlers there were before come back after it."""
        self.live = live
        try:
            yield self
        finally:
            self.restore()

    def ask(self, question: Callable[[], None]) -> None:
        """Ask ``question`` (it waits on the user), unless a signal has come: one that comes
        while it waits ends it, without an error. Either way ``received`` tells."""
        try:
            self._interrupting = True
            if self.received is None:
                question()
        except (KeyboardInterrupt, click.exceptions.Abort):  # what a question makes of it
            if self.received is None:
                raise
        finally:
            self._interrupting = False

    def attach(self, stop: asyncio.Event, task: asyncio.Task[Any]) -> None:
        """The run has started: from now on a signal acts through its loop."""
        import asyncio

        self._loop, self._stop, self._task = asyncio.get_running_loop(), stop, task
        self._taken = True
        if self.received is not None:  # it came before: the run stops before its first dial
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
        elif self._taken:
            notice = f"received {name}: no new dials; finishing requests in flight ({again})"
        else:
            notice = f"received {name} before the first dial: nobody will be dialed ({again})"
        if not _say(("\n" if self.live else "") + notice) and signum == signal.SIGHUP:
            _leave_the_terminal()
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._interrupting:
            raise KeyboardInterrupt


def install_early(ctx: click.Context) -> None:
    """Install apply's handlers now, before its modules are imported, until release(ctx)."""
    if _INSTALLED not in ctx.meta:
        ctx.meta[_INSTALLED] = Signals().__enter__()


def signals_for(ctx: click.Context) -> Signals:
    """The handlers the command line installed for this command, or new ones until ``ctx``
    closes (a command invoked some other way)."""
    installed = ctx.meta.get(_INSTALLED)
    if isinstance(installed, Signals):
        return installed
    return ctx.with_resource(Signals())


def release(ctx: click.Context) -> None:
    """Put back the handlers install_early replaced. A signal no run took (a dry run, --help,
    a usage error) is then sent again, to end the process as it would have without them."""
    installed = ctx.meta.pop(_INSTALLED, None)
    if isinstance(installed, Signals):
        installed.release()


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
    import asyncio

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
