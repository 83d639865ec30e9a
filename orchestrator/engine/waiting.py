"""Waiting for something unless the run is stopped first.

Every wait in a run races the stop event (Ctrl-C, a signal, the API gone):
these helpers are that race, written once. Timeouts are kept by the run's clock.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from orchestrator.clock import Clock, wait_first

T = TypeVar("T")


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


async def sleep_unless(seconds: float, stop: asyncio.Event, clock: Clock) -> None:
    """Sleep for ``seconds``, or less if ``stop`` is set meanwhile."""
    if stop.is_set():
        return
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await wait_first({stopped}, seconds, clock)
    finally:
        stopped.cancel()
