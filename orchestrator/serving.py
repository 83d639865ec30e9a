"""Serving an aiohttp application on a chosen address for the length of a block.

The sandbox, ``webhooks listen`` and ``apply --watch --listen`` each bind an
address the user named (port 0: any free one) and must say in one line, not a
traceback, when it cannot be had; each then runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from orchestrator.errors import ConfigError


@contextlib.asynccontextmanager
async def serving(
    app: web.Application,
    host: str,
    port: int,
    *,
    label: str = "cannot listen on",
    hint: str = "",
    shutdown_timeout_s: float = 60.0,
) -> AsyncIterator[int]:
    """``app`` served on ``host:port`` until the block exits; yields the port bound.

    Raises ConfigError, ``"{label} {host}:{port}: {reason}{hint}"``, when the
    address cannot be used."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout_s)
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


def stop_on_signals() -> asyncio.Event:
    """An event SIGINT or SIGTERM sets, for a server that runs until it is stopped (call it
    from the running event loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    return stop
