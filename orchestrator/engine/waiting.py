"""Waiting for something unless the run is stopped first.

Every wait in a run races the stop event (Ctrl-C, a signal, the API gone):
these helpers are that race, written once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TypeVar

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


async def within(future: asyncio.Future[T], stop: asyncio.Event, timeout_s: float) -> T | None:
    """The future's result if it comes within ``timeout_s`` and before ``stop``; else None."""
    stopped = asyncio.ensure_future(stop.wait())
    waiters: set[asyncio.Future[Any]] = {future, stopped}
    try:
        done, _ = await asyncio.wait(
            waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopped.cancel()
    return future.result() if future in done else None


async def sleep_unless(seconds: float, stop: asyncio.Event) -> None:
    """Sleep for ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
