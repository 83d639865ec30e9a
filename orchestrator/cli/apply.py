"""``orchestrator apply``: dial everyone in the files and print the reconciled summary."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import click

from orchestrator import exit_codes
from orchestrator.cli.face import FacePlan, face_options, face_plan, serving_face
from orchestrator.cli.options import (
    API_ENVIRONMENT,
    color_option,
    full_option,
    state_option,
    state_store,
    yes_option,
)
from orchestrator.cli.record import recorded, start_recorder
from orchestrator.cli.signals import run_with_signals, signals_for
from orchestrator.cli.target import (
    Target,
    inspect_files,
    load_for_run,
    open_target,
    target_options,
    to_stderr,
)
from orchestrator.engine import options as defaults
from orchestrator.engine.apply import apply_with_connection
from orchestrator.engine.events import RunStopped
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import ConferenceResult
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.state import StateStore
from orchestrator.engine.watch import (
    DEFAULT_INTERVAL_S,
    WatchOptions,
    file_reloader,
    watch_with_connection,
)
from orchestrator.errors import ConfigError, UsageError
from orchestrator.files import write_atomically
from orchestrator.record.recorder import Recorder
from orchestrator.report.plan import hang_up_lines
from orchestrator.report.progress import ProgressDisplay, progress_for
from orchestrator.report.style import style_for
from orchestrator.report.summary import SUMMARY_REPORTERS, error_lines, render_json


@contextlib.asynccontextmanager
async def _frozen_heap() -> AsyncIterator[None]:
    """What reading the files made (specs, schema, modules) lasts the whole run: out of the
    collector's way while it runs, so its passes visit only what the run makes."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def run_apply(
    paths: tuple[str, ...],
    target: Target,
    options: ApplyOptions,
    stop: asyncio.Event,
    model: RunModel,
    progress: ProgressDisplay | None,
    watching: WatchOptions | None = None,
    face: FacePlan | None = None,
    stopped_by: Callable[[], str | None] = lambda: None,
    recorder: Recorder | None = None,
    keep_recordings: bool = True,
) -> list[str]:
    """Apply (or watch) the files, every step published to ``model``; the files, in order."""
    # While the live display is drawn, whatever else is said goes above it.
    say = progress.notice if progress is not None else to_stderr
    async with open_target(paths, target, say=say) as loaded, _frozen_heap():
        keeper = None
        if recorder is not None:
            recorder.use(loaded.by_connection)
            if keep_recordings:
                from orchestrator.record.recordings import Keeper

                keeper = Keeper(recorder, say=say)
        heard = keeper.from_callback if keeper is not None else None
        if progress is not None:
            progress.expect(sum(len(s.participants) for s in loaded.specs))
        async with serving_face(face, model, loaded.env, say, heard) as serve:
            if watching is None:
                runs = [
                    apply_with_connection(group, connection, options, stop, model)
                    for connection, group in loaded.by_connection.items()
                ]
            else:
                reload = file_reloader(loaded.env)
                runs = [
                    watch_with_connection(
                        group,
                        connection,
                        options,
                        watching,
                        stop,
                        reload=reload,
                        model=model,
                        notice=options.notice,
                        serve=serve,
                    )
                    for connection, group in loaded.by_connection.items()
                ]
            told = asyncio.create_task(_tell_the_stop(stop, model, stopped_by))
            try:
                await asyncio.gather(*runs)
            finally:
                told.cancel()
            if keeper is not None:
                from orchestrator.record.recordings import keep_at_end

                await keep_at_end(keeper, loaded.by_connection, model)
    return [spec.path for spec in loaded.specs]


async def _tell_the_stop(
    stop: asyncio.Event, model: RunModel, stopped_by: Callable[[], str | None]
) -> None:
    """The signal that stops the run is a fact of the run: it goes into the model as it comes."""
    await stop.wait()
    signal_name = stopped_by()
    if signal_name is not None:
        model.publish(RunStopped(file="", conference="", signal=signal_name))


@click.command("apply", epilog=API_ENVIRONMENT)
@click.argument("paths", nargs=-1, required=True, type=click.Path(), metavar="PATH...")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate and print the requests that would be sent; send nothing.",
)
@target_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 1000),
    default=defaults.CONCURRENCY,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--dials-per-second",
    type=click.FloatRange(0),
    default=defaults.DIALS_PER_SECOND,
    show_default=True,
    help="Dial pace, dials per second (0 = unpaced).",
)
@click.option(
    "--dial-window",
    type=click.FloatRange(0.1),
    default=defaults.DIAL_WINDOW_S,
    show_default=True,
    help="Window over which the dial pace is measured, in seconds.",
)
@click.option(
    "--settle-timeout",
    type=click.FloatRange(0),
    default=defaults.SETTLE_TIMEOUT_S,
    show_default=True,
    help="Longest wait for one leg to connect or end, in seconds.",
)
@click.option(
    "--no-wait", is_flag=True, help="Report legs as dialed without waiting for them to settle."
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(list(SUMMARY_REPORTERS)),
    default="text",
    show_default=True,
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(),
    help="Also write the JSON report to this file (its folder is checked before any dial).",
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
@click.option(
    "--watch",
    is_flag=True,
    help="Keep the conferences as the files say until Ctrl-C/SIGTERM or they end: redial "
    "dropped participants as their reconnect setting allows, apply the files when they change.",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=DEFAULT_INTERVAL_S,
    show_default=True,
    help="With --watch: time between looks at each conference, in seconds (longer while "
    "nothing changes).",
)
@face_options
@click.option(
    "--no-recordings",
    is_flag=True,
    help="Do not download the conferences' completed recordings into the run's record.",
)
@yes_option
@full_option
@color_option
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
    watch: bool,
    interval: float,
    listen: str | None,
    board: str | None,
    board_allow_remote: bool,
    no_recordings: bool,
    yes: bool,
    full: bool,
    no_color: bool,
    state_dir: str | None,
    quiet: bool,
) -> None:
    """Dial every participant of the conference files in PATH... and report the outcome.

    Participants already live are updated in place (muted, hold, coaching). With
    --prune, live participants this file dialed before but no longer names are
    hung up; with --redial-changed, legs whose number or dial-time settings changed
    are hung up and dialed again. Both ask first on a terminal and need --yes
    without one.

    SIGINT (Ctrl-C), SIGTERM and SIGHUP stop new dials, let requests in flight
    finish and print the summary (the report and the local record are written
    too); a second one aborts at once.

    \b
    Exit codes:
      0    every participant converged
      1    nothing could be done: invalid files, no key, authentication, API
           unreachable, an unwritable --report folder
      2    usage error (e.g. --prune without a terminal and without --yes)
      3    some participants did not converge, or an error stopped the run after
           dials were sent
      130  stopped by SIGINT, 143 by SIGTERM, 129 by SIGHUP
    """
    if dry_run:
        _dry_run(paths, target.env, output)
        return
    # Installed by the command line before this module was imported, as a rule: a signal
    # from then on ends the run with its summary and report.
    signals = signals_for(click.get_current_context())
    face = face_plan(
        listen=listen, board=board, allow_remote=board_allow_remote, full=full, watch=watch
    )
    if report_path is not None:
        _check_report_path(report_path)
    if (prune or redial_changed) and not yes and not target.sandbox:
        # A --sandbox run starts from an empty simulation: it has nothing live to hang up.
        signals.ask(
            lambda: _confirm_hang_ups(paths, target, state_store(state_dir), prune, redial_changed)
        )
        if signals.received is not None:  # stopped before the answer: nobody is hung up
            prune = redial_changed = False
    live = sys.stderr.isatty()
    progress = progress_for(terminal=live, quiet=quiet, no_color=no_color)
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
        notice=progress.notice,
    )
    model = RunModel(watching=watch)
    progress.attach(model)
    # Every run is kept (see orchestrator.record), a --sandbox run's too.
    recorder = start_recorder(
        "apply", paths, state_dir, sandbox=target.sandbox, watch=watch, warn=progress.notice
    )
    model.subscribe(recorder)
    with recorded(recorder) as ended, signals.for_the_run(live=live and not quiet):
        files: list[str] = []
        watching = WatchOptions(interval_s=interval) if watch else None

        def stopped_by() -> str | None:
            received = signals.received
            return signal.Signals(received).name if received is not None else None

        try:
            files = run_with_signals(
                signals,
                lambda stop: run_apply(
                    paths,
                    target,
                    options,
                    stop,
                    model,
                    progress,
                    watching,
                    face,
                    stopped_by,
                    recorder,
                    not no_recordings,
                ),
            )
        finally:
            progress.finish()  # also when the run failed: the terminal gets its cursor back
        results = model.results_for(files)
        code = model.exit_code()
        ended(code)
        # The report first: if stdout is gone (a closed terminal), the file still has it.
        report_failure = None if report_path is None else _write_report(report_path, results, code)
        for line in error_lines(results):
            click.echo(line, err=True)
        style = style_for(sys.stdout, no_color=no_color)
        _print(
            SUMMARY_REPORTERS[output](
                results, exit_code=code, full=full, style=style, width=_terminal_width()
            )
        )
        if report_failure is not None:
            click.echo(report_failure, err=True)
    if code != exit_codes.OK:
        raise SystemExit(code)


def _terminal_width() -> int | None:
    """The terminal's width when stdout is one: the summary is fitted to it, never wrapped."""
    try:
        if sys.stdout.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


def _check_report_path(report_path: str) -> None:
    """Refuse a --report file that could not be written, before anything is dialed."""
    path = Path(report_path)
    folder = path.parent
    problem = None
    if path.is_dir():
        problem = f"is a folder; name a file, such as {path / 'report.json'}"
    elif not folder.exists():
        problem = f"the folder {folder} does not exist; create it or choose another path"
    elif not folder.is_dir():
        problem = f"{folder} is not a folder; choose another path"
    else:
        try:  # the report is written the same way at the end: a temporary file, then a rename
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}."):
                pass
        except OSError as error:
            problem = (
                f"cannot write in {folder} ({error.strerror or error}); choose a writable folder"
            )
    if problem is not None:
        raise ConfigError(f"--report {report_path}: {problem}; nothing was dialed")


def _write_report(report_path: str, results: list[ConferenceResult], exit_code: int) -> str | None:
    """Write the report; what went wrong, as a warning line, when it could not be written."""
    try:
        write_atomically(Path(report_path), render_json(results, exit_code=exit_code))
    except OSError as error:
        return (
            f"warning: --report {report_path}: cannot write the report "
            f"({error.strerror or error}); the summary above is all this run reports"
        )
    return None


def _print(summary: str) -> None:
    """Print the summary; a stdout that is gone (a hung-up terminal) must not turn the run into an error."""
    try:
        click.echo(summary, nl=False)
    except OSError as error:
        with contextlib.suppress(OSError):
            click.echo(f"warning: cannot print the summary ({error.strerror or error})", err=True)


def _confirm_hang_ups(
    paths: tuple[str, ...], target: Target, store: StateStore, prune: bool, redial_changed: bool
) -> None:
    """Show whom --prune / --redial-changed would hang up and ask; refuse without a terminal."""
    if not sys.stdin.isatty():
        flags = " and ".join(
            f for f, on in (("--prune", prune), ("--redial-changed", redial_changed)) if on
        )
        raise UsageError(
            f"apply {flags} may hang up live calls and there is no terminal to confirm on; "
            "pass --yes (nothing was dialed or hung up)"
        )
    inspections = asyncio.run(
        inspect_files(paths, target, store, prune=prune, redial_changed=redial_changed)
    )
    lines = [f"  {line}" for inspection in inspections for line in hang_up_lines(inspection.plan)]
    if not lines:
        return
    click.echo("apply would hang up:\n" + "\n".join(lines), err=True)
    click.confirm("Go ahead?", abort=True, err=True)


def _dry_run(paths: tuple[str, ...], env: Mapping[str, str], output: str) -> None:
    from orchestrator.engine.preview import preview
    from orchestrator.report.dry_run import DRY_RUN_REPORTERS

    # Offline: an unset ${VAR} (a secret CI does not have) is shown as ${VAR}, with a warning.
    specs = load_for_run(paths, env, strict_env=False)
    previews = preview(specs, env.get("TELNYX_ACCOUNT_SID"))
    render = DRY_RUN_REPORTERS.get(output, DRY_RUN_REPORTERS["text"])
    click.echo(render(previews), nl=False)
