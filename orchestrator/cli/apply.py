"""``orchestrator apply``: dial everyone in the files and print the reconciled summary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import click

from orchestrator import exit_codes
from orchestrator.cli.options import (
    F,
    connection_options,
    output_atomically,
    sandbox_options,
)
from orchestrator.engine.executor import ApplyOptions, apply_with_connection
from orchestrator.engine.results import ConferenceResult, worst_exit_code
from orchestrator.engine.state import STATE_DIR_ENV, StateStore
from orchestrator.errors import SpecError
from orchestrator.report.summary import SUMMARY_REPORTERS, mask_destination, render_json
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.connection import Connection, resolve_connection


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


def load_for_run(paths: tuple[str, ...], env: Mapping[str, str]) -> list[ConferenceSpec]:
    """Load and fully validate the files; any error stops the run before a request is sent."""
    from orchestrator.report.diagnostics import plural
    from orchestrator.spec import load_specs

    result = load_specs(list(paths), env=env, strict_env=True)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    for diagnostic in result.diagnostics:
        click.echo(str(diagnostic), err=True)
    if errors:
        files = len({d.location.file for d in errors})
        raise SpecError(
            f"{plural(len(errors), 'error')} in {plural(files, 'file')}; nothing was dialed. "
            "Fix them (orchestrator validate shows them too) and run again",
            tuple(errors),
        )
    return list(result.specs)


def state_option(function: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False),
        envvar=STATE_DIR_ENV,
        help="Where to keep the record of what was dialed "
        f"(default: .orchestrator/ next to each file; ${STATE_DIR_ENV}).",
    )(function)


def state_store(state_dir: str | None) -> StateStore:
    return StateStore(state_dir, warn=lambda message: click.echo(message, err=True))


def group_by_connection(
    specs: list[ConferenceSpec],
    sandbox_connection: Connection | None,
    env: Mapping[str, str],
    api_key_file: str | None,
    base_url: str | None,
) -> dict[Connection, list[ConferenceSpec]]:
    """One connection per account; files naming none use the environment's."""
    groups: dict[Connection, list[ConferenceSpec]] = {}
    for spec in specs:
        connection = sandbox_connection or resolve_connection(
            env=env,
            api_key_file=api_key_file,
            base_url=base_url,
            account_sid=spec.account_sid,
        )
        groups.setdefault(connection, []).append(spec)
    return groups


@contextlib.asynccontextmanager
async def live_target(
    sandbox: bool, scenario: str | None, env: Mapping[str, str]
) -> AsyncIterator[tuple[Mapping[str, str], Connection | None]]:
    """The environment to expand files with and, with --sandbox, the in-process sandbox's connection."""
    if not sandbox:
        yield env, None
        return
    from orchestrator.sandbox import load_scenario, running_sandbox
    from orchestrator.secret import Secret

    loaded = load_scenario(scenario) if scenario else None
    # The summary is the output here; the sandbox's own request log belongs to `orchestrator sandbox`.
    logging.getLogger("orchestrator.sandbox").setLevel(logging.ERROR)
    async with running_sandbox(loaded) as info:
        click.echo(
            f"sandbox: simulated TeXML API at {info.base_url}; no real calls are placed", err=True
        )
        overlay = {
            **env,
            "TELNYX_BASE_URL": info.base_url,
            "TELNYX_API_KEY": info.api_key,
            "TELNYX_ACCOUNT_SID": info.account_sid,
        }
        yield overlay, Connection(info.base_url, Secret(info.api_key), info.account_sid)


async def run_apply(
    paths: tuple[str, ...],
    *,
    env: Mapping[str, str],
    options: ApplyOptions,
    stop: asyncio.Event,
    sandbox: bool,
    scenario: str | None,
    api_key_file: str | None,
    base_url: str | None,
    progress: Progress | None,
) -> list[ConferenceResult]:
    async with live_target(sandbox, scenario, env) as (run_env, sandbox_connection):
        specs = load_for_run(paths, run_env)
        if progress is not None:
            progress.expect(sum(len(s.participants) for s in specs))
        groups = group_by_connection(specs, sandbox_connection, run_env, api_key_file, base_url)
        batches = await asyncio.gather(
            *(
                apply_with_connection(group, connection, options, stop, progress)
                for connection, group in groups.items()
            )
        )
    by_path = {result.path: result for batch in batches for result in batch}
    return [by_path[spec.path] for spec in specs]


@click.command("apply")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and print the requests that would be sent; send nothing.",
)
@sandbox_options
@connection_options
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
    sandbox: bool,
    scenario: str | None,
    api_key_file: str | None,
    base_url: str | None,
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
    env = dict(os.environ)
    if dry_run:
        _dry_run(paths, env, output)
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
        state=None if sandbox else state_store(state_dir),
    )
    progress = Progress(0, live=sys.stderr.isatty(), quiet=quiet)
    results = _run_with_signals(
        lambda stop: run_apply(
            paths,
            env=env,
            options=options,
            stop=stop,
            sandbox=sandbox,
            scenario=scenario,
            api_key_file=api_key_file,
            base_url=base_url,
            progress=progress,
        )
    )
    progress.finish()
    if report_path is not None:
        output_atomically(Path(report_path), render_json(results))
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
