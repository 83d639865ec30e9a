"""Who creates the conference: one claim at a time, everyone else waits for its SID."""

from __future__ import annotations

import asyncio

import pytest

from orchestrator.engine.creation import Creation
from orchestrator.engine.waiting import Stopped

WAITERS = 300


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_everyone_waiting_gets_the_sid_through_one_shared_wait() -> None:
    creation = Creation(None, creator="host")
    stop = asyncio.Event()
    claim = await creation.claim("host", stop)
    assert claim is not None
    before = len(asyncio.all_tasks())
    waiters = [asyncio.create_task(creation.claim(f"p{i}", stop)) for i in range(WAITERS)]
    await _settle()
    # The waiters themselves, and one wait they share (on the change and on the stop):
    # not two more tasks for each waiter.
    assert len(asyncio.all_tasks()) - before <= WAITERS + 3
    assert not any(w.done() for w in waiters)
    claim.created("sid-1")
    assert await asyncio.gather(*waiters) == [None] * WAITERS
    assert creation.sid == "sid-1"


async def test_a_waiter_cancelled_leaves_the_others_waiting() -> None:
    creation = Creation(None, creator="host")
    stop = asyncio.Event()
    claim = await creation.claim("host", stop)
    assert claim is not None
    first, second = (asyncio.create_task(creation.claim(n, stop)) for n in ("a", "b"))
    await _settle()
    first.cancel()
    await _settle()
    assert first.cancelled() and not second.done()
    claim.created("sid-2")
    assert await second is None


async def test_a_failed_attempt_opens_the_claim_to_the_next_waiter_only() -> None:
    creation = Creation(None, creator="host")
    stop = asyncio.Event()
    claim = await creation.claim("host", stop)
    assert claim is not None
    waiters = [asyncio.create_task(creation.claim(n, stop)) for n in ("a", "b", "c")]
    await _settle()
    claim.created(None)  # definitely not created: anyone may try, one at a time
    await _settle()
    done = [w for w in waiters if w.done()]
    assert len(done) == 1
    next_claim = done[0].result()
    assert next_claim is not None
    next_claim.created("sid-3")
    assert [await w for w in waiters if w is not done[0]] == [None, None]


async def test_stop_wakes_every_waiter_with_stopped_and_leaves_no_task() -> None:
    creation = Creation(None, creator="host")
    stop = asyncio.Event()
    assert await creation.claim("host", stop) is not None
    before = len(asyncio.all_tasks())
    waiters = [asyncio.create_task(creation.claim(f"p{i}", stop)) for i in range(10)]
    await _settle()
    stop.set()
    for waiter in waiters:
        with pytest.raises(Stopped):
            await waiter
    await _settle()
    assert len(asyncio.all_tasks()) == before


async def test_the_last_waiter_cancelled_ends_the_shared_wait() -> None:
    creation = Creation(None, creator="host")
    stop = asyncio.Event()
    assert await creation.claim("host", stop) is not None
    before = len(asyncio.all_tasks())
    waiters = [asyncio.create_task(creation.claim(n, stop)) for n in ("a", "b")]
    await _settle()
    for waiter in waiters:
        waiter.cancel()
    await _settle()
    assert len(asyncio.all_tasks()) == before  # nothing left waiting on the events
