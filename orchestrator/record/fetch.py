"""``history RUN --fetch``: what the API knows of a run's calls after the fact, into its log.

A plain apply exits once everyone is connected while the call goes on; the API knows later
how each leg ended (``GET Calls/{sid}``: end time, duration, status, answered_by) and how the
conference did (``GET Conferences/{sid}``: its end and the reason), for as long as it keeps
them. Each fact is appended once, as a ``call-learned`` or ``conference-learned`` event with
source ``api``, keyed by SID and field: fetching again adds only what was not known. A fact
is taken only once final (a call that has ended, a conference that has completed). The
completed recordings are kept as at the end of apply. The run folder is locked meanwhile, so
two fetches take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import NotFoundError, OrchestratorError
from orchestrator.record import facts
from orchestrator.record.codec import iso_ms
from orchestrator.record.fold import ConferenceFold, Lane, Leg, RunFold
from orchestrator.record.recorder import Recorder
from orchestrator.record.recordings import Keeper
from orchestrator.record.runs import StoredRun
from orchestrator.texml.client import TexmlClient, parse_http_date
from orchestrator.texml.connection import Connection

# Call statuses after which nothing changes.
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


@dataclass
class Fetched:
    learned: int = 0  # facts appended
    kept: int = 0  # recordings downloaded
    not_learned: list[str] = field(default_factory=list)
    no_cause: int = 0  # ended calls whose resource gave no hangup cause


def _stamp(value: Any) -> str | None:
    moment = parse_http_date(value) if isinstance(value, str) else None
    return iso_ms(moment.timestamp()) if moment is not None else None


def call_facts(call: dict[str, Any]) -> dict[str, str | int | None]:
    """The fields of an ended call the record keeps, as the record writes them."""
    duration: int | None = None
    with contextlib.suppress(TypeError, ValueError):
        duration = int(call["duration"]) if call.get("duration") is not None else None
    found: dict[str, str | int | None] = {
        "status": call.get("status"),
        "answered_at": _stamp(call.get("start_time")),
        "ended_at": _stamp(call.get("end_time")),
        "duration_s": duration,
        "answered_by": call.get("answered_by"),
        # Not in Telnyx's documented call resource; kept when an answer carries it.
        "hangup_cause": call.get("hangup_cause"),
        "hangup_source": call.get("hangup_source"),
    }
    return {k: v for k, v in found.items() if v is not None and v != ""}


def conference_facts(conference: dict[str, Any]) -> dict[str, str | None]:
    """A completed conference's end as the API tells it (its last update is when it ended)."""
    found = {
        "status": conference.get("status"),
        "created_at": _stamp(conference.get("date_created")),
        "ended_at": _stamp(conference.get("date_updated")),
        "reason": conference.get("reason_conference_ended"),
        "call_sid_ending": conference.get("call_sid_ending_conference"),
    }
    return {k: v for k, v in found.items() if v is not None}


@contextlib.asynccontextmanager
async def locked(run: StoredRun) -> AsyncIterator[None]:
    """The run folder's lock (on its log) while a fetch appends to it."""
    fd = os.open(run.events_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.1)
        yield
    finally:
        os.close(fd)


class Fetch:
    def __init__(self, run: StoredRun, client: TexmlClient, recorder: Recorder) -> None:
        self.client = client
        self.recorder = recorder
        self.done = Fetched()
        self.fold = RunFold()
        self.known: set[tuple[str, str]] = set()
        events, _ = run.events()
        for event in events:
            self.fold.add(event)
            recorder.learn(event)
            if isinstance(event, facts.CallLearned):
                self.known.add((event.call_sid, event.field))
            elif isinstance(event, facts.ConferenceLearned):
                self.known.add((event.sid, event.field))
        self.kept = {r.recording_sid for c in self.fold.conferences.values() for r in c.recordings}

    def _learn(
        self, key: str, field_: str, event: facts.CallLearned | facts.ConferenceLearned
    ) -> None:
        if (key, field_) in self.known:
            return
        self.known.add((key, field_))
        self.recorder.append(event)
        self.done.learned += 1

    async def conference(self, fold: ConferenceFold) -> None:
        assert fold.sid is not None
        try:
            found = dict(await self.client.get_conference(fold.sid))
        except NotFoundError:
            self.done.not_learned.append(
                f"{fold.name}: the API no longer knows conference {fold.sid}"
            )
            return
        except OrchestratorError as error:
            self.done.not_learned.append(f"{fold.name}: {error}")
            return
        if found.get("status") != "completed":
            self.done.not_learned.append(
                f"{fold.name}: the conference is still {found.get('status')}; its end is not known yet"
            )
            return
        for name, value in conference_facts(found).items():
            event = facts.ConferenceLearned(
                file=fold.file,
                conference=fold.name,
                sid=fold.sid,
                field=name,
                value=value,
                source="api",
            )
            self._learn(fold.sid, name, event)

    async def leg(self, fold: ConferenceFold, lane: Lane, leg: Leg) -> None:
        sid = leg.call_sid
        assert sid is not None
        if all((sid, f) in self.known for f in ("status", "ended_at")):
            return  # learned by an earlier fetch
        try:
            call = dict(await self.client.get_call(sid))
        except NotFoundError:
            self.done.not_learned.append(f"{lane.name}: the API does not know call {sid}")
            return
        except OrchestratorError as error:
            self.done.not_learned.append(f"{lane.name}: call {sid}: {error}")
            return
        status = call.get("status")
        if status not in FINAL_STATUSES:
            self.done.not_learned.append(
                f"{lane.name}: call {sid} is still {status}; fetch again once it has ended"
            )
            return
        learned = call_facts(call)
        if "hangup_cause" not in learned:
            self.done.no_cause += 1
        for name, value in learned.items():
            event = facts.CallLearned(
                file=fold.file,
                conference=fold.name,
                participant=lane.name,
                call_sid=sid,
                field=name,
                value=value,
                source="api",
            )
            self._learn(sid, name, event)

    async def run(self, *, recordings: bool, say: Callable[[str], None]) -> Fetched:
        work = []
        for fold in self.fold.conferences.values():
            if fold.sid is not None:
                work.append(self.conference(fold))
            for lane in fold.lanes.values():
                work += [self.leg(fold, lane, leg) for leg in lane.legs if leg.call_sid]
        await asyncio.gather(*work)
        if recordings:
            keeper = Keeper(self.recorder, kept=self.kept, say=say)
            for fold in self.fold.conferences.values():
                if fold.sid is not None:
                    problem = await keeper.keep_listed(self.client, fold.sid)
                    if problem is not None:
                        self.done.not_learned.append(problem)
            self.done.kept = len(keeper.kept - self.kept)
            self.done.not_learned += [
                f"recording {s}: not kept ({w})" for s, w in keeper.missed.items()
            ]
        if self.done.no_cause:
            self.done.not_learned.append(
                f"hangup cause: the API's call resource gave none for {self.done.no_cause} "
                "call(s) (Telnyx documents none there); their status says how each ended"
            )
        return self.done


async def fetch(
    run: StoredRun, connection: Connection, *, recordings: bool, say: Callable[[str], None]
) -> Fetched:
    """Ask the API about the run's conferences and calls; append what it learned, once."""
    async with locked(run), TexmlClient(connection) as client:
        recorder = Recorder(run.folder, run.header)
        recorder.connections = [connection]
        try:
            return await Fetch(run, client, recorder).run(recordings=recordings, say=say)
        finally:
            recorder.close()
