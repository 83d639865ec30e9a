"""apply's HTTP face for one run: the board (``--board``) and the ``--listen`` server.

When both name one address they are one application on one port: the board's paths first
(``/board/...``), then ``/healthz``, ``/metrics`` and every other path a callback. The board
is bound for the whole run (one-shot apply included, until it exits), so it starts before the
watch does: the watch attaches itself to the shared server when it starts (``serve``), and
until then ``/healthz`` says ``starting``. A ``--listen`` on an address of its own is served
for the watch's length, as it always was.

The board's token is made here, for this run, and said once: in the line that prints the
board's URL. Nothing else ever writes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from orchestrator.engine.run_model import RunModel
from orchestrator.engine.watch import Serve, Watch
from orchestrator.serving import serving
from orchestrator.texml.client import TexmlClient
from orchestrator.web.address import Address
from orchestrator.web.board import PATH, Board, new_token
from orchestrator.web.watch_server import WatchServer, checking, listening
from orchestrator.webhooks.intake import application

Heard = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class Face:
    board: Address | None
    listen: Address | None
    full: bool = False

    @property
    def shared(self) -> bool:
        """The board and --listen are one server on one port."""
        return self.board is not None and self.board == self.listen

    @contextlib.asynccontextmanager
    async def running(
        self,
        model: RunModel,
        *,
        public_key: Ed25519PublicKey | None,
        say: Callable[[str], None],
        heard: Heard | None,
    ) -> AsyncIterator[Serve | None]:
        """The board served for the block (ended with the run's exit code on the way out);
        yields what serves ``--listen`` with the watch, if anything does."""
        listen = self.listen
        separate = None
        if listen is not None and not self.shared:
            separate = listening(
                listen.host, listen.port, public_key=public_key, announce=say, heard=heard
            )
        if self.board is None:
            yield separate
            return
        address = self.board
        token = new_token()
        board = Board(model, token=token, full=self.full)
        app = application()
        board.add_to(app)
        callbacks = WatchServer(public_key=public_key, heard=heard) if self.shared else None
        if callbacks is not None:
            callbacks.add_to(app)
        label = "--board" if callbacks is None else "--board and --listen"
        try:
            async with serving(app, address.host, address.port, label=label) as port:
                board.bound(port)
                where = f"http://{address.url_host}:{port}"
                shown = "shown" if self.full else "masked"
                say(
                    f"board: {where}{PATH}?token={token} (read-only; anyone with this URL sees "
                    f"the bridge; numbers {shown})"
                )
                if callbacks is not None:
                    callbacks.url = where
                    say(
                        f"listening on {where}/ (callbacks, /healthz, /metrics, the board); "
                        f"{checking(public_key)}"
                    )
                yield _attaching(callbacks) if callbacks is not None else separate
                await board.end(model.exit_code())
        finally:
            await board.end(None)  # an error or a second signal ended the run: pages are told


def _attaching(server: WatchServer) -> Serve:
    """The watch attached to the shared server for its length."""

    @contextlib.asynccontextmanager
    async def serve(watch: Watch, client: TexmlClient) -> AsyncIterator[object]:
        with server.attach(watch, client):
            yield server

    return serve
