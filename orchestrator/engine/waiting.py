"""Waiting for something unless the run is stopped first, and asking again until it comes.

Every wait in a run races the stop event (Ctrl-C, a signal, the API gone):
these helpers are that race, written once; ``poll`` is the one way a run asks
the API again and again, backing off, until an answer or a deadline. Timeouts
and deadlines are kept by the run's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from orchestrator.clock import Clock, wait_first

T = TypeVar("T")


@dataclass(frozen=True)
class PollSchedule:
    first_s: float = 0.2
    factor: float = 1.5
    max_s: float = 2.0
    # Between looks while an answer may come (a leg within its ring time): the run learns of
    # the last answer within this, instead of within a backoff.
    dense_s: float = 0.1
    # Between looks while calls are still being placed for the conference: its end is not near.
    busy_s: float = 1.0
    # First look at Calls/{sid} for a leg the list does not show; doubling up to 4x after.
    lookup_s: float = 1.0


class Stopped(Exception):
    """The run was stopped while this waited."""


async def either(event: asyncio.Event, stop: asyncio.Event) -> None:
    """Until ``event`` or ``stop`` is set, whichever comes first."""
    waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def result_unless(future: asyncio.Future[T], stop: asyncio.Event) -> T:
    """The future's result; raises Stopped if ``stop`` comes first."""
    stopped = asyncio.ensure_future(stop.wait())
    waiters: set[asyncio.Future[Any]] = {future, stopped}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if future.done():
        return future.result()
    raise Stopped


async def within(
    future: asyncio.Future[T], stop: asyncio.Event, timeout_s: float, clock: Clock
) -> T | None:
    """The future's result if it comes within ``timeout_s`` and before ``stop``; else None."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        done = await wait_first({future, stopped}, timeout_s, clock)
    finally:
        stopped.cancel()
    return future.result() if future in done else None


async def poll(
    probe: Callable[[], Awaitable[T | None]],
    stop: asyncio.Event,
    schedule: PollSchedule,
    clock: Clock,
    *,
    until: float | None = None,
) -> T | None:
    """Ask ``probe`` until it answers (not None), backing off as ``schedule`` says; None once
    ``until`` (on ``clock``) has passed with no answer. Raises Stopped if ``stop`` is set
    first."""
    delay = schedule.first_s
    while True:
        found = await probe()
        if found is not None:
            return found
        if until is not None and clock.now() >= until:
            return None
        await sleep_unless(delay, stop, clock)
        if stop.is_set():
            raise Stopped
        delay = min(delay * schedule.factor, schedule.max_s)


async def sleep_unless(seconds: float, stop: asyncio.Event, clock: Clock) -> None:
    """Sleep for ``seconds``, or less if ``stop`` is set meanwhile."""
    if stop.is_set():
        return
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await wait_first({stopped}, seconds, clock)
    finally:
        stopped.cancel()
