"""The dial pacer keeps every window within the limit, counted from when answers arrived."""

from __future__ import annotations

import asyncio
import time

from orchestrator.pacing.dials import DialPacer, PacerStopped
from orchestrator.pacing.headers import RateReport


async def _dial_through(
    pacer: DialPacer, count: int, latency_s: float
) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []

    async def one() -> None:
        async with pacer.slot():
            started = time.monotonic()
            await asyncio.sleep(latency_s)
            spans.append((started, time.monotonic()))

    await asyncio.gather(*(one() for _ in range(count)))
    return sorted(spans)


async def test_no_window_holds_more_than_capacity_dials() -> None:
    pacer = DialPacer(dials_per_second=20, window_s=0.15)  # capacity 3
    spans = await _dial_through(pacer, 10, latency_s=0.01)
    starts = [s for s, _ in spans]
    answers = sorted(a for _, a in spans)
    assert pacer.capacity == 3
    # The (i + capacity)-th dial starts only once the i-th answer is a full window old.
    for i in range(len(starts) - pacer.capacity):
        assert starts[i + pacer.capacity] >= answers[i] + pacer.window_s - 1e-3


async def test_first_window_goes_at_once() -> None:
    pacer = DialPacer(dials_per_second=100, window_s=0.5)  # capacity 50
    spans = await _dial_through(pacer, 20, latency_s=0.0)
    starts = [s for s, _ in spans]
    assert starts[-1] - starts[0] < 0.1


async def test_zero_rate_means_unpaced() -> None:
    pacer = DialPacer(dials_per_second=0, window_s=5)
    spans = await _dial_through(pacer, 200, latency_s=0.0)
    assert spans[-1][0] - spans[0][0] < 0.5


async def _accept(pacer: DialPacer, count: int, rate: RateReport | None = None) -> None:
    """``count`` dials the server took, one after the other."""
    for _ in range(count):
        async with pacer.slot() as ticket:
            pacer.accepted(ticket, rate)


async def test_a_429_pauses_every_dial_for_as_long_as_asked_and_cuts_the_pace() -> None:
    pacer = DialPacer(dials_per_second=10, window_s=1)  # capacity 10
    await _accept(pacer, 5)
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(retry_after_s=0.2))
    assert pacer.rate_limited == 1
    assert pacer.pace.rate is not None and pacer.pace.rate < 10
    started = time.monotonic()
    async with pacer.slot():
        waited = time.monotonic() - started
    assert waited >= 0.19


async def test_a_429_while_others_hold_the_window_only_pauses() -> None:
    pacer = DialPacer(dials_per_second=30, window_s=5)  # capacity 150; we hold 1 of it
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(limit=150, remaining=0, reset_s=0.1))
    assert pacer.pace.rate is None  # not slowed: once the window frees, dial at full pace
    assert pacer.paused_until > 0


async def test_without_any_hint_pauses_double() -> None:
    now = [0.0]
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=lambda: now[0])
    pauses = []
    for _ in range(4):
        async with pacer.slot() as ticket:
            pacer.refused(ticket, None)
        pauses.append(pacer.paused_until - now[0])
        now[0] = pacer.paused_until
    assert pauses == [1.0, 2.0, 4.0, 5.0]  # doubling, up to the window


async def test_a_refused_dial_does_not_occupy_the_window() -> None:
    pacer = DialPacer(dials_per_second=2, window_s=10)  # capacity 20
    for _ in range(20):
        async with pacer.slot() as ticket:
            pacer.refused(ticket, RateReport(retry_after_s=0.0), cut=False)
    started = time.monotonic()
    async with pacer.slot():
        pass
    assert time.monotonic() - started < 0.2  # the server counted none of them


async def test_429s_for_dials_sent_before_a_cut_are_one_episode() -> None:
    pacer = DialPacer(dials_per_second=30, window_s=5)
    await _accept(pacer, 40)
    tickets = []
    for _ in range(10):
        async with pacer.slot() as ticket:
            tickets.append(ticket)
    for ticket in tickets:
        pacer.refused(ticket, RateReport(retry_after_s=0.0))
    first = pacer.pace.rate
    assert first is not None
    async with pacer.slot() as later:
        pacer.refused(later, RateReport(retry_after_s=0.0))
    assert pacer.pace.rate is not None and pacer.pace.rate < first


async def test_the_pace_climbs_back_once_429s_stop() -> None:
    now = [0.0]
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=lambda: now[0])
    await _accept(pacer, 40)
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(retry_after_s=1.0))
    cut = pacer.pace.rate
    assert cut is not None
    now[0] = 2.0
    pacer.pace.wait(now[0], pacer.paused_until)
    assert pacer.pace.rate is not None and pacer.pace.rate > cut  # climbing after the pause
    now[0] = 120.0
    pacer.pace.wait(now[0], pacer.paused_until)
    assert pacer.pace.rate == 30  # back to the configured pace, never above it


async def test_a_lower_limit_announced_by_a_429_replaces_the_configured_one() -> None:
    pacer = DialPacer(dials_per_second=30, window_s=5)  # capacity 150
    await _accept(pacer, 5, RateReport(limit=5, remaining=1, reset_s=1.0))
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(limit=5, remaining=0, reset_s=0.5))
    assert pacer.learned_limit == 5
    assert (pacer.capacity, pacer.window_s) == (5, 1.0)  # the window the resets showed
    assert pacer.pace.ceiling_rate == 5.0


async def test_a_limit_this_run_already_exceeded_is_not_taken() -> None:
    # 40 dials accepted within the window: a "limit" of 30 cannot be a count per window.
    pacer = DialPacer(dials_per_second=30, window_s=5)
    await _accept(pacer, 40, RateReport(limit=30, remaining=20, reset_s=1.0))
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(limit=30, remaining=0, reset_s=1.0))
    assert pacer.learned_limit is None
    assert pacer.capacity == 150


async def test_an_accepted_dial_that_used_up_the_window_holds_the_next() -> None:
    pacer = DialPacer(dials_per_second=30, window_s=5)
    await _accept(pacer, 1, RateReport(limit=150, remaining=0, reset_s=0.2))
    started = time.monotonic()
    async with pacer.slot():
        waited = time.monotonic() - started
    assert waited >= 0.19
    assert pacer.rate_limited == 0 and pacer.pace.rate is None  # a hold, not a 429


async def test_the_first_dial_goes_alone() -> None:
    pacer = DialPacer(dials_per_second=30, window_s=5)
    order: list[str] = []

    async def dial(name: str, latency_s: float) -> None:
        async with pacer.slot():
            order.append(f"start {name}")
            await asyncio.sleep(latency_s)
            order.append(f"end {name}")

    await asyncio.gather(dial("first", 0.05), dial("second", 0), dial("third", 0))
    assert order[:2] == ["start first", "end first"]


async def test_pause_hook_says_why() -> None:
    said: list[str] = []
    pacer = DialPacer(dials_per_second=10, window_s=1, on_pause=lambda s, why: said.append(why))
    await _accept(pacer, 5)
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(retry_after_s=0.05))
    assert said and "429" in said[0]


async def test_waiters_go_in_order() -> None:
    pacer = DialPacer(dials_per_second=10, window_s=0.1)  # capacity 1
    order: list[int] = []

    async def one(i: int) -> None:
        async with pacer.slot():
            order.append(i)
            await asyncio.sleep(0.001)

    await asyncio.gather(*(one(i) for i in range(8)))
    assert order == list(range(8))


async def test_a_cancelled_waiter_hands_its_turn_on() -> None:
    pacer = DialPacer(dials_per_second=10, window_s=0.1)  # capacity 1
    async with pacer.slot():
        waiting = asyncio.create_task(_take(pacer, asyncio.Event()))
        after = asyncio.create_task(_take(pacer, asyncio.Event()))
        await asyncio.sleep(0.01)
        waiting.cancel()
    assert await asyncio.wait_for(after, 1) == "took"


async def test_stop_releases_waiters() -> None:
    pacer = DialPacer(dials_per_second=1, window_s=10)  # capacity 10
    stop = asyncio.Event()
    for _ in range(10):
        async with pacer.slot(stop):
            pass
    waiter = asyncio.create_task(_take(pacer, stop))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    stop.set()
    assert await asyncio.wait_for(waiter, 1) == "stopped"


async def _take(pacer: DialPacer, stop: asyncio.Event) -> str:
    try:
        async with pacer.slot(stop):
            return "took"
    except PacerStopped:
        return "stopped"
