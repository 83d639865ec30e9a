"""The sandbox without sockets: requests handed straight to its aiohttp application.

``InMemoryTransport`` is an ``HttpTransport`` (``orchestrator.texml.transport``)
that builds each request as aiohttp's server would after parsing it, and runs
it through the application's own router and middleware (what the server calls
for every request), so the API's client and the sandbox meet exactly as over
HTTP, minus the wire: no port, no connection, no parsing. A handler that drops the connection (an answer withheld by
``faults.reset_after_commit_rate``) is a request that got no answer, as it is
over the network. Tests of the engine run this way, on a stepped clock, and
take no real time; the HTTP tests keep the wire honest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, cast

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.sandbox.app import MAX_BODY_BYTES, SIMULATION, create_app
from orchestrator.sandbox.scenario import Scenario
from orchestrator.sandbox.server import SandboxInfo, generate_account_sid, generate_api_key
from orchestrator.texml.http import HttpRequest, HttpResponse, NoAnswer
from orchestrator.webhooks.signing import SigningKey

# Where an in-memory sandbox says it is: a name that resolves nowhere, so a request that
# went to the network by mistake fails at once instead of reaching something.
BASE_URL = "http://sandbox.invalid/v2"


class _Connection:
    """Stands in for the request's connection (and the server's protocol on it): a handler
    may read who is calling, or cut it."""

    ssl_context = None
    peername = sockname = ("127.0.0.1", 0)

    def __init__(self) -> None:
        self.aborted = False

    @property
    def transport(self) -> _Connection:
        return self

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in ("peername", "sockname"):
            return ("127.0.0.1", 0)
        return default


class InMemoryTransport:
    """Hands each request to ``app``'s router and middleware; the app must be started."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.sent = 0  # requests handed over so far

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.sent += 1
        url = URL(request.url)
        if request.params:
            url = url.extend_query(request.params)
        headers = CIMultiDict(request.headers)
        headers.setdefault("Host", url.raw_authority)
        body = request.body
        payload = EMPTY_PAYLOAD
        if body is not None:
            headers["Content-Length"] = str(len(body))
            payload = _payload(body)
        target = url.raw_path_qs
        message = RawRequestMessage(
            request.method,
            target,
            HttpVersion11,
            CIMultiDictProxy(headers),
            tuple((k.encode("utf-8"), v.encode("utf-8")) for k, v in headers.items()),
            False,  # should_close
            None,  # compression
            False,  # upgrade
            False,  # chunked
            URL(target, encoded=True),
        )
        connection = _Connection()
        task = asyncio.current_task()
        assert task is not None
        incoming = web.Request(
            message,
            payload,
            cast(RequestHandler, connection),
            cast(AbstractStreamWriter, None),  # answers are read here, never written
            cast("asyncio.Task[None]", task),
            asyncio.get_running_loop(),
            client_max_size=MAX_BODY_BYTES,
        )
        # What aiohttp's server calls for every request: the router, then the middleware.
        answer = await self.app._handle(incoming)
        if connection.aborted:
            raise NoAnswer("the server closed the connection", sent=True)
        if not isinstance(answer, web.Response):
            raise NoAnswer("a streamed answer, which this transport does not read", sent=True)
        out = CIMultiDict(answer.headers)
        out.setdefault("Date", formatdate(usegmt=True))  # as the server adds on the wire
        raw = answer.body
        if raw is not None and not isinstance(raw, bytes):
            raise NoAnswer("a streamed answer, which this transport does not read", sent=True)
        return HttpResponse(answer.status, answer.reason, CIMultiDictProxy(out), raw or b"")

    async def aclose(self) -> None:
        """Nothing to close: the application lives as long as whoever started it says."""


class _Reading:
    """The flow control a body reader asks of its connection: nothing to pause here."""

    _reading_paused = False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


def _payload(body: bytes) -> StreamReader:
    """The request body as aiohttp's server would hand it to a handler: all of it, then EOF."""
    reader = StreamReader(
        cast(BaseProtocol, _Reading()), max(len(body), 2**16), loop=asyncio.get_running_loop()
    )
    reader.feed_data(body)
    reader.feed_eof()
    return reader


@dataclass(frozen=True)
class InMemorySandbox:
    info: SandboxInfo
    transport: InMemoryTransport
    app: web.Application
    clock: Clock


@contextlib.asynccontextmanager
async def in_memory_sandbox(
    scenario: Scenario | None = None,
    *,
    clock: Clock = REAL_CLOCK,
    api_key: str | None = None,
    account_sid: str | None = None,
    signing_key: SigningKey | None = None,
) -> AsyncIterator[InMemorySandbox]:
    """The sandbox's application, started, with a transport into it, until the block exits
    (then every simulated timer is cancelled and webhook deliveries stop)."""
    key = api_key or generate_api_key()
    account = account_sid or generate_account_sid()
    signer = signing_key or SigningKey.generate()
    app = create_app(
        scenario or Scenario(), api_key=key, account_sid=account, signing_key=signer, clock=clock
    )
    app.freeze()
    await app.startup()
    try:
        info = SandboxInfo(
            base_url=BASE_URL, api_key=key, account_sid=account, public_key=signer.public_key
        )
        app[SIMULATION].account.public_base = info.base_url
        yield InMemorySandbox(info, InMemoryTransport(app), app, clock)
    finally:
        await app.shutdown()
        await app.cleanup()
