"""Starting and stopping the sandbox: in the event loop, in a thread, and when it cannot start."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp import web

from orchestrator.clock import SteppedClock
from orchestrator.errors import ConfigError
from orchestrator.sandbox import parse_scenario, running_sandbox, sandbox_in_thread
from tests.sandbox.support import APP, open_api


def test_thread_sandbox_reports_a_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        expected = pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}")
        with expected, sandbox_in_thread(port=port):
            pass


def test_thread_sandbox_uses_the_given_credentials_and_hides_the_key() -> None:
    with sandbox_in_thread(api_key="KEYgiven", account_sid="acct-1", host="localhost") as info:
        assert (info.api_key, info.account_sid) == ("KEYgiven", "acct-1")
        assert info.base_url.startswith("http://127.0.0.1:")
        assert "KEYgiven" not in repr(info)


async def test_generated_credentials_differ_between_runs() -> None:
    async with running_sandbox() as first, running_sandbox() as second:
        assert first.api_key.startswith("KEY") and len(first.api_key) > 20
        assert first.api_key != second.api_key
        assert first.account_sid != second.account_sid
        assert first.base_url != second.base_url


async def test_leaving_the_block_stops_simulated_time_and_webhooks() -> None:
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.post())["CallStatus"])  # type: ignore[arg-type]
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        clock = SteppedClock()
        scenario = parse_scenario({"ring_seconds": 2})
        async with running_sandbox(scenario, clock=clock) as info, open_api(info) as api:
            await api.dial_ok(
                "room",
                To="+12065550100",
                ApplicationSid=APP,
                StatusCallback=url,
                StatusCallbackEvent="answered",
            )
        await clock.advance(4)
        assert received == []  # the answer would have come at 2 s
        assert clock.pending() == 0  # nothing left to fire
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(info.base_url + "/_sandbox/health")
    finally:
        await runner.cleanup()
