"""apply against each of the real API's rough edges, as the sandbox's ``api:`` knobs stage them.

Every test runs the engine against the in-process sandbox with one knob on its hard
side, and asserts the verdicts are true: who is connected is reported connected, who did
not answer is reported so, nobody is dialed twice. Over real HTTP, but for the general
read limit, a window of the sandbox's clock, which runs in memory on a stepped one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.apply import apply_all, apply_with_connection
from orchestrator.engine.results import ConferenceResult
from orchestrator.engine.state import StateStore
from orchestrator.pacing.dials import DialPacer
from orchestrator.texml.client import TexmlClient
from tests.engine.support import (
    TEST_OPTIONS,
    conference_file,
    connection_for,
    dialed_once,
    fast_sandbox,
    load,
    numbered,
    sandbox_dials,
    sandbox_health,
    stepped_sandbox,
)


def rows(result: ConferenceResult) -> list[tuple[str, str, str | None]]:
    return [(p.name, p.observed, p.error) for p in result.participants]


def all_connected(result: ConferenceResult) -> None:
    assert result.exit_code == 0, [r for r in rows(result) if r[1] != "connected" or r[2]]
    assert {p.observed for p in result.participants} == {"connected"}, rows(result)


async def test_a_leg_listed_late_is_waited_for_not_judged_ended(tmp_path: Path) -> None:
    # Half a real second before a new leg shows in the participant list; its call has
    # long been answered by then, and the Calls resource says in-progress.
    path = conference_file(tmp_path, numbered(10))
    async with fast_sandbox(api={"participant_list_lag_s": 50}) as info:
        [result] = await apply_with_connection(
            [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
        dialed_once(await sandbox_dials(info), [f"p{i:03d}" for i in range(10)])
    all_connected(result)


async def test_a_call_the_calls_resource_does_not_know_yet_is_pending(tmp_path: Path) -> None:
    people = numbered(4)
    people[3]["to"] = "+15550000002"  # busy
    path = conference_file(tmp_path, people)
    scenario = {
        "api": {"participant_list_lag_s": 50, "calls_lag_s": 50},
        "numbers": {"+15550000002": {"answer": "busy"}},
    }
    async with fast_sandbox(**scenario) as info:
        [result] = await apply_with_connection(
            [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
    observed = {p.name: p.observed for p in result.participants}
    assert observed == {
        "p000": "connected",
        "p001": "connected",
        "p002": "connected",
        "p003": "ended: busy",  # learned once Calls knew the call: not "unknown"
    }
    assert result.exit_code == 3


async def test_in_progress_is_connected_for_apply_and_for_the_next_plan(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(5))
    async with fast_sandbox(api={"connected_status": "in-progress"}) as info:
        [first] = await apply_with_connection(
            [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
        all_connected(first)
        [second] = await apply_with_connection(
            [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
        assert len(await sandbox_dials(info)) == 5  # nobody dialed again
    all_connected(second)
    assert all("already in the conference" in p.notes for p in second.participants)


async def test_the_general_read_limit_slows_reads_and_never_dials(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(30))
    async with stepped_sandbox(api={"reads_per_second": 4}) as sandbox:
        pacer = DialPacer(30, 5, clock=sandbox.clock)
        async with sandbox.client() as client:
            run = apply_all([load(path)], client, TEST_OPTIONS, asyncio.Event(), pacer=pacer)
            [result] = await sandbox.clock.run(run)
            read_429s = client.reads.rate_limited
        health = await sandbox.health()
    all_connected(result)
    # The reads followed what the answers' headers said was left: none was refused.
    assert read_429s == health["rate_limited"]["10011"] == 0
    assert health["requests"]["GET"] > 4  # more than one second's worth: they were spread
    # Dials neither waited for reads' 429s nor slowed down because of them.
    assert health["rate_limited"]["90103"] == 0
    assert pacer.rate_limited == 0 and pacer.pace.rate is None
    assert result.rate_limited == 0


async def test_a_texml_call_creates_a_conference_of_more_than_250_with_the_nouns_maximum(
    tmp_path: Path,
) -> None:
    # The <Conference> noun takes maxParticipants up to 250, the dial up to 800.
    path = conference_file(tmp_path, numbered(4), max_participants=300)
    notices: list[str] = []
    options = dataclasses.replace(TEST_OPTIONS, notice=notices.append)
    async with fast_sandbox(api={"create_by_name": False}) as info:
        [result] = await apply_with_connection(
            [load(path)], connection_for(info), options, asyncio.Event()
        )
    all_connected(result)
    assert any("created with 250" in n and "asks for 300" in n for n in notices), notices


@pytest.mark.parametrize("answer_names_the_call", [True, False], ids=["with-sid", "without-sid"])
async def test_without_creation_by_name_a_texml_call_creates_the_conference(
    tmp_path: Path, answer_names_the_call: bool
) -> None:
    path = conference_file(tmp_path, numbered(6))
    options = dataclasses.replace(TEST_OPTIONS, state=StateStore(tmp_path / "state"))
    api = {"create_by_name": False, "initiate_call_sid": answer_names_the_call}
    async with fast_sandbox(api=api) as info:
        [first] = await apply_with_connection(
            [load(path)], connection_for(info), options, asyncio.Event()
        )
        all_connected(first)
        dials = await sandbox_dials(info)
        [created] = [d for d in dials if d["label"] is None]  # the call that ran <Dial><Conference>
        host = first.participants[0]
        assert (created["to"], created["call_sid"]) == (host.to, host.call_sid)
        assert {d["conference_sid"] for d in dials} == {first.sid}
        dialed_once(dials, [f"p{i:03d}" for i in range(6)])

        # The record and the number called both know the unlabeled call: nobody is dialed again.
        for state in (options.state, None):
            again = dataclasses.replace(options, state=state)
            [second] = await apply_with_connection(
                [load(path)], connection_for(info), again, asyncio.Event()
            )
            all_connected(second)
            assert second.participants[0].call_sid == host.call_sid
        assert len(await sandbox_dials(info)) == 6


async def test_a_form_only_api_is_sent_forms_after_one_415_each(tmp_path: Path) -> None:
    people = numbered(4)
    people[1]["custom_headers"] = {"X-Incident": "4711", "X-Note": "a=b&c, d"}
    people[2]["muted"] = True
    path = conference_file(tmp_path, people)
    async with fast_sandbox(api={"json_bodies": False}) as info:
        [result] = await apply_with_connection(
            [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
        # The sandbox's dial records carry the custom headers too (DialRecord does not type them).
        dials: dict[str | None, dict[str, Any]] = {
            d["label"]: dict(d) for d in await sandbox_dials(info)
        }
        health = await sandbox_health(info)
    all_connected(result)
    assert health["unsupported_media"] == 1  # once for dials; everything after went as a form
    assert dials["p001"]["custom_headers"] == [
        {"name": "X-Incident", "value": "4711"},
        {"name": "X-Note", "value": "a=b&c, d"},
    ]


@pytest.mark.long  # sixty dials over HTTP, in real time, a quarter of their answers garbled
async def test_malformed_answers_are_ambiguous_dials_never_a_crash(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(60))
    options = dataclasses.replace(TEST_OPTIONS, dials_per_second=0)
    async with fast_sandbox(faults={"malformed_rate": 0.25}, seed=5) as info:
        [result] = await apply_with_connection(
            [load(path)], connection_for(info), options, asyncio.Event()
        )
        dialed_once(await sandbox_dials(info), [f"p{i:03d}" for i in range(60)])
    all_connected(result)
    assert not any(p.error for p in result.participants)
    assert any("answer was lost" in note for p in result.participants for note in p.notes)


async def test_two_applies_of_one_file_at_once_both_converge_and_dial_nobody_twice(
    tmp_path: Path,
) -> None:
    # Two people press the button: separate processes, separate records; the API refuses a
    # Label that is already live, and each apply adopts what the other dialed.
    path = conference_file(tmp_path, numbered(40))
    async with fast_sandbox() as info:
        results = await asyncio.gather(
            *(
                apply_with_connection(
                    [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
                )
                for _ in range(2)
            )
        )
        dialed_once(await sandbox_dials(info), [f"p{i:03d}" for i in range(40)])
    for [result] in results:
        all_connected(result)
    assert results[0][0].sid == results[1][0].sid
    adopted = [n for [r] in results for p in r.participants for n in p.notes if "adopted" in n]
    assert adopted  # one of them found the other's calls


async def test_where_duplicate_labels_are_allowed_the_record_lock_serialises_applies(
    tmp_path: Path,
) -> None:
    path = conference_file(tmp_path, numbered(20))
    said: list[str] = []
    options = dataclasses.replace(
        TEST_OPTIONS, state=StateStore(tmp_path / "state"), notice=said.append
    )
    async with fast_sandbox(api={"duplicate_labels": "allow"}) as info:
        results = await asyncio.gather(
            *(
                apply_with_connection([load(path)], connection_for(info), options, asyncio.Event())
                for _ in range(2)
            )
        )
        dialed_once(await sandbox_dials(info), [f"p{i:03d}" for i in range(20)])
    for [result] in results:
        all_connected(result)
    assert any("waiting" in line for line in said), said


async def test_the_field_profile_with_a_coach_and_a_fallback_converges(tmp_path: Path) -> None:
    people = numbered(50)
    people[1]["to"] = ["+15550000001", "+12065559002"]  # the first number never answers
    people[2].update(role="coach", coach="p003")
    path = conference_file(tmp_path, people)
    scenario = {"profile": "field", "numbers": {"+15550000001": {"answer": "no-answer"}}}
    # On the stepped clock: the wait for the creating call's conference (app-texml) is ten
    # seconds of the run's clock.
    async with stepped_sandbox(**scenario) as sandbox:
        [result] = await sandbox.apply([load(path)])  # p001's first number rings 30 s
        dials = await sandbox.dials()
        assert result.sid is not None
        coach_sid = next(p.call_sid for p in result.participants if p.name == "p002")
        assert coach_sid is not None
        async with sandbox.client() as client:
            coach = dict(await sandbox.clock.run(client.get_participant(result.sid, coach_sid)))
    all_connected(result)
    by_name = {p.name: p for p in result.participants}
    assert by_name["p001"].to == "+12065559002"
    assert "fallback to number 2 after no-answer" in by_name["p001"].notes
    assert coach["coaching"] is True and coach["coaching_call_sid"] == by_name["p003"].call_sid
    # Everyone once, p001's unanswered first number, and the host's first call, which ran the
    # application's TeXML (api.create_by_name: app-texml) and was hung up.
    assert len(dials) == 52
    assert by_name["p000"].attempts == 2
    assert next(d["conference_sid"] for d in dials if d["to"] == by_name["p000"].to) is None


async def _participant(info: object, result: ConferenceResult, name: str) -> dict[str, object]:
    from orchestrator.sandbox import SandboxInfo

    assert isinstance(info, SandboxInfo) and result.sid is not None
    call_sid = next(p.call_sid for p in result.participants if p.name == name)
    assert call_sid is not None
    async with TexmlClient(connection_for(info)) as client:
        return dict(await client.get_participant(result.sid, call_sid))
