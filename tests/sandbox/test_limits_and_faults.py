"""Concurrency, the dial-rate window, injected faults and latency, and seeded reproducibility.

Windows and latency are the sandbox's clock's; where a test looks at them it steps that
clock itself, over HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from orchestrator.clock import settle
from orchestrator.texml import contract
from tests.sandbox.support import APP, Api, sandbox_api, stepped_api


async def test_fifty_concurrent_dials_to_a_new_name_make_one_conference() -> None:
    async with sandbox_api() as api:
        answers = await asyncio.gather(
            *(
                api.dial("all-hands", To=f"+1206555{i:04d}", ApplicationSid=APP, Label=f"p{i}")
                for i in range(50)
            )
        )
        assert [a.status for a in answers] == [200] * 50
        sids = {a.body["conference_sid"] for a in answers}
        assert len(sids) == 1
        conferences = (await api.conferences(FriendlyName="all-hands")).body["conferences"]
        assert [c["sid"] for c in conferences] == list(sids)
        listed = (await api.participants(sids.pop(), PageSize="100")).body["participants"]
        assert len(listed) == 50


async def _dial_many(api: Api, conference: str, count: int, start: int = 0) -> list[int]:
    answers = await asyncio.gather(
        *(api.dial(conference, To=f"+1206556{start + i:04d}") for i in range(count))
    )
    return [a.status for a in answers]


async def test_default_limit_the_151st_dial_within_five_seconds_is_refused() -> None:
    async with stepped_api() as api:
        first = await api.dial_ok("busy-hour", To="+12065550100", ApplicationSid=APP)
        sid = first["conference_sid"]
        await api.advance(contract.DEFAULT_DIAL_WINDOW_S - 1)  # within the same window
        statuses = await _dial_many(api, sid, 149)
        assert statuses == [200] * 149
        refused = await api.dial(sid, To="+12065559999")
        assert refused.status == 429
        assert refused.error["code"] == contract.CODE_DIAL_RATE_LIMITED
        assert len(await api.dials()) == 150
        await api.advance(1)  # the first dial has left the window: one place is free
        assert (await api.dial(sid, To="+12065559999")).status == 200
        assert (await api.dial(sid, To="+12065559998")).status == 429


async def test_dial_window_headers_and_recovery() -> None:
    async with stepped_api(dials_per_second=4, dial_window_seconds=0.5) as api:
        first = await api.dial_ok("paced", To="+12065550100", ApplicationSid=APP)
        sid = first["conference_sid"]
        assert await _dial_many(api, sid, 1) == [200]
        refused = await api.dial(sid, To="+12065559999")
        assert refused.status == 429
        assert refused.error["code"] == contract.CODE_DIAL_RATE_LIMITED
        headers = refused.headers
        assert int(headers[contract.HEADER_RETRY_AFTER]) >= 1
        assert headers[contract.HEADER_RATELIMIT_LIMIT] == "2"
        assert headers[contract.HEADER_RATELIMIT_REMAINING] == "0"
        reset = float(headers[contract.HEADER_RATELIMIT_RESET])
        assert reset == 0.5  # no time has passed on the sandbox's clock
        # Refused dials do not count: once the window has moved on, two more are accepted.
        for _ in range(5):
            assert (await api.dial(sid, To="+12065559999")).status == 429
        await api.advance(reset)
        assert await _dial_many(api, sid, 2, start=10) == [200, 200]
        assert len(await api.dials()) == 4


async def test_zero_dials_per_second_means_no_limit() -> None:
    async with sandbox_api(dials_per_second=0, dial_window_seconds=1) as api:
        first = await api.dial_ok("open", To="+12065550100", ApplicationSid=APP)
        assert await _dial_many(api, first["conference_sid"], 200) == [200] * 200


async def test_error_rate_answers_5xx_and_does_nothing() -> None:
    async with sandbox_api(faults={"error_rate": 1.0}) as api:
        answers = [await api.dial("room", To="+12065550100", ApplicationSid=APP) for _ in range(20)]
        assert {a.status for a in answers} == {500, 503}
        assert all(a.error["code"] == contract.CODE_UNEXPECTED_ERROR for a in answers)
        assert (await api.conferences()).status in (500, 503)
        # Introspection is never subject to faults.
        assert await api.dials() == []


async def _fault_pattern(seed: int) -> list[int]:
    async with sandbox_api(seed=seed, faults={"error_rate": 0.5}) as api:
        return [(await api.conferences()).status for _ in range(40)]


async def test_faults_are_reproducible_from_the_seed() -> None:
    first, again, other = await _fault_pattern(5), await _fault_pattern(5), await _fault_pattern(6)
    assert first == again
    assert first != other
    assert 5 < Counter(first)[200] < 35


async def test_same_seed_same_sids() -> None:
    async def sids(seed: int) -> list[str]:
        async with sandbox_api(seed=seed) as api:
            a = await api.dial_ok("r", To="+12065550100", ApplicationSid=APP)
            b = await api.dial_ok("r", To="+12065550101", ApplicationSid=APP)
            return [a["conference_sid"], a["call_sid"], b["call_sid"]]

    assert await sids(3) == await sids(3)
    assert await sids(3) != await sids(4)


async def test_reset_after_commit_drops_the_answer_but_places_the_call() -> None:
    async with sandbox_api(faults={"reset_after_commit_rate": 1.0}) as api:
        with pytest.raises(aiohttp.ClientError):
            await api.dial("room", To="+12065550100", ApplicationSid=APP, Label="lost")
        [dial] = await api.dials()
        assert (dial["label"], dial["to"]) == ("lost", "+12065550100")
        found = await api.participant(dial["conference_sid"], "lost")
        assert found.status == 200
        assert found.body["call_sid"] == dial["call_sid"]
        # Reads are not affected.
        assert (await api.conference(dial["conference_sid"]))["friendly_name"] == "room"


async def test_latency_delays_api_answers_but_not_introspection() -> None:
    async with stepped_api(latency_ms=1500) as api:
        answer = asyncio.ensure_future(api.conferences())
        await api.advance(1.4)
        assert not answer.done()  # held for the latency
        await api.advance(0.1)
        assert (await answer).status == 200
        dials = asyncio.ensure_future(api.dials())
        await settle()
        assert dials.done() and await dials == []  # at once: no time passed
