"""Client-side pacing of dials to the account's dial limit.

Telnyx allows ``rate * window`` dials in any ``window`` seconds, counted when
the server accepts each dial. The client cannot see that instant, but it is
bracketed by the moment the request left and the moment its answer arrived.
So a slot is taken when a dial starts and stamped with the time its answer
arrived: a slot whose answer is still outstanding never expires, and a stamped
one frees ``window`` seconds after its answer. A dial the server refused (429)
was not counted there, so it is not stamped here either.

That alone keeps one process within a limit it knows. The account's limit may
be lower than configured, or shared with other processes and a run that was
just interrupted; then 429s (code 90103) come anyway. What the pacer does
about them:

- The first dial of a run goes alone: a burst sent before any answer is a
  burst sent blind.
- An accepted dial whose answer says ``x-ratelimit-remaining: 0`` holds every
  dial until its ``x-ratelimit-reset``: the next one would only be refused.
- A 429 pauses every dial for as long as the server asks (Retry-After, else
  x-ratelimit-reset, else a doubling backoff). If the limit it announces
  (``x-ratelimit-limit``) is lower than the configured one and consistent with
  what this run saw accepted, it replaces the configured one, over the window
  the resets reveal.
- A 429 that this run's own dials helped cause (they hold at least a quarter
  of the window) starts spreading dials evenly at a pace that is cut and then
  recovers, as ``orchestrator.pacing.gates.Pace`` describes: several
  processes on one account converge on their shares. A 429 while this run
  holds next to nothing of the window (someone else used it up) only pauses.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.pacing.gates import MIN_SHARE, FifoGate, GateStopped, Grant, Pace, backoff_s
from orchestrator.pacing.headers import RateReport

PacerStopped = GateStopped

# (seconds paused, why) -> None: for progress displays.
PauseHook = Callable[[float, str], None]


@dataclass
class DialTicket:
    """One dial's slot: when it was granted, its place in the order of grants, and whether the
    server refused the dial (or it never left)."""

    started: float
    seq: int
    refused: bool = False
    sent: bool = True  # False once it is known that nothing reached the server
    reported: bool = False  # its answer said what is left of the window


@dataclass(frozen=True)
class _Budget:
    """What the server last said is left: ``remaining`` more dials, counting those granted after
    grant ``after_seq``, until ``until``. A probe budget (the first dial of a run, or the first
    after the window moved on) lets one dial go to find out."""

    after_seq: int
    remaining: int
    until: float
    probe: bool = False


class DialPacer(FifoGate):
    def __init__(
        self,
        dials_per_second: float,
        window_s: float,
        *,
        clock: Clock = REAL_CLOCK,
        on_pause: PauseHook | None = None,
    ) -> None:
        super().__init__(clock=clock)
        self.window_s = window_s
        # 0 means "no limit" (the sandbox's own convention for an unlimited account).
        self.capacity = max(1, int(dials_per_second * window_s)) if dials_per_second > 0 else 0
        self.pace = Pace(max(dials_per_second, 0.0), measure_s=window_s)
        self.learned_limit: int | None = None  # the API's own limit, once it replaced ours
        self._on_pause = on_pause
        self._finished: deque[float] = deque()  # answer times of the dials still inside a window
        self._outstanding = 0  # dials started whose answer has not arrived yet
        self._budget: _Budget | None = self._probe(-1, clock.now())
        self._budget_source = -1  # the grant whose answer set the budget
        # The API announced a limit no lower than ours: our window mirrors its window.
        self._limit_confirmed = False
        self._longest_reset = 0.0  # the longest x-ratelimit-reset seen: a lower bound on the window
        self._consecutive = 0  # 429s since the last accepted dial
        self._paused_at = -math.inf  # when the latest pause began
        self.rate_limited = 0

    def _expire(self, now: float) -> int:
        """Accepted dials still inside this run's window."""
        while self._finished and self._finished[0] + self.window_s <= now:
            self._finished.popleft()
        return len(self._finished)

    def _probe(self, after_seq: int, now: float) -> _Budget:
        return _Budget(after_seq, 1, now + max(self.window_s, 1.0), probe=True)

    def _left(self, now: float) -> tuple[int, float] | None:
        """Dials the server's last word still allows, and until when; None: no word holds."""
        budget = self._budget
        if budget is None:
            return None
        if now >= budget.until:
            if self._limit_confirmed:
                # The API's limit is ours: our own window knows what it freed.
                self._budget = None
                return None
            # The window moved on and freed at least one place: one dial finds out how many.
            budget = self._budget = self._probe(self._granted - 1, now)
        used = self._granted - 1 - budget.after_seq
        return budget.remaining - used, budget.until

    def _blocked_for(self, now: float) -> float | None:
        if now < self.paused_until:
            return self.paused_until - now
        left = self._left(now)
        if left is not None and left[0] <= 0:
            return left[1] - now  # an answer may come sooner and say more
        wait = self.pace.wait(now, self.paused_until)
        if wait > 0:
            return wait
        if not self.capacity or self._expire(now) + self._outstanding < self.capacity:
            return None
        if self._finished:
            return self._finished[0] + self.window_s - now
        return math.inf

    def _take(self, now: float) -> None:
        self._outstanding += 1
        self.pace.started(now)

    def _untake(self, grant: Grant) -> None:
        self._outstanding -= 1

    def clear_to_send(self, ticket: DialTicket) -> bool:
        """Whether a dial granted earlier may still leave now (it may have waited for a request
        slot meanwhile): not if a pause began since, a newer answer left no room for it, or the
        limit shrank below what is held."""
        now = self.clock.now()
        if now < self.paused_until and ticket.started <= self._paused_at:
            return False
        budget = self._budget
        if (
            budget is not None
            and now < budget.until
            and ticket.seq > budget.after_seq + budget.remaining
        ):
            return False
        return not self.capacity or self._expire(now) + self._outstanding <= self.capacity

    def held_back(self, ticket: DialTicket) -> None:
        """The dial was granted but nothing reached the server: it counts for nothing."""
        ticket.refused = True
        ticket.sent = False

    def pause(self, seconds: float) -> None:
        self._paused_at = self.clock.now()
        super().pause(seconds)

    @asynccontextmanager
    async def slot(self, stop: asyncio.Event | None = None) -> AsyncIterator[DialTicket]:
        """Hold a dial slot for the duration of one dial request.

        Raises PacerStopped if ``stop`` is set while waiting for a slot. Call
        ``accepted`` or ``refused`` with the ticket when the answer says which.
        """
        grant = await self.acquire(stop)
        ticket = DialTicket(grant.at, grant.seq)
        try:
            yield ticket
        finally:
            self._outstanding -= 1
            if not ticket.refused:
                self._finished.append(self.clock.now())
            budget = self._budget
            if (
                budget is not None
                and budget.probe
                and not ticket.reported
                and ticket.seq == budget.after_seq + 1
            ):
                # The probe told nothing: it never reached the server (probe again), or its answer
                # said nothing of the window (go by our own window alone).
                self._budget = None if ticket.sent else self._probe(ticket.seq, self.clock.now())
            self.wake()

    def accepted(self, ticket: DialTicket, rate: RateReport | None) -> None:
        """The server took this dial; what its rate-limit headers said."""
        self._consecutive = 0
        if rate is not None:
            self._note_reset(rate)
            self._report(ticket, rate)

    def refused(
        self, ticket: DialTicket, rate: RateReport | None = None, *, cut: bool = True
    ) -> None:
        """The server refused this dial with a 429: pause every dial, and slow down if ours
        were part of the cause.

        ``cut=False`` for the API's general limit (code 10011), which says nothing of the dial
        rate: dials only wait as long as asked.
        """
        ticket.refused = True
        self.rate_limited += 1
        self._consecutive += 1
        now = self.clock.now()
        wait = rate.wait_s if rate is not None else None
        if wait is None:
            wait = backoff_s(self._consecutive, max(self.window_s, 1.0))
        pause = max(wait, 0.05)
        new_episode = False
        if cut:
            if rate is not None:
                self._note_reset(rate)
                self._learn(rate, now)
                self._report(ticket, rate)
            # A full window mostly of others' dials says nothing about our pace.
            share = self._expire(now) + self._outstanding
            if not self.capacity or share >= self.capacity * MIN_SHARE:
                new_episode = self.pace.cut(ticket.started, now)
        was_paused_until = self.paused_until
        self.pause(pause)
        if self._on_pause is not None and (new_episode or self.paused_until > was_paused_until + 1):
            then = f", then {self.pace.rate:.1f} dials/s" if self.pace.rate else ""
            self._on_pause(
                pause,
                "the API refused a dial as over the account's dial limit (429); "
                f"dialing paused {pause:.1f}s{then}",
            )

    def _report(self, ticket: DialTicket, rate: RateReport) -> None:
        """Take what an answer says is left of the window, unless a newer answer said more."""
        if rate.limit is not None and self.capacity and rate.limit >= self.capacity:
            self._limit_confirmed = True
        if rate.remaining is None or rate.reset_s is None:
            return
        ticket.reported = True
        if ticket.seq <= self._budget_source:
            return
        self._budget_source = ticket.seq
        until = self.clock.now() + rate.reset_s
        self._budget = _Budget(ticket.seq, rate.remaining, until)
        self.wake()

    def _note_reset(self, rate: RateReport) -> None:
        if rate.reset_s is not None:
            self._longest_reset = max(self._longest_reset, rate.reset_s)
            if self.learned_limit is not None:
                self._set_limit(self.learned_limit, max(self.window_s, self._longest_reset))

    def _learn(self, rate: RateReport, now: float) -> None:
        """Take the limit a 429 announces when it is lower than ours and fits what we saw:
        a limit this run exceeded on its own within the window is not a per-window count."""
        limit = rate.limit
        if limit is None or limit < 1 or self.learned_limit is not None:
            return
        if self.capacity and limit >= self.capacity:
            return
        if self._expire(now) > limit or self._longest_reset <= 0:
            return
        self.learned_limit = limit
        self._set_limit(limit, self._longest_reset)

    def _set_limit(self, limit: int, window_s: float) -> None:
        self.capacity = limit
        self.window_s = window_s
        self.pace.ceiling_rate = limit / window_s
        self.pace.measure_s = window_s
        if self.pace.rate is not None:
            self.pace.rate = min(self.pace.rate, self.pace.ceiling_rate)
