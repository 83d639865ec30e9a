"""The scenario's ``api:`` knobs and ``profile: field``: the real API's rough edges, one by one,
against the sandbox over HTTP on a stepped clock (a simulated second is one of its seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.errors import ScenarioError
from orchestrator.sandbox import (
    FIELD_API,
    ApiBehaviour,
    Scenario,
    introspection,
    load_scenario,
    parse_scenario,
)
from orchestrator.texml import contract
from tests.sandbox.support import APP, Api, stepped_api

SLOW = "+15550000004"  # answers after 10 simulated seconds
NUMBERS = {SLOW: {"answer": "after", "seconds": 10}}
ROOM_TEXML = "<Response><Dial><Conference>{name}</Conference></Dial></Response>"


async def _health(api: Api) -> dict[str, Any]:
    answer = await api.request("GET", introspection.HEALTH_PATH)
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def _initiate(api: Api, name: str, *, form: bool = True, **fields: str) -> dict[str, Any]:
    body = {
        "To": "+12065550100",
        "From": "+12065550199",
        "ApplicationSid": APP,
        "Texml": ROOM_TEXML.format(name=name),
        **fields,
    }
    path = api.path(contract.CALLS_PATH)
    answer = await (
        api.request("POST", path, form=body) if form else api.request("POST", path, json=body)
    )
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def _conference_of(api: Api, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await api.conferences(FriendlyName=name)
        found = answer.body["conferences"] if answer.status == 200 else None
        return dict(found[0]) if found else None

    return await api.eventually(probe)


# Scenario parsing -----------------------------------------------------------------------


def test_defaults_are_the_lab_side() -> None:
    scenario = Scenario()
    assert (scenario.profile, scenario.api) == ("lab", ApiBehaviour())
    assert parse_scenario({"api": None}).api == ApiBehaviour()
    api = ApiBehaviour()
    assert (api.participant_list_lag_s, api.calls_lag_s, api.reads_per_second) == (0, 0, 0)
    assert (api.connected_status, api.duplicate_labels) == ("connected", "reject")
    assert api.retry_after and api.json_bodies and api.initiate_call_sid
    assert (api.hangup_lag_s, api.max_page_size) == (0, 1000)
    assert (api.create_by_name, api.answered_by_lag_s, api.writes_per_second) == ("true", 0, 0)


def test_field_profile_turns_everything_hard_and_explicit_keys_win() -> None:
    field = parse_scenario({"profile": "field"}).api
    assert field == FIELD_API
    assert (field.participant_list_lag_s, field.calls_lag_s) == (3.0, 3.0)
    assert (field.connected_status, field.reads_per_second) == ("in-progress", 20)
    assert not (field.retry_after or field.json_bodies)
    assert (field.create_by_name, field.answered_by_lag_s, field.writes_per_second) == (
        "app-texml",
        3.0,
        10,
    )
    assert (field.initiate_call_sid, field.duplicate_labels) == (False, "reject")
    # A hung-up leg lingers as long as a new one takes to show; PageSize stays Twilio's 1000.
    assert (field.hangup_lag_s, field.max_page_size) == (3.0, 1000)

    mixed = parse_scenario(
        {"profile": "field", "api": {"json_bodies": True, "calls_lag_s": 0, "reads_per_second": 0}}
    ).api
    assert (mixed.json_bodies, mixed.calls_lag_s, mixed.reads_per_second) == (True, 0.0, 0)
    assert (mixed.participant_list_lag_s, mixed.retry_after) == (3.0, False)
    lab = parse_scenario({"api": {"duplicate_labels": "allow", "connected_status": "in-progress"}})
    assert (lab.api.duplicate_labels, lab.api.connected_status) == ("allow", "in-progress")
    assert lab.api.json_bodies and lab.api.participant_list_lag_s == 0


def test_a_scenario_file_with_every_api_key(tmp_path: Path) -> None:
    path = tmp_path / "field.yaml"
    path.write_text(
        "profile: field\n"
        "api:\n"
        "  participant_list_lag_s: 1.5\n"
        "  calls_lag_s: 2\n"
        "  connected_status: connected\n"
        "  retry_after: true\n"
        "  reads_per_second: 7\n"
        "  create_by_name: true\n"
        "  json_bodies: true\n"
        "  duplicate_labels: allow\n"
        "  initiate_call_sid: true\n"
        "  hangup_lag_s: 4\n"
        "  max_page_size: 50\n"
        "  answered_by_words: enum\n"
        "  writes_per_second: 3\n"
        "  answered_by_lag_s: 2\n",
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    assert scenario.profile == "field"
    assert scenario.api == ApiBehaviour(
        1.5, 2.0, "connected", True, 7, 3, "true", True, "allow", True, 4.0, 50, "enum", 2.0
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profile: prod\n", "profile: must be one of lab, field, new-account, got 'prod'"),
        ("profile: [lab, field]\n", "profile: a list names field and/or new-account, each once"),
        (
            "api:\n  create_by_name: maybe\n",
            "api.create_by_name: must be one of refuse-404, refuse-422, app-texml, got 'maybe'",
        ),
        ("account:\n  concurrent_calls: -1\n", "account.concurrent_calls: must be at least 0"),
        ("account:\n  hourly: 3\n", "account.hourly: unknown key; the keys here are"),
        ("api: [1]\n", "api: must be a mapping, got a list"),
        ("api:\n  lag: 1\n", "api.lag: unknown key; the keys here are participant_list_lag_s"),
        ("api:\n  calls_lag_s: -1\n", "api.calls_lag_s: must be at least 0, got -1"),
        (
            "api:\n  participant_list_lag_s: soon\n",
            "api.participant_list_lag_s: must be a number, got 'soon'",
        ),
        ("api:\n  reads_per_second: 2.5\n", "api.reads_per_second: must be a whole number"),
        ("api:\n  reads_per_second: -1\n", "api.reads_per_second: must be at least 0, got -1"),
        ("api:\n  retry_after: 'no'\n", "api.retry_after: must be true or false, got 'no'"),
        ("api:\n  json_bodies: 0\n", "api.json_bodies: must be true or false, got 0"),
        (
            "api:\n  connected_status: answered\n",
            "api.connected_status: must be one of connected, in-progress, got 'answered'",
        ),
        (
            "api:\n  duplicate_labels: yes\n",
            "api.duplicate_labels: must be one of reject, allow, got True",
        ),
        ("api:\n  hangup_lag_s: -2\n", "api.hangup_lag_s: must be at least 0, got -2"),
        ("api:\n  max_page_size: 0\n", "api.max_page_size: must be at least 1, got 0"),
        ("api:\n  max_page_size: 20.5\n", "api.max_page_size: must be a whole number"),
        (
            "api:\n  answered_by_words: twilio\n",
            "api.answered_by_words: must be one of enum, callback, got 'twilio'",
        ),
    ],
)
def test_api_mistakes_are_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# Each knob against the running sandbox --------------------------------------------------


async def test_participant_list_lag_hides_a_new_leg_from_the_list_only() -> None:
    async with stepped_api(api={"participant_list_lag_s": 50}) as api:
        dialed_at = api.stepped.now()
        first = await api.dial_ok("lagged", To="+12065550100", ApplicationSid=APP, Label="a")
        sid = first["conference_sid"]
        assert (await api.participants(sid)).body["participants"] == []
        # One participant by SID or Label is not affected, and neither is the Calls resource.
        assert (await api.participant(sid, "a")).status == 200
        assert (await api.participant(sid, first["call_sid"])).status == 200
        assert await api.call_status(first["call_sid"]) in ("ringing", "in-progress")

        async def listed() -> list[str] | None:
            items = (await api.participants(sid)).body["participants"]
            return [p["call_sid"] for p in items] or None

        assert await api.eventually(listed) == [first["call_sid"]]
        assert 50 <= api.stepped.now() - dialed_at < 51


async def test_calls_lag_answers_404_then_the_call() -> None:
    async with stepped_api(api={"calls_lag_s": 20}) as api:
        started = api.stepped.now()
        dialed = await api.dial_ok("calls-lag", To="+12065550100", ApplicationSid=APP)
        path = api.path(contract.CALL_PATH, call_sid=dialed["call_sid"])
        early = await api.request("GET", path)
        assert (early.status, early.error["code"]) == (404, contract.CODE_NOT_FOUND)

        async def known() -> dict[str, Any] | None:
            answer = await api.request("GET", path)
            return dict(answer.body) if answer.status == 200 else None

        assert (await api.eventually(known))["sid"] == dialed["call_sid"]
        assert 20 <= api.stepped.now() - started < 21
        # The participant endpoints knew it all along.
        assert (await api.participant(dialed["conference_sid"], dialed["call_sid"])).status == 200


async def test_hangup_lag_goes_on_returning_a_participant_hung_up_through_the_api() -> None:
    async with stepped_api(api={"hangup_lag_s": 30}) as api:
        host = await api.dial_ok("linger", To="+12065550100", ApplicationSid=APP, Label="host")
        sid = host["conference_sid"]
        guest = await api.dial_ok(sid, To="+12065550101", Label="guest")

        async def both_connected() -> list[dict[str, Any]] | None:
            items = (await api.participants(sid)).body["participants"]
            return items if [p["status"] for p in items] == ["connected"] * 2 else None

        before = await api.eventually(both_connected)
        hung_up_at = api.stepped.now()
        assert (await api.delete_participant(sid, "guest")).status == 204
        # The list and the get, by call SID or Label, still give it as it was.
        listed = (await api.participants(sid)).body["participants"]
        assert listed == before
        by_sid = await api.participant(sid, guest["call_sid"])
        by_label = await api.participant(sid, "guest")
        assert (by_sid.status, by_label.status) == (200, 200)
        assert by_sid.body == by_label.body == before[1]
        assert by_sid.body["status"] == "connected"
        # What is about the leg itself knows it has gone: the call, an update, a second delete.
        assert await api.call_status(guest["call_sid"]) == "completed"
        assert (await api.update_participant(sid, "guest", Muted=True)).status == 404
        assert (await api.delete_participant(sid, guest["call_sid"])).status == 404

        async def gone() -> bool:
            items = (await api.participants(sid)).body["participants"]
            return [p["call_sid"] for p in items] == [host["call_sid"]]

        await api.eventually(gone)
        assert 30 <= api.stepped.now() - hung_up_at < 31
        assert (await api.participant(sid, "guest")).status == 404
        assert (await api.participant(sid, guest["call_sid"])).status == 404


async def test_without_hangup_lag_a_hung_up_participant_is_gone_at_once() -> None:
    async with stepped_api() as api:
        host = await api.dial_ok("gone", To="+12065550100", ApplicationSid=APP, Label="host")
        sid = host["conference_sid"]
        assert (await api.delete_participant(sid, "host")).status == 204
        assert (await api.participant(sid, host["call_sid"])).status == 404
        assert (await api.participants(sid)).body["participants"] == []


async def test_hangup_lag_does_not_keep_a_leg_that_the_callee_hung_up() -> None:
    numbers = {"+15550000005": {"hangup_after": 1}}
    async with stepped_api(numbers=numbers, api={"hangup_lag_s": 1000}) as api:
        host = await api.dial_ok("callee", To="+12065550100", ApplicationSid=APP)
        sid = host["conference_sid"]
        leaving = await api.dial_ok(sid, To="+15550000005", Label="leaving")

        async def left() -> bool:
            return (await api.call_status(leaving["call_sid"])) == "completed"

        await api.eventually(left)
        assert (await api.participant(sid, "leaving")).status == 404


async def test_max_page_size_refuses_a_larger_page_size_by_its_pointer() -> None:
    async with stepped_api(api={"max_page_size": 100}) as api:
        host = await api.dial_ok("pages", To="+12065550100", ApplicationSid=APP)
        sid = host["conference_sid"]
        assert (await api.participants(sid, PageSize="100")).status == 200
        refused = await api.participants(sid, PageSize="101")
        listed = await api.conferences(PageSize="1000")
    assert refused.status == 422
    assert refused.error["source"] == {"pointer": "/PageSize"}
    assert refused.error["code"] == contract.CODE_BAD_REQUEST
    assert "between 1 and 100" in refused.error["detail"]
    assert (listed.status, listed.error["source"]["pointer"]) == (422, "/PageSize")


async def test_the_default_page_size_stays_within_a_smaller_maximum() -> None:
    async with stepped_api(api={"max_page_size": 5}) as api:
        host = await api.dial_ok("small", To="+12065550100", ApplicationSid=APP)
        sid = host["conference_sid"]
        for i in range(1, 7):
            await api.dial_ok(sid, To=f"+1206555010{i}")
        page = (await api.participants(sid)).body
    assert (page["page_size"], len(page["participants"])) == (5, 5)
    assert page["next_page_uri"] is not None


async def test_connected_status_in_progress_in_list_get_and_update() -> None:
    async with stepped_api(api={"connected_status": "in-progress"}) as api:
        dialed = await api.dial_ok("word", To="+12065550100", ApplicationSid=APP, Label="a")
        assert dialed["status"] == "connecting"
        sid = dialed["conference_sid"]

        async def answered() -> str | None:
            status = (await api.participant(sid, "a")).body["status"]
            return status if status != "connecting" else None

        assert await api.eventually(answered) == "in-progress"
        listed = (await api.participants(sid)).body["participants"]
        assert [p["status"] for p in listed] == ["in-progress"]
        updated = await api.update_participant(sid, "a", Muted=True)
        assert (updated.status, updated.body["status"]) == (200, "in-progress")


async def test_no_retry_after_on_either_limit_but_ratelimit_headers() -> None:
    async with stepped_api(
        dials_per_second=1, dial_window_seconds=1, api={"retry_after": False, "reads_per_second": 2}
    ) as api:
        first = await api.dial_ok("limits", To="+12065550100", ApplicationSid=APP)
        refused = await api.dial(first["conference_sid"], To="+12065550101")
        assert (refused.status, refused.error["code"]) == (429, contract.CODE_DIAL_RATE_LIMITED)
        assert contract.HEADER_RETRY_AFTER not in refused.headers
        assert refused.headers[contract.HEADER_RATELIMIT_LIMIT] == "1"
        assert refused.headers[contract.HEADER_RATELIMIT_REMAINING] == "0"
        assert float(refused.headers[contract.HEADER_RATELIMIT_RESET]) > 0

        reads = [await api.conferences() for _ in range(3)]
        assert [r.status for r in reads] == [200, 200, 429]
        assert reads[2].error["code"] == contract.CODE_TOO_MANY_REQUESTS
        assert contract.HEADER_RETRY_AFTER not in reads[2].headers
        assert reads[2].headers[contract.HEADER_RATELIMIT_LIMIT] == "2"


async def test_reads_per_second_limits_gets_and_recovers() -> None:
    async with stepped_api(api={"reads_per_second": 5}) as api:
        started = api.stepped.now()
        answers = [await api.conferences() for _ in range(5)]
        assert [a.status for a in answers] == [200] * 5
        assert [a.headers[contract.HEADER_RATELIMIT_REMAINING] for a in answers] == [
            "4",
            "3",
            "2",
            "1",
            "0",
        ]
        refused = await api.request("GET", api.path(contract.CALL_PATH, call_sid="v3:any"))
        assert api.stepped.now() == started  # all six within the same moment
        assert refused.status == 429
        assert refused.error["code"] == contract.CODE_TOO_MANY_REQUESTS
        assert int(refused.headers[contract.HEADER_RETRY_AFTER]) == 1
        assert refused.headers[contract.HEADER_RATELIMIT_LIMIT] == "5"
        # Writes and introspection are not reads of the API: neither limited nor counted.
        dialed = await api.dial("room", To="+12065550100", ApplicationSid=APP)
        assert dialed.status == 200
        assert len(await api.dials()) == 1
        await api.advance(float(refused.headers[contract.HEADER_RATELIMIT_RESET]) - 0.01)
        assert (await api.conferences()).status == 429  # not yet
        await api.advance(0.01)
        assert (await api.conferences()).status == 200
        health = await _health(api)
        assert health["rate_limited"] == {
            contract.CODE_DIAL_RATE_LIMITED: 0,
            contract.CODE_TOO_MANY_REQUESTS: 2,
        }


async def test_create_by_name_off_refuses_names_but_not_sids() -> None:
    async with stepped_api(api={"create_by_name": False}) as api:
        refused = await api.dial("by-name", To="+12065550100", ApplicationSid=APP)
        assert (refused.status, refused.error["code"]) == (404, contract.CODE_NOT_FOUND)
        assert "<Dial><Conference>" in refused.error["detail"]
        assert "InitiateTexmlCall" in refused.error["detail"]
        assert await api.dials() == []
        # InitiateTexmlCall creates it; then dialing by SID works, by name still does not.
        await _initiate(api, "by-name")
        conference = await _conference_of(api, "by-name")
        assert (await api.dial(conference["sid"], To="+12065550101")).status == 200
        assert (await api.dial("by-name", To="+12065550102", ApplicationSid=APP)).status == 404


async def test_json_bodies_off_answers_415_and_takes_the_same_fields_as_a_form() -> None:
    async with stepped_api(api={"json_bodies": False}) as api:
        fields = {"To": "+12065550100", "ApplicationSid": APP, "Label": "a", "Muted": True}
        refused = await api.dial("forms-only", **fields)
        assert refused.status == 415
        assert refused.error["code"] == contract.CODE_UNSUPPORTED_MEDIA_TYPE
        assert contract.FORM_MEDIA_TYPE in refused.error["detail"]
        assert await api.dials() == []
        assert (await api.conferences(FriendlyName="forms-only")).body["conferences"] == []
        path = api.path(contract.CALLS_PATH)
        body = {"To": "+12065550100", "From": "+12065550199", "ApplicationSid": APP}
        assert (await api.request("POST", path, json=body)).status == 415

        accepted = await api.dial("forms-only", form=True, **fields)
        assert accepted.status == 200, accepted.body
        assert accepted.body["muted"] is True
        sid = accepted.body["conference_sid"]
        assert (await api.update_participant(sid, "a", Muted=False)).status == 415
        assert (await api.participant(sid, "a")).body["muted"] is True
        health = await _health(api)
        assert health["unsupported_media"] == 3


async def test_duplicate_labels_allowed_newest_answers_to_the_label() -> None:
    async with stepped_api(api={"duplicate_labels": "allow"}) as api:
        first = await api.dial_ok("dupes", To="+12065550100", ApplicationSid=APP, Label="desk")
        sid = first["conference_sid"]
        second = await api.dial_ok(sid, To="+12065550101", Label="desk")
        listed = (await api.participants(sid)).body["participants"]
        assert {p["call_sid"] for p in listed} == {first["call_sid"], second["call_sid"]}
        assert (await api.participant(sid, "desk")).body["call_sid"] == second["call_sid"]
        assert (await api.delete_participant(sid, "desk")).status == 204
        assert (await api.participant(sid, "desk")).body["call_sid"] == first["call_sid"]

    async with stepped_api() as api:
        first = await api.dial_ok("dupes", To="+12065550100", ApplicationSid=APP, Label="desk")
        again = await api.dial(first["conference_sid"], To="+12065550101", Label="desk")
        assert (again.status, again.error["source"]["pointer"]) == (422, "/Label")


async def test_initiate_call_sid_off_answers_only_the_documented_fields() -> None:
    async with stepped_api(api={"initiate_call_sid": False}) as api:
        answer = await _initiate(api, "quiet", form=False)
        assert answer == {"from": "+12065550199", "to": "+12065550100", "status": "queued"}
        [dial] = await api.dials()
        assert dial["to"] == "+12065550100" and dial["call_sid"].startswith("v3:")


async def test_field_profile_against_the_running_sandbox() -> None:
    # The read limit is lifted (an explicit key wins over the profile): the test polls.
    lifted = {"reads_per_second": 0, "writes_per_second": 0}
    async with stepped_api(profile="field", numbers=NUMBERS, api=lifted) as api:
        json_dial = await api.dial("field-room", To="+12065550100", ApplicationSid=APP)
        assert json_dial.status == 415
        by_name = await api.dial("field-room", form=True, To="+12065550100", ApplicationSid=APP)
        assert by_name.status == 200  # a call runs the application's TeXML: no conference
        named = api.path(contract.CONFERENCE_PATH, conference_sid=by_name.body["conference_sid"])
        assert (await api.request("GET", named)).status == 404
        answer = await _initiate(api, "field-room", To=SLOW)
        assert set(answer) == {"from", "to", "status"}
        conference = await _conference_of(api, "field-room")
        # Joined on answer, but listed only 3 simulated seconds later.
        assert (await api.participants(conference["sid"])).body["participants"] == []

        async def listed() -> list[dict[str, Any]] | None:
            answer = await api.participants(conference["sid"])
            return answer.body["participants"] or None if answer.status == 200 else None

        [participant] = await api.eventually(listed)
        assert participant["status"] == "in-progress"
        calls = await api.request(
            "GET", api.path(contract.CALL_PATH, call_sid=participant["call_sid"])
        )
        assert calls.status == 200  # 3 simulated seconds after the call was placed
        by_sid = await api.dial(conference["sid"], form=True, To="+12065550101")
        assert by_sid.status == 200, by_sid.body
        health = await _health(api)
        assert health["unsupported_media"] == 1
        assert health["requests"]["POST"] == 4


async def test_health_counts_requests_by_method_and_participant_lists() -> None:
    async with stepped_api() as api:
        dialed = await api.dial_ok("counted", To="+12065550100", ApplicationSid=APP, Label="a")
        sid = dialed["conference_sid"]
        await api.participants(sid)
        await api.request("GET", api.path(contract.PARTICIPANTS_PATH, conference_sid=sid) + ".json")
        await api.participant(sid, "a")
        await api.delete_participant(sid, "a")
        await api.dials()
        health = await _health(api)
        assert health["requests"] == {"GET": 3, "POST": 1, "DELETE": 1}
        assert health["participant_lists"] == 2
        assert health["rate_limited"] == {
            contract.CODE_DIAL_RATE_LIMITED: 0,
            contract.CODE_TOO_MANY_REQUESTS: 0,
        }
        assert health["unsupported_media"] == 0
        assert health["status"] == "ok" and health["dials"] == 1
