"""The dial pacer keeps every window within the limit, counted from when answers arrived."""

from __future__ import annotations

import asyncio
import time

from orchestrator.engine.pacer import DialPacer, PacerStopped


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


async def test_a_429_pauses_and_tightens() -> None:
    pacer = DialPacer(dials_per_second=10, window_s=1)
    pacer.slow_down(0.2)
    assert pacer.capacity == 9
    started = time.monotonic()
    async with pacer.slot():
        waited = time.monotonic() - started
    assert waited >= 0.19
    assert pacer.rate_limited == 1


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
