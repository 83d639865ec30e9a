"""Time as the program reads it: the moment now, sleeping, and calling back later.

The sandbox's simulation, the pacers, settling, the waits of a run and the
watch take a ``Clock`` and read time only through it. ``REAL_CLOCK`` (the
event loop's monotonic clock) is the default everywhere; ``SteppedClock`` is
time that moves only when told to, for tests: ``await clock.advance(2.0)``
fires what falls due within those two seconds, in order, and lets the event
loop finish what each wakes before the next fires; ``await clock.run(aw)``
moves on to the next timer whenever every task waits, until ``aw`` is done.

Helpers that race a wait against a timeout (``wait_first``, ``wait_for``)
keep the timeout on the clock given, so a stepped run never waits in real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Final, Protocol, TypeVar

T = TypeVar("T")


class Timer(Protocol):
    """A callback that a clock will call; cancelling it means it never will."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale: only differences mean anything."""
        ...

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        """Call ``callback`` (on the event loop) once ``seconds`` have passed."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Real time: the event loop's own clock, which is ``time.monotonic``."""

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        return asyncio.get_running_loop().call_later(max(seconds, 0.0), callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


REAL_CLOCK: Final = RealClock()


async def wait_first(
    waiters: Collection[asyncio.Future[Any]], timeout_s: float | None, clock: Clock
) -> set[asyncio.Future[Any]]:
    """``asyncio.wait(..., return_when=FIRST_COMPLETED)`` with the timeout kept by ``clock``:
    the waiters done when the first finished, or none once ``timeout_s`` passed."""
    if timeout_s is None:
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        return done
    timed_out: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    timer = clock.call_later(timeout_s, lambda: _resolve(timed_out))
    try:
        done, _ = await asyncio.wait({*waiters, timed_out}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
        timed_out.cancel()
    done.discard(timed_out)
    return done


async def wait_for(awaitable: Awaitable[T], timeout_s: float, clock: Clock) -> T:
    """``asyncio.wait_for`` with the timeout kept by ``clock``; raises TimeoutError (and
    cancels the awaitable) when it passes first."""
    future = asyncio.ensure_future(awaitable)
    try:
        done = await wait_first({future}, timeout_s, clock)
    except asyncio.CancelledError:
        future.cancel()
        raise
    if future in done:
        return future.result()
    future.cancel()
    await asyncio.gather(future, return_exceptions=True)  # its clean-up runs before we go on
    raise TimeoutError


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _SteppedTimer:
    __slots__ = ("callback", "cancelled", "seq", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[], object]) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def __lt__(self, other: _SteppedTimer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)

    def cancel(self) -> None:
        self.cancelled = True


class Deadlock(RuntimeError):
    """Every task waits, and not on the clock: no amount of time would move the run on."""


# How many turns of the event loop settling may take before it gives up: a loop that is never
# idle (a task that only ever yields) would otherwise hang a test instead of failing it.
MAX_SETTLE_TURNS: Final = 100_000


class SteppedClock:
    """Time that moves only when a test says so; timers fire in order of when they are due
    (in order of registration when due together)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[_SteppedTimer] = []
        self._seq = itertools.count()
        self.fired = 0  # timers fired so far

    def now(self) -> float:
        return self._now

    def call_later(self, seconds: float, callback: Callable[[], object]) -> Timer:
        timer = _SteppedTimer(self._now + max(seconds, 0.0), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        timer = self.call_later(seconds, lambda: _resolve(woken))
        try:
            await woken
        finally:
            timer.cancel()

    def next_due(self) -> float | None:
        """When the earliest pending timer falls due; None when none is pending."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def pending(self) -> int:
        return sum(not timer.cancelled for timer in self._timers)

    async def advance(self, seconds: float) -> None:
        """Move time ``seconds`` on, firing every timer that falls due on the way, in order,
        each once the event loop has finished what the one before woke."""
        target = self._now + seconds
        await settle()
        while (due := self.next_due()) is not None and due <= target:
            self._fire_next()
            await settle()
        self._now = max(self._now, target)
        await settle()

    async def run(self, awaitable: Awaitable[T], *, limit_s: float = 24 * 3600.0) -> T:
        """Await ``awaitable``, moving time on to the next timer whenever every task waits.

        Raises Deadlock when every task waits and no timer is pending, and TimeoutError when
        the next timer is more than ``limit_s`` past the start (a run that never ends)."""
        task = asyncio.ensure_future(awaitable)
        until = self._now + limit_s
        try:
            while True:
                await settle()
                if task.done():
                    return task.result()
                due = self.next_due()
                if due is None:
                    raise Deadlock("every task waits, and no timer is pending")
                if due > until:
                    raise TimeoutError(f"still running {limit_s:g} s of stepped time later")
                self._fire_next()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _fire_next(self) -> None:
        timer = heapq.heappop(self._timers)
        self._now = max(self._now, timer.when)
        self.fired += 1
        timer.callback()


async def settle() -> None:
    """Let the event loop run until nothing is ready to run: every task waits (on the clock,
    on an event, on I/O that has not arrived)."""
    loop = asyncio.get_running_loop()
    # asyncio keeps the callbacks ready to run in ``_ready``. It is empty when this task
    # resumes (it was queued last) if what ran before it queued nothing; and empty again one
    # turn later if the loop's look at its sockets in between found nothing either: bytes
    # written to a loopback socket are there to read at once, so a request between a client
    # and a server in this loop counts as work, not as waiting.
    ready: Collection[object] | None = getattr(loop, "_ready", None)
    if ready is None:
        # A loop that does not show what is ready: a fixed number of turns instead.
        for _ in range(64):
            await asyncio.sleep(0)
        return
    quiet = 0
    for _ in range(MAX_SETTLE_TURNS):
        await asyncio.sleep(0)
        quiet = quiet + 1 if not ready else 0
        if quiet == 2:
            return
    raise RuntimeError(f"the event loop was still busy after {MAX_SETTLE_TURNS} turns")
