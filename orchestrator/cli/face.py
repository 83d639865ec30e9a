"""apply's ``--listen``, ``--board`` and ``--board-allow-remote``: checked before anything
starts, served for the run by ``orchestrator.web.face`` (imported only when asked for)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from orchestrator.errors import UsageError
from orchestrator.texml.connection import is_loopback
from orchestrator.web.address import Address, parse_address

if TYPE_CHECKING:
    from orchestrator.engine.run_model import RunModel
    from orchestrator.engine.watch import Serve

F = TypeVar("F", bound=Callable[..., Any])


def face_options(command: F) -> F:
    for option in reversed(
        (
            click.option(
                "--listen",
                metavar="HOST:PORT",
                help="With --watch: receive the conferences' status callbacks here (they wake "
                "the watch at once; TELNYX_PUBLIC_KEY verifies them), and serve /healthz and "
                "/metrics.",
            ),
            click.option(
                "--board",
                metavar="[HOST:]PORT",
                help="Serve a live board of the bridge here while the run lasts (read-only, "
                "behind a token in the URL it prints; loopback unless --board-allow-remote). "
                "The same address as --listen serves both from one port.",
            ),
            click.option(
                "--board-allow-remote",
                is_flag=True,
                help="Let --board bind an address other than loopback (the token is still "
                "required).",
            ),
        )
    ):
        command = option(command)
    return command


@dataclass(frozen=True)
class FacePlan:
    listen: Address | None
    board: Address | None
    full: bool


def face_plan(
    *, listen: str | None, board: str | None, allow_remote: bool, full: bool, watch: bool
) -> FacePlan | None:
    """What apply serves, its addresses checked now (one line each when they are not right)."""
    if listen is not None and not watch:
        raise UsageError("--listen is for apply --watch: add --watch, or drop --listen")
    if allow_remote and board is None:
        raise UsageError("--board-allow-remote is for --board: add --board, or drop it")
    listening = _listen_address(listen) if listen is not None else None
    boarding = _board_address(board, allow_remote) if board is not None else None
    if listening is None and boarding is None:
        return None
    return FacePlan(listening, boarding, full)


def _listen_address(text: str) -> Address:
    address = parse_address(text)
    if address is None or ":" not in text:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, such as 127.0.0.1:9100")
    if not is_loopback(address.host):
        raise UsageError(
            f"--listen {text}: {address.host} is not loopback; put a reverse proxy or tunnel in "
            "front of a loopback address instead"
        )
    return address


def _board_address(text: str, allow_remote: bool) -> Address:
    address = parse_address(text)
    if address is None:
        raise UsageError(f"--board {text!r}: expected [HOST:]PORT, such as 9200 or 127.0.0.1:9200")
    if not allow_remote and not is_loopback(address.host):
        raise UsageError(
            f"--board {text}: {address.host} is not loopback; add --board-allow-remote to serve "
            "the board beyond this machine (its token is still required)"
        )
    return address


@contextlib.asynccontextmanager
async def serving_face(
    plan: FacePlan | None,
    model: RunModel,
    env: Mapping[str, str],
    say: Callable[[str], None],
    heard: Callable[[Mapping[str, Any]], None] | None,
) -> AsyncIterator[Serve | None]:
    """The board for the block, and what serves --listen with the watch (None: nothing)."""
    if plan is None:
        yield None
        return
    from orchestrator.web.face import Face
    from orchestrator.webhooks.signing import PUBLIC_KEY_ENV, public_key_from

    # The key comes from the environment the files expand with: with --sandbox, its own.
    key_text = env.get(PUBLIC_KEY_ENV, "").strip()
    public_key = public_key_from(key_text) if key_text and plan.listen is not None else None
    face = Face(board=plan.board, listen=plan.listen, full=plan.full)
    async with face.running(model, public_key=public_key, say=say, heard=heard) as serve:
        yield serve
