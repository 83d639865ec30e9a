"""What the sandbox shows of itself besides the API: its own paths, the record it keeps of
every dial it accepted, and a small client that reads them (tests and benchmarks ask it who
was dialed, and what clients asked of the API).

The API's client (``orchestrator.texml.client``) knows nothing of these: a real
account has no such routes.
"""

from __future__ import annotations

from typing import Any, Final, TypedDict, cast

from orchestrator.texml.connection import Connection
from orchestrator.texml.http import AiohttpTransport, HttpTransport
from orchestrator.texml.transport import Transport

# Directly under the base URL (not under an account); the token alone opens them.
DIALS_PATH: Final = "/_sandbox/dials"
HEALTH_PATH: Final = "/_sandbox/health"
# Where the sandbox serves a recording's (silent) audio: the media_url of its recordings.
RECORDINGS_PATH: Final = "/_sandbox/recordings/{recording_sid}.wav"


class DialRecord(TypedDict):
    """One entry of ``/_sandbox/dials``: a dial request or placed call the sandbox accepted.

    ``conference_sid`` is None for a call placed by InitiateTexmlCall until it joins;
    ``time`` is the sandbox's uptime when it accepted it.
    """

    conference_sid: str | None
    label: str | None
    to: str
    call_sid: str
    time: float


class SandboxClient:
    """Reads the sandbox's own routes, over ``transport`` (default: the network)."""

    def __init__(self, connection: Connection, *, transport: HttpTransport | None = None) -> None:
        self._own_http = transport is None
        self._transport = Transport(connection, transport or AiohttpTransport(concurrency=4))

    async def __aenter__(self) -> SandboxClient:
        await self._transport.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._transport.close()
        if self._own_http:
            await self._transport.http.aclose()

    async def dials(self) -> list[DialRecord]:
        """Every dial (and placed call) the sandbox accepted, in order."""
        body = await self._transport.request_retrying("GET", DIALS_PATH)
        return cast(list[DialRecord], body["dials"])

    async def health(self) -> dict[str, Any]:
        """The sandbox's counters (requests by method, 429s by code, ...)."""
        return cast(dict[str, Any], await self._transport.request_retrying("GET", HEALTH_PATH))
