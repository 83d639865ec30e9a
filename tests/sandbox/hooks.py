"""A webhook receiver on loopback for callback tests: what arrived, raw and in order.

Plain aiohttp, no project code: each arrival keeps its raw body, its raw query
string (as sent, before any decoding) and its headers, so that signatures can
be checked by the official SDK over exactly what was signed.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from aiohttp import web

from tests.sandbox.support import eventually


@dataclass
class Arrival:
    method: str
    path: str
    query_string: str  # raw, as it came on the request line
    body: bytes
    headers: dict[str, str]
    fields: dict[str, str]  # the form body's, or the query string's
    at: float  # monotonic

    @property
    def payload(self) -> bytes:
        """What a Telnyx signature covers: the raw body, or for a GET the raw query string."""
        return self.query_string.encode() if self.method == "GET" else self.body

    @property
    def event(self) -> tuple[str, ...]:
        """Which event this is, by documented fields only (Telnyx sends no event id)."""
        return event_key(self.fields)


# The documented fields that tell one event from another, by kind of callback: a call's progress,
# a conference's events, a recording's status, an AMD result (a call's only one).
_EVENT_FIELDS = (
    ("StatusCallbackEvent", ("ConferenceSid", "StatusCallbackEvent", "CallSid", "SequenceNumber")),
    ("RecordingStatus", ("RecordingSid", "CallSid", "ConferenceSid", "RecordingStatus")),
    ("AnsweredBy", ("CallSid", "AnsweredBy", "MachineDetectionDuration")),
    ("CallStatus", ("CallSid", "CallStatus", "SequenceNumber")),
)


def event_key(fields: dict[str, str]) -> tuple[str, ...]:
    """What a handler de-duplicates on: the documented fields naming the event."""
    for marker, names in _EVENT_FIELDS:
        if marker in fields and (marker != "AnsweredBy" or "CallbackSource" not in fields):
            return (marker, *(fields.get(name, "") for name in names))
    return tuple(sorted(fields.items()))


@dataclass
class Receiver:
    base_url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    # Path -> how many times each event (by ``event_key``) is refused with a 500 before it is
    # taken.
    failing: dict[str, int] = field(default_factory=dict)
    # Paths that answer only after 30 s: a receiver that hangs.
    hanging: set[str] = field(default_factory=set)
    _refused: Counter[tuple[str, tuple[str, ...]]] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return self.base_url + path

    def on(self, path: str) -> list[Arrival]:
        return [a for a in self.arrivals if a.path == path]

    async def received(self, path: str, count: int, *, within: float = 5.0) -> list[Arrival]:
        """The first ``count`` arrivals on ``path``, once that many came."""

        async def probe() -> list[Arrival] | None:
            found = self.on(path)
            return found[:count] if len(found) >= count else None

        return await eventually(probe, within=within)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        query = request.rel_url.raw_query_string
        if request.method == "POST":
            fields = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))
        else:
            fields = dict(parse_qsl(query, keep_blank_values=True))
        arrival = Arrival(
            request.method,
            request.path,
            query,
            body,
            dict(request.headers),
            fields,
            time.monotonic(),
        )
        self.arrivals.append(arrival)
        key = (request.path, event_key(fields))
        if self._refused[key] < self.failing.get(request.path, 0):
            self._refused[key] += 1
            return web.Response(status=500)
        if request.path in self.hanging:
            await asyncio.sleep(30)
        return web.Response(text="ok")


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
