"""Request pacing that yields to the server's 429s and recovers when they stop.

Two pieces, shared by the dial pacer (``orchestrator.pacing.dials``) and the
client's read throttle (``ReadThrottle``, the account's one read budget: there
is no budget of our own beside it, only what the API says, by its rate-limit
headers or its 429s):

- ``FifoGate``: requests wait in one queue and are let through in order, one
  per free place, by one timer. Waking every waiter on every answer (and letting
  them race for the place) costs O(waiters) per answer; at thousands of queued
  dials that was most of a run's CPU.
- ``Pace``: once the server has answered 429, requests are spread evenly at a
  pace that is cut by a third on each new episode of 429s (a 429 for a request
  sent before the last cut is the same episode) and then climbs back: quickly
  towards the pace at which the 429 came, then a tenth faster each second, up
  to the ceiling.
  Several processes sharing one account's limit thus converge on a fair share,
  as TCP senders sharing a link do, instead of one cutting to a crawl.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass

from orchestrator.clock import REAL_CLOCK, Clock, Timer
from orchestrator.pacing.headers import RateReport

# How hard a new episode of 429s cuts the pace, and how it climbs back.
CUT_FACTOR = 0.7
APPROACH_S = 2.0  # time constant of the climb back to the pace of the last 429
PROBE_PER_S = 0.1  # beyond it: a tenth faster every second
MIN_RATE = 0.2  # requests per second; never slower than one in five seconds
MIN_SHARE = 0.25  # a first cut starts from at least this share of the ceiling
# Without Retry-After or x-ratelimit-reset, pauses double from the first to the last.
FIRST_BACKOFF_S = 1.0


class GateStopped(Exception):
    """The run was stopped while the request waited for its turn."""


class Pace:
    """The pace requests may start at after the server has said 429; None before."""

    def __init__(self, ceiling_rate: float, *, measure_s: float = 1.0) -> None:
        self.ceiling_rate = ceiling_rate  # 0: none known (an unpaced run)
        self.rate: float | None = None
        self.measure_s = measure_s
        self._recent: deque[float] = deque()  # start times within the last measure_s
        self._peak = 0.0  # the pace at which the last episode of 429s began
        self._updated = 0.0
        self._last_cut = -math.inf
        self._next_start = 0.0

    def started(self, now: float) -> None:
        self._recent.append(now)
        while self._recent and self._recent[0] <= now - self.measure_s:
            self._recent.popleft()
        if self.rate is not None:
            self._next_start = max(self._next_start, now) + 1.0 / self.rate

    def wait(self, now: float, paused_until: float) -> float:
        """Seconds until the pace lets the next request start (0: now)."""
        if self.rate is None:
            return 0.0
        self._climb(now, paused_until)
        return max(0.0, self._next_start - now)

    def cut(self, sent_at: float, now: float) -> bool:
        """A 429 for a request sent at ``sent_at``; True if it began a new episode."""
        if sent_at < self._last_cut:
            return False
        current = self.rate
        if current is None:
            # The pace we were going at; after a burst it says more than the configured ceiling,
            # after a few dials less (the limit was used up by someone else).
            measured = len(self._recent) / self.measure_s
            if self.ceiling_rate:
                current = min(self.ceiling_rate, max(measured, self.ceiling_rate * MIN_SHARE))
            else:
                current = measured
        self._peak = max(current, MIN_RATE)
        self.rate = max(MIN_RATE, current * CUT_FACTOR)
        self._last_cut = now
        self._updated = now
        return True

    def _climb(self, now: float, paused_until: float) -> None:
        assert self.rate is not None
        begin = max(self._updated, paused_until)
        if now <= begin:
            return
        elapsed = now - begin
        self._updated = now
        probed = self.rate * math.exp(PROBE_PER_S * elapsed)
        approached = self._peak - (self._peak - self.rate) * math.exp(-elapsed / APPROACH_S)
        self.rate = max(probed, approached)
        if self.ceiling_rate:
            self.rate = min(self.rate, self.ceiling_rate)


@dataclass(frozen=True)
class Grant:
    """A request's turn: when it was granted, and its place in the order of grants."""

    at: float
    seq: int


class FifoGate:
    """Lets waiting requests through in order, one per free place, woken by one timer."""

    def __init__(self, *, clock: Clock = REAL_CLOCK) -> None:
        self.clock = clock
        self._granted = 0
        self._waiters: deque[asyncio.Future[Grant]] = deque()
        self._timer: Timer | None = None
        self._stop_watches: dict[int, asyncio.Task[None]] = {}
        self.paused_until = 0.0

    # What a subclass decides ---------------------------------------------------

    def _blocked_for(self, now: float) -> float | None:
        """None if a request may start now; else seconds until one may (inf: only an answer frees)."""
        return self.paused_until - now if now < self.paused_until else None

    def _take(self, now: float) -> None:
        """Book a request starting now."""

    def _untake(self, grant: Grant) -> None:
        """Undo ``_take`` for a grant whose request will never be sent."""

    # Queue -----------------------------------------------------------------------

    def _grant(self, now: float) -> Grant:
        self._take(now)
        self._granted += 1
        return Grant(now, self._granted - 1)

    async def acquire(self, stop: asyncio.Event | None = None) -> Grant:
        """Wait for this request's turn. Raises GateStopped."""
        if stop is not None:
            if stop.is_set():
                raise GateStopped
            self._watch(stop)
        now = self.clock.now()
        if not self._waiters and self._blocked_for(now) is None:
            return self._grant(now)
        future: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._pump()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                # Granted just before the cancellation reached us: hand the place on.
                self._untake(future.result())
                self._pump()
            raise

    def wake(self) -> None:
        """Something outside the gate freed a place (an answer arrived)."""
        self._pump()

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, self.clock.now() + seconds)
        self._pump()

    def _pump(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters:
            head = self._waiters[0]
            if head.done():  # cancelled or stopped
                self._waiters.popleft()
                continue
            now = self.clock.now()
            wait = self._blocked_for(now)
            if wait is None:
                self._waiters.popleft()
                head.set_result(self._grant(now))
                continue
            if wait != math.inf:
                self._timer = self.clock.call_later(max(wait, 0.0), self._pump)
            return

    def _watch(self, stop: asyncio.Event) -> None:
        """One task per stop event fails every waiter when it is set (not one task per waiter)."""
        key = id(stop)
        if key in self._stop_watches:
            return

        async def watch() -> None:
            await stop.wait()
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(GateStopped())

        task = asyncio.get_running_loop().create_task(watch(), name="gate stop watch")
        self._stop_watches[key] = task

    def close(self) -> None:
        for task in self._stop_watches.values():
            task.cancel()
        self._stop_watches.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def backoff_s(consecutive: int, ceiling_s: float) -> float:
    """The pause after ``consecutive`` 429s that said nothing of when to come back."""
    return min(ceiling_s, FIRST_BACKOFF_S * 2.0 ** max(consecutive - 1, 0))


class ReadThrottle(FifoGate):
    """Reads and updates: unthrottled until the API says otherwise.

    Two ways it can: an answer's rate-limit headers (``x-ratelimit-remaining``
    and ``x-ratelimit-reset``), after which reads are spread so that what is
    left of the window lasts until it resets (none at all once nothing is
    left); or the general limit's 429 (code 10011), after which every read
    waits out the pause the server asked for, and reads start at a pace that is
    cut and recovers as ``Pace`` describes. Dials are not held here: their own
    limit is the dial pacer's business.
    """

    def __init__(self, *, clock: Clock = REAL_CLOCK) -> None:
        super().__init__(clock=clock)
        self.pace = Pace(0.0)
        self.rate_limited = 0
        self._consecutive = 0
        self.told: RateReport | None = None  # the last rate-limit headers an answer carried
        # Seconds between reads that what is left allows, as the last answer's headers said
        # (each answer says it again, so it follows the window as it drains and resets).
        self._told_spacing = 0.0
        self._last_start = -math.inf

    def _blocked_for(self, now: float) -> float | None:
        if now < self.paused_until:
            return self.paused_until - now
        wait = self.pace.wait(now, self.paused_until)
        wait = max(wait, self._last_start + self._told_spacing - now)
        return wait if wait > 0 else None

    def _take(self, now: float) -> None:
        self.pace.started(now)
        self._last_start = now

    def limited(self, sent_at: float, hint_s: float | None) -> None:
        self.rate_limited += 1
        self._consecutive += 1
        now = self.clock.now()
        self.pace.cut(sent_at, now)
        self.pause(hint_s if hint_s is not None else backoff_s(self._consecutive, 8.0))

    def answered(self, rate: RateReport | None = None) -> None:
        """A read was answered (not 429), with the rate-limit headers it carried, if any."""
        self._consecutive = 0
        if rate is None or rate.remaining is None or rate.reset_s is None:
            return
        self.told = rate
        if rate.remaining <= 0:
            # Nothing left: the next read after the reset, and the spacing kept, since a
            # window that rolls frees one place at a time, not all at once.
            self.pause(rate.reset_s)
            return
        # What is left, spread evenly over what is left of the window: a burst that would
        # spend it early (and meet 429s) is paced instead, and an ample window paces nothing.
        self._told_spacing = rate.reset_s / rate.remaining
        self._pump()
