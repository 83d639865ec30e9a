"""Serving an aiohttp application on a chosen address for the length of a block.

The sandbox, ``webhooks listen`` and ``apply --watch --listen`` each bind an
address the user named (port 0: any free one) and must say in one line, not a
traceback, when it cannot be had.
"""

from __future__ import annotations

import contextlib
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
