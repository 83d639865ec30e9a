"""Client-side pacing of dials to the API's rolling-window dial limit.

Telnyx allows ``rate * window`` dials in any ``window`` seconds, counted when
the server accepts each dial. The client cannot see that instant, but it is
bracketed by the moment the request left and the moment its answer arrived.
So a slot is taken when a dial starts and stamped with the time its answer
arrived: a slot whose answer is still outstanding never expires, and a stamped
one frees ``window`` seconds after its answer. Every dial then starts at least
``window`` seconds after the server accepted the dial ``rate * window`` before
it, and a normal run meets no 429.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class PacerStopped(Exception):
    """The run was stopped while a dial waited for its slot."""


class DialPacer:
    def __init__(
        self,
        dials_per_second: float,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        # 0 means "no limit" (the sandbox's own convention for an unlimited account).
        self.capacity = max(1, int(dials_per_second * window_s)) if dials_per_second > 0 else 0
        self._clock = clock
        self._finished: deque[float] = deque()  # answer times of the dials still inside a window
        self._outstanding = 0  # dials started whose answer has not arrived yet
        self._paused_until = 0.0
        self._answered = asyncio.Event()
        self.rate_limited = 0

    def _occupied(self, now: float) -> int:
        while self._finished and self._finished[0] + self.window_s <= now:
            self._finished.popleft()
        return len(self._finished) + self._outstanding

    def _wait_time(self, now: float) -> float | None:
        """None if a slot is free now; else seconds until one frees (inf: only an answer frees one)."""
        if now < self._paused_until:
            return self._paused_until - now
        if not self.capacity or self._occupied(now) < self.capacity:
            return None
        if self._finished:
            return self._finished[0] + self.window_s - now
        return float("inf")

    @asynccontextmanager
    async def slot(self, stop: asyncio.Event | None = None) -> AsyncIterator[None]:
        """Hold a dial slot for the duration of one dial request.

        Raises PacerStopped if ``stop`` is set while waiting for a slot.
        """
        # No await between the check and taking the slot, so the check holds.
        while (wait := self._wait_time(self._clock())) is not None:
            if stop is not None and stop.is_set():
                raise PacerStopped
            waiters = {asyncio.ensure_future(self._answered.wait())}
            if stop is not None:
                waiters.add(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(
                    waiters,
                    timeout=None if wait == float("inf") else wait,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
        if stop is not None and stop.is_set():
            raise PacerStopped
        self._outstanding += 1
        try:
            yield
        finally:
            self._outstanding -= 1
            self._finished.append(self._clock())
            answered, self._answered = self._answered, asyncio.Event()
            answered.set()

    def slow_down(self, retry_after_s: float) -> None:
        """A 429 arrived anyway: pause every dial and tighten the window by a tenth."""
        self.rate_limited += 1
        self._paused_until = max(self._paused_until, self._clock() + max(retry_after_s, 0.05))
        if self.capacity > 1:
            self.capacity = max(1, int(self.capacity * 0.9))
