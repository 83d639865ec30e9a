"""The sandbox without sockets: the client's requests handed to the application's router and
middleware answer as they do over HTTP, a dropped connection included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from orchestrator.errors import AuthenticationError, DialUnconfirmed, NotFoundError
from orchestrator.sandbox import SandboxInfo, parse_scenario, running_sandbox
from orchestrator.sandbox.in_memory import in_memory_sandbox
from orchestrator.sandbox.introspection import SandboxClient
from orchestrator.secret import Secret
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.http import HttpTransport

SCENARIO = {"seed": 4, "time_scale": 0.01}
FIELDS = {"To": "+12065550100", "From": "+12065550200", "ApplicationSid": "1", "Label": "a"}


@asynccontextmanager
async def both_ways(
    **scenario: Any,
) -> AsyncIterator[list[tuple[SandboxInfo, HttpTransport | None]]]:
    """The same scenario served over HTTP and in memory: (info, transport) for each."""
    merged = parse_scenario({**SCENARIO, **scenario})
    async with running_sandbox(merged) as http, in_memory_sandbox(merged) as memory:
        yield [(http, None), (memory.info, memory.transport)]


def client_of(info: SandboxInfo, transport: HttpTransport | None, key: str = "") -> TexmlClient:
    connection = Connection(info.base_url, Secret(key or info.api_key), info.account_sid)
    return TexmlClient(connection, transport=transport)


async def test_the_same_requests_get_the_same_answers_as_over_http() -> None:
    seen = []
    async with both_ways() as ways:
        for info, transport in ways:
            async with client_of(info, transport) as client:
                dialed = await client.dial("room", FIELDS)
                sid = dialed.resource["conference_sid"]
                conference = await client.get_conference(sid)
                [participant] = await client.list_participants(sid)
                calls = await client.list_calls(to=FIELDS["To"])
                with pytest.raises(NotFoundError):
                    await client.get_participant(sid, "nobody")
            seen.append(
                (
                    dialed.rate,
                    conference["friendly_name"],
                    participant["call_sid"] == dialed.resource["call_sid"],
                    [c["sid"] for c in calls.calls] == [dialed.resource["call_sid"]],
                    calls.server_time is not None,  # the Date header, as a server sends it
                )
            )
    over_http, in_memory = seen
    assert over_http == in_memory
    assert in_memory[1:] == ("room", True, True, True)


async def test_the_middleware_runs_a_wrong_key_is_refused() -> None:
    async with both_ways() as ways:
        for info, transport in ways:
            async with client_of(info, transport, key="KEYwrong") as client:
                with pytest.raises(AuthenticationError):
                    await client.list_conferences()


async def test_an_answer_withheld_is_a_request_that_got_none() -> None:
    async with both_ways(faults={"reset_after_commit_rate": 1.0}) as ways:
        for info, transport in ways:
            async with client_of(info, transport) as client:
                with pytest.raises(DialUnconfirmed) as lost:
                    await client.dial("room", FIELDS)
            assert lost.value.status == 0  # no answer at all, not a status
            connection = Connection(info.base_url, Secret(info.api_key), info.account_sid)
            async with SandboxClient(connection, transport=transport) as sandbox:
                [placed] = await sandbox.dials()
            assert placed["label"] == "a"  # the call was placed all the same
