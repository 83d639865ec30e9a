"""``orchestrator sandbox``: serve the simulated TeXML API until Ctrl-C."""

from __future__ import annotations

import asyncio
import gc
import logging
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from orchestrator.errors import UsageError
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


class _SecondsFormatter(logging.Formatter):
    """``HH:MM:SS message``; the time text is made once per second, not once per line."""

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._text = super().formatTime(record, datefmt)
            self._second = second
        return self._text


class _LoopBatchedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Lines to a stream, written together at the end of the event loop's current pass.

    The sandbox logs every call it places and answers; one write per pass instead of
    one write and flush per line. Without a running loop a line is written at once.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        if not self._lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: nothing would come round to write it
                self._write(line)
                return
        self._lines.append(line)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._lines:
                text = "".join(self._lines)
                self._lines.clear()
                self._write(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:
            pass  # as StreamHandler: a closed or broken stderr must not stop the sandbox

    def close(self) -> None:
        self.flush()
        super().close()


@contextmanager
def _log_to_stderr() -> Iterator[None]:
    """The sandbox's log (INFO and up) on stderr while the block runs.

    A line shows the time and the message only, so the logging module need not look up
    the caller, thread or process of each record (its documented optimisations); they
    are restored afterwards for the rest of the process.
    """
    handler = _LoopBatchedHandler(sys.stderr)
    handler.setFormatter(_SecondsFormatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    logger = logging.getLogger("orchestrator.sandbox")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    saved = (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing)
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    try:
        yield
    finally:
        (
            logging._srcfile,
            logging.logThreads,
            logging.logProcesses,
            logging.logMultiprocessing,
        ) = saved
        logger.removeHandler(handler)
        handler.close()


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
    with _log_to_stderr():
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
