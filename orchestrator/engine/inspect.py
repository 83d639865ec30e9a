"""Each file against its live conference, changing nothing: what plan and status show."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.engine.live import read_live_state
from orchestrator.engine.planner import Plan, make_plan
from orchestrator.engine.state import StateStore
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.contract import RecordingResource


@dataclass(frozen=True)
class Inspection:
    """One conference file against its live conference."""

    plan: Plan
    recordings: tuple[RecordingResource, ...] = ()

    @property
    def drift(self) -> bool:
        return self.plan.drift


async def inspect(
    groups: Mapping[Connection, list[ConferenceSpec]],
    store: StateStore,
    *,
    prune: bool = False,
    redial_changed: bool = False,
    recordings: bool = False,
) -> dict[str, Inspection]:
    """A plan for every file (by path), one client per account; nothing is changed."""

    async def group(connection: Connection, specs: list[ConferenceSpec]) -> list[Inspection]:
        async with TexmlClient(connection) as client:

            async def one(spec: ConferenceSpec) -> Inspection:
                account_sid = spec.account_sid or connection.account_sid
                recorded = store.load(spec.path, account_sid, spec.conference.name)
                state = await read_live_state(client, spec, recorded)
                plan = make_plan(spec, state, prune=prune, redial_changed=redial_changed)
                found: tuple[RecordingResource, ...] = ()
                if recordings and plan.conference_sid is not None:
                    found = tuple(await client.list_recordings(plan.conference_sid))
                return Inspection(plan, found)

            return list(await asyncio.gather(*(one(spec) for spec in specs)))

    batches = await asyncio.gather(*(group(c, specs) for c, specs in groups.items()))
    return {i.plan.spec.path: i for batch in batches for i in batch}
