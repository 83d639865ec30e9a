"""FifoGate, Pace and ReadThrottle on their own (the dial pacer's use of them is test_dials's),
on a stepped clock."""

from __future__ import annotations

import asyncio
import math

import pytest

from orchestrator.clock import SteppedClock, settle
from orchestrator.pacing.gates import (
    APPROACH_S,
    CUT_FACTOR,
    MIN_RATE,
    MIN_SHARE,
    PROBE_PER_S,
    FifoGate,
    GateStopped,
    Grant,
    Pace,
    ReadThrottle,
    backoff_s,
)
from orchestrator.pacing.headers import RateReport


class Places(FifoGate):
    """A gate of ``capacity`` places that only a release frees: how subclasses use the gate."""

    def __init__(self, capacity: int) -> None:
        super().__init__(clock=SteppedClock())
        self.capacity = capacity
        self.in_use = 0

    def _blocked_for(self, now: float) -> float | None:
        return math.inf if self.in_use >= self.capacity else super()._blocked_for(now)

    def _take(self, now: float) -> None:
        self.in_use += 1

    def _untake(self, grant: Grant) -> None:
        self.in_use -= 1

    def release(self) -> None:
        self.in_use -= 1
        self.wake()


# FifoGate ----------------------------------------------------------------------


async def test_waiters_are_let_through_in_the_order_they_came() -> None:
    clock = SteppedClock()
    gate = FifoGate(clock=clock)
    gate.pause(2.0)
    order: list[int] = []

    async def wait(i: int) -> Grant:
        grant = await gate.acquire()
        order.append(i)
        return grant

    waiting = asyncio.gather(*(wait(i) for i in range(6)))
    await clock.advance(1.9)
    assert order == []  # none before the pause ended
    await clock.advance(0.1)
    grants = await waiting
    assert order == list(range(6))
    assert [g.seq for g in grants] == list(range(6))
    assert {g.at for g in grants} == {2.0}


async def test_one_waiter_goes_per_freed_place() -> None:
    gate = Places(2)
    await gate.acquire()
    await gate.acquire()
    granted: list[int] = []

    async def wait(i: int) -> None:
        await gate.acquire()
        granted.append(i)

    tasks = [asyncio.create_task(wait(i)) for i in range(4)]
    await settle()
    assert granted == []
    gate.release()
    await settle()
    assert granted == [0]  # one place freed, one waiter through: no herd racing for it
    gate.release()
    gate.release()
    await settle()
    assert granted == [0, 1, 2]
    assert gate.in_use == 2
    gate.release()
    await asyncio.gather(*tasks)
    assert granted == [0, 1, 2, 3]


async def test_a_waiter_cancelled_as_it_is_granted_hands_the_place_on() -> None:
    gate = Places(1)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await settle()
    gate.release()  # the place goes to the first waiter...
    first.cancel()  # ...which is cancelled before it could run again
    await settle()
    assert first.cancelled()
    assert second.done() and not second.cancelled()  # its place went on, not lost
    assert gate.in_use == 1


async def test_a_stop_already_set_refuses_at_once_and_a_later_one_releases_every_waiter() -> None:
    gate = Places(1)
    stop = asyncio.Event()
    stop.set()
    with pytest.raises(GateStopped):
        await gate.acquire(stop)
    assert gate.in_use == 0

    later = asyncio.Event()
    await gate.acquire(later)
    waiters = [asyncio.create_task(gate.acquire(later)) for _ in range(3)]
    await settle()
    later.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, GateStopped) for r in results)
    gate.close()


# Pace --------------------------------------------------------------------------


def test_no_pace_until_the_first_429() -> None:
    pace = Pace(30.0)
    for i in range(100):
        pace.started(i / 100)
    assert pace.rate is None
    assert pace.wait(1.0, paused_until=0.0) == 0.0


@pytest.mark.parametrize(
    ("ceiling", "starts", "cut_to"),
    [
        # After a burst: cut from the ceiling, not from the burst.
        (30.0, 40, 30.0 * CUT_FACTOR),
        # After a few requests (someone else used the limit up): from a share of the ceiling.
        (30.0, 1, 30.0 * MIN_SHARE * CUT_FACTOR),
        # No ceiling known (an unpaced run): from the pace measured.
        (0.0, 10, 10.0 * CUT_FACTOR),
    ],
    ids=["burst", "few", "unpaced"],
)
def test_the_first_cut_is_from_the_pace_the_429_came_at(
    ceiling: float, starts: int, cut_to: float
) -> None:
    pace = Pace(ceiling)
    for i in range(starts):
        pace.started(0.5 + i / 1000)
    assert pace.cut(sent_at=0.9, now=1.0) is True
    assert pace.rate == pytest.approx(cut_to)


def test_429s_for_requests_sent_before_the_cut_do_not_cut_again() -> None:
    pace = Pace(30.0)
    pace.started(0.5)
    assert pace.cut(sent_at=0.5, now=1.0)
    rate = pace.rate
    assert rate is not None
    assert pace.cut(sent_at=0.9, now=1.1) is False  # sent before the cut: the same episode
    assert pace.rate == rate
    assert pace.cut(sent_at=1.05, now=1.2) is True  # sent after it: a new episode
    assert pace.rate == pytest.approx(rate * CUT_FACTOR)


def test_the_pace_never_drops_below_the_floor() -> None:
    pace = Pace(1.0)
    for episode in range(20):
        pace.cut(sent_at=float(episode), now=float(episode))
    assert pace.rate == MIN_RATE


def test_requests_are_spread_at_the_pace_after_a_cut() -> None:
    pace = Pace(10.0)
    for i in range(20):
        pace.started(i / 20)
    pace.cut(sent_at=0.99, now=1.0)
    assert pace.rate == pytest.approx(7.0)
    pace.started(1.0)
    assert pace.wait(1.0, paused_until=1.0) == pytest.approx(1 / 7.0)


def test_the_pace_climbs_towards_the_429s_pace_and_not_during_a_pause() -> None:
    pace = Pace(30.0)
    for i in range(40):
        pace.started(i / 40)
    pace.cut(sent_at=0.99, now=1.0)  # from 30 to 21
    cut = pace.rate
    assert cut is not None and cut == pytest.approx(21.0)

    pace.wait(4.0, paused_until=5.0)  # still paused: no climb yet
    assert pace.rate == cut

    pace.wait(7.0, paused_until=5.0)  # two seconds after the pause
    approached = 30.0 - (30.0 - 21.0) * math.exp(-2.0 / APPROACH_S)
    probed = 21.0 * math.exp(PROBE_PER_S * 2.0)
    climbed = pace.rate
    assert climbed == pytest.approx(max(approached, probed))
    assert climbed is not None and cut < climbed < 30.0


def test_an_unpaced_run_climbs_past_the_429s_pace() -> None:
    pace = Pace(0.0)  # no ceiling to stop at
    for i in range(10):
        pace.started(i / 10)
    pace.cut(sent_at=0.99, now=1.0)  # 10 -> 7
    pace.wait(61.0, paused_until=0.0)
    assert pace.rate == pytest.approx(7.0 * math.exp(PROBE_PER_S * 60.0))


# ReadThrottle --------------------------------------------------------------------


async def test_reads_go_unthrottled_until_a_429() -> None:
    throttle = ReadThrottle(clock=SteppedClock())
    grants = [await throttle.acquire() for _ in range(50)]
    assert [g.seq for g in grants] == list(range(50))
    assert throttle.rate_limited == 0 and throttle.pace.rate is None
    throttle.close()


async def test_a_429_holds_every_read_for_as_long_as_asked_then_spreads_them() -> None:
    clock = SteppedClock()
    throttle = ReadThrottle(clock=clock)
    sent = [(await throttle.acquire()).at for _ in range(50)][-1]  # a burst: 50 at once
    throttle.limited(sent, 2.0)
    assert throttle.rate_limited == 1
    rate = throttle.pace.rate
    assert rate is not None and rate >= 50 * CUT_FACTOR
    granted: list[Grant] = []

    async def read() -> None:
        granted.append(await throttle.acquire())

    reads = asyncio.gather(*(read() for _ in range(3)))
    await clock.advance(1.9)
    assert granted == []  # held for as long as asked
    await clock.advance(0.1)
    assert len(granted) == 1  # then one, and the others spread at the cut pace
    await clock.advance(1 / rate)
    assert len(granted) == 2
    await clock.advance(1 / rate)
    assert len(granted) == 3
    await reads
    throttle.close()


async def test_without_a_hint_the_pause_doubles_until_an_answer_arrives() -> None:
    clock = SteppedClock(100.0)
    throttle = ReadThrottle(clock=clock)
    pauses = []
    for _ in range(5):
        throttle.limited(clock.now(), None)
        pauses.append(throttle.paused_until - clock.now())
        await clock.advance(throttle.paused_until - clock.now())
    assert pauses == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, up to eight seconds
    throttle.answered()
    throttle.limited(clock.now(), None)
    assert throttle.paused_until - clock.now() == 1.0  # an answer in between starts it over
    assert throttle.rate_limited == 6


async def test_reads_are_spread_so_that_what_the_headers_say_is_left_lasts_the_window() -> None:
    clock = SteppedClock()
    throttle = ReadThrottle(clock=clock)
    await throttle.acquire()
    throttle.answered(RateReport(limit=100, remaining=80, reset_s=40.0))  # ample: one per 0.5 s
    granted: list[float] = []

    async def read() -> None:
        granted.append((await throttle.acquire()).at)

    reads = asyncio.gather(*(read() for _ in range(3)))
    await clock.advance(1.0)
    assert granted == [0.5, 1.0]
    throttle.answered(RateReport(remaining=0, reset_s=3.0))  # nothing left: none until the reset
    await clock.advance(2.9)
    assert len(granted) == 2
    await clock.advance(0.1)
    assert granted[-1] == pytest.approx(4.0)
    await reads
    assert throttle.rate_limited == 0  # no 429 was needed to slow down
    throttle.close()


async def test_headers_of_an_ample_window_pace_little_and_none_leave_reads_free() -> None:
    clock = SteppedClock()
    free = ReadThrottle(clock=clock)
    free.answered(None)  # an answer without headers changes nothing
    free.answered(RateReport(limit=10))  # nor do headers that do not say what is left
    assert [(await free.acquire()).at for _ in range(5)] == [0.0] * 5
    ample = ReadThrottle(clock=clock)
    ample.answered(RateReport(limit=1000, remaining=1000, reset_s=1.0))
    reads = asyncio.gather(*(ample.acquire() for _ in range(5)))
    await clock.advance(0.01)
    at = [grant.at for grant in await reads]
    assert at == pytest.approx([0.0, 0.001, 0.002, 0.003, 0.004])
    free.close()
    ample.close()


def test_backoff_doubles_from_one_second_up_to_its_ceiling() -> None:
    assert [backoff_s(n, 5.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff_s(0, 5.0) == 1.0
