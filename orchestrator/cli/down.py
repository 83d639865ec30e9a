"""``orchestrator down``: hang up the files' participants, or end their conferences."""

from __future__ import annotations

import asyncio
import sys

import click

from orchestrator import exit_codes
from orchestrator.cli.options import API_ENVIRONMENT, state_option, state_store, yes_option
from orchestrator.cli.record import recorded, start_recorder
from orchestrator.cli.target import Target, open_target, target_options, to_stderr
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.state import StateStore
from orchestrator.engine.teardown import Teardown, tear_down_all
from orchestrator.errors import UsageError
from orchestrator.record.recorder import Recorder
from orchestrator.report.down import DOWN_REPORTERS


async def run_down(
    paths: tuple[str, ...],
    target: Target,
    store: StateStore | None,
    *,
    end_conference: bool,
    confirmed: bool,
    model: RunModel | None = None,
    recorder: Recorder | None = None,
) -> list[Teardown]:
    async with open_target(paths, target, undialable="ignore") as loaded:
        if recorder is not None:
            recorder.use(loaded.by_connection)
        specs = loaded.specs
        if not confirmed:
            names = ", ".join(s.conference.name for s in specs)
            what = (
                f"End conference(s) {names}, hanging up everyone in them"
                if end_conference
                else f"Hang up the participants of {names} named in the file(s)"
            )
            enders = [
                p.name
                for s in specs
                for p in s.participants
                if p.settings.end_conference_on_exit and not end_conference
            ]
            if enders:
                what += f" ({', '.join(enders)} ending the conference for everyone as they leave)"
            click.confirm(f"{what}?", abort=True, err=True)
        by_path = await tear_down_all(
            loaded.by_connection, end_conference=end_conference, store=store, model=model
        )
    return [by_path[spec.path] for spec in loaded.specs]


@click.command("down", epilog=API_ENVIRONMENT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="PATH...")
@target_options
@state_option
@click.option(
    "--end-conference",
    is_flag=True,
    help="End each whole conference (Status=completed), not just the file's participants.",
)
@yes_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(list(DOWN_REPORTERS)),
    default="text",
    show_default=True,
)
def down(
    paths: tuple[str, ...],
    target: Target,
    state_dir: str | None,
    end_conference: bool,
    yes: bool,
    output: str,
) -> None:
    """Hang up the participants of the files in PATH..., or end the conferences.

    Participants are found as apply finds them (by Label, the local record or
    the number called) and hung up; those the files do not name are left alone
    unless --end-conference ends the whole conference. Asks first on a
    terminal; needs --yes without one.

    \b
    Exit codes:
      0  done
      1  error: a participant could not be hung up, or the API could not be reached
      2  usage error (e.g. no terminal to confirm on and no --yes)
    """
    if not yes and not sys.stdin.isatty():
        raise UsageError(
            "down hangs up live calls and there is no terminal to confirm on; pass --yes"
        )
    # Its hang-ups are kept as a run of their own, through the run model as apply's are.
    model = RunModel()
    recorder = start_recorder("down", paths, state_dir, sandbox=target.sandbox, warn=to_stderr)
    model.subscribe(recorder)
    with recorded(recorder) as ended:
        teardowns = asyncio.run(
            run_down(
                paths,
                target,
                None if target.sandbox else state_store(state_dir),
                end_conference=end_conference,
                confirmed=yes,
                model=model,
                recorder=recorder,
            )
        )
        code = exit_codes.OK if all(t.ok for t in teardowns) else exit_codes.FAILED
        ended(code)
    click.echo(DOWN_REPORTERS[output](teardowns, exit_code=code), nl=False)
    if code != exit_codes.OK:
        raise SystemExit(code)
