"""Simulated time: how long the sandbox has run, and timers scaled by the scenario's time_scale.

Scenario durations (ringing, hang-ups, lags) are simulated seconds; a time_scale
of 0.01 makes a two-second ring last 20 ms of the underlying clock. That clock
is real time unless the sandbox was given another (tests give a stepped one and
move it by hand). Every transition that happens later runs from a timer
registered here, so closing the clock stops the whole simulation at once; and
every moment the sandbox keeps (a lag's end, a limit's window, an answer) is
read from ``now``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from orchestrator.clock import REAL_CLOCK, Clock, Timer

log = logging.getLogger("orchestrator.sandbox")


class SimulatedClock:
    def __init__(self, time_scale: float, clock: Clock = REAL_CLOCK) -> None:
        self.time_scale = time_scale
        self.base = clock  # the clock underneath: real time, or a test's
        self._started = clock.now()
        self._timers: set[Timer] = set()
        self.closed = False

    def now(self) -> float:
        """The underlying clock's moment now (lags and limits are kept in these)."""
        return self.base.now()

    def restart(self) -> None:
        """Count uptime from now (the server starts listening)."""
        self._started = self.base.now()

    def uptime(self) -> float:
        return self.base.now() - self._started

    def real_seconds(self, simulated: float) -> float:
        return max(0.0, simulated * self.time_scale)

    def elapsed(self, since: float, until: float | None = None) -> int:
        """Whole simulated seconds from the moment ``since`` to ``until`` (default: now);
        0 when time is frozen."""
        if self.time_scale <= 0:
            return 0
        end = self.base.now() if until is None else until
        return max(0, round((end - since) / max(self.time_scale, 1e-9)))

    def later(
        self,
        seconds: float,
        action: Callable[[], None],
        owned: list[Timer] | None = None,
    ) -> None:
        """Run ``action`` after ``seconds`` of simulated time; ``owned`` collects the timer so
        its owner (a leg) can cancel what is pending for it."""
        if self.closed:
            return
        timer = _Timer(self._timers, action, owned)
        handle = timer.handle = self.base.call_later(self.real_seconds(seconds), timer.fire)
        self._timers.add(handle)
        if owned is not None:
            owned.append(handle)

    def cancel(self, owned: list[Timer]) -> None:
        """Cancel the pending timers in ``owned``, and forget them."""
        for handle in owned:
            handle.cancel()
            self._timers.discard(handle)
        owned.clear()

    def close(self) -> None:
        """Stop simulated time: cancel every pending timer; nothing is scheduled after this."""
        self.closed = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()


class _Timer:
    """One pending transition: forgets its handle when it fires, then acts.

    An object with slots rather than a closure: every leg sets at least one of these."""

    __slots__ = ("action", "handle", "owned", "pending")

    def __init__(
        self,
        pending: set[Timer],
        action: Callable[[], None],
        owned: list[Timer] | None,
    ) -> None:
        self.pending = pending
        self.action = action
        self.owned = owned
        self.handle: Timer | None = None

    def fire(self) -> None:
        handle = self.handle
        assert handle is not None  # set as soon as the clock took the timer
        self.pending.discard(handle)
        owned = self.owned
        if owned is not None and handle in owned:
            owned.remove(handle)
        try:
            self.action()
        except Exception:  # a bug in one transition must not stop the others
            log.exception("sandbox: simulated event failed")
