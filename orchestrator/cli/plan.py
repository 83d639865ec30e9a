"""``orchestrator plan``: read the live conferences and print what apply would do."""

from __future__ import annotations

import asyncio
import sys

import click

from orchestrator import exit_codes
from orchestrator.cli.options import API_ENVIRONMENT, color_option, state_option, state_store
from orchestrator.cli.target import Target, inspect_files, target_options
from orchestrator.report.plan import PLAN_REPORTERS
from orchestrator.report.style import style_for


@click.command("plan", epilog=API_ENVIRONMENT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="PATH...")
@target_options
@click.option("--prune", is_flag=True, help="Plan as apply --prune would.")
@click.option("--redial-changed", is_flag=True, help="Plan as apply --redial-changed would.")
@state_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help=(
        "Exit 2 when the files differ from the live conferences or the local record "
        "(0 nothing differs, 1 error)."
    ),
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(list(PLAN_REPORTERS)),
    default="text",
    show_default=True,
)
@color_option
def plan(
    paths: tuple[str, ...],
    target: Target,
    prune: bool,
    redial_changed: bool,
    state_dir: str | None,
    detailed_exitcode: bool,
    output: str,
    no_color: bool,
) -> None:
    """Show what apply would do for the conference files in PATH...; change nothing.

    Lines: + dial, = unchanged, - hang up (--prune), ? live but not managed; and
    for each changed setting: ~ updated in place, -/+ redialed (--redial-changed),
    ! needs a redial, > counts from the next dial on (nothing to send).

    \b
    Exit codes:
      0  success (with --detailed-exitcode: nothing differs)
      1  error
      2  with --detailed-exitcode: a file differs from its live conference or
         local record (apply would change or record something, or a redial
         waits); usage error
    """
    inspections = asyncio.run(
        inspect_files(
            paths,
            target,
            state_store(state_dir),
            prune=prune,
            redial_changed=redial_changed,
            undialable="name",
        )
    )
    plans = [i.plan for i in inspections]
    changes = detailed_exitcode and any(p.differs for p in plans)
    code = exit_codes.CHANGES if changes else exit_codes.OK
    style = style_for(sys.stdout, no_color=no_color)
    click.echo(PLAN_REPORTERS[output](plans, exit_code=code, style=style), nl=False)
    if code != exit_codes.OK:
        raise SystemExit(code)
