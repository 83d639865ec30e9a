"""``orchestrator plan``: read the live conferences and print what apply would do."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import click

from orchestrator import exit_codes
from orchestrator.cli.options import state_option, state_store
from orchestrator.cli.target import Target, open_target, target_options
from orchestrator.engine.planner import Plan, make_plan, read_live_state
from orchestrator.engine.state import StateStore
from orchestrator.report.plan import PLAN_REPORTERS
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.contract import RecordingResource


@dataclass(frozen=True)
class Inspection:
    """One conference file against its live conference."""

    plan: Plan
    recordings: tuple[RecordingResource, ...] = ()


async def _inspect_group(
    specs: list[ConferenceSpec],
    connection: Connection,
    store: StateStore,
    prune: bool,
    redial_changed: bool,
    recordings: bool,
) -> list[Inspection]:
    async with TexmlClient(connection) as client:

        async def one(spec: ConferenceSpec) -> Inspection:
            account_sid = spec.account_sid or connection.account_sid
            recorded = store.load(spec.path, account_sid, spec.conference.name)
            state = await read_live_state(client, spec, recorded)
            plan = make_plan(spec, state, prune=prune, redial_changed=redial_changed)
            found: tuple[RecordingResource, ...] = ()
            if recordings and plan.conference_sid is not None:
                found = tuple(await client.list_recordings(plan.conference_sid))
            return Inspection(plan, found)

        return list(await asyncio.gather(*(one(spec) for spec in specs)))


async def inspect(
    paths: tuple[str, ...],
    target: Target,
    store: StateStore,
    *,
    prune: bool = False,
    redial_changed: bool = False,
    recordings: bool = False,
) -> list[Inspection]:
    """Plans for every file, in the order given; nothing is changed."""
    async with open_target(paths, target) as loaded:
        batches = await asyncio.gather(
            *(
                _inspect_group(group, connection, store, prune, redial_changed, recordings)
                for connection, group in loaded.by_connection.items()
            )
        )
    by_path = {i.plan.spec.path: i for batch in batches for i in batch}
    return [by_path[spec.path] for spec in loaded.specs]


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
        inspect(
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
