"""An HTTP proxy on loopback in front of the sandbox, for behaviours of a real API that the
sandbox's scenario has no knob for (a smaller largest PageSize, a hung-up leg still listed).

Requests go on to the sandbox unchanged unless the test's ``intercept`` answers one
itself; the client under test talks HTTP to the proxy as it would to the API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import aiohttp
from aiohttp import web
from yarl import URL

from orchestrator.sandbox import SandboxInfo

# Called with each request (its body already read) before it goes on; an answer stops it there.
Intercept = Callable[["Forwarded"], Awaitable[web.StreamResponse | None]]

# Hop-by-hop and framing headers, which each side of the proxy sets for itself.
_NOT_PASSED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}
)


@dataclass
class Forwarded:
    """One request the proxy received."""

    method: str
    path: str  # without the query
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]
    answered_by_proxy: bool = False


@dataclass
class Proxy:
    info: SandboxInfo  # the sandbox's settings with the proxy's base URL
    upstream: SandboxInfo
    session: aiohttp.ClientSession
    seen: list[Forwarded] = field(default_factory=list)

    async def forward(self, request: Forwarded) -> web.Response:
        """Send ``request`` on to the sandbox as it came; its answer as the proxy's."""
        origin = URL(self.upstream.base_url).origin()
        url = origin.with_path(request.path).with_query(request.query)
        async with self.session.request(
            request.method, url, data=request.body or None, headers=request.headers
        ) as answer:
            body = await answer.read()
            headers = {k: v for k, v in answer.headers.items() if k.lower() not in _NOT_PASSED}
            return web.Response(status=answer.status, body=body, headers=headers)


@contextlib.asynccontextmanager
async def proxied(
    upstream: SandboxInfo, intercept: Intercept | None = None
) -> AsyncIterator[Proxy]:
    """A proxy to ``upstream`` on an ephemeral loopback port, for as long as the block runs."""
    async with aiohttp.ClientSession(auto_decompress=True) as session:
        proxy = Proxy(info=upstream, upstream=upstream, session=session)

        async def handle(request: web.Request) -> web.StreamResponse:
            received = Forwarded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                body=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() not in _NOT_PASSED},
            )
            proxy.seen.append(received)
            if intercept is not None:
                answer = await intercept(received)
                if answer is not None:
                    received.answered_by_proxy = True
                    return answer
            return await proxy.forward(received)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            base_path = URL(upstream.base_url).path
            proxy.info = replace(upstream, base_url=f"http://127.0.0.1:{port}{base_path}")
            yield proxy
        finally:
            await runner.cleanup()
