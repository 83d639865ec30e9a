"""A thin HTTP client for sandbox tests: plain aiohttp, JSON or form bodies, no project code.

The sandbox under test runs over HTTP on a loopback port, its simulated time either
running fast in real time (``sandbox_api``, the ``sandbox`` fixture) or stepped by the
test (``stepped_api``): then nothing happens in the simulation until the test moves the
clock (``api.advance``), and ``api.eventually`` moves it on, timer by timer, until what
it waits for has happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp

from orchestrator.clock import SteppedClock
from orchestrator.sandbox import SandboxInfo, introspection, parse_scenario, running_sandbox
from orchestrator.texml import contract

T = TypeVar("T")

APP = "1846572522338780702"  # an ApplicationSid: dialing by name needs one
STEP_S = 1.0  # the longest step of a stepped clock between two looks of ``eventually``


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def error(self) -> dict[str, Any]:
        return dict(self.body["errors"][0])


class Api:
    def __init__(
        self,
        info: SandboxInfo,
        session: aiohttp.ClientSession,
        clock: SteppedClock | None = None,
    ) -> None:
        self.info = info
        self.session = session
        self.clock = clock  # the sandbox's, when the test steps it

    @property
    def stepped(self) -> SteppedClock:
        assert self.clock is not None, "a sandbox on real time: nothing to step"
        return self.clock

    async def advance(self, seconds: float) -> None:
        """Move the sandbox's clock on (it must be a stepped one)."""
        await self.stepped.advance(seconds)

    async def eventually(
        self, probe: Callable[[], Awaitable[T | None]], *, within: float | None = None
    ) -> T:
        """Ask ``probe`` until it returns something other than None or False: in real time,
        polling; on a stepped clock, moving it on between asks to the next timer, or a
        second (what ``probe`` sees may change with time alone: a lag running out), for up
        to ``within`` seconds of it."""
        if self.clock is None:
            return await eventually(probe, within=within or 5.0)
        clock = self.clock
        deadline = clock.now() + (within if within is not None else 3600.0)
        while True:
            await clock.advance(0)
            value = await probe()
            if value is not None and value is not False:
                return value
            if clock.now() >= deadline:
                raise AssertionError(
                    f"condition not met by {clock.now():g} s of the clock (last: {value!r})"
                )
            due = clock.next_due()
            step = STEP_S if due is None else min(STEP_S, due - clock.now())
            await clock.advance(min(step, deadline - clock.now()))

    def path(self, template: str, **parts: str) -> str:
        quoted = {k: quote(v, safe="") for k, v in parts.items()}
        return template.format(account_sid=self.info.account_sid, **quoted)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        form: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Answer:
        async with self.session.request(
            method, self.info.base_url + path, json=json, data=form, params=params
        ) as response:
            text = await response.text()
            body = await response.json(content_type=None) if text.strip() else None
            return Answer(response.status, body, response.headers)

    async def dial(self, conference: str, *, form: bool = False, **fields: Any) -> Answer:
        path = self.path(contract.PARTICIPANTS_PATH, conference_sid=conference)
        if form:
            encoded = {k: _form_value(v) for k, v in fields.items()}
            return await self.request("POST", path, form=encoded)
        return await self.request("POST", path, json=fields)

    async def dial_ok(self, conference: str, **fields: Any) -> dict[str, Any]:
        answer = await self.dial(conference, **fields)
        assert answer.status == 200, answer.body
        return dict(answer.body)

    async def participant(self, conference_sid: str, ref: str) -> Answer:
        path = self.path(
            contract.PARTICIPANT_PATH, conference_sid=conference_sid, call_sid_or_label=ref
        )
        return await self.request("GET", path)

    async def update_participant(self, conference_sid: str, ref: str, **fields: Any) -> Answer:
        path = self.path(
            contract.PARTICIPANT_PATH, conference_sid=conference_sid, call_sid_or_label=ref
        )
        return await self.request("POST", path, json=fields)

    async def delete_participant(self, conference_sid: str, ref: str) -> Answer:
        path = self.path(
            contract.PARTICIPANT_PATH, conference_sid=conference_sid, call_sid_or_label=ref
        )
        return await self.request("DELETE", path)

    async def participants(self, conference_sid: str, **params: str) -> Answer:
        path = self.path(contract.PARTICIPANTS_PATH, conference_sid=conference_sid)
        return await self.request("GET", path, params=params)

    async def conference(self, conference_sid: str) -> dict[str, Any]:
        answer = await self.request(
            "GET", self.path(contract.CONFERENCE_PATH, conference_sid=conference_sid)
        )
        assert answer.status == 200, answer.body
        return dict(answer.body)

    async def conferences(self, **params: str) -> Answer:
        return await self.request("GET", self.path(contract.CONFERENCES_PATH), params=params)

    async def update_conference(self, conference_sid: str, **fields: Any) -> Answer:
        path = self.path(contract.CONFERENCE_PATH, conference_sid=conference_sid)
        return await self.request("POST", path, json=fields)

    async def recordings(self, conference_sid: str) -> list[dict[str, Any]]:
        answer = await self.request(
            "GET", self.path(contract.RECORDINGS_PATH, conference_sid=conference_sid)
        )
        assert answer.status == 200, answer.body
        return list(answer.body["recordings"])

    async def call(self, call_sid: str) -> dict[str, Any]:
        answer = await self.request("GET", self.path(contract.CALL_PATH, call_sid=call_sid))
        assert answer.status == 200, answer.body
        return dict(answer.body)

    async def call_status(self, call_sid: str) -> str:
        return str((await self.call(call_sid))["status"])

    async def dials(self) -> list[dict[str, Any]]:
        answer = await self.request("GET", introspection.DIALS_PATH)
        assert answer.status == 200, answer.body
        return list(answer.body["dials"])


@asynccontextmanager
async def open_api(
    info: SandboxInfo, *, api_key: str | None = None, clock: SteppedClock | None = None
) -> AsyncIterator[Api]:
    headers = {"Authorization": f"Bearer {api_key or info.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        yield Api(info, session, clock)


@asynccontextmanager
async def sandbox_api(**scenario: Any) -> AsyncIterator[Api]:
    """A sandbox with the given scenario keys (simulated time fast unless said otherwise)."""
    merged = {"time_scale": 0.01, "seed": 1, **scenario}
    async with running_sandbox(parse_scenario(merged)) as info, open_api(info) as api:
        yield api


@asynccontextmanager
async def stepped_api(**scenario: Any) -> AsyncIterator[Api]:
    """A sandbox with the given scenario keys on a stepped clock (a simulated second is one
    of the clock's unless a time_scale says otherwise), over HTTP."""
    clock = SteppedClock()
    merged = {"seed": 1, **scenario}
    async with (
        running_sandbox(parse_scenario(merged), clock=clock) as info,
        open_api(info, clock=clock) as api,
    ):
        yield api


async def eventually(probe: Callable[[], Awaitable[T | None]], *, within: float = 5.0) -> T:
    """Poll ``probe`` until it returns something other than None or False."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s (last: {value!r})")
        await asyncio.sleep(0.005)


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
