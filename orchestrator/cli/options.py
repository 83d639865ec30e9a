"""Options and helpers shared by the commands that talk to the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from orchestrator.engine.state import STATE_DIR_ENV, StateStore

F = TypeVar("F", bound=Callable[..., object])


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
