"""The clocks: a stepped one fires what falls due in order, and only when moved; the helpers keep
their timeouts on the clock they are given; the real one is the event loop's."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.clock import (
    REAL_CLOCK,
    Deadlock,
    SteppedClock,
    settle,
    wait_first,
    wait_for,
)


async def test_advance_fires_what_falls_due_in_order_and_nothing_later() -> None:
    clock = SteppedClock()
    fired: list[str] = []
    clock.call_later(2.0, lambda: fired.append("b"))
    clock.call_later(1.0, lambda: fired.append("a"))
    clock.call_later(2.0, lambda: fired.append("c"))  # due with b: after it, as registered
    clock.call_later(5.0, lambda: fired.append("late"))
    await clock.advance(2.0)
    assert fired == ["a", "b", "c"]
    assert clock.now() == 2.0
    assert clock.pending() == 1 and clock.next_due() == 5.0


async def test_what_a_timer_sets_in_motion_runs_before_the_next_timer_fires() -> None:
    clock = SteppedClock()
    seen: list[str] = []
    woken = asyncio.Event()

    async def waiter() -> None:
        await woken.wait()
        seen.append(f"woken at {clock.now():g}")
        clock.call_later(0.5, lambda: seen.append(f"its timer at {clock.now():g}"))

    task = asyncio.create_task(waiter())
    clock.call_later(1.0, woken.set)
    clock.call_later(2.0, lambda: seen.append(f"second at {clock.now():g}"))
    await clock.advance(3.0)
    assert seen == ["woken at 1", "its timer at 1.5", "second at 2"]
    assert task.done()


async def test_a_cancelled_timer_never_fires_and_a_sleep_wakes_when_due() -> None:
    clock = SteppedClock()
    fired: list[int] = []
    timer = clock.call_later(1.0, lambda: fired.append(1))
    timer.cancel()
    sleeper = asyncio.create_task(clock.sleep(3.0))
    await clock.advance(2.9)
    assert not sleeper.done() and fired == []
    await clock.advance(0.1)
    assert sleeper.done() and fired == []


async def test_run_moves_on_whenever_every_task_waits() -> None:
    clock = SteppedClock()
    marks: list[float] = []

    async def work() -> str:
        for _ in range(3):
            await clock.sleep(10.0)
            marks.append(clock.now())
        return "done"

    assert await clock.run(work()) == "done"
    assert marks == [10.0, 20.0, 30.0]


async def test_run_says_so_when_nothing_on_the_clock_could_end_the_wait() -> None:
    clock = SteppedClock()
    never = asyncio.Event()
    with pytest.raises(Deadlock):
        await clock.run(never.wait())

    async def forever() -> None:
        while True:
            await clock.sleep(60.0)

    with pytest.raises(TimeoutError):
        await clock.run(forever(), limit_s=600.0)
    assert clock.now() <= 600.0


async def test_wait_for_and_wait_first_keep_their_timeout_on_the_clock() -> None:
    clock = SteppedClock()
    never = asyncio.Event()
    waiting = asyncio.ensure_future(wait_for(never.wait(), 5.0, clock))
    await clock.advance(4.9)
    assert not waiting.done()
    await clock.advance(0.1)
    with pytest.raises(TimeoutError):
        await waiting

    soon = asyncio.Event()
    clock.call_later(1.0, soon.set)
    assert await clock.run(wait_for(soon.wait(), 5.0, clock)) is True

    still = asyncio.ensure_future(asyncio.Event().wait())
    done = await clock.run(wait_first({still}, 2.0, clock))
    assert done == set() and not still.done()
    still.cancel()


async def test_settle_returns_once_every_task_waits() -> None:
    steps: list[int] = []

    async def chain(n: int) -> None:
        for i in range(n):
            await asyncio.sleep(0)
            steps.append(i)

    task = asyncio.create_task(chain(50))
    await settle()
    assert task.done() and steps == list(range(50))


async def test_the_real_clock_is_the_event_loops() -> None:
    loop = asyncio.get_running_loop()
    before = REAL_CLOCK.now()
    assert abs(before - loop.time()) < 1.0  # the same scale: the loop's monotonic clock
    order: list[str] = []
    REAL_CLOCK.call_later(0.02, lambda: order.append("later"))
    REAL_CLOCK.call_later(0.0, lambda: order.append("sooner"))
    await REAL_CLOCK.sleep(0.05)
    assert order == ["sooner", "later"]
    assert REAL_CLOCK.now() > before
