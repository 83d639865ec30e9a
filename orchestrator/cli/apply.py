"""``orchestrator apply``: dial everyone in the files and print the reconciled summary."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import click

from orchestrator import exit_codes
from orchestrator.cli.options import state_option, state_store
from orchestrator.cli.target import Target, load_for_run, open_target, target_options
from orchestrator.engine.executor import ApplyOptions, apply_with_connection
from orchestrator.engine.results import ConferenceResult, worst_exit_code
from orchestrator.errors import ConfigError
from orchestrator.files import write_atomically
from orchestrator.report.summary import SUMMARY_REPORTERS, mask_destination, render_json


class Progress:
    """Counts by state on a TTY (one line, redrawn at most ten times a second); a log line per event otherwise."""

    def __init__(self, total: int, *, live: bool, quiet: bool) -> None:
        self._live = live
        self._quiet = quiet
        self._total = total
        self._state: dict[tuple[str, str], str] = {}
        self._drawn_at = 0.0

    def expect(self, total: int) -> None:
        self._total = total

    def __call__(self, conference: str, participant: str, what: str) -> None:
        if self._quiet:
            return
        if not self._live:
            if what.startswith("dialed "):
                what = "dialed " + mask_destination(what.removeprefix("dialed "))
            click.echo(f"{conference}/{participant}: {what}", err=True)
            return
        self._state[(conference, participant)] = what.split(" ", 1)[0]
        now = time.monotonic()
        if now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw()

    def paused(self, seconds: float, why: str) -> None:
        """Dialing pauses: say why, even with -q (a run that goes quiet needs a reason)."""
        self.notice(why)

    def notice(self, line: str) -> None:
        if self._live:
            click.echo("\r\x1b[2K" + line, err=True)
            if self._state:
                self._draw()
            return
        click.echo(line, err=True)

    def _draw(self) -> None:
        counts = Counter(self._state.values())
        waiting = self._total - len(self._state)
        parts = [f"{waiting} waiting"] if waiting else []
        parts += [f"{n} {state}" for state, n in sorted(counts.items())]
        click.echo(f"\r\x1b[2K{self._total} participants: {', '.join(parts)}", err=True, nl=False)

    def finish(self) -> None:
        if self._live and not self._quiet and self._state:
            self._draw()
            click.echo("", err=True)


async def run_apply(
    paths: tuple[str, ...],
    target: Target,
    options: ApplyOptions,
    stop: asyncio.Event,
    progress: Progress | None,
) -> list[ConferenceResult]:
    async with open_target(paths, target) as loaded:
        if progress is not None:
            progress.expect(sum(len(s.participants) for s in loaded.specs))
        batches = await asyncio.gather(
            *(
                apply_with_connection(group, connection, options, stop, progress)
                for connection, group in loaded.by_connection.items()
            )
        )
    by_path = {result.path: result for batch in batches for result in batch}
    return [by_path[spec.path] for spec in loaded.specs]


@click.command("apply")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and print the requests that would be sent; send nothing.",
)
@target_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--dials-per-second",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Dial pace (0 = unpaced).",
)
@click.option(
    "--dial-window",
    type=click.FloatRange(0.1),
    default=5.0,
    show_default=True,
    help="Seconds over which the dial pace is measured.",
)
@click.option(
    "--settle-timeout",
    type=click.FloatRange(0),
    default=150.0,
    show_default=True,
    help="Longest wait for one leg to connect or end.",
)
@click.option(
    "--no-wait", is_flag=True, help="Report legs as dialed without waiting for them to settle."
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(sorted(SUMMARY_REPORTERS)),
    default="text",
    show_default=True,
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(),
    help="Also write the JSON report to this file (its folder is checked before any dial).",
)
@click.option(
    "--prune",
    is_flag=True,
    help="Hang up live participants this file dialed before but no longer names.",
)
@click.option(
    "--redial-changed",
    is_flag=True,
    help="Hang up and dial again participants whose number or dial-time settings changed.",
)
@state_option
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def apply(
    paths: tuple[str, ...],
    dry_run: bool,
    target: Target,
    concurrency: int,
    dials_per_second: float,
    dial_window: float,
    settle_timeout: float,
    no_wait: bool,
    output: str,
    report_path: str | None,
    prune: bool,
    redial_changed: bool,
    state_dir: str | None,
    quiet: bool,
) -> None:
    """Dial every participant of the conference files in PATHS and report the outcome.

    Participants already live are updated in place (muted, hold, coaching). With
    --prune, live participants this file dialed before but no longer names are
    hung up; with --redial-changed, legs whose number or dial-time settings changed
    are hung up and dialed again.

    Exit codes: 0 every participant converged, 1 nothing could be done (invalid
    files, authentication, API unreachable, an unwritable --report folder), 3 some
    participants did not converge; stopped by a signal: 130 SIGINT (Ctrl-C), 143
    SIGTERM (timeout, CI cancellation, docker stop), 129 SIGHUP.

    The first of these signals stops new dials, lets requests in flight finish
    and prints the summary (the report and the local record are written too); a
    second one aborts at once.
    """
    if dry_run:
        _dry_run(paths, target.env, output)
        return
    if report_path is not None:
        _check_report_path(report_path)
    live = sys.stderr.isatty()
    progress = Progress(0, live=live, quiet=quiet)
    options = ApplyOptions(
        concurrency=concurrency,
        dials_per_second=dials_per_second,
        dial_window_s=dial_window,
        settle_timeout_s=settle_timeout,
        wait=not no_wait,
        prune=prune,
        redial_changed=redial_changed,
        # A --sandbox run's conference ends with the process: nothing worth recording.
        state=None if target.sandbox else state_store(state_dir),
        on_pause=progress.paused,
        notice=progress.notice,
    )
    with _Signals(live=live and not quiet) as signals:
        results = _run_with_signals(
            signals, lambda stop: run_apply(paths, target, options, stop, progress)
        )
        progress.finish()
        code = _exit_code(results, signals.received)
        # The report first: if stdout is gone (a closed terminal), the file still has it.
        report_failure = None if report_path is None else _write_report(report_path, results)
        _print(SUMMARY_REPORTERS[output](results))
        if report_failure is not None:
            click.echo(report_failure, err=True)
    if code != exit_codes.OK:
        raise SystemExit(code)


def _check_report_path(report_path: str) -> None:
    """Refuse a --report file that could not be written, before anything is dialed."""
    path = Path(report_path)
    folder = path.parent
    problem = None
    if path.is_dir():
        problem = f"is a folder; name a file, such as {path / 'report.json'}"
    elif not folder.exists():
        problem = f"the folder {folder} does not exist; create it or choose another path"
    elif not folder.is_dir():
        problem = f"{folder} is not a folder; choose another path"
    else:
        try:  # the report is written the same way at the end: a temporary file, then a rename
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}."):
                pass
        except OSError as error:
            problem = (
                f"cannot write in {folder} ({error.strerror or error}); choose a writable folder"
            )
    if problem is not None:
        raise ConfigError(f"--report {report_path}: {problem}; nothing was dialed")


def _write_report(report_path: str, results: list[ConferenceResult]) -> str | None:
    """Write the report; what went wrong, as a warning line, when it could not be written."""
    try:
        write_atomically(Path(report_path), render_json(results))
    except OSError as error:
        return (
            f"warning: --report {report_path}: cannot write the report "
            f"({error.strerror or error}); the summary above is all this run reports"
        )
    return None


def _print(summary: str) -> None:
    """Print the summary; a stdout that is gone (a hung-up terminal) must not turn the run into an error."""
    try:
        click.echo(summary, nl=False)
    except OSError as error:
        with contextlib.suppress(OSError):
            click.echo(f"warning: cannot print the summary ({error.strerror or error})", err=True)


# Each signal that stops a run, with its exit code and how to send it again to abort.
_STOPPING: dict[int, tuple[int, str]] = {
    signal.SIGINT: (exit_codes.INTERRUPTED, "Ctrl-C again to abort"),
    signal.SIGTERM: (exit_codes.TERMINATED, "send it again to abort"),
    signal.SIGHUP: (exit_codes.HUNG_UP, "send it again to abort"),
}


def _exit_code(results: list[ConferenceResult], received: int | None) -> int:
    """The run's exit code; a stopped run exits with the code of the signal that stopped it."""
    code = worst_exit_code([r.exit_code for r in results])
    if received is None:
        return code
    stopped, _ = _STOPPING[received]
    for result in results:  # the report says the same number the process exits with
        if result.interrupted:
            result.exit_code = stopped
            result.stopped_by = signal.Signals(received).name
    return stopped if code == exit_codes.INTERRUPTED else code


class _Signals:
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

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in _STOPPING:
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
        return SystemExit(_STOPPING[self.aborted_by or signal.SIGINT][0])

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            self.aborted_by = signum
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)
                return
            raise self.abort()
        self.received = signum
        name = signal.Signals(signum).name
        again = _STOPPING[signum][1]
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


def _run_with_signals(
    signals: _Signals,
    run: Callable[[asyncio.Event], Awaitable[list[ConferenceResult]]],
) -> list[ConferenceResult]:
    """Run the apply with ``signals`` acting on it; a second signal aborts it at once."""

    async def main() -> list[ConferenceResult]:
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


def _dry_run(paths: tuple[str, ...], env: Mapping[str, str], output: str) -> None:
    from orchestrator.report.dry_run import render_dry_run_json, render_dry_run_text

    specs = load_for_run(paths, env)
    account_sid = env.get("TELNYX_ACCOUNT_SID")
    render = render_dry_run_json if output == "json" else render_dry_run_text
    click.echo(render(specs, account_sid), nl=False)
