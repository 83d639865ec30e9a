"""down: hang up a file's participants, or end its whole conference; and forget them.

Participants are found as apply finds them (by Label, by the local record, by
the number called) and hung up by call SID. Whoever ends the conference on
exit goes last: hung up first, it would take everyone else with it before
their own hang-ups were sent, and the result would not say who was hung up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.engine.events import ConferenceSeen, Event, HungUp
from orchestrator.engine.live import read_live_state
from orchestrator.engine.planner import LiveState
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.state import StateStore
from orchestrator.errors import ApiError, ApiUnreachable, NotFoundError
from orchestrator.spec.model import ConferenceSpec, Participant
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection


class HangUpResult(StrEnum):
    HUNG_UP = "hung up"
    ABSENT = "not in the conference"
    FAILED = "could not hang up"


@dataclass(frozen=True, kw_only=True)
class HangUp:
    name: str
    result: HangUpResult
    error: str | None = None  # why it failed


@dataclass(frozen=True, kw_only=True)
class Teardown:
    spec: ConferenceSpec
    conference_sid: str | None  # None: it was not running
    ended_conference: bool = False  # ended whole (Status=completed), as --end-conference asks
    hang_ups: tuple[HangUp, ...] = ()
    ended_with: tuple[str, ...] = ()  # participants whose leaving ended the conference

    @property
    def ok(self) -> bool:
        return all(h.result != HangUpResult.FAILED for h in self.hang_ups)


async def tear_down(
    client: TexmlClient,
    spec: ConferenceSpec,
    *,
    end_conference: bool,
    store: StateStore | None,
    model: RunModel | None = None,
) -> Teardown:
    """Hang up the file's participants (or end the conference); the record forgets whom it ended.
    Each hang-up is published to ``model`` (the run's record keeps it)."""
    account_sid = spec.account_sid or client.connection.account_sid
    recorded = store.load(spec.path, account_sid, spec.conference.name) if store else None
    state = await read_live_state(client, spec, recorded)
    everyone = set(recorded.participants) if recorded is not None else set()
    down = _Down(client, spec, model)
    if state.conference is None:
        result, forget = Teardown(spec=spec, conference_sid=None), everyone
    elif end_conference:
        result, forget = await down.end_whole(state.conference["sid"]), everyone
    else:
        result = await down.hang_up_each(state)
        if result.ended_with:
            forget = everyone  # everyone left with the conference
        else:
            forget = {h.name for h in result.hang_ups if h.result != HangUpResult.FAILED}
    if store is not None and recorded is not None and forget & set(recorded.participants):
        for label in forget:
            recorded.participants.pop(label, None)
        store.save(spec.path, recorded)
    return result


class _Down:
    """One file's conference, brought down: whole, or leg by leg, each step published."""

    def __init__(self, client: TexmlClient, spec: ConferenceSpec, model: RunModel | None) -> None:
        self.client = client
        self.spec = spec
        self.model = model

    def _publish(self, event: Event) -> None:
        if self.model is not None:
            self.model.publish(event)

    async def end_whole(self, sid: str) -> Teardown:
        await self.client.update_conference(sid, {"Status": "completed"})
        name = self.spec.conference.name
        self._publish(
            ConferenceSeen(file=self.spec.path, conference=name, sid=sid, status="completed")
        )
        return Teardown(spec=self.spec, conference_sid=sid, ended_conference=True)

    async def hang_up_each(self, state: LiveState) -> Teardown:
        """Everyone else at once, then whoever ends the conference by leaving, one by one."""
        assert state.conference is not None
        sid = state.conference["sid"]
        enders = [p for p in self.spec.participants if p.settings.end_conference_on_exit]
        others = [p for p in self.spec.participants if not p.settings.end_conference_on_exit]
        hang_ups = list(await asyncio.gather(*(self._hang_up(state, sid, p) for p in others)))
        for participant in enders:
            hang_ups.append(await self._hang_up(state, sid, participant))
        ended_with: tuple[str, ...] = ()
        if enders and (await self.client.get_conference(sid)).get("status") == "completed":
            ended_with = tuple(p.name for p in enders)
        return Teardown(
            spec=self.spec, conference_sid=sid, hang_ups=tuple(hang_ups), ended_with=ended_with
        )

    async def _hang_up(self, state: LiveState, sid: str, participant: Participant) -> HangUp:
        live = state.participants.get(participant.name)
        if live is None:
            return HangUp(name=participant.name, result=HangUpResult.ABSENT)
        try:
            await self.client.delete_participant(sid, live["call_sid"])
        except NotFoundError:
            return HangUp(name=participant.name, result=HangUpResult.ABSENT)
        except (ApiError, ApiUnreachable) as error:
            return HangUp(name=participant.name, result=HangUpResult.FAILED, error=str(error))
        self._publish(
            HungUp(
                file=self.spec.path,
                conference=self.spec.conference.name,
                participant=participant.name,
                why="down",
                call_sid=live["call_sid"],
            )
        )
        return HangUp(name=participant.name, result=HangUpResult.HUNG_UP)


async def tear_down_all(
    groups: Mapping[Connection, list[ConferenceSpec]],
    *,
    end_conference: bool,
    store: StateStore | None,
    model: RunModel | None = None,
) -> dict[str, Teardown]:
    """``tear_down`` for every file (by path), one client per account."""

    async def group(connection: Connection, specs: list[ConferenceSpec]) -> list[Teardown]:
        async with TexmlClient(connection) as client:
            return list(
                await asyncio.gather(
                    *(
                        tear_down(
                            client, spec, end_conference=end_conference, store=store, model=model
                        )
                        for spec in specs
                    )
                )
            )

    batches = await asyncio.gather(*(group(c, specs) for c, specs in groups.items()))
    return {t.spec.path: t for batch in batches for t in batch}
