"""``orchestrator plan``: read the live conferences and print what apply would do."""

from __future__ import annotations

import asyncio

import click

from orchestrator import exit_codes
from orchestrator.cli.options import state_option, state_store
from orchestrator.cli.target import Target, inspect_files, target_options
from orchestrator.report.plan import PLAN_REPORTERS


@click.command("plan")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@target_options
@click.option("--prune", is_flag=True, help="Plan as apply --prune would.")
@click.option("--redial-changed", is_flag=True, help="Plan as apply --redial-changed would.")
@state_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when apply would change something (0 nothing, 1 error).",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(sorted(PLAN_REPORTERS)),
    default="text",
    show_default=True,
)
def plan(
    paths: tuple[str, ...],
    target: Target,
    prune: bool,
    redial_changed: bool,
    state_dir: str | None,
    detailed_exitcode: bool,
    output: str,
) -> None:
    """Show what apply would do for the conference files in PATHS; change nothing.

    Lines: + dial, ~ update in place, - hang up (--prune), -/+ redial
    (--redial-changed), = unchanged, ! needs a redial, ? live but not managed.

    Exit codes: 0 success, 1 error; with --detailed-exitcode, 2 when apply would
    change something.
    """
    inspections = asyncio.run(
        inspect_files(
            paths,
            target,
            state_store(state_dir),
            prune=prune,
            redial_changed=redial_changed,
        )
    )
    plans = [i.plan for i in inspections]
    click.echo(PLAN_REPORTERS[output](plans), nl=False)
    if detailed_exitcode and any(p.changes_present for p in plans):
        raise SystemExit(exit_codes.CHANGES)
