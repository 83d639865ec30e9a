"""``orchestrator history``: the runs kept in the local record, and one run rendered."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from orchestrator.cli.options import API_ENVIRONMENT, state_option
from orchestrator.cli.target import Target, target_options, to_stderr
from orchestrator.errors import ConfigError, UsageError
from orchestrator.files import write_atomically
from orchestrator.record.runs import StoredRun, list_runs, pick, run_folders
from orchestrator.record.view import RunView, view_of

if TYPE_CHECKING:
    from orchestrator.texml.connection import Connection

FORMATS = ("text", "json", "html", "svg")


def _same_file(run: StoredRun, wanted: list[str]) -> bool:
    header = run.header
    paths = {str(f.get("path")) for f in header.files}
    resolved = {str((Path(header.cwd or ".") / p).resolve()) for p in paths}
    return any(w in paths or str(Path(w).resolve()) in resolved for w in wanted)


def _select(
    runs: list[StoredRun], files: list[str], conferences: list[str]
) -> tuple[list[StoredRun], dict[str, RunView]]:
    """The runs the filters keep, and the views already made on the way (by run id)."""
    views: dict[str, RunView] = {}
    if files:
        runs = [r for r in runs if _same_file(r, files)]
    if conferences:
        kept = []
        for run in runs:
            view = views[run.id] = view_of(run)
            if any(c.fold.name in conferences for c in view.conferences):
                kept.append(run)
        runs = kept
    return runs, views


def _connection_for(run: StoredRun, target: Target) -> Connection:
    from orchestrator.texml.connection import resolve_connection

    header = run.header
    if target.sandbox:
        raise UsageError(
            "--fetch --sandbox would ask a new, empty simulation, which knows nothing of this "
            "run's calls; drop --sandbox (or point --base-url at the sandbox the run used)"
        )
    if header.sandbox:
        raise ConfigError(
            f"run {header.id} was made with --sandbox: its simulation ended with the run, so "
            "there is nothing left to fetch from; its record is all there is"
        )
    account = header.accounts[0] if header.accounts else {}
    recorded_url = account.get("base_url") or ""
    base_url = target.base_url or target.env.get("TELNYX_BASE_URL") or None
    if base_url is None and recorded_url and "***" not in recorded_url:
        base_url = recorded_url  # the API the run talked to
    return resolve_connection(
        env=target.env,
        api_key_file=target.api_key_file,
        base_url=base_url,
        account_sid=account.get("account_sid"),
    )


def _fetch(run: StoredRun, target: Target, *, recordings: bool) -> None:
    from orchestrator.record.fetch import fetch

    connection = _connection_for(run, target)
    done = asyncio.run(fetch(run, connection, recordings=recordings, say=to_stderr))
    kept = f", {done.kept} recording(s) kept" if recordings else ""
    to_stderr(f"fetched: {done.learned} new fact(s){kept}")
    for line in done.not_learned:
        to_stderr(f"not learned: {line}")


def _emit(text: str, out: str | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomically(Path(out), text)
    except OSError as error:
        raise ConfigError(f"--out {out}: cannot write it ({error.strerror or error})") from None


@click.command("history", epilog=API_ENVIRONMENT)
@click.argument("run_ref", required=False, metavar="[RUN]")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(),
    help="Only runs of this conference file (its record folder is where they are looked for).",
)
@click.option("--conference", "conferences", multiple=True, help="Only runs of this conference.")
@click.option("-n", "limit", type=click.IntRange(1), help="At most the N newest runs.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="html and svg draw one run (name it).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file, not stdout.")
@click.option(
    "--fetch",
    is_flag=True,
    help="Ask the API how the run's calls and conference ended, and keep its recordings; "
    "what is learned is added to the record once.",
)
@click.option("--no-recordings", is_flag=True, help="With --fetch: do not download the recordings.")
@click.option("--full", is_flag=True, help="Show numbers whole, and every row of a long table.")
@state_option
@target_options
def history(
    run_ref: str | None,
    files: tuple[str, ...],
    conferences: tuple[str, ...],
    limit: int | None,
    output: str,
    out: str | None,
    fetch: bool,
    no_recordings: bool,
    full: bool,
    state_dir: str | None,
    target: Target,
) -> None:
    """List the runs kept in the local record, newest first; or show RUN (its id, a unique
    prefix of it, or ``last``).

    Every apply and down keeps its run in the record (.orchestrator/runs/ next to the
    first file, or --state-dir). Without --state-dir or --file, history looks in every
    .orchestrator/ folder from here down three levels.

    \b
    Exit codes:
      0  shown
      1  the API could not be asked (--fetch), or --out could not be written
      2  usage error: an unknown or ambiguous RUN, html or svg without RUN
    """
    if output in ("html", "svg") and run_ref is None:
        raise UsageError(f"-o {output} draws one run: name it (history RUN -o {output}, or last)")
    if fetch and run_ref is None:
        raise UsageError("--fetch completes one run: name it (history RUN --fetch, or last)")
    folders = run_folders(state_dir, files, Path.cwd())
    runs, views = _select(list_runs(folders), list(files), list(conferences))
    if run_ref is None:
        shown = runs[:limit] if limit else runs
        listed = [views.get(r.id) or view_of(r) for r in shown]
        from orchestrator.report.history import render_list_json, render_list_text

        render = render_list_json if output == "json" else render_list_text
        _emit(render(listed, full=full), out)
        return
    run = pick(runs, run_ref)
    if fetch:
        _fetch(run, target, recordings=not no_recordings)
    _emit(_render(view_of(run), output, full=full, out=out), out)


def _render(view: RunView, output: str, *, full: bool, out: str | None) -> str:
    if output == "html":
        from orchestrator.report.run_page import render_run_html

        base = Path(out).resolve().parent if out is not None else None
        return render_run_html(view, full=full, base=base)
    if output == "svg":
        from orchestrator.report.run_page import render_run_svg

        if not view.conferences:
            raise UsageError(f"run {view.run.id} has no conference to draw")
        return render_run_svg(view, full=full)
    from orchestrator.report.history import render_run_json, render_run_text

    if output == "json":
        return render_run_json(view, full=full)
    width = None
    if out is None and sys.stdout.isatty():
        import shutil

        width = shutil.get_terminal_size().columns
    return render_run_text(view, full=full, width=width)
