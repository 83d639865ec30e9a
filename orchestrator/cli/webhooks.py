"""``orchestrator webhooks listen``: receive callbacks on loopback, print, verify, forward."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING

import click

from orchestrator.errors import UsageError
from orchestrator.texml.connection import is_loopback

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DEFAULT_PORT = 9000


@click.group("webhooks")
def webhooks() -> None:
    """Receive and inspect the status callbacks Telnyx (or the sandbox) sends."""


@webhooks.command(
    "listen",
    epilog="""\b
Environment:
  TELNYX_PUBLIC_KEY  base64 Ed25519 public key: verify every callback's signature
                     (the sandbox prints its own in its export line)""",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--forward",
    metavar="URL",
    help="Send every accepted callback on to this URL (your own handler), unchanged.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one line per callback; json: one JSON object per line, the whole payload.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Listen on a non-loopback --host: anyone who can reach it can post to it.",
)
def listen(host: str, port: int, forward: str | None, output: str, allow_remote: bool) -> None:
    """Print each callback as one line; with TELNYX_PUBLIC_KEY set, reject (401) any whose
    signature is missing, stale or wrong; with --forward, pass the good ones on.

    \b
    Exit codes:
      0  stopped by Ctrl-C or SIGTERM
      1  the address cannot be used, or TELNYX_PUBLIC_KEY is not a key
      2  usage error
    """
    if not is_loopback(host) and not allow_remote:
        raise UsageError(f"--host {host} is not loopback; add --allow-remote to listen on it")
    if forward is not None:
        _check_forward(forward)
    from orchestrator.webhooks.signing import PUBLIC_KEY_ENV, public_key_from

    key_text = os.environ.get(PUBLIC_KEY_ENV, "").strip()
    public_key = public_key_from(key_text) if key_text else None
    asyncio.run(_serve(host, port, public_key, forward, output))


def _check_forward(forward: str) -> None:
    """Refuse a --forward URL the HTTP client cannot read plainly, naming it masked only."""
    from orchestrator.masking import read_url, shown_url

    url = read_url(forward)
    if url is None or url.scheme not in ("http", "https"):
        raise UsageError(
            f"--forward {shown_url(forward)} is not an http:// or https:// URL that reads "
            "plainly; percent-encode a password's reserved characters (# as %23, / as %2F)"
        )


async def _serve(
    host: str, port: int, public_key: Ed25519PublicKey | None, forward: str | None, output: str
) -> None:
    from orchestrator.masking import shown_url
    from orchestrator.serving import serving, stop_on_signals
    from orchestrator.webhooks.receiver import Receiver

    def emit(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    receiver = Receiver(
        public_key=public_key,
        forward=forward,
        output="json" if output == "json" else "text",
        emit=emit,
    )
    async with stop_on_signals() as stop, serving(receiver.app(), host, port) as bound:
        checks = (
            "verifying signatures"
            if public_key is not None
            else "NOT verifying signatures: without TELNYX_PUBLIC_KEY it trusts anyone who "
            "can reach it"
        )
        click.echo(f"listening on http://{host}:{bound}/ for callbacks, {checks}", err=True)
        if forward:
            click.echo(f"forwarding accepted callbacks to {shown_url(forward)}", err=True)
        await stop.wait()
    click.echo(
        f"stopped after {receiver.received} callbacks ({receiver.rejected} rejected)", err=True
    )
