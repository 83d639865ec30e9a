"""What every request goes through around its handler: which requests are counted, delayed,
asked for a token and logged, and at which level."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from orchestrator.clock import SteppedClock, settle
from orchestrator.sandbox import introspection, parse_scenario, running_sandbox
from orchestrator.texml import contract
from tests.sandbox.support import APP, Api, open_api, sandbox_api

ACCESS_LINE = " -> "


async def _health(api: Api) -> dict[str, Any]:
    answer = await api.request("GET", introspection.HEALTH_PATH)
    assert answer.status == 200, answer.body
    return dict(answer.body)


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if ACCESS_LINE in r.getMessage()]


async def test_unknown_paths_and_methods_are_not_counted_delayed_or_asked_for_a_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="orchestrator.sandbox")
    clock = SteppedClock()  # the latency would hold an answer until the test moved it on
    scenario = parse_scenario({"latency_ms": 300})
    async with (
        running_sandbox(scenario, clock=clock) as info,
        open_api(info, api_key="KEYwrong") as api,
    ):
        asked = asyncio.gather(
            api.request("GET", api.path(contract.ACCOUNT_PATH) + "/Queues"),
            api.request("PUT", api.path(contract.CONFERENCES_PATH)),
            api.request("GET", "/_sandbox/nothing"),
        )
        await settle()
        assert asked.done()  # answered with no time passing: not delayed
        unknown, wrong_method, unknown_own = asked.result()
        assert unknown.status == 404
        assert unknown.error["title"] == "Resource not found"
        assert wrong_method.status == 405
        assert "GET" in wrong_method.error["detail"]
        assert unknown_own.status == 404
        assert _access_lines(caplog) == []
        async with open_api(info) as authorized:
            health = await _health(authorized)
    assert health["requests"] == {"GET": 0, "POST": 0, "DELETE": 0}


async def test_a_head_of_the_participant_list_counts_as_one() -> None:
    async with sandbox_api() as api:
        dialed = await api.dial_ok("heads", To="+12065550100", ApplicationSid=APP)
        path = api.path(contract.PARTICIPANTS_PATH, conference_sid=dialed["conference_sid"])
        assert (await api.request("HEAD", path)).status == 200
        health = await _health(api)
    assert health["participant_lists"] == 1
    assert health["requests"]["HEAD"] == 1


async def test_introspection_needs_the_token_but_is_never_counted() -> None:
    async with sandbox_api() as api:
        async with open_api(api.info, api_key="KEYwrong") as stranger:
            refused = await stranger.request("GET", introspection.DIALS_PATH)
        assert refused.status == 401
        assert refused.error["code"] == contract.CODE_AUTHENTICATION_FAILED
        await api.dials()
        health = await _health(api)
    assert health["requests"] == {"GET": 0, "POST": 0, "DELETE": 0}


async def test_without_the_access_log_every_access_line_is_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="orchestrator.sandbox")
    async with sandbox_api() as api:
        await api.dial_ok("quiet", To="+12065550100", ApplicationSid=APP, Label="a")
        assert (await api.dial("quiet", ApplicationSid=APP)).status == 422
        await api.dials()
    dial_path = api.path(contract.PARTICIPANTS_PATH, conference_sid="quiet")
    levels = {r.getMessage().split(" (")[0]: r.levelno for r in _access_lines(caplog)}
    assert levels == {
        f"POST /v2{dial_path} -> 200": logging.DEBUG,
        f"POST /v2{dial_path} -> 422": logging.DEBUG,
    }
    lifecycle = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("created as 'quiet'" in line for line in lifecycle)
    assert any("dialed to +12065550100 (label a)" in line for line in lifecycle)


async def test_the_access_log_puts_every_api_request_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.sandbox")
    scenario = parse_scenario({"time_scale": 0.01})
    async with running_sandbox(scenario, access_log=True) as info, open_api(info) as api:
        dialed = await api.dial_ok("loud", To="+12065550100", ApplicationSid=APP)
        await api.conference(dialed["conference_sid"])
        assert (await api.dial("loud", ApplicationSid=APP)).status == 422
        await api.dials()
    statuses = [r.getMessage().split(" (")[0].rsplit(" ", 1)[-1] for r in _access_lines(caplog)]
    # The dial, the lookup and the refused dial; introspection is not logged.
    assert statuses == ["200", "200", "422"]
    assert {r.levelno for r in _access_lines(caplog)} == {logging.INFO}
