"""Helpers for engine tests: conference files written on the fly, the sandbox in-process:
over HTTP on a loopback port with simulated time running fast (``fast_sandbox``), or in
memory on a stepped clock (``stepped_sandbox``), where a run takes no real time at all."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from orchestrator.clock import SteppedClock
from orchestrator.engine.apply import apply_with_connection
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import ConferenceResult
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.waiting import PollSchedule
from orchestrator.sandbox import SandboxInfo, parse_scenario, running_sandbox
from orchestrator.sandbox.in_memory import InMemorySandbox, InMemoryTransport, in_memory_sandbox
from orchestrator.sandbox.introspection import DialRecord, SandboxClient
from orchestrator.secret import Secret
from orchestrator.spec import load_spec
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.contract import ConferenceResource, ParticipantResource

FAST = {"time_scale": 0.01, "seed": 7}

# The SID of the live conference in hand-built live state.
CONFERENCE_SID = "c0ffee00-0000-4000-8000-000000000001"

# Polling tuned to the fast time scale, so tests do not sit in backoff.
TEST_OPTIONS = ApplyOptions(
    poll=PollSchedule(first_s=0.02, factor=1.5, max_s=0.2, lookup_s=0.05),
    settle_timeout_s=20,
)


def conference_file(
    directory: Path,
    participants: list[dict[str, Any]],
    *,
    name: str = "test-bridge",
    filename: str | None = None,
    **conference: Any,
) -> Path:
    document = {
        "version": 1,
        "conference": {
            "name": name,
            "application_sid": "1846572522338780702",
            "from": "+12065550200",
            **conference,
        },
        "participants": participants,
    }
    path = directory / (filename or f"{name}.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def numbered(count: int, *, start: int = 1000, **settings: Any) -> list[dict[str, Any]]:
    """``count`` participants with distinct E.164 numbers; the first is the host."""
    people = []
    for i in range(count):
        person: dict[str, Any] = {"name": f"p{i:03d}", "to": f"+1206555{start + i:04d}", **settings}
        if i == 0:
            person["role"] = "host"
        people.append(person)
    return people


def connection_for(info: SandboxInfo) -> Connection:
    return Connection(info.base_url, Secret(info.api_key), info.account_sid)


def load(path: Path, **env: str) -> ConferenceSpec:
    return load_spec(path, env=env, strict_env=True)


def fast_sandbox(**scenario: Any) -> Any:
    """An in-process sandbox on an ephemeral port, with simulated time running fast."""
    return running_sandbox(parse_scenario({**FAST, **scenario}))


async def sandbox_dials(info: SandboxInfo) -> list[DialRecord]:
    """Every dial (and placed call) the sandbox accepted, in order."""
    async with SandboxClient(connection_for(info)) as sandbox:
        return await sandbox.dials()


async def sandbox_health(info: SandboxInfo) -> dict[str, Any]:
    async with SandboxClient(connection_for(info)) as sandbox:
        return await sandbox.health()


@dataclass(frozen=True)
class SteppedSandbox:
    """The sandbox in memory on a stepped clock, and runs of the engine against it: a run
    moves the clock on whenever every task waits, so it takes no real time, and what it
    does in how much of the clock's time is the same on every machine."""

    inner: InMemorySandbox
    clock: SteppedClock

    @property
    def info(self) -> SandboxInfo:
        return self.inner.info

    @property
    def transport(self) -> InMemoryTransport:
        return self.inner.transport

    @property
    def connection(self) -> Connection:
        return connection_for(self.info)

    async def apply(
        self,
        specs: list[ConferenceSpec],
        options: ApplyOptions | None = None,
        *,
        stop: asyncio.Event | None = None,
        model: RunModel | None = None,
    ) -> list[ConferenceResult]:
        """apply, as the CLI runs it (default options unless given others)."""
        run = apply_with_connection(
            specs,
            self.connection,
            options or ApplyOptions(),
            stop or asyncio.Event(),
            model,
            transport=self.transport,
            clock=self.clock,
        )
        return await self.clock.run(run)

    def client(self) -> TexmlClient:
        return TexmlClient(self.connection, transport=self.transport, clock=self.clock)

    async def dials(self) -> list[DialRecord]:
        """Every dial (and placed call) the sandbox accepted, in order."""
        async with SandboxClient(self.connection, transport=self.transport) as sandbox:
            return await sandbox.dials()

    async def health(self) -> dict[str, Any]:
        async with SandboxClient(self.connection, transport=self.transport) as sandbox:
            return await sandbox.health()


@asynccontextmanager
async def stepped_sandbox(**scenario: Any) -> AsyncIterator[SteppedSandbox]:
    """The sandbox in memory on a stepped clock; simulated time is the clock's own unless the
    scenario gives a time_scale. The jitter of the client's retries comes from the random
    module: seeded here, so that a run goes the same way every time, as its clock does."""
    random.seed(scenario.get("seed", 7))
    clock = SteppedClock()
    merged = parse_scenario({"seed": 7, **scenario})
    async with in_memory_sandbox(merged, clock=clock) as inner:
        yield SteppedSandbox(inner, clock)


def dialed_once(dials: list[DialRecord], names: list[str]) -> None:
    """Every name dialed exactly once, and nothing else dialed (placed calls count by number)."""
    labels = Counter(d["label"] for d in dials if d["label"] is not None)
    twice = {label: n for label, n in labels.items() if n > 1}
    assert not twice, f"dialed more than once: {twice}"
    missing = [name for name in names if name not in labels]
    unlabeled = [d for d in dials if d["label"] is None]
    assert len(missing) == len(unlabeled), (missing, unlabeled)


# Live state by hand, for plans made without a network -------------------------


def live_conference(status: str = "in-progress") -> ConferenceResource:
    """The conference resource a plan is made against, built by hand."""
    return {
        "account_sid": "acct-1",
        "api_version": "2010-04-01",
        "call_sid_ending_conference": None,
        "date_created": "Mon, 01 Jan 2024 10:00:00 +0000",
        "date_updated": "Mon, 01 Jan 2024 10:00:00 +0000",
        "friendly_name": "test-bridge",
        "reason_conference_ended": None,
        "region": "us",
        "sid": CONFERENCE_SID,
        "status": status,
        "subresource_uris": {},
        "uri": f"/v2/texml/Accounts/acct-1/Conferences/{CONFERENCE_SID}",
    }


def leg(call_sid: str, **fields: Any) -> ParticipantResource:
    """A live participant as the API lists it; ``fields`` over the defaults."""
    resource: dict[str, Any] = {
        "account_sid": "acct-1",
        "api_version": "2010-04-01",
        "call_sid": call_sid,
        "call_sid_legacy": call_sid,
        "coaching": False,
        "coaching_call_sid": None,
        "coaching_call_sid_legacy": None,
        "conference_sid": CONFERENCE_SID,
        "date_created": "Mon, 01 Jan 2024 10:00:00 +0000",
        "date_updated": "Mon, 01 Jan 2024 10:00:00 +0000",
        "end_conference_on_exit": False,
        "hold": False,
        "muted": False,
        "status": "connected",
        "uri": f"/v2/texml/Accounts/acct-1/Conferences/{CONFERENCE_SID}/Participants/{call_sid}",
    }
    return cast(ParticipantResource, {**resource, **fields})


def everyone_live(
    spec: ConferenceSpec, **overrides: dict[str, Any]
) -> dict[str, ParticipantResource]:
    """A live leg for every participant, as the file wants it unless ``overrides`` say otherwise."""
    live = {}
    for p in spec.participants:
        fields = {
            "muted": bool(p.settings.muted),
            "hold": bool(p.settings.hold),
            "end_conference_on_exit": bool(p.settings.end_conference_on_exit),
            **overrides.get(p.name, {}),
        }
        live[p.name] = leg(f"v3:{p.name}", **fields)
    return live
