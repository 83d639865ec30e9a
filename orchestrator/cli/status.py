"""``orchestrator status``: the live conferences reconciled against the files; nothing changes."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable

import click

from orchestrator import exit_codes
from orchestrator.cli.options import (
    API_ENVIRONMENT,
    color_option,
    full_option,
    state_option,
    state_store,
)
from orchestrator.cli.target import Target, inspect_files, target_options
from orchestrator.errors import OrchestratorError
from orchestrator.report.envelope import error_json, render_error
from orchestrator.report.status import STATUS_REPORTERS
from orchestrator.report.style import style_for


@click.command("status", epilog=API_ENVIRONMENT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="PATH...")
@target_options
@state_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(list(STATUS_REPORTERS)),
    default="text",
    show_default=True,
)
@click.option("--watch", is_flag=True, help="Redraw until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(0.05),
    default=2.0,
    show_default=True,
    help="Time between redraws with --watch, in seconds.",
)
@full_option
@color_option
def status(
    paths: tuple[str, ...],
    target: Target,
    state_dir: str | None,
    output: str,
    watch: bool,
    interval: float,
    full: bool,
    no_color: bool,
) -> None:
    """Compare the live conferences with the files in PATH..., without changing anything.

    \b
    Exit codes:
      0  in sync
      1  error
      2  drift: someone missing, settings differ, or live participants the file
         no longer names; usage error
    """
    store = state_store(state_dir)
    style = style_for(sys.stdout, no_color=no_color)

    def once() -> tuple[int, str]:
        inspections = asyncio.run(
            inspect_files(paths, target, store, recordings=True, undialable="ignore")
        )
        code = exit_codes.DRIFT if any(i.drift for i in inspections) else exit_codes.OK
        return code, STATUS_REPORTERS[output](inspections, exit_code=code, full=full, style=style)

    if not watch:
        code, text = once()
        click.echo(text, nl=False)
    else:
        code = _watch(
            once,
            interval,
            live=sys.stdout.isatty() and output == "text",
            no_color=no_color,
            json=output == "json",
        )
    if code != exit_codes.OK:
        raise SystemExit(code)


def _watch(
    once: Callable[[], tuple[int, str]],
    interval: float,
    *,
    live: bool,
    no_color: bool,
    json: bool = False,
) -> int:
    """Refresh every ``interval`` seconds until Ctrl-C, through passing API errors; the last
    refresh's exit code. On a terminal the status is redrawn in place (``report.live``).
    With ``json``, each refresh prints one envelope, a failed one with its ``error``."""
    display = None
    if live:
        from orchestrator.report.live import WatchDisplay  # rich, only on a terminal

        display = WatchDisplay(interval, no_color=no_color)
    code = exit_codes.OK
    try:
        while True:
            try:
                code, text = once()
                if display is not None:
                    display.show(text)
                else:
                    click.echo(text, nl=False)
            except OrchestratorError as error:  # keep watching through a passing failure
                code = exit_codes.FAILED
                if display is not None:
                    display.failed(str(error))
                else:
                    click.echo(f"error: {error}", err=True)
                if json:
                    click.echo(render_error("status", error_json(error), exit_code=code), nl=False)
            if display is None:
                click.echo(f"(every {interval:g}s; Ctrl-C to stop)", err=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        if display is None:
            click.echo("", err=True)
    finally:
        if display is not None:
            display.stop()
    return code
