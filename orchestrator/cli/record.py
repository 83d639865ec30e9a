"""The run's record, as the commands that change calls keep it (apply, down)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import click

from orchestrator import exit_codes
from orchestrator.cli import COMMAND_LINE, exit_code_for
from orchestrator.errors import OrchestratorError
from orchestrator.record.recorder import Recorder


def start_recorder(
    command: str,
    paths: Sequence[str],
    state_dir: str | None,
    *,
    sandbox: bool,
    watch: bool = False,
    warn: Callable[[str], None],
) -> Recorder:
    """A new run folder for this command, its header written."""
    context = click.get_current_context()
    argv = context.meta.get(COMMAND_LINE) or [command, *paths]
    return Recorder.start(
        command=command,
        argv=argv,
        paths=paths,
        state_dir=state_dir,
        sandbox=sandbox,
        watch=watch,
        warn=warn,
    )


def exit_code_of(error: BaseException) -> int:
    """The exit code the process ends with because of ``error``."""
    if isinstance(error, SystemExit):
        return error.code if isinstance(error.code, int) else exit_codes.FAILED
    if isinstance(error, KeyboardInterrupt):
        return exit_codes.INTERRUPTED
    if isinstance(error, OrchestratorError):
        return exit_code_for(error)
    if isinstance(error, click.exceptions.Exit):
        return error.exit_code
    if isinstance(error, click.ClickException):
        return error.exit_code
    return exit_codes.FAILED


@contextlib.contextmanager
def recorded(recorder: Recorder) -> Iterator[Callable[[int], None]]:
    """The block runs the command; the record ends with the code it hands to the callable it
    is given, or with the exit code of what ends the block (an error, a signal's abort)."""
    said: list[int] = []
    try:
        yield said.append
    except BaseException as error:
        recorder.finish(exit_code_of(error))
        raise
    recorder.finish(said[-1] if said else exit_codes.OK)
