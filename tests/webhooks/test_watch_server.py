"""apply --watch --listen's server over real HTTP against the sandbox: bodies are read only once
their signature holds, and nothing in one is answered 500."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.engine.watch import WatchOptions, file_reloader, watch_with_connection
from orchestrator.sandbox import SandboxInfo
from orchestrator.texml.client import TexmlClient
from orchestrator.webhooks.signing import SigningKey, public_key_from
from orchestrator.webhooks.watch_server import WatchServer, listening
from tests.engine.support import (
    TEST_OPTIONS,
    conference_file,
    connection_for,
    fast_sandbox,
    load,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PEOPLE = [
    {"name": "lead", "to": "+12065550100", "role": "host"},
    {"name": "bob", "to": "+12065550101"},
]
# Without a callback nothing would be read again for half a minute: every read counted here
# is one a callback caused.
SLOW = WatchOptions(interval_s=30)


@asynccontextmanager
async def watched(
    info: SandboxInfo, path: Path, key: SigningKey | None, said: list[str] | None = None
) -> AsyncIterator[WatchServer]:
    """A watch of ``path`` with its --listen server (verifying ``key``'s signatures, if given)
    once the first round has run; what it announces goes to ``said``."""
    servers: list[WatchServer] = []
    public_key = public_key_from(key.public_key) if key is not None else None
    announce = said.append if said is not None else None

    def serve(watch: Any, client: Any) -> Any:
        inner = listening("127.0.0.1", 0, public_key=public_key, announce=announce)(watch, client)

        @asynccontextmanager
        async def keep() -> AsyncIterator[object]:
            async with inner as server:
                servers.append(server)
                yield server

        return keep()

    stop = asyncio.Event()
    task = asyncio.create_task(
        watch_with_connection(
            [load(path)], connection_for(info), TEST_OPTIONS, SLOW, stop,
            reload=file_reloader({}), serve=serve,
        )
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not servers or (await health(servers[0]))["rounds"] < 1:
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.02)
        yield servers[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def health(server: WatchServer) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as answer:
        found: dict[str, Any] = await answer.json()
        return found


async def conference_sid(info: SandboxInfo) -> str:
    async with TexmlClient(connection_for(info)) as client:
        return (await client.list_conferences(friendly_name="test-bridge"))[0]["sid"]


async def test_a_body_is_read_only_once_signed_and_never_answered_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = SigningKey.generate()
    deep = b"[" * 100_000 + b"]" * 100_000
    not_utf8 = b"StatusCallbackEvent=participant-leave&ConferenceSid=\xff\xfe"
    json_body = {"Content-Type": "application/json"}
    path = conference_file(tmp_path, PEOPLE)
    async with (
        fast_sandbox() as info,
        watched(info, path, key) as server,
        aiohttp.ClientSession() as http,
    ):
        url = f"{server.url}/c"
        statuses = []
        for body, headers in (
            (deep, json_body),  # unsigned: refused on its bytes, never parsed
            (deep, {**json_body, **key.headers(deep)}),
            (not_utf8, {**FORM, **key.headers(not_utf8)}),
        ):
            async with http.post(url, data=body, headers=headers) as answer:
                statuses.append((answer.status, (await answer.json())["error"]))
        seen = await health(server)
    assert statuses == [
        (401, "signature rejected: no telnyx-signature-ed25519 and telnyx-timestamp headers"),
        (400, "unreadable callback: the JSON body is nested too deeply"),
        (400, "unreadable callback: the body is not UTF-8"),
    ]
    assert (seen["callbacks"], seen["rejected"]) == (3, 3)
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text
