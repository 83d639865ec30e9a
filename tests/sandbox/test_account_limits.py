"""The sandbox's account limits and the newer api: knobs, over HTTP on a stepped clock:
concurrent calls (a call over the limit fails at once, as SIP 403 ends it), hourly and daily
dial caps, the general limit on writes, creation by name refused with 422 or answered by
the application's TeXML, and a late answered_by."""

from __future__ import annotations

from typing import Any

from orchestrator.sandbox import parse_scenario
from orchestrator.sandbox.scenario import NEW_ACCOUNT, AccountLimits
from orchestrator.texml import contract
from tests.sandbox.hooks import receiving
from tests.sandbox.support import APP, Api, stepped_api

HOST = "+12065550100"


def test_new_account_is_the_documented_levels_and_combines_with_field() -> None:
    # developers.telnyx.com, account levels: 5 concurrent calls, 10 an hour, 100 a day.
    assert (NEW_ACCOUNT.concurrent_calls, NEW_ACCOUNT.dials_per_hour) == (5, 10)
    assert NEW_ACCOUNT.dials_per_day == 100
    assert parse_scenario({}).account == AccountLimits()
    assert parse_scenario({"profile": "field"}).account == AccountLimits()
    both = parse_scenario({"profile": ["field", "new-account"], "account": {"dials_per_day": 7}})
    assert both.profile == "field+new-account" and both.api.create_by_name == "app-texml"
    assert both.account == AccountLimits(5, 10, 7)
    assert parse_scenario({"api": {"create_by_name": False}}).api.create_by_name == "refuse-404"


async def _statuses(api: Api, call_sids: list[str]) -> list[str]:
    return [await api.call_status(sid) for sid in call_sids]


async def test_a_call_over_the_concurrent_limit_fails_at_once_without_ringing() -> None:
    async with stepped_api(account={"concurrent_calls": 2}) as api, receiving() as hooks:
        first = await api.dial_ok("room", To=HOST, ApplicationSid=APP)
        room = first["conference_sid"]
        second = await api.dial_ok(room, To="+12065550101")
        # The dial is accepted: the limit fails the leg, not the request.
        third = await api.dial_ok(room, To="+12065550102", StatusCallback=hooks.url("/calls"))
        await api.advance(0.1)
        sids = [first["call_sid"], second["call_sid"], third["call_sid"]]
        assert await _statuses(api, sids) == ["ringing", "ringing", "failed"]
        [completed] = await hooks.received("/calls", 1)
        # Q.850's call_rejected is SIP 403's cause.
        assert (completed.fields["CallStatus"], completed.fields["HangupCause"]) == (
            "failed",
            "call_rejected",
        )
        await api.advance(3)
        assert await _statuses(api, sids) == ["in-progress", "in-progress", "failed"]
        # A failed call is not live: once one of the two leaves, another fits.
        assert (await api.delete_participant(room, second["call_sid"])).status == 204
        fourth = await api.dial_ok(room, To="+12065550103")
        await api.advance(3)
        assert await api.call_status(fourth["call_sid"]) == "in-progress"


async def test_the_hourly_cap_refuses_the_dial_until_an_hour_has_passed() -> None:
    async with stepped_api(account={"dials_per_hour": 2}) as api:
        first = await api.dial_ok("room", To=HOST, ApplicationSid=APP)
        await api.dial_ok(first["conference_sid"], To="+12065550101")
        refused = await api.dial(first["conference_sid"], To="+12065550102")
        assert (refused.status, refused.error["code"]) == (429, contract.CODE_DIAL_RATE_LIMITED)
        assert refused.headers[contract.HEADER_RATELIMIT_LIMIT] == "2"
        assert float(refused.headers[contract.HEADER_RATELIMIT_RESET]) == 3600
        assert refused.headers[contract.HEADER_RETRY_AFTER] == "3600"
        placed = await api.request(
            "POST", api.path(contract.CALLS_PATH), json={"To": HOST, "From": HOST}
        )
        assert placed.status == 429  # placed calls count against the same caps
        assert len(await api.dials()) == 2  # refused dials place nothing
        await api.advance(3600)
        assert (await api.dial(first["conference_sid"], To="+12065550102")).status == 200


async def test_the_daily_cap_answers_with_a_day_to_wait() -> None:
    async with stepped_api(account={"dials_per_day": 1}) as api:
        first = await api.dial_ok("room", To=HOST, ApplicationSid=APP)
        await api.advance(7200)
        refused = await api.dial(first["conference_sid"], To="+12065550101")
        assert refused.status == 429
        assert float(refused.headers[contract.HEADER_RATELIMIT_RESET]) == 86400 - 7200


async def test_writes_per_second_limits_posts_and_deletes_not_gets() -> None:
    async with stepped_api(api={"writes_per_second": 2}) as api:
        first = await api.dial_ok("room", To=HOST, ApplicationSid=APP, Label="a")
        room = first["conference_sid"]
        second = await api.dial(room, To="+12065550101", Label="b")
        assert second.status == 200
        # The dial's own headers are the dial limit's; a third write in the second is refused.
        refused = await api.delete_participant(room, "a")
        assert (refused.status, refused.error["code"]) == (429, contract.CODE_TOO_MANY_REQUESTS)
        assert refused.headers[contract.HEADER_RATELIMIT_LIMIT] == "2"
        assert int(refused.headers[contract.HEADER_RETRY_AFTER]) == 1
        assert (await api.participants(room)).status == 200  # reads have their own limit
        updated = await api.update_participant(room, "a", Muted=True)
        assert updated.status == 429
        await api.advance(1)
        assert (await api.update_participant(room, "a", Muted=True)).status == 200
        assert (await api.delete_participant(room, "a")).status == 204


async def test_create_by_name_refuse_422_answers_as_the_specs_examples() -> None:
    async with stepped_api(api={"create_by_name": "refuse-422"}) as api:
        refused = await api.dial("room", To=HOST, ApplicationSid=APP)
        assert refused.status == 422
        [error] = refused.body["errors"]
        assert set(error) == {"code", "title", "detail", "source"}
        assert error["source"] == {"pointer": "/ApplicationSid"}
        assert len(await api.dials()) == 0


async def test_create_by_name_app_texml_places_a_call_in_no_conference() -> None:
    async with stepped_api(api={"create_by_name": "app-texml"}) as api:
        answer = await api.dial_ok("room", To=HOST, ApplicationSid=APP, Label="host")
        named = api.path(contract.CONFERENCE_PATH, conference_sid=answer["conference_sid"])
        assert (await api.request("GET", named)).status == 404
        await api.advance(3)
        assert await api.call_status(answer["call_sid"]) == "in-progress"
        listed = await api.conferences(FriendlyName="room")
        assert listed.body["conferences"] == []
        # UpdateTexmlCall ends it; anything but Status=completed is refused.
        call = api.path(contract.CALL_PATH, call_sid=answer["call_sid"])
        wrong = await api.request("POST", call, json={"Status": "busy"})
        assert (wrong.status, wrong.error["source"]["pointer"]) == (422, "/Status")
        ended = await api.request("POST", call, json={"Status": "completed"})
        assert (ended.status, ended.body["status"]) == (200, "completed")
        # A dial into a conference's SID is unaffected.
        texml = "<Response><Dial><Conference>room</Conference></Dial></Response>"
        fields: dict[str, Any] = {"To": HOST, "From": HOST, "ApplicationSid": APP, "Texml": texml}
        assert (await api.request("POST", api.path(contract.CALLS_PATH), json=fields)).status == 200
        await api.advance(3)
        [conference] = (await api.conferences(FriendlyName="room")).body["conferences"]
        assert (await api.dial(conference["sid"], To="+12065550101")).status == 200


async def test_answered_by_shows_late_on_the_call_and_at_once_in_the_callback() -> None:
    numbers = {"+15550000011": {"answered_by": "machine"}}
    async with (
        stepped_api(numbers=numbers, api={"answered_by_lag_s": 5}) as api,
        receiving() as hooks,
    ):
        answer = await api.dial_ok(
            "room",
            To="+15550000011",
            ApplicationSid=APP,
            MachineDetection="Enable",
            AmdStatusCallback=hooks.url("/amd"),
        )
        await api.advance(2 + 4)  # rings 2 s; a machine is recognised 4 s after the answer
        [amd] = await hooks.received("/amd", 1)
        assert amd.fields["AnsweredBy"] == "machine_start"
        assert (await api.call(answer["call_sid"]))["answered_by"] is None
        await api.advance(5)
        assert (await api.call(answer["call_sid"]))["answered_by"] == "machine"
