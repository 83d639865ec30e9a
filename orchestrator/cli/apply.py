"""``orchestrator apply``: dial everyone in the files and print the reconciled summary."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import click

from orchestrator import exit_codes
from orchestrator.cli.options import state_option, state_store
from orchestrator.cli.target import Target, load_for_run, open_target, target_options
from orchestrator.engine.executor import ApplyOptions, apply_with_connection
from orchestrator.engine.results import ConferenceResult, worst_exit_code
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
    type=click.Path(dir_okay=False),
    help="Also write the JSON report to this file.",
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
    files, authentication, API unreachable), 3 some participants did not converge,
    130 interrupted.
    """
    if dry_run:
        _dry_run(paths, target.env, output)
        return
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
    )
    progress = Progress(0, live=sys.stderr.isatty(), quiet=quiet)
    results = _run_with_signals(lambda stop: run_apply(paths, target, options, stop, progress))
    progress.finish()
    if report_path is not None:
        write_atomically(Path(report_path), render_json(results))
    click.echo(SUMMARY_REPORTERS[output](results), nl=False)
    code = worst_exit_code([r.exit_code for r in results])
    if code != exit_codes.OK:
        raise SystemExit(code)


def _run_with_signals(
    run: Callable[[asyncio.Event], Awaitable[list[ConferenceResult]]],
) -> list[ConferenceResult]:
    """Run the apply; the first Ctrl-C stops new dials, the second aborts at once."""

    async def main() -> list[ConferenceResult]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def interrupt() -> None:
            if stop.is_set():
                task.cancel()
                return
            stop.set()
            click.echo(
                "\nstopping: no new dials; finishing requests in flight (Ctrl-C again to abort)",
                err=True,
            )

        with contextlib.suppress(
            NotImplementedError
        ):  # platforms without signal handlers in the loop
            loop.add_signal_handler(signal.SIGINT, interrupt)
        try:
            return await run(stop)
        finally:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(signal.SIGINT)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        click.echo("aborted", err=True)
        raise SystemExit(exit_codes.INTERRUPTED) from None


def _dry_run(paths: tuple[str, ...], env: Mapping[str, str], output: str) -> None:
    from orchestrator.report.dry_run import render_dry_run_json, render_dry_run_text

    specs = load_for_run(paths, env)
    account_sid = env.get("TELNYX_ACCOUNT_SID")
    render = render_dry_run_json if output == "json" else render_dry_run_text
    click.echo(render(specs, account_sid), nl=False)
