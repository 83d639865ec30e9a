"""Waiting for dialed legs to settle, by polling the conference's participant list.

One poller per conference reads the paged participant list (not one GET per
participant). The list carries call SIDs, not Labels, so legs are matched by
the call SIDs the run holds. A leg that vanished from the list has ended; the
Calls resource then says why (no-answer, busy, failed, completed).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal

from orchestrator.errors import NotFoundError, OrchestratorError
from orchestrator.texml.client import TexmlClient

LegState = Literal["connected", "no-answer", "busy", "failed", "hung-up", "unknown"]

_CALL_STATUS_TO_LEG: dict[str, LegState] = {
    "no-answer": "no-answer",
    "busy": "busy",
    "failed": "failed",
    "completed": "hung-up",
    "canceled": "hung-up",
}

UNANSWERED: tuple[LegState, ...] = ("no-answer", "busy", "failed")


@dataclass(frozen=True)
class PollSchedule:
    first_s: float = 0.2
    factor: float = 1.5
    max_s: float = 2.0


class LegWatcher:
    """Resolves, for each call SID handed to it, how its leg settled."""

    def __init__(
        self, client: TexmlClient, conference_sid: str, schedule: PollSchedule | None = None
    ) -> None:
        self._client = client
        self._conference_sid = conference_sid
        self._schedule = schedule or PollSchedule()
        self._pending: dict[str, asyncio.Future[LegState]] = {}
        self._added = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0
        self.last_error: OrchestratorError | None = None

    def watch(self, call_sid: str) -> asyncio.Future[LegState]:
        future = self._pending.get(call_sid)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._pending[call_sid] = future
            self._added.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch {self._conference_sid}")
        return future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for future in self._pending.values():
            if not future.done():
                future.cancel()

    async def _run(self) -> None:
        delay = self._schedule.first_s
        while True:
            if not self._pending:
                self._added.clear()
                await self._added.wait()
                delay = self._schedule.first_s
            await asyncio.sleep(delay)
            self._added.clear()
            try:
                settled = await self._poll_once()
            except OrchestratorError as error:
                # The client already retried; keep polling slowly and let the settle timeout decide.
                self.last_error = error
                delay = self._schedule.max_s
                continue
            # Poll fast while legs are settling or new ones arrive, back off while nothing moves.
            if settled or self._added.is_set():
                delay = self._schedule.first_s
            else:
                delay = min(self._schedule.max_s, delay * self._schedule.factor)

    async def _poll_once(self) -> int:
        self.polls += 1
        listed = await self._client.list_participants(self._conference_sid)
        status_by_sid = {p["call_sid"]: p["status"] for p in listed}
        settled = 0
        vanished: list[str] = []
        for call_sid, future in list(self._pending.items()):
            if future.done():
                del self._pending[call_sid]
                continue
            status = status_by_sid.get(call_sid)
            if status == "connected":
                future.set_result("connected")
                del self._pending[call_sid]
                settled += 1
            elif status is None or status == "completed":
                vanished.append(call_sid)
        if vanished:
            reasons = await asyncio.gather(*(self._why_ended(sid) for sid in vanished))
            for call_sid, reason in zip(vanished, reasons, strict=True):
                future = self._pending.pop(call_sid)
                if not future.done():
                    future.set_result(reason)
                settled += 1
        return settled

    async def _why_ended(self, call_sid: str) -> LegState:
        try:
            call = await self._client.get_call(call_sid)
        except NotFoundError:
            return "unknown"
        return _CALL_STATUS_TO_LEG.get(call["status"], "unknown")

    async def current_states(self, call_sids: list[str]) -> dict[str, LegState | None]:
        """One reconciling look at the given legs: connected, how they ended, or None while ringing."""
        listed = await self._client.list_participants(self._conference_sid)
        status_by_sid = {p["call_sid"]: p["status"] for p in listed}
        result: dict[str, LegState | None] = {}
        vanished = []
        for call_sid in call_sids:
            status = status_by_sid.get(call_sid)
            if status == "connected":
                result[call_sid] = "connected"
            elif status == "connecting":
                result[call_sid] = None
            else:
                vanished.append(call_sid)
        reasons = await asyncio.gather(*(self._why_ended(sid) for sid in vanished))
        result.update(zip(vanished, reasons, strict=True))
        return result
