"""Request decoding and validation: form bodies as documented, JSON as the SDK sends, errors."""

from __future__ import annotations

import json

import pytest

from orchestrator.sandbox import SandboxInfo, introspection
from orchestrator.texml import contract
from tests.sandbox.support import APP, eventually, open_api, stepped_api


async def test_form_body_dial_with_every_kind_of_field(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        answer = await api.dial(
            "form-room",
            form=True,
            To="+12065550100",
            From="+12065550199",
            ApplicationSid=APP,
            Label="ann",
            Muted=True,
            EndConferenceOnExit="true",
            StartConferenceOnEnter=False,
            Timeout=25,
            Beep="onExit",
            StatusCallbackEvent="initiated answered completed",
            CustomHeaders=json.dumps([{"name": "X-Team", "value": "ops"}]),
            MachineDetectionBeepSpectralMinPurity="0.5",
            SomethingNew="ignored",
        )
        assert answer.status == 200, answer.body
        assert (answer.body["muted"], answer.body["end_conference_on_exit"]) == (True, True)
        participant = await api.participant(answer.body["conference_sid"], "ann")
        assert participant.status == 200
        assert participant.body["call_sid"] == answer.body["call_sid"]


async def test_json_accepts_boolean_strings_and_numeric_strings(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        answer = await api.dial(
            "json-room", To="+12065550100", ApplicationSid=APP, Muted="true", Timeout="30"
        )
        assert answer.status == 200, answer.body
        assert answer.body["muted"] is True


# The codes of the spec's examples of a 422: a value of the wrong type, one outside an enum;
# where the spec shows none (ranges, formats) the code is ours, 10015.
TYPE = contract.CODE_INVALID_PARAMETER_TYPE
ENUM = contract.CODE_INVALID_ENUMERATED_VALUE


@pytest.mark.parametrize(
    ("fields", "pointer", "code", "words"),
    [
        ({}, "/To", contract.CODE_MISSING_PARAMETER, "To is required"),
        ({"To": "not-a-number"}, "/To", contract.CODE_BAD_REQUEST, "E.164"),
        ({"Timeout": 3}, "/Timeout", contract.CODE_BAD_REQUEST, "between 5 and 120, got 3"),
        ({"Timeout": 121}, "/Timeout", contract.CODE_BAD_REQUEST, "got 121"),
        ({"Timeout": "soon"}, "/Timeout", TYPE, "whole number"),
        ({"MaxParticipants": 801}, "/MaxParticipants", contract.CODE_BAD_REQUEST, "2 and 800"),
        ({"TimeLimit": 29}, "/TimeLimit", contract.CODE_BAD_REQUEST, "30 and 14400"),
        ({"TimeLimit": 14401}, "/TimeLimit", contract.CODE_BAD_REQUEST, "30 and 14400"),
        (
            {"MachineDetection": "Enable", "MachineDetectionTimeout": 499},
            "/MachineDetectionTimeout",
            contract.CODE_BAD_REQUEST,
            "500 and 60000",
        ),
        ({"Beep": "loud"}, "/Beep", ENUM, "onEnter"),
        ({"Muted": "yes"}, "/Muted", TYPE, "true or false"),
        ({"Muted": 1}, "/Muted", TYPE, "true or false"),
        ({"Label": 7}, "/Label", TYPE, "string"),
        ({"StatusCallbackEvent": "answered hungup"}, "/StatusCallbackEvent", ENUM, "'hungup'"),
        ({"CallerId": "Bob <bob>"}, "/CallerId", contract.CODE_BAD_REQUEST, "CallerId"),
        ({"CallerId": "x" * 129}, "/CallerId", contract.CODE_BAD_REQUEST, "128"),
        ({"StatusCallback": "ftp://example.com/x"}, "/StatusCallback", "10015", "http"),
        ({"CustomHeaders": [{"name": "X-A"}]}, "/CustomHeaders", TYPE, "name and value"),
        ({"CustomHeaders": "not json"}, "/CustomHeaders", TYPE, "JSON array"),
        ({"StatusCallbackMethod": "PUT"}, "/StatusCallbackMethod", ENUM, "GET, POST"),
    ],
)
async def test_invalid_dials_are_422_and_dial_nobody(
    sandbox: SandboxInfo, fields: dict[str, object], pointer: str, code: str, words: str
) -> None:
    async with open_api(sandbox) as api:
        body = {"To": "+12065550100", "ApplicationSid": APP, **fields}
        if not fields:
            body.pop("To")
        answer = await api.dial("room", **body)
        assert answer.status == 422, answer.body
        error = answer.error
        assert error["source"] == {"pointer": pointer}
        assert error["code"] == code
        assert words in error["detail"]
        assert error["title"]
        assert await api.dials() == []
        assert (await api.conferences()).body["conferences"] == []


async def test_of_several_bad_fields_the_first_in_the_contract_is_named(
    sandbox: SandboxInfo,
) -> None:
    async with open_api(sandbox) as api:
        # In the body's order StatusCallbackMethod comes first; the contract has Timeout first.
        answer = await api.dial(
            "room",
            StatusCallbackMethod="PUT",
            To="+12065550100",
            ApplicationSid=APP,
            Muted="perhaps",
            Timeout="soon",
        )
        assert answer.status == 422, answer.body
        names = list(contract.DIAL_FIELDS)
        first = min(("Timeout", "Muted", "StatusCallbackMethod"), key=names.index)
        assert answer.error["source"] == {"pointer": f"/{first}"}
        assert await api.dials() == []


async def test_a_secret_of_the_wrong_type_is_not_echoed(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        answer = await api.dial(
            "room", To="+12065550100", ApplicationSid=APP, SipAuthPassword=12345
        )
        assert answer.status == 422
        assert "12345" not in json.dumps(answer.body)


async def test_form_plus_sent_unescaped_gets_a_hint(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        path = api.path(contract.PARTICIPANTS_PATH, conference_sid="room")
        async with api.session.post(
            sandbox.base_url + path,
            data=f"To=+12065550100&ApplicationSid={APP}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            body = await response.json()
        assert response.status == 422
        assert "%2B" in body["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\x00\x01", "application/octet-stream"),
    ],
)
async def test_malformed_bodies_are_400(
    sandbox: SandboxInfo, payload: bytes, content_type: str
) -> None:
    async with open_api(sandbox) as api:
        path = api.path(contract.PARTICIPANTS_PATH, conference_sid="room")
        async with api.session.post(
            sandbox.base_url + path, data=payload, headers={"Content-Type": content_type}
        ) as response:
            body = await response.json()
        assert response.status == 400
        assert body["errors"][0]["code"] == contract.CODE_BAD_REQUEST
        # The sandbox keeps serving.
        assert (await api.dial("room", To="+12065550100", ApplicationSid=APP)).status == 200


async def test_authentication(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox, api_key="KEYwrong") as wrong:
        answer = await wrong.dial("room", To="+12065550100", ApplicationSid=APP)
        assert answer.status == 401
        assert answer.error["code"] == contract.CODE_AUTHENTICATION_FAILED
        assert (await wrong.request("GET", introspection.DIALS_PATH)).status == 401
        assert (await wrong.request("GET", introspection.HEALTH_PATH)).status == 401
    async with open_api(sandbox) as api:
        path = sandbox.base_url + api.path(contract.CONFERENCES_PATH)
        async with api.session.get(path, headers={"Authorization": ""}) as response:
            assert response.status == 401
        async with api.session.get(
            path, headers={"Authorization": f"Basic {sandbox.api_key}"}
        ) as response:
            assert response.status == 401
        assert await api.dials() == []


async def test_unknown_account_and_paths_are_404(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        other = "/texml/Accounts/00000000-0000-4000-8000-000000000000/Conferences"
        answer = await api.request("GET", other)
        assert (answer.status, answer.error["code"]) == (404, contract.CODE_NOT_FOUND)
        nowhere = await api.request("GET", "/texml/Elsewhere")
        assert (nowhere.status, nowhere.error["code"]) == (404, contract.CODE_NOT_FOUND)
        wrong_method = await api.request("PUT", api.path(contract.CONFERENCES_PATH))
        assert wrong_method.status == 405
        assert wrong_method.body["errors"]


async def test_json_suffix_paths_work_like_the_bare_ones(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        dialed = await api.dial_ok("suffix", To="+12065550100", ApplicationSid=APP, Label="a")
        sid = dialed["conference_sid"]
        conference = await api.request(
            "GET", api.path(contract.CONFERENCE_PATH, conference_sid=sid) + ".json"
        )
        assert conference.body["sid"] == sid
        listed = await api.request(
            "GET", api.path(contract.PARTICIPANTS_PATH, conference_sid=sid) + ".json"
        )
        assert [p["call_sid"] for p in listed.body["participants"]] == [dialed["call_sid"]]
        one = await api.request("GET", dialed["uri"].removeprefix("/v2"))
        assert one.body["call_sid"] == dialed["call_sid"]
        call = await api.request(
            "GET", api.path(contract.CALL_PATH, call_sid=dialed["call_sid"]) + ".json"
        )
        assert call.body["sid"] == dialed["call_sid"]


async def test_a_dial_answers_with_the_participant_fields_sent_there_and_no_more(
    sandbox: SandboxInfo,
) -> None:
    async with open_api(sandbox) as api:
        dialed = await api.dial_ok(
            "answer", To="+12065550100", ApplicationSid=APP, Label="a", Muted=True
        )
        participant = await api.participant(dialed["conference_sid"], "a")
    assert set(dialed) == {
        "account_sid",
        "call_sid",
        "coaching",
        "coaching_call_sid",
        "conference_sid",
        "end_conference_on_exit",
        "hold",
        "muted",
        "status",
        "uri",
    }
    assert dialed["status"] == "connecting"  # by the lookup, the callee may have answered
    for key in set(dialed) - {"status"}:
        assert dialed[key] == participant.body[key], key


async def test_paging_follows_next_page_uri_without_skipping(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        first = await api.dial_ok("big", To="+12065550100", ApplicationSid=APP)
        sid = first["conference_sid"]
        sids = [first["call_sid"]]
        for i in range(1, 7):
            sids.append((await api.dial_ok(sid, To=f"+1206555{i:04d}", Label=f"p{i}"))["call_sid"])

        page = (await api.participants(sid, PageSize="3")).body
        assert (page["page"], page["page_size"], page["start"], page["end"]) == (0, 3, 0, 2)
        assert page["first_page_uri"].endswith("Participants.json?Page=0&PageSize=3")
        seen = [p["call_sid"] for p in page["participants"]]
        # Someone already listed leaves: the next page must not skip anyone.
        assert (await api.delete_participant(sid, "p1")).status == 204
        while page["next_page_uri"]:
            page = (await api.request("GET", page["next_page_uri"].removeprefix("/v2"))).body
            seen += [p["call_sid"] for p in page["participants"]]
        assert seen == sids
        assert page["page"] == 2 and page["next_page_uri"] is None

        by_number = (await api.participants(sid, Page="1", PageSize="4")).body
        assert [p["call_sid"] for p in by_number["participants"]] == [sids[0], *sids[2:]][4:]
        assert by_number["next_page_uri"] is None

        for params in (
            {"PageSize": "0"},
            {"PageSize": "1001"},
            {"Page": "-1"},
            {"PageToken": "bogus"},
        ):
            answer = await api.participants(sid, **params)
            assert answer.status == 422, params


async def test_conference_list_filters(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        a = await api.dial_ok("alpha", To="+12065550100", ApplicationSid=APP)
        b = await api.dial_ok("beta", To="+12065550101", ApplicationSid=APP)
        await api.update_conference(b["conference_sid"], Status="completed")

        named = (await api.conferences(FriendlyName="alpha")).body["conferences"]
        assert [c["sid"] for c in named] == [a["conference_sid"]]
        done = (await api.conferences(Status="completed")).body["conferences"]
        assert [c["sid"] for c in done] == [b["conference_sid"]]
        today = (await api.conferences()).body["conferences"][0]["date_created"]
        assert today.endswith("+0000")
        assert (
            len((await api.conferences(**{"DateCreated>": "2000-01-01"})).body["conferences"]) == 2
        )
        assert (await api.conferences(**{"DateCreated<": "2000-01-01"})).body["conferences"] == []
        assert (await api.conferences(DateCreated="yesterday")).status == 422
        paged = (await api.conferences(PageSize="1")).body
        assert paged["next_page_uri"] and "PageToken=" in paged["next_page_uri"]
        rest = (await api.request("GET", paged["next_page_uri"].removeprefix("/v2"))).body
        assert [c["sid"] for c in paged["conferences"] + rest["conferences"]] == [
            a["conference_sid"],
            b["conference_sid"],
        ]


async def test_calls_list_filters_by_number_status_and_date(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        first = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP)
        second = await api.dial_ok(first["conference_sid"], To="+12065550101")
        await api.delete_participant(first["conference_sid"], second["call_sid"])
        calls_path = contract.CALLS_PATH.format(account_sid=sandbox.account_sid)

        async def listed(**params: str) -> list[str]:
            answer = await api.request("GET", calls_path, params=params)
            assert answer.status == 200, answer.body
            return [call["sid"] for call in answer.body["calls"]]

        assert await listed() == [first["call_sid"], second["call_sid"]]
        assert await listed(To="+12065550101") == [second["call_sid"]]
        # Status filters by how a call ended: the spec's enum for it has nothing else.
        ended = [*await listed(Status="canceled"), *await listed(Status="completed")]
        assert ended == [second["call_sid"]]
        for live in ("in-progress", "ringing", "queued"):
            refused = await api.request("GET", calls_path, params={"Status": live})
            assert (refused.status, refused.error["code"]) == (422, "10032"), refused.body
            assert refused.error["source"] == {"pointer": "/Status"}
        assert await listed(StartTime_gt="2000-01-01", To="+12065550100") == [first["call_sid"]]
        assert await listed(StartTime_lt="2000-01-01") == []
        assert await listed(EndTime_gt="2000-01-01") == [second["call_sid"]]  # the only ended one
        assert (await api.request("GET", calls_path, params={"StartTime": "today"})).status == 422
        assert (await api.request("GET", calls_path, params={"Status": "gone"})).status == 422
        page = (await api.request("GET", calls_path, params={"PageSize": "1"})).body
        assert [c["sid"] for c in page["calls"]] == [first["call_sid"]]
        assert page["next_page_uri"] and "PageToken=" in page["next_page_uri"]


async def test_calls_list_shows_a_new_call_only_after_the_calls_lag() -> None:
    async with stepped_api(api={"calls_lag_s": 100}) as api:
        dialed = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP)
        calls_path = contract.CALLS_PATH.format(account_sid=api.info.account_sid)
        assert (await api.request("GET", calls_path)).body["calls"] == []

        async def listed() -> list[str] | None:
            calls = (await api.request("GET", calls_path)).body["calls"]
            return [c["sid"] for c in calls] or None

        await api.advance(99)
        assert await listed() is None
        await api.advance(1)
        assert await listed() == [dialed["call_sid"]]


async def test_introspection_lists_every_accepted_dial(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        first = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP, Label="a")
        await api.dial("room", To="+12065550100", ApplicationSid=APP, Timeout=1)  # rejected
        second = await api.dial_ok(first["conference_sid"], To="+12065550101")
        await api.delete_participant(first["conference_sid"], second["call_sid"])
        dials = await api.dials()
        assert [(d["label"], d["to"], d["call_sid"]) for d in dials] == [
            ("a", "+12065550100", first["call_sid"]),
            (None, "+12065550101", second["call_sid"]),
        ]
        assert all(d["conference_sid"] == first["conference_sid"] for d in dials)
        assert 0 <= dials[0]["time"] <= dials[1]["time"] < 30
        assert dials[1]["status"] in ("canceled", "completed")
        health = (await api.request("GET", introspection.HEALTH_PATH)).body
        assert health["status"] == "ok" and health["dials"] == 2

        async def answered() -> bool:
            return (await api.call(first["call_sid"]))["status"] == "in-progress"

        await eventually(answered)
