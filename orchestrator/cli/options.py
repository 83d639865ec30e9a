"""Options and helpers shared by the commands that talk to the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from orchestrator.engine.state import STATE_DIR_ENV, StateStore

F = TypeVar("F", bound=Callable[..., object])

# The end of --help for the commands that talk to the API.
API_ENVIRONMENT = f"""\b
Environment:
  TELNYX_API_KEY       API key (or --api-key-file)
  TELNYX_BASE_URL      API base URL (or --base-url; default https://api.telnyx.com/v2)
  TELNYX_ACCOUNT_SID   the account, unless a file names account_sid
  {STATE_DIR_ENV}  where the local record is kept (or --state-dir)
  NO_COLOR             no colour on a terminal (or --no-color)
  ORCHESTRATOR_DEBUG   print the traceback of an internal error"""


def sandbox_options(function: F) -> F:
    function = click.option(
        "--scenario",
        type=click.Path(exists=True, dir_okay=False),
        help="Sandbox scenario file (with --sandbox): per-number behaviour, faults, limits.",
    )(function)
    return click.option(
        "--sandbox",
        is_flag=True,
        help="Run against the built-in simulation of the API on loopback; no real calls are placed.",
    )(function)


def connection_options(function: F) -> F:
    function = click.option(
        "--base-url",
        metavar="URL",
        help="API base URL (default: $TELNYX_BASE_URL or https://api.telnyx.com/v2).",
    )(function)
    return click.option(
        "--api-key-file",
        type=click.Path(dir_okay=False),
        help="Read the API key from this file instead of $TELNYX_API_KEY.",
    )(function)


def state_option(function: F) -> F:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False),
        envvar=STATE_DIR_ENV,
        help="Where to keep the record of what was dialed "
        f"(default: .orchestrator/ next to each file; ${STATE_DIR_ENV}).",
    )(function)


def state_store(state_dir: str | None) -> StateStore:
    return StateStore(state_dir, warn=lambda message: click.echo(message, err=True))


def full_option(function: F) -> F:
    return click.option(
        "--full",
        is_flag=True,
        help="List every participant, even in a table of more than 50 rows (by default a long "
        "table shows only those that did not converge).",
    )(function)


def color_option(function: F) -> F:
    return click.option(
        "--no-color",
        is_flag=True,
        help="No colour, even on a terminal (as does setting NO_COLOR).",
    )(function)


def yes_option(function: F) -> F:
    return click.option("-y", "--yes", is_flag=True, help="Do not ask before hanging up calls.")(
        function
    )
