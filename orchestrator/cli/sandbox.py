"""``orchestrator sandbox``: serve the simulated TeXML API until Ctrl-C."""

from __future__ import annotations

import asyncio
import gc
import shlex
import sys

import click

from orchestrator.errors import UsageError
from orchestrator.sandbox.inspector import inspector_url
from orchestrator.sandbox.logs import log_to_stderr
from orchestrator.sandbox.scenario import Scenario
from orchestrator.sandbox.scenario_file import load_scenario
from orchestrator.sandbox.server import SandboxInfo, running_sandbox
from orchestrator.serving import stop_on_signals
from orchestrator.texml.connection import is_loopback
from orchestrator.webhooks.signing import PUBLIC_KEY_ENV, SigningKey

BANNER = "Telnyx TeXML sandbox \u2014 no real calls are placed"
DEFAULT_PORT = 8765


def export_line(info: SandboxInfo) -> str:
    return (
        f"export TELNYX_BASE_URL={shlex.quote(info.base_url)}"
        f" TELNYX_API_KEY={shlex.quote(info.api_key)}"
        f" TELNYX_ACCOUNT_SID={shlex.quote(info.account_sid)}"
        f" {PUBLIC_KEY_ENV}={shlex.quote(info.public_key)}"
    )


async def serve(
    scenario: Scenario,
    *,
    host: str,
    port: int,
    token: str | None,
    account_sid: str | None,
    scenario_name: str,
    allow_remote_callbacks: bool = False,
    access_log: bool = False,
    signing_key: SigningKey | None = None,
) -> None:
    """Run until SIGINT or SIGTERM, printing the connection settings first."""
    async with (
        stop_on_signals() as stop,
        running_sandbox(
            scenario,
            host=host,
            port=port,
            api_key=token,
            account_sid=account_sid,
            allow_remote_callbacks=allow_remote_callbacks,
            access_log=access_log,
            signing_key=signing_key,
        ) as info,
    ):
        click.echo(BANNER)
        click.echo(f"Listening on {info.base_url} (scenario: {scenario_name})")
        click.echo("Point orchestrator or the Telnyx SDK at it with:")
        click.echo(f"  {export_line(info)}")
        click.echo(
            f"Inspector (every request and callback): {inspector_url(info.base_url, info.api_key)}"
        )
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        # What it took to start (modules, the application) lives as long as the sandbox: out of
        # the collector's way, so its passes visit only what the requests and calls made.
        gc.freeze()
        await stop.wait()


@click.command("sandbox")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; anything but loopback needs --allow-remote.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on; 0 picks a free one.",
)
@click.option(
    "--scenario",
    metavar="FILE",
    help="Scenario YAML: seed, time_scale, latency, dial limits, faults, per-number behaviour, "
    "the API's rough edges, webhook delivery.",
)
@click.option(
    "--token",
    metavar="KEY",
    envvar="ORCHESTRATOR_SANDBOX_TOKEN",
    help="API key clients must send (default: a random one, printed at start).",
)
@click.option("--account-sid", metavar="SID", help="Account SID to serve (default: a random UUID).")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback (anyone who can reach it can use the sandbox).",
)
@click.option(
    "--allow-remote-callbacks",
    is_flag=True,
    help="Deliver status callbacks to any host, not only to loopback URLs.",
)
@click.option(
    "--signing-key",
    metavar="FILE",
    help="Ed25519 key (PEM) to sign callbacks with, kept across runs; created if missing "
    "(default: a new key each run). Its public key is printed as TELNYX_PUBLIC_KEY.",
)
@click.option(
    "--access-log",
    is_flag=True,
    help="Log a line for every API request, answered or refused (4xx, 5xx, dropped).",
)
def sandbox(
    host: str,
    port: int,
    scenario: str | None,
    token: str | None,
    account_sid: str | None,
    allow_remote: bool,
    allow_remote_callbacks: bool,
    signing_key: str | None,
    access_log: bool,
) -> None:
    """Run a local simulation of Telnyx's TeXML Conferences API.

    It answers the API paths orchestrator and the official SDK use, simulates
    ringing, answering, machine detection, hang-ups, rate limits and faults,
    and delivers status callbacks to the URLs you give, signed as Telnyx signs
    them (verify with the TELNYX_PUBLIC_KEY it prints). No real calls are
    placed.

    Its log (stderr) shows what happens to calls, conferences, recordings and
    webhooks; --access-log adds a line for each API request, answered or
    refused.
    """
    if not is_loopback(host) and not allow_remote:
        raise UsageError(
            f"--host {host} is not a loopback address; add --allow-remote to serve the sandbox "
            "to other machines"
        )
    if token is not None and not token.strip():
        raise UsageError("--token is empty; give a key or leave it out for a random one")
    loaded = load_scenario(scenario) if scenario else Scenario()
    key = SigningKey.load_or_create(signing_key) if signing_key else None
    with log_to_stderr():
        asyncio.run(
            serve(
                loaded,
                host=host,
                port=port,
                token=token,
                account_sid=account_sid,
                scenario_name=scenario or "default",
                allow_remote_callbacks=allow_remote_callbacks,
                access_log=access_log,
                signing_key=key,
            )
        )
    click.echo("sandbox stopped", err=True)  # after the log's last lines
