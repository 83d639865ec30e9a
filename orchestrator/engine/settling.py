"""Waiting for dialed legs to settle, by reading each conference's participant list.

One poller per conference reads the paged participant list (not one GET per
leg). The list carries call SIDs, not Labels, so legs are matched by the call
SIDs the run holds. The conferences of a run do not wait for each other: their
reads share the client's read throttle, which is the account's budget as the
API states it (rate-limit headers, 429s), and nothing else; so settling ten
conferences takes about as long as settling one.

When to look: while calls are still being placed in the run (``more_coming``:
a paced or a large run, or other conferences still dialing), its end is not
near and a look a second (``PollSchedule.busy_s``) is enough; once every call
is placed,
densely (``dense_s``) while a leg may still be answered, from its dial until
the ring time it was given (the file's ``timeout``, else the API's default)
is over, so that the run learns of the last answer within a fraction of a
second; after that, backing off as the schedule says, since only the settle
timeout is left to wait for.

The API does not say how soon a new leg is listed or how soon ``Calls/{sid}``
knows a new call, so a leg is settled only on evidence:
- connected: listed as ``connected`` or ``in-progress`` (the spec's word and
  the one Telnyx's own examples use);
- ended: ``Calls/{sid}`` says a terminal status (no-answer, busy, failed,
  completed, canceled);
- anything else is still pending until the settle timeout: not listed yet,
  listed as connecting, Calls 404, queued, ringing, or in-progress but not
  listed yet.
Only legs handed over before a list request left are judged by its answer: a
leg dialed while the request was in flight is simply not in it yet.
``Calls/{sid}`` is asked only about legs the list does not show, at most
``CALL_LOOKUPS_PER_POLL`` a poll, each leg again only after a doubling delay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.clock import Clock
from orchestrator.engine.results import LegState
from orchestrator.engine.waiting import PollSchedule
from orchestrator.errors import NotFoundError, OrchestratorError
from orchestrator.texml import contract
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.contract import ParticipantResource

_CALL_STATUS_TO_LEG: dict[str, LegState] = {
    "no-answer": "no-answer",
    "busy": "busy",
    "failed": "failed",
    "completed": "hung-up",
    "canceled": "hung-up",
}

UNANSWERED: tuple[LegState, ...] = ("no-answer", "busy", "failed")
CALL_LOOKUPS_PER_POLL = 8
BUSY_SHARE = 10  # while calls are placed, a poll waits at least this many times its length


def ended_state(call_status: str | None) -> LegState | None:
    """How a call ended, from its Calls status; None while it is not over (or not known yet)."""
    return _CALL_STATUS_TO_LEG.get(call_status or "")


@dataclass(eq=False)
class _Pending:
    future: asyncio.Future[LegState]
    next_lookup: float
    lookup_delay: float
    ringing_until: float  # until when an answer may come (its dial + its ring time)
    listed: bool = False  # seen in the list (connecting) at least once


class LegWatcher:
    """Resolves, for each call SID handed to it, how its leg settled."""

    def __init__(
        self,
        client: TexmlClient,
        conference_sid: str,
        schedule: PollSchedule | None = None,
        *,
        more_coming: Callable[[], bool] = lambda: False,
    ) -> None:
        """``more_coming``: whether calls are still to be placed in the run."""
        self._client = client
        self._clock: Clock = client.clock
        self._conference_sid = conference_sid
        self._schedule = schedule or PollSchedule()
        self._more_coming = more_coming
        self._pending: dict[str, _Pending] = {}
        self._added = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: OrchestratorError | None = None
        # The last list a poll read, and when its answer came: what a reconciling look that
        # follows at once takes as now, instead of reading every leg again.
        self._last_list: tuple[float, list[ParticipantResource]] | None = None
        self._took = 0.0  # how long the last poll took (a big conference's list costs more)

    def watch(self, call_sid: str, ring_s: float | None = None) -> asyncio.Future[LegState]:
        """How the leg settles; ``ring_s``: how long it may ring (None: the API's default)."""
        entry = self._pending.get(call_sid)
        if entry is None:
            future: asyncio.Future[LegState] = asyncio.get_running_loop().create_future()
            lookup = self._schedule.lookup_s
            now = self._clock.now()
            ring = contract.DEFAULT_TIMEOUT_S if ring_s is None else ring_s
            entry = _Pending(future, now + lookup, lookup, now + ring + self._schedule.dense_s)
            self._pending[call_sid] = entry
            self._added.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch {self._conference_sid}")
        return entry.future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for entry in self._pending.values():
            if not entry.future.done():
                entry.future.cancel()

    async def _run(self) -> None:
        delay = self._schedule.first_s
        while True:
            if not self._pending:
                self._added.clear()
                await self._added.wait()
                delay = self._schedule.first_s
            await self._wait(delay)
            self._added.clear()
            try:
                settled = await self._poll_once()
            except OrchestratorError as error:
                # The client already retried; keep polling slowly and let the settle timeout decide.
                self.last_error = error
                delay = self._schedule.max_s
                continue
            self.last_error = None
            # Poll fast while legs are settling or new ones arrive, back off while nothing moves.
            if settled or self._added.is_set():
                delay = self._schedule.first_s
            else:
                delay = min(self._schedule.max_s, delay * self._schedule.factor)

    async def _wait(self, delay: float) -> None:
        """Until the next look. A wait begun while calls were still to be placed is cut short
        once the last is placed: the run's end may then be a ring time away, not a second."""
        started = self._clock.now()
        while True:
            coming = self._more_coming()
            left = started + self._dense(delay) - self._clock.now()
            if left <= 0:
                return
            # While calls are placed, look again at whether they still are, a dense step apart.
            await self._clock.sleep(min(left, self._schedule.dense_s) if coming else left)

    def _dense(self, delay: float) -> float:
        """The wait before the next look: at least ``busy_s`` (and ``BUSY_SHARE`` times the
        last poll's length) while calls are still to be placed; else at most ``dense_s`` while some leg may still be answered (an answer is
        then seen within it); the backoff's once none may."""
        if self._more_coming():
            # Never a tenth of the time on lists while calls are placed: a list of 800 must
            # not hold up the dials it shares the API (and its connections) with.
            return max(delay, self._schedule.busy_s, BUSY_SHARE * self._took)
        now = self._clock.now()
        if any(entry.ringing_until > now for entry in self._pending.values()):
            return min(delay, self._schedule.dense_s)
        return delay

    def _resolve(self, call_sid: str, state: LegState) -> None:
        entry = self._pending.pop(call_sid, None)
        if entry is not None and not entry.future.done():
            entry.future.set_result(state)

    async def _poll_once(self) -> int:
        judged = [sid for sid, entry in self._pending.items() if not entry.future.done()]
        asked = self._clock.now()
        listed = await self._client.list_participants(self._conference_sid)
        self._last_list = (self._clock.now(), listed)
        self._took = self._clock.now() - asked
        status_by_sid = {p.get("call_sid"): p.get("status") for p in listed}
        now = self._clock.now()
        settled = 0
        to_look_up: list[str] = []
        for call_sid in judged:
            entry = self._pending.get(call_sid)
            if entry is None or entry.future.done():
                self._pending.pop(call_sid, None)
                continue
            status = status_by_sid.get(call_sid)
            if contract.is_connected(status):
                self._resolve(call_sid, "connected")
                settled += 1
                continue
            if status is not None and status != "completed":
                entry.listed = True  # connecting
                continue
            if status == "completed" or entry.listed:
                entry.next_lookup = min(entry.next_lookup, now)  # it was there: ask why it left
            if now >= entry.next_lookup:
                to_look_up.append(call_sid)
        to_look_up.sort(key=lambda sid: self._pending[sid].next_lookup)
        to_look_up = to_look_up[:CALL_LOOKUPS_PER_POLL]
        statuses = await asyncio.gather(*(self._call_status(sid) for sid in to_look_up))
        for call_sid, call_status in zip(to_look_up, statuses, strict=True):
            state = ended_state(call_status)
            if state is not None:
                self._resolve(call_sid, state)
                settled += 1
                continue
            entry = self._pending.get(call_sid)
            if entry is not None:
                entry.lookup_delay = min(entry.lookup_delay * 2, self._schedule.lookup_s * 4)
                entry.next_lookup = now + entry.lookup_delay
        return settled

    async def _call_status(self, call_sid: str) -> str | None:
        """The call's status, or None when the API does not know the call (yet)."""
        try:
            call = await self._client.get_call(call_sid)
        except NotFoundError:
            return None
        status = call.get("status") if isinstance(call, dict) else None
        return status if isinstance(status, str) else None

    async def current_states(self, call_sids: list[str]) -> dict[str, LegState | None]:
        """One reconciling look at the given legs: connected, how they ended, or None (no news).
        A list a poll asked for within ``dense_s`` is that look: at the end of a large run,
        reading every list again would add a round of the biggest reads to its end."""
        last = self._last_list
        if last is not None and self._clock.now() - last[0] <= self._schedule.dense_s:
            listed = last[1]
        else:
            listed = await self._client.list_participants(self._conference_sid)
        status_by_sid = {p.get("call_sid"): p.get("status") for p in listed}
        result: dict[str, LegState | None] = {}
        unlisted = []
        for call_sid in call_sids:
            status = status_by_sid.get(call_sid)
            if contract.is_connected(status):
                result[call_sid] = "connected"
            elif status is not None and status != "completed":
                result[call_sid] = None
            else:
                unlisted.append(call_sid)
        statuses = await asyncio.gather(*(self._call_status(sid) for sid in unlisted))
        result.update(
            (sid, ended_state(status)) for sid, status in zip(unlisted, statuses, strict=True)
        )
        return result
