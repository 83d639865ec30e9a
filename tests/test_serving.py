"""Serving on an address the user named, and stopping on SIGINT or SIGTERM: at once for new
connections, after a short grace for open requests, and at once on a second signal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from orchestrator import serving as serving_module
from orchestrator.errors import ConfigError
from orchestrator.serving import serving, stop_on_signals

# A request whose body never comes in full: the client says 100 bytes and sends 3 (a server
# that is stopping reads no more).
HALF_A_REQUEST = b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nabc"


def _hello(release: asyncio.Event | None = None) -> web.Application:
    """``/`` says hello; ``/echo`` answers a POST with its body; ``/slow`` waits for ``release``."""

    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def slow(_: web.Request) -> web.Response:
        assert release is not None
        await release.wait()
        return web.Response(text="done")

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_post("/echo", echo)
    app.router.add_get("/slow", slow)
    return app


@contextlib.asynccontextmanager
async def half_a_request(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A connection that has sent the headers of a request and part of its body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HALF_A_REQUEST)
    await writer.drain()
    await asyncio.sleep(0.1)  # the server has read it: a request is in progress
    try:
        yield reader, writer
    finally:
        writer.close()


async def refused(port: int) -> bool:
    """Whether new connections to ``port`` are refused, once they are (within five seconds).

    One on its way as the listening socket closes is reset instead."""
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except (ConnectionRefusedError, ConnectionResetError):
            return True
        writer.close()
        await asyncio.sleep(0.01)
    return False


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


@pytest.mark.long
async def test_stopping_refuses_new_connections_at_once_and_cuts_a_held_request_after_the_grace() -> (
    None
):
    release = asyncio.Event()
    entered = contextlib.AsyncExitStack()
    port = await entered.enter_async_context(serving(_hello(release), "127.0.0.1", 0))
    async with aiohttp.ClientSession() as session, half_a_request(port) as (held, _):
        slow = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/slow"))
        await asyncio.sleep(0.1)  # its handler is waiting
        stopping = asyncio.create_task(entered.aclose())
        assert await refused(port)  # the listening socket closed at once
        # A request whose handler finishes within the grace is answered...
        release.set()
        async with await slow as answer:
            assert answer.status == 200 and await answer.text() == "done"
        # ... one that does not finish is closed after it, and the server is then gone.
        await asyncio.wait_for(stopping, timeout=10)
        assert await asyncio.wait_for(held.read(), timeout=1) == b""


async def test_a_second_signal_ends_the_grace_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serving_module, "SHUTDOWN_GRACE_S", 60.0)
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def serve() -> str:
        async with stop_on_signals() as stop, serving(_hello(), "127.0.0.1", 0) as port:
            bound.set_result(port)
            await stop.wait()
        return "ended"

    server = asyncio.create_task(serve())
    port = await bound
    async with half_a_request(port):
        os.kill(os.getpid(), signal.SIGTERM)
        assert await refused(port)  # the first signal was taken: the server is stopping
        os.kill(os.getpid(), signal.SIGINT)
        assert await asyncio.wait_for(server, timeout=10) == "ended"  # no error, no 60 s grace
    # The handlers are gone with the block: a signal now would not be taken for a stop.
    loop = asyncio.get_running_loop()
    assert not loop.remove_signal_handler(signal.SIGTERM)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_sigint_or_sigterm_sets_the_stop(signum: signal.Signals) -> None:
    async with stop_on_signals() as stop:
        os.kill(os.getpid(), signum)
        await asyncio.wait_for(stop.wait(), timeout=5)
    assert stop.is_set()
