"""What carries one request to the server and its answer back, and nothing else.

``HttpTransport`` is the seam: ``AiohttpTransport`` over the network (the
default), or another that hands requests to a server in the same process (the
sandbox's ``InMemoryTransport``). Encodings, retries, pacing and error mapping
live above it (``transport.Transport``), the same whichever carries them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import aiohttp

HttpMethod = Literal["GET", "POST", "DELETE"]


@dataclass(frozen=True)
class HttpRequest:
    method: HttpMethod
    url: str  # the base URL and path, percent-encoded as sent
    params: Mapping[str, str] | None  # the query, added to the URL's own
    headers: Mapping[str, str]
    body: bytes | None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str | None
    headers: Mapping[str, str]  # a multidict: names are looked up without regard to case
    body: bytes


class NoAnswer(Exception):
    """A request that got no answer: ``problem`` in a few words a person can act on; ``sent``
    False when no connection was made (nothing reached the server)."""

    def __init__(self, problem: str, *, sent: bool) -> None:
        super().__init__(problem)
        self.problem = problem
        self.sent = sent


class HttpTransport(Protocol):
    """Carries one request to the server and its answer back; raises NoAnswer."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """Over the network: one pooled aiohttp session (opened on first use), every request in
    flight counting against ``concurrency``."""

    def __init__(self, *, concurrency: int = 50, timeout_s: float = 30.0) -> None:
        self._concurrency = concurrency
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 10.0))
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def send(self, request: HttpRequest) -> HttpResponse:
        session = self._session or self._open()
        try:
            async with session.request(
                request.method,
                request.url,
                data=request.body,
                params=request.params,
                headers=request.headers,
            ) as response:
                raw = await response.read()
                return HttpResponse(response.status, response.reason, response.headers, raw)
        except aiohttp.ClientConnectorError as error:
            raise NoAnswer(_connection_problem(error), sent=False) from error
        except (TimeoutError, aiohttp.ClientError) as error:
            # Past connecting, the request may have reached the server.
            raise NoAnswer(_connection_problem(error), sent=True) from error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _connection_problem(error: BaseException) -> str:
    """A few words a person can act on, instead of the library's exception text."""
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "host not found"
    if isinstance(error, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        return cause.strerror or type(cause).__name__
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(error, aiohttp.ClientOSError):
        return error.strerror or "connection reset"
    return type(error).__name__
