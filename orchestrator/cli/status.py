"""``orchestrator status``: the live conferences reconciled against the files; nothing changes."""

from __future__ import annotations

import asyncio
import sys
import time

import click

from orchestrator import exit_codes
from orchestrator.cli.options import state_option, state_store
from orchestrator.cli.target import Target, inspect_files, target_options
from orchestrator.errors import OrchestratorError
from orchestrator.report.status import STATUS_REPORTERS


@click.command("status")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@target_options
@state_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(sorted(STATUS_REPORTERS)),
    default="text",
    show_default=True,
)
@click.option("--watch", is_flag=True, help="Redraw until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(0.05),
    default=2.0,
    show_default=True,
    help="Seconds between redraws with --watch.",
)
def status(
    paths: tuple[str, ...],
    target: Target,
    state_dir: str | None,
    output: str,
    watch: bool,
    interval: float,
) -> None:
    """Compare the live conferences with the files in PATHS, without changing anything.

    Exit codes: 0 in sync, 1 error, 2 drift (someone missing, settings differ,
    or live participants the file no longer names).
    """
    store = state_store(state_dir)

    def once() -> int:
        inspections = asyncio.run(inspect_files(paths, target, store, recordings=True))
        text = STATUS_REPORTERS[output](inspections)
        if watch and sys.stdout.isatty():
            click.echo("\x1b[H\x1b[2J", nl=False)  # redraw in place
        click.echo(text, nl=False)
        drift = any(i.drift for i in inspections)
        return exit_codes.DRIFT if drift else exit_codes.OK

    if not watch:
        code = once()
    else:
        code = exit_codes.OK
        try:
            while True:
                try:
                    code = once()
                except OrchestratorError as error:  # keep watching through a passing failure
                    click.echo(f"error: {error}", err=True)
                    code = exit_codes.FAILED
                click.echo(f"(every {interval:g}s; Ctrl-C to stop)", err=True)
                time.sleep(interval)
        except KeyboardInterrupt:
            click.echo("", err=True)
    if code != exit_codes.OK:
        raise SystemExit(code)
