"""Serving an aiohttp application on a chosen address for the length of a block.

The sandbox, ``webhooks listen`` and ``apply --watch --listen`` each bind an
address the user named (port 0: any free one) and must say in one line, not a
traceback, when it cannot be had; each then runs until SIGINT or SIGTERM.

Stopping closes the listening socket at once; requests being answered get
``SHUTDOWN_GRACE_S`` to finish (a stopping server reads nothing more from its
clients), then every connection is closed: ``docker stop`` kills ten seconds
after its SIGTERM, and a client holding a connection open must not use them up.
A second signal ends the grace at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from orchestrator.errors import ConfigError

# How long requests being answered when a server stops get to finish; then they are closed.
SHUTDOWN_GRACE_S = 3.0


@contextlib.asynccontextmanager
async def serving(
    app: web.Application,
    host: str,
    port: int,
    *,
    label: str = "cannot listen on",
    hint: str = "",
) -> AsyncIterator[int]:
    """``app`` served on ``host:port`` until the block exits; yields the port bound.

    Raises ConfigError, ``"{label} {host}:{port}: {reason}{hint}"``, when the
    address cannot be used."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as error:
            reason = error.strerror or str(error)
            raise ConfigError(f"{label} {host}:{port}: {reason}{hint}") from None
        yield runner.addresses[0][1] if runner.addresses else port
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """An event SIGINT or SIGTERM sets, for a server that runs until it is stopped.

    A second signal cancels whatever the block is waiting for then (as a rule, the
    grace given to open requests) and the block ends at once, without an error.
    Enter it from the task that runs the server.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    cancels = 0

    def handle() -> None:
        nonlocal cancels
        if stop.is_set() and task is not None:
            cancels += 1
            task.cancel()
        stop.set()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, handle)
            installed.append(signum)
    try:
        yield stop
    except asyncio.CancelledError:
        if not cancels or task is None:
            raise  # cancelled from elsewhere
        for _ in range(cancels):
            task.uncancel()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
