"""apply against the in-process sandbox: the examples and an API that cannot be reached over
real HTTP, the rest in memory on a stepped clock."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.apply import apply_with_connection
from orchestrator.engine.options import ApplyOptions
from orchestrator.sandbox import SandboxInfo
from orchestrator.sandbox.introspection import DialRecord, SandboxClient
from orchestrator.secret import Secret
from orchestrator.texml.connection import Connection
from tests.engine.support import (
    TEST_OPTIONS,
    conference_file,
    connection_for,
    fast_sandbox,
    load,
    numbered,
    stepped_sandbox,
)

EXAMPLES = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.yaml"))


async def _dials(info: SandboxInfo) -> list[DialRecord]:
    async with SandboxClient(connection_for(info)) as sandbox:
        return await sandbox.dials()


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
async def test_every_example_converges_and_a_second_apply_dials_nobody(example: Path) -> None:
    async with fast_sandbox() as info:
        spec = load(example)
        [first] = await apply_with_connection(
            [spec], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
        assert first.exit_code == 0, first
        assert [p.observed for p in first.participants] == ["connected"] * len(spec.participants)
        assert all(p.attempts >= 1 and p.call_sid for p in first.participants)
        dialed = await _dials(info)

        [second] = await apply_with_connection(
            [spec], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
        assert second.exit_code == 0
        assert second.sid == first.sid
        assert await _dials(info) == dialed  # nobody dialed again
        assert [p.call_sid for p in second.participants] == [p.call_sid for p in first.participants]


async def test_unanswered_number_falls_back_to_the_next(tmp_path: Path) -> None:
    people: list[dict[str, Any]] = [
        {"name": "host", "to": "+12065550001", "role": "host"},
        {"name": "bob", "to": ["+15550000001", "+15550000002", "+12065550109"]},
    ]
    path = conference_file(tmp_path, people)
    numbers = {"+15550000001": {"answer": "no-answer"}, "+15550000002": {"answer": "busy"}}
    async with stepped_sandbox(numbers=numbers) as sandbox:
        [result] = await sandbox.apply([load(path)])
        bob = result.participants[1]
        assert result.exit_code == 0
        assert (bob.observed, bob.to, bob.attempts) == ("connected", "+12065550109", 3)
        assert [d["to"] for d in await sandbox.dials() if d["label"] == "bob"] == [
            "+15550000001",
            "+15550000002",
            "+12065550109",
        ]
        assert any("no-answer" in note for note in bob.notes)


async def test_every_number_unanswered_is_partial_with_the_reason(tmp_path: Path) -> None:
    people: list[dict[str, Any]] = [
        {"name": "host", "to": "+12065550001", "role": "host"},
        {"name": "bob", "to": "+15550000003", "retry": {"attempts": 1, "interval_s": 0}},
    ]
    path = conference_file(tmp_path, people)
    async with stepped_sandbox(numbers={"+15550000003": {"answer": "fail"}}) as sandbox:
        [result] = await sandbox.apply([load(path)])
        bob = result.participants[1]
        assert result.exit_code == 3
        assert (bob.observed, bob.attempts) == ("ended: failed", 2)
        assert bob.error and "failed" in bob.error


async def test_coach_coaches_the_call_of_its_target(tmp_path: Path) -> None:
    people = [
        {"name": "agent", "to": "+12065550101", "role": "host"},
        {"name": "customer", "to": "+12065550102"},
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent"},
    ]
    path = conference_file(tmp_path, people)
    async with stepped_sandbox() as sandbox:
        [result] = await sandbox.apply([load(path)])
        assert result.exit_code == 0
        agent, _, coach = result.participants
        assert result.sid is not None
        async with sandbox.client() as client:
            live = await client.get_participant(result.sid, "coach")
        assert live["coaching"] is True
        assert live["coaching_call_sid"] == agent.call_sid
        assert live["call_sid"] == coach.call_sid


async def test_a_coach_follows_its_coachee_to_the_new_call_when_the_coachee_is_dialed_again(
    tmp_path: Path,
) -> None:
    people = [
        {"name": "customer", "to": "+12065550102", "role": "host"},
        {"name": "agent", "to": "+12065550101"},
        {"name": "coach", "to": "+12065550103", "role": "coach", "coach": "agent"},
    ]
    path = conference_file(tmp_path, people)
    async with stepped_sandbox() as sandbox:
        [first] = await sandbox.apply([load(path)])
        assert first.exit_code == 0 and first.sid is not None
        async with sandbox.client() as client:
            await client.delete_participant(first.sid, "agent")  # the agent's call drops
        [second] = await sandbox.apply([load(path)])
        rows = {p.name: p for p in second.participants}
        async with sandbox.client() as client:
            coach = await client.get_participant(second.sid or "", "coach")
    assert second.exit_code == 0, [(p.name, p.observed, p.error) for p in second.participants]
    assert rows["agent"].call_sid != first.participants[1].call_sid  # dialed again
    assert coach["coaching"] is True
    assert coach["coaching_call_sid"] == rows["agent"].call_sid  # not the call that dropped
    assert "updated coach" in rows["coach"].notes


async def test_paced_run_meets_no_rate_limit(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(60))
    options = ApplyOptions(dials_per_second=20, dial_window_s=1)
    async with stepped_sandbox(dials_per_second=20, dial_window_seconds=1) as sandbox:
        [result] = await sandbox.apply([load(path)], options)
        assert result.rate_limited == 0
        assert result.exit_code == 0
        dials = await sandbox.dials()
    assert len(dials) == 60
    # The first dial alone, then twenty a second: three seconds of dialing, not one.
    assert max(d["time"] for d in dials) - min(d["time"] for d in dials) >= 2


async def test_faults_never_dial_anyone_twice_and_lose_nobody(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(200))
    faults = {"error_rate": 0.2, "reset_after_commit_rate": 0.1}
    async with stepped_sandbox(faults=faults, seed=11) as sandbox:
        [result] = await sandbox.apply([load(path)], ApplyOptions(dials_per_second=0))
        dialed = Counter(d["label"] for d in await sandbox.dials())
    assert [p.name for p in result.participants] == [f"p{i:03d}" for i in range(200)]
    assert set(dialed.values()) == {1}
    assert {p.name: p.attempts for p in result.participants} == {
        p.name: dialed[p.name] for p in result.participants
    }
    # Whoever is not connected had two answers lost in a row (a one-in-twenty-five chance
    # here) and says so; the others are connected.
    for p in result.participants:
        if p.observed != "connected":
            assert p.observed == "not-dialed", (p.name, p.observed, p.error)
            assert p.error and p.error.startswith("not dialed: the answers to its 2 dials"), p.error
    connected = sum(p.observed == "connected" for p in result.participants)
    assert connected >= 180
    assert any("answer was lost" in note for p in result.participants for note in p.notes)


async def test_wrong_api_key_stops_before_dialing(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(3))
    async with stepped_sandbox() as sandbox:
        info = sandbox.info
        wrong = Connection(info.base_url, Secret("not-the-key"), info.account_sid)
        run = apply_with_connection(
            [load(path)],
            wrong,
            ApplyOptions(),
            asyncio.Event(),
            transport=sandbox.transport,
            clock=sandbox.clock,
        )
        [result] = await sandbox.clock.run(run)
    assert result.exit_code == 1
    assert result.error and "401" in result.error
    assert {p.observed for p in result.participants} == {"not-dialed"}


@pytest.mark.long  # the client's retries of a refused connection, in real time
async def test_unreachable_api_is_one_clear_error(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(2))
    async with fast_sandbox() as info:
        dead = connection_for(info)
    # The sandbox is gone now: its port refuses connections.
    [result] = await apply_with_connection([load(path)], dead, TEST_OPTIONS, asyncio.Event())
    assert result.exit_code == 1
    assert result.error and "cannot reach the API" in result.error


async def test_stop_before_start_dials_nobody_and_reports_everyone(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(5))
    stop = asyncio.Event()
    stop.set()
    async with stepped_sandbox() as sandbox:
        [result] = await sandbox.apply([load(path)], stop=stop)
        assert await sandbox.dials() == []
    assert result.exit_code == 130
    assert [p.observed for p in result.participants] == ["not-dialed"] * 5
