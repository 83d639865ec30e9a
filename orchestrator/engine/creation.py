"""Who may dial into the conference's friendly name, creating it, while it has no SID yet.

One dial at a time names the conference; the others wait for its SID. The
planned creator (the host, by default) goes first. A ``Claim`` is that right,
held for one attempt and released however the attempt ends: with the SID
(everyone dials into it), as a definite failure (anyone may try next), or
with nothing placed (a 429, a refused connection: the same rules again).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from orchestrator.engine.waiting import Stopped, either


class Creation:
    def __init__(self, sid: str | None, creator: str | None) -> None:
        self.sid = sid
        self._creator = creator
        self._open = creator is None  # anyone may create it
        self._held = False
        self._changed = asyncio.Event()
        # One wait for the next change, shared by everyone waiting for their turn (all but
        # the creator, at the start of a big run): one task, not two per participant.
        self._next_change: asyncio.Future[None] | None = None
        self._waiting = 0

    async def claim(self, participant: str, stop: asyncio.Event) -> Claim | None:
        """None once the SID is known; else the claim to create it (waiting for one's turn).

        Raises Stopped if ``stop`` is set first.
        """
        while True:
            if self.sid is not None:
                return None
            if stop.is_set():
                raise Stopped
            if (self._open or participant == self._creator) and not self._held:
                self._held = True
                return Claim(self)
            await self._next_change_or(stop)

    async def _next_change_or(self, stop: asyncio.Event) -> None:
        """Until the claim changes hands or ``stop`` is set."""
        change = self._next_change
        if change is None or change.done():
            change = self._next_change = asyncio.ensure_future(either(self._changed, stop))
        self._waiting += 1
        try:
            await asyncio.shield(change)  # one waiter cancelled leaves the others waiting
        finally:
            self._waiting -= 1
            if self._waiting == 0:
                change.cancel()  # nobody is left to wake (a no-op once it is done)

    def _release(self, *, sid: str | None, open_to_all: bool) -> None:
        self._held = False
        if sid is not None and self.sid is None:
            self.sid = sid
        self._open = self._open or open_to_all
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


class Claim:
    """The right to create the conference, for one attempt."""

    def __init__(self, creation: Creation) -> None:
        self._creation = creation
        self._done = False

    def created(self, sid: str | None) -> None:
        """The attempt ended: with the conference's SID, or (None) definitely without one."""
        if not self._done:
            self._done = True
            self._creation._release(sid=sid, open_to_all=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._done:  # nothing was placed: whoever comes first tries again
            self._done = True
            self._creation._release(sid=None, open_to_all=False)
