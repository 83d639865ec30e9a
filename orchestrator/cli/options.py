"""Options and helpers shared by the commands that talk to the API."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

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


def output_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that readers see the old file or the whole new one, never a part."""
    directory = path.parent if str(path.parent) else Path(".")
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=directory, prefix=f".{path.name}.", delete=False
    ) as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
        temporary = Path(handle.name)
    os.replace(temporary, path)
