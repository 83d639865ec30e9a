"""The dial pacer keeps every window within the limit, counted from when answers arrived.

Time is stepped: each test moves the clock itself and looks at which dials had
started by then, and in what order.
"""

from __future__ import annotations

import asyncio

from orchestrator.clock import SteppedClock, settle
from orchestrator.pacing.dials import DialPacer, PacerStopped
from orchestrator.pacing.headers import RateReport


async def _dial_through(
    pacer: DialPacer, clock: SteppedClock, count: int, latency_s: float
) -> list[tuple[float, float]]:
    """``count`` dials at once, each answered ``latency_s`` after it started: when each
    started and was answered, in order of starting."""
    spans: list[tuple[float, float]] = []

    async def one() -> None:
        async with pacer.slot():
            started = clock.now()
            await clock.sleep(latency_s)
            spans.append((started, clock.now()))

    await clock.run(asyncio.gather(*(one() for _ in range(count))))
    return sorted(spans)


def _started_by(task: asyncio.Task[object]) -> bool:
    return task.done() and not task.cancelled()


async def test_no_window_holds_more_than_capacity_dials() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=clock)  # capacity 150
    spans = await _dial_through(pacer, clock, 400, latency_s=0.5)
    starts = [s for s, _ in spans]
    answers = sorted(a for _, a in spans)
    assert pacer.capacity == 150 and len(spans) == 400
    # The (i + capacity)-th dial starts only once the i-th answer is a full window old.
    for i in range(len(starts) - pacer.capacity):
        assert starts[i + pacer.capacity] >= answers[i] + pacer.window_s
    # And not later than that: the pacer holds a dial back no longer than the window asks.
    assert starts[pacer.capacity] == answers[0] + pacer.window_s


async def test_the_first_dial_probes_then_the_first_window_goes_at_once() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=100, window_s=5, clock=clock)  # capacity 500
    spans = await _dial_through(pacer, clock, 20, latency_s=1.0)
    starts = [s for s, _ in spans]
    assert starts == [0.0] + [1.0] * 19  # the rest together, once the first was answered


async def test_zero_rate_means_unpaced() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=0, window_s=5, clock=clock)
    spans = await _dial_through(pacer, clock, 200, latency_s=1.0)
    starts = [s for s, _ in spans]
    assert starts == [0.0] + [1.0] * 199


async def _accept(pacer: DialPacer, count: int, rate: RateReport | None = None) -> None:
    """``count`` dials the server took, one after the other."""
    for _ in range(count):
        async with pacer.slot() as ticket:
            pacer.accepted(ticket, rate)


async def _take(pacer: DialPacer, stop: asyncio.Event | None = None) -> str:
    try:
        async with pacer.slot(stop):
            return "took"
    except PacerStopped:
        return "stopped"


async def test_a_429_pauses_every_dial_for_as_long_as_asked_and_cuts_the_pace() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=10, window_s=1, clock=clock)  # capacity 10
    await _accept(pacer, 5)
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(retry_after_s=3.0))
    assert pacer.rate_limited == 1
    assert pacer.pace.rate is not None and pacer.pace.rate < 10
    waiting = asyncio.create_task(_take(pacer))
    await clock.advance(2.9)
    assert not waiting.done()
    await clock.advance(0.1)
    assert await waiting == "took"


async def test_a_429_while_others_hold_the_window_only_pauses() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=clock)  # capacity 150; we hold 1
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(limit=150, remaining=0, reset_s=2.0))
    assert pacer.pace.rate is None  # not slowed: once the window frees, dial at full pace
    assert pacer.paused_until == 2.0


async def test_without_any_hint_pauses_double() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=clock)
    pauses = []
    for _ in range(4):
        async with pacer.slot() as ticket:
            pacer.refused(ticket, None)
        pauses.append(pacer.paused_until - clock.now())
        await clock.advance(pacer.paused_until - clock.now())
    assert pauses == [1.0, 2.0, 4.0, 5.0]  # doubling, up to the window


async def test_a_refused_dial_does_not_occupy_the_window() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=2, window_s=10, clock=clock)  # capacity 20

    async def refused(count: int) -> None:
        for _ in range(count):
            async with pacer.slot() as ticket:
                pacer.refused(ticket, RateReport(retry_after_s=0.0), cut=False)

    await clock.run(refused(20))  # each 429 pauses dials a moment, at least
    assert pacer.rate_limited == 20
    after = asyncio.create_task(_take(pacer))
    await clock.advance(1.0)
    assert _started_by(after)  # the server counted none of them: no window to wait out


async def test_429s_for_dials_sent_before_a_cut_are_one_episode() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=clock)
    await _accept(pacer, 40)
    tickets = []
    for _ in range(10):
        async with pacer.slot() as ticket:
            tickets.append(ticket)
    for ticket in tickets:
        pacer.refused(ticket, RateReport(retry_after_s=0.0))
    first = pacer.pace.rate
    assert first is not None
    await clock.advance(1.0)  # a dial sent after the cut
    async with pacer.slot() as later:
        pacer.refused(later, RateReport(retry_after_s=0.0))
    assert pacer.pace.rate is not None and pacer.pace.rate < first


async def test_the_pace_climbs_back_once_429s_stop() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=clock)
    await _accept(pacer, 40)
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(retry_after_s=1.0))
    cut = pacer.pace.rate
    assert cut is not None
    await clock.advance(2.0)
    pacer.pace.wait(clock.now(), pacer.paused_until)
    assert pacer.pace.rate is not None and pacer.pace.rate > cut  # climbing after the pause
    await clock.advance(118.0)
    pacer.pace.wait(clock.now(), pacer.paused_until)
    assert pacer.pace.rate == 30  # back to the configured pace, never above it


async def test_a_lower_limit_announced_by_a_429_replaces_the_configured_one() -> None:
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=SteppedClock())  # capacity 150
    await _accept(pacer, 5, RateReport(limit=5, remaining=1, reset_s=1.0))
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(limit=5, remaining=0, reset_s=0.5))
    assert pacer.learned_limit == 5
    assert (pacer.capacity, pacer.window_s) == (5, 1.0)  # the window the resets showed
    assert pacer.pace.ceiling_rate == 5.0


async def test_a_limit_this_run_already_exceeded_is_not_taken() -> None:
    # 40 dials accepted within the window: a "limit" of 30 cannot be a count per window.
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=SteppedClock())
    await _accept(pacer, 40, RateReport(limit=30, remaining=20, reset_s=1.0))
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(limit=30, remaining=0, reset_s=1.0))
    assert pacer.learned_limit is None
    assert pacer.capacity == 150


async def test_an_accepted_dial_that_used_up_the_window_holds_the_next() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=clock)
    await _accept(pacer, 1, RateReport(limit=150, remaining=0, reset_s=2.0))
    waiting = asyncio.create_task(_take(pacer))
    await clock.advance(1.9)
    assert not waiting.done()
    await clock.advance(0.1)
    assert await waiting == "took"
    assert pacer.rate_limited == 0 and pacer.pace.rate is None  # a hold, not a 429


async def test_the_first_dial_goes_alone() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=30, window_s=5, clock=clock)
    order: list[str] = []

    async def dial(name: str, latency_s: float) -> None:
        async with pacer.slot():
            order.append(f"start {name}")
            await clock.sleep(latency_s)
            order.append(f"end {name}")

    await clock.run(asyncio.gather(dial("first", 1.0), dial("second", 0), dial("third", 0)))
    assert order[:2] == ["start first", "end first"]
    assert sorted(order[2:]) == ["end second", "end third", "start second", "start third"]


async def test_pause_hook_says_why() -> None:
    said: list[str] = []
    pacer = DialPacer(
        dials_per_second=10,
        window_s=1,
        clock=SteppedClock(),
        on_pause=lambda s, why: said.append(why),
    )
    await _accept(pacer, 5)
    async with pacer.slot() as ticket:
        pacer.refused(ticket, RateReport(retry_after_s=2.0))
    assert said and "429" in said[0]


async def test_waiters_go_in_order() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=1, window_s=1, clock=clock)  # capacity 1
    order: list[int] = []

    async def one(i: int) -> None:
        async with pacer.slot():
            order.append(i)
            await clock.sleep(0.5)

    await clock.run(asyncio.gather(*(one(i) for i in range(8))))
    assert order == list(range(8))


async def test_a_cancelled_waiter_hands_its_turn_on() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=1, window_s=1, clock=clock)  # capacity 1
    async with pacer.slot():
        waiting = asyncio.create_task(_take(pacer))
        after = asyncio.create_task(_take(pacer))
        await settle()
        waiting.cancel()
    assert await clock.run(after) == "took"
    assert waiting.cancelled()


async def test_stop_releases_waiters() -> None:
    clock = SteppedClock()
    pacer = DialPacer(dials_per_second=1, window_s=10, clock=clock)  # capacity 10
    stop = asyncio.Event()
    for _ in range(10):
        async with pacer.slot(stop):
            pass
    waiter = asyncio.create_task(_take(pacer, stop))
    await clock.advance(5.0)
    assert not waiter.done()  # the window is full for another five seconds
    stop.set()
    await settle()
    assert waiter.done() and waiter.result() == "stopped"
