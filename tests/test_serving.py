"""Serving on an address the user named, and stopping on SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

import aiohttp
import pytest
from aiohttp import web

from orchestrator.errors import ConfigError
from orchestrator.serving import serving, stop_on_signals


def _hello() -> web.Application:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    return app


async def test_port_zero_serves_on_a_free_port_and_says_which() -> None:
    async with serving(_hello(), "127.0.0.1", 0) as port:
        assert port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/") as response,
        ):
            assert await response.text() == "hello"
    with pytest.raises(aiohttp.ClientConnectorError):  # nothing is left listening
        async with aiohttp.ClientSession() as session:
            await session.get(f"http://127.0.0.1:{port}/")


async def test_an_address_in_use_is_one_line_with_the_label_and_the_hint() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as raised:
            async with serving(
                _hello(), "127.0.0.1", port, label="cannot listen on", hint="; try --port 0"
            ):
                pass
    message = str(raised.value)
    assert message.startswith(f"cannot listen on 127.0.0.1:{port}: ")
    assert message.endswith("; try --port 0") and "\n" not in message


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_sigint_or_sigterm_sets_the_stop(signum: signal.Signals) -> None:
    stop = stop_on_signals()
    try:
        os.kill(os.getpid(), signum)
        await asyncio.wait_for(stop.wait(), timeout=5)
    finally:
        loop = asyncio.get_running_loop()
        for each in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(each)
    assert stop.is_set()
