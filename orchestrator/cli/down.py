"""``orchestrator down``: hang up the files' participants, or end their conferences."""

from __future__ import annotations

import asyncio
import sys

import click

from orchestrator import exit_codes
from orchestrator.cli.options import state_option, state_store
from orchestrator.cli.target import Target, open_target, target_options
from orchestrator.engine.planner import read_live_state
from orchestrator.engine.state import StateStore
from orchestrator.errors import ApiError, ApiUnreachable, NotFoundError, UsageError
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection


async def _down_one(
    client: TexmlClient,
    spec: ConferenceSpec,
    end_conference: bool,
    store: StateStore | None,
) -> tuple[list[str], bool]:
    """Lines saying what was ended, and whether everything asked for was done."""
    name = spec.conference.name
    account_sid = spec.account_sid or client.connection.account_sid
    recorded = store.load(spec.path, account_sid, name) if store is not None else None
    # Who is live, found as apply finds them: by Label, by the record, or by the number called.
    state = await read_live_state(client, spec, recorded)
    conference = state.conference
    if conference is None:
        lines = [f"Conference {name} ({spec.path}): not running; nothing to end"]
        if store is not None and recorded is not None and recorded.participants:
            recorded.participants.clear()  # whatever was recorded ended with it
            store.save(spec.path, recorded)
        return lines, True
    sid = conference["sid"]
    lines = [f"Conference {name} ({spec.path}): {sid}"]
    ok = True
    if end_conference:
        await client.update_conference(sid, {"Status": "completed"})
        lines.append("  ended the conference (Status=completed); everyone in it was hung up")
        if recorded is not None:
            recorded.participants.clear()
    else:

        async def hang_up(label: str) -> str:
            live = state.participants.get(label)
            if live is None:
                return f"  = {label} was not in the conference"
            try:
                await client.delete_participant(sid, live["call_sid"])
            except NotFoundError:
                return f"  = {label} was not in the conference"
            return f"  - hung up {label}"

        # Whoever ends the conference on exit goes last, or the others would be
        # gone with it before their own hang-up is sent.
        enders = [p for p in spec.participants if p.settings.end_conference_on_exit]
        others = [p for p in spec.participants if not p.settings.end_conference_on_exit]
        outcomes: list[str | BaseException] = list(
            await asyncio.gather(*(hang_up(p.name) for p in others), return_exceptions=True)
        )
        for participant in enders:
            try:
                outcomes.append(await hang_up(participant.name))
            except (ApiError, ApiUnreachable) as error:
                outcomes.append(error)
        for participant, outcome in zip([*others, *enders], outcomes, strict=True):
            if isinstance(outcome, (ApiError, ApiUnreachable)):
                ok = False
                lines.append(f"  ! could not hang up {participant.name}: {outcome}")
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            lines.append(outcome)
            if recorded is not None:
                recorded.participants.pop(participant.name, None)
        if enders:
            ended = await client.get_conference(sid)
            if ended.get("status") == "completed":
                names = ", ".join(p.name for p in enders)
                lines.append(
                    f"  the conference ended with {names} (end_conference_on_exit); "
                    "anyone else still in it was hung up too"
                )
                if recorded is not None:
                    recorded.participants.clear()
    if store is not None and recorded is not None:
        store.save(spec.path, recorded)
    return lines, ok


async def _down_group(
    specs: list[ConferenceSpec],
    connection: Connection,
    end_conference: bool,
    store: StateStore | None,
) -> list[tuple[list[str], bool]]:
    async with TexmlClient(connection) as client:
        return list(
            await asyncio.gather(*(_down_one(client, s, end_conference, store) for s in specs))
        )


async def run_down(
    paths: tuple[str, ...],
    target: Target,
    store: StateStore | None,
    *,
    end_conference: bool,
    confirmed: bool,
) -> bool:
    async with open_target(paths, target) as loaded:
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
        batches = await asyncio.gather(
            *(
                _down_group(group, connection, end_conference, store)
                for connection, group in loaded.by_connection.items()
            )
        )
    ok = True
    for lines, done in (entry for batch in batches for entry in batch):
        click.echo("\n".join(lines))
        ok = ok and done
    return ok


@click.command("down")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@target_options
@state_option
@click.option(
    "--end-conference",
    is_flag=True,
    help="End each whole conference (Status=completed), not just the file's participants.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def down(
    paths: tuple[str, ...],
    target: Target,
    state_dir: str | None,
    end_conference: bool,
    yes: bool,
) -> None:
    """Hang up the participants of the files in PATHS (by Label), or end the conferences.

    Participants the files do not name are left alone unless --end-conference
    ends the whole conference. Exit codes: 0 done, 1 error.
    """
    if not yes and not sys.stdin.isatty():
        raise UsageError(
            "down hangs up live calls and there is no terminal to confirm on; pass --yes"
        )
    ok = asyncio.run(
        run_down(
            paths,
            target,
            None if target.sandbox else state_store(state_dir),
            end_conference=end_conference,
            confirmed=yes,
        )
    )
    if not ok:
        raise SystemExit(exit_codes.FAILED)
