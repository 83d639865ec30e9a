"""Server-Sent Events to any number of viewers, resumable from ``Last-Event-ID``.

Each message is encoded once and handed to every viewer's queue: a hundred viewers cost a
hundred small writes, never a hundred reads of anything. Messages that tell what happened
(``append``) get increasing ids and are kept in a bounded buffer: a page that reconnects sends
the last id it saw and is given what it missed; one that was away longer than the buffer holds
(or comes for the first time) is told to ``reset`` and given the most recent of them. Messages
that say how things stand now (``broadcast``: a snapshot) are not kept; a (re)connecting
viewer is given a fresh one instead.

A viewer whose queue fills (a stalled connection) is let go; its page reconnects and resumes
from the buffer. Once the stream is closed, every viewer gets the last word and its connection
is ended; a viewer that comes later gets the last word at once.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from orchestrator.web.page import secured

KEEPALIVE_S: Final = 15.0  # a comment line this often keeps proxies from closing an idle stream
RETRY_MS: Final = 2000  # how soon a page's EventSource tries again after losing the stream
VIEWER_BACKLOG: Final = 2000  # messages waiting for one viewer before it is let go


@dataclass(frozen=True)
class Message:
    id: int
    kind: str
    wire: bytes  # as sent: "id: ...\nevent: ...\ndata: ...\n\n"


def _encode(message_id: int, kind: str, data: Any) -> Message:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # JSON never holds a raw line break, so the data is one line.
    wire = f"id: {message_id}\nevent: {kind}\ndata: {text}\n\n".encode()
    return Message(message_id, kind, wire)


class EventStream:
    def __init__(self, *, keep: int = 1000, replay: int = 200) -> None:
        self._buffer: deque[Message] = deque(maxlen=keep)
        self._replay = replay  # messages a new viewer is given from the buffer
        self._viewers: set[asyncio.Queue[Message | None]] = set()
        self._last_id = 0
        self._last_word: Message | None = None
        self.served = 0  # connections taken, over the stream's life

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    @property
    def closed(self) -> bool:
        return self._last_word is not None

    def append(self, kind: str, data: Any) -> Message:
        """A message about what happened: kept, and sent to every viewer."""
        self._last_id += 1
        message = _encode(self._last_id, kind, data)
        self._buffer.append(message)
        self._send(message)
        return message

    def broadcast(self, kind: str, data: Any) -> Message:
        """A message about how things stand (not kept): sent to every viewer now."""
        message = _encode(self._last_id, kind, data)
        self._send(message)
        return message

    def close(self, kind: str, data: Any) -> None:
        """The last word, to every viewer and every later one; then their streams end."""
        if self._last_word is not None:
            return
        self._last_word = _encode(self._last_id, kind, data)
        for queue in list(self._viewers):
            self._viewers.discard(queue)
            try:
                queue.put_nowait(self._last_word)
                queue.put_nowait(None)
            except asyncio.QueueFull:
                self._end(queue)  # stalled: it is told when it comes back

    def _send(self, message: Message) -> None:
        for queue in list(self._viewers):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._end(queue)  # stalled: it resumes from the buffer when it reconnects

    def _end(self, queue: asyncio.Queue[Message | None]) -> None:
        self._viewers.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    def _catch_up(self, last_seen: int | None) -> list[Message]:
        """What a viewer that saw ``last_seen`` last is given from the buffer."""
        buffer = self._buffer
        oldest = buffer[0].id if buffer else self._last_id + 1
        if last_seen is not None and oldest - 1 <= last_seen <= self._last_id:
            return [m for m in buffer if m.id > last_seen]
        recent = list(buffer)[-self._replay :]
        return [_encode(self._last_id, "reset", {}), *recent]

    async def serve(
        self, request: web.Request, now: Callable[[], list[tuple[str, Any]]]
    ) -> web.StreamResponse:
        """One viewer's stream: what it missed, then ``now()``'s messages (fresh snapshots),
        then every message as it comes, until the stream closes or the viewer goes."""
        response = secured(
            web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
            )
        )
        await response.prepare(request)
        self.served += 1
        # From here to the queue's registration nothing awaits: no message is missed or doubled.
        queue: asyncio.Queue[Message | None] = asyncio.Queue(VIEWER_BACKLOG)
        first = [*self._catch_up(_last_event_id(request))]
        first += [_encode(self._last_id, kind, data) for kind, data in now()]
        if self._last_word is not None:
            first.append(self._last_word)
            queue.put_nowait(None)
        else:
            self._viewers.add(queue)
        try:
            await response.write(
                f"retry: {RETRY_MS}\n\n".encode() + b"".join(m.wire for m in first)
            )
            while (message := await _next(queue, response)) is not None:
                await response.write(message.wire)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the viewer went
        finally:
            self._viewers.discard(queue)
        return response


async def _next(
    queue: asyncio.Queue[Message | None], response: web.StreamResponse
) -> Message | None:
    """The viewer's next message, a keepalive comment written while none comes."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), KEEPALIVE_S)
        except TimeoutError:
            await response.write(b": keepalive\n\n")


def _last_event_id(request: web.Request) -> int | None:
    text = request.headers.get("Last-Event-ID", "").strip()
    return int(text) if text.isdigit() else None
