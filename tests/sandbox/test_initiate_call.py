"""InitiateTexmlCall (POST Calls): a call whose inline TeXML joins or creates a conference."""

from __future__ import annotations

import time
from typing import Any
from xml.sax.saxutils import quoteattr

import aiohttp
import pytest

from orchestrator.sandbox import SandboxInfo, introspection
from orchestrator.sandbox.documents import parse_conference_dial
from orchestrator.sandbox.fields import ApiFailure
from orchestrator.texml import contract
from tests.sandbox.hooks import receiving
from tests.sandbox.support import APP, Answer, Api, eventually, sandbox_api, stepped_api
from tests.sdk import telnyx, uses_sdk

SLOW = "+15550000004"  # answers after 10 simulated seconds (100 ms at time_scale 0.01)
NO_ANSWER = "+15550000001"
BUSY = "+15550000002"
NUMBERS = {
    SLOW: {"answer": "after", "seconds": 10},
    NO_ANSWER: {"answer": "no-answer"},
    BUSY: {"answer": "busy"},
}


def texml(name: str, **attributes: str) -> str:
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in attributes.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response>\n  <Dial>\n    <Conference{attrs}>{name}</Conference>\n  </Dial>\n</Response>"
    )


async def initiate(api: Api, *, form: bool = False, suffix: str = "", **fields: Any) -> Answer:
    path = api.path(contract.CALLS_PATH) + suffix
    if form:
        return await api.request("POST", path, form={k: str(v) for k, v in fields.items()})
    return await api.request("POST", path, json=fields)


def call_fields(name: str = "standup", **overrides: Any) -> dict[str, Any]:
    return {
        "To": "+12065550100",
        "From": "+12065550199",
        "ApplicationSid": APP,
        "Texml": texml(name),
        **overrides,
    }


async def conference_named(api: Api, name: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = (await api.conferences(FriendlyName=name)).body["conferences"]
        return dict(found[0]) if found else None

    return await eventually(probe)


async def call_ended(api: Api, call_sid: str) -> str:
    async def probe() -> str | None:
        status = await api.call_status(call_sid)
        return status if status in contract.CALL_ENDED_STATUSES else None

    return await eventually(probe)


async def test_a_placed_call_is_never_shown_queued() -> None:
    """The answer says queued, as the spec's example does; the Call resource's enum has no
    queued, so neither GET Calls nor Calls/{sid} nor a callback says it. A call that fails
    never rings, and is the longest before it starts to."""
    fails = "+15550000003"
    async with receiving() as hooks, stepped_api(numbers={fails: {"answer": "fail"}}) as api:
        answer = await initiate(
            api,
            **call_fields(
                To=fails,
                StatusCallback=f"{hooks.base_url}/calls",
                StatusCallbackEvent="initiated ringing answered completed",
            ),
        )
        assert answer.status == 200 and answer.body["status"] == "queued"
        call_sid = answer.body["call_sid"]
        listed = (await api.request("GET", api.path(contract.CALLS_PATH))).body["calls"]
        [dial] = await api.dials()
        assert (await api.call_status(call_sid), listed[0]["status"], dial["status"]) == (
            "ringing",
            "ringing",
            "ringing",
        )
        await api.advance(5)
        assert await api.call_status(call_sid) == "failed"
        arrived = await hooks.received("/calls", 2)
    assert [a.fields["CallStatus"] for a in arrived] == ["initiated", "failed"]


async def test_the_call_creates_its_conference_once_answered_with_the_nouns_settings() -> None:
    async with receiving() as hooks, sandbox_api(numbers=NUMBERS) as api:
        document = texml(
            "standup",
            muted="true",
            endConferenceOnExit="true",
            startConferenceOnEnter="true",
            beep="false",
            maxParticipants="5",
            statusCallback=f"{hooks.base_url}/conference",
            statusCallbackEvent="start join leave end",
            statusCallbackMethod="POST",
        )
        answer = await initiate(
            api,
            **call_fields(
                To=SLOW,
                Texml=document,
                StatusCallback=f"{hooks.base_url}/calls",
                StatusCallbackEvent="initiated ringing answered completed",
            ),
        )
        assert answer.status == 200, answer.body
        body = answer.body
        assert (body["from"], body["to"], body["status"]) == ("+12065550199", SLOW, "queued")
        call_sid = body["call_sid"]
        assert call_sid.startswith("v3:") and body["account_sid"] == api.info.account_sid
        account_path = contract.ACCOUNT_PATH.format(account_sid=api.info.account_sid)
        assert body["uri"] == f"/v2{account_path}/Calls/{call_sid}.json"
        assert set(body) == {"from", "to", "status", "call_sid", "account_sid", "uri"}

        # Ringing: known to Calls and /_sandbox/dials, but in no conference yet.
        assert await api.call_status(call_sid) == "ringing"  # the Call enum has no queued
        assert (await api.conferences(FriendlyName="standup")).body["conferences"] == []
        [dial] = await api.dials()
        assert (dial["call_sid"], dial["label"], dial["conference_sid"]) == (call_sid, None, None)

        conference = await conference_named(api, "standup")
        sid = conference["sid"]
        assert conference["status"] == "in-progress"
        [participant] = (await api.participants(sid)).body["participants"]
        assert participant["call_sid"] == call_sid
        assert (participant["muted"], participant["end_conference_on_exit"]) == (True, True)
        assert participant["status"] == "connected"
        assert (await api.dials())[0]["conference_sid"] == sid

        joined = await hooks.received("/conference", 2)
        assert [d.fields["StatusCallbackEvent"] for d in joined[:2]] == [
            "participant-join",
            "conference-start",
        ]
        assert joined[0].fields["CallSid"] == call_sid
        assert joined[0].fields["FriendlyName"] == "standup"
        assert "ParticipantLabel" not in joined[0].fields  # <Conference> has no label
        progress = await hooks.received("/calls", 3)
        assert [d.fields["CallStatus"] for d in progress] == ["initiated", "ringing", "in-progress"]
        assert "ConferenceSid" not in progress[0].fields  # not in a conference before answering
        assert progress[2].fields["ConferenceSid"] == sid

        # A dialed participant joins by SID; endConferenceOnExit ends it when the call leaves.
        other = await api.dial_ok(sid, To="+12065550101", Label="b")
        assert (await api.delete_participant(sid, call_sid)).status == 204
        ended = await api.conference(sid)
        assert ended["status"] == "completed"
        assert ended["reason_conference_ended"] == "participant-with-end-conference-on-exit-left"
        assert ended["call_sid_ending_conference"] == call_sid
        assert await api.call_status(other["call_sid"]) in ("canceled", "completed")
        events = await hooks.received("/conference", 4)
        assert [d.fields["StatusCallbackEvent"] for d in events[2:4]] == [
            "participant-leave",
            "conference-end",
        ]
        completed = await hooks.received("/calls", 4)
        assert completed[3].fields["CallStatus"] == "completed"


async def test_max_participants_of_the_noun_bounds_the_conference() -> None:
    async with sandbox_api() as api:
        first = await initiate(api, **call_fields(Texml=texml("pair", maxParticipants="2")))
        conference = await conference_named(api, "pair")
        sid = conference["sid"]
        assert (await api.dial(sid, To="+12065550101")).status == 200
        full = await api.dial(sid, To="+12065550102")
        assert (full.status, full.error["source"]["pointer"]) == (422, "/MaxParticipants")
        # A second call's TeXML finds the conference full: answered, then over.
        late = await initiate(api, **call_fields(To="+12065550103", Texml=texml("pair")))
        assert await call_ended(api, late.body["call_sid"]) == "completed"
        listed = (await api.participants(sid)).body["participants"]
        assert first.body["call_sid"] in {p["call_sid"] for p in listed}
        assert late.body["call_sid"] not in {p["call_sid"] for p in listed}
        assert len((await api.conferences(FriendlyName="pair")).body["conferences"]) == 1


@pytest.mark.parametrize(("number", "status"), [(NO_ANSWER, "no-answer"), (BUSY, "busy")])
async def test_a_call_never_answered_creates_no_conference(number: str, status: str) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        answer = await initiate(api, **call_fields("nobody", To=number, Timeout=5))
        assert answer.status == 200, answer.body
        assert await call_ended(api, answer.body["call_sid"]) == status
        assert (await api.conferences(FriendlyName="nobody")).body["conferences"] == []
        [dial] = await api.dials()
        assert (dial["conference_sid"], dial["status"]) == (None, status)


async def test_calls_to_one_name_share_the_running_conference_and_dials_by_name_join_it() -> None:
    async with sandbox_api() as api:
        a = await initiate(api, form=True, **call_fields("weekly"))
        b = await initiate(api, suffix=".json", **call_fields("weekly", To="+12065550101"))
        assert (a.status, b.status) == (200, 200), (a.body, b.body)
        conference = await conference_named(api, "weekly")

        async def both() -> list[dict[str, Any]] | None:
            listed = (await api.participants(conference["sid"])).body["participants"]
            return listed if len(listed) == 2 else None

        listed = await eventually(both)
        assert {p["call_sid"] for p in listed} == {a.body["call_sid"], b.body["call_sid"]}
        dialed = await api.dial_ok("weekly", To="+12065550102", ApplicationSid=APP)
        assert dialed["conference_sid"] == conference["sid"]


async def test_recording_from_the_noun_and_of_the_call() -> None:
    async with sandbox_api() as api:
        answer = await initiate(
            api,
            **call_fields("taped", Texml=texml("taped", record="record-from-start"), Record=True),
        )
        conference = await conference_named(api, "taped")

        async def two() -> list[dict[str, Any]] | None:
            found = await api.recordings(conference["sid"])
            return found if len(found) == 2 else None

        recordings = await eventually(two)
        by_source = {r["source"]: r for r in recordings}
        assert set(by_source) == {"Conference", "OutboundAPI"}
        assert by_source["OutboundAPI"]["call_sid"] == answer.body["call_sid"]
        assert by_source["Conference"]["status"] == "processing"


async def test_initiated_calls_count_against_the_dial_limit() -> None:
    async with sandbox_api(dials_per_second=2, dial_window_seconds=1) as api:
        await api.dial_ok("limited", To="+12065550100", ApplicationSid=APP)
        assert (await initiate(api, **call_fields("limited"))).status == 200
        refused = await initiate(api, **call_fields("limited", To="+12065550101"))
        assert (refused.status, refused.error["code"]) == (429, contract.CODE_DIAL_RATE_LIMITED)
        assert int(refused.headers[contract.HEADER_RETRY_AFTER]) >= 1
        assert len(await api.dials()) == 2
        health = (await api.request("GET", introspection.HEALTH_PATH)).body
        assert health["rate_limited"][contract.CODE_DIAL_RATE_LIMITED] == 1


_PLAIN = texml("room")


@pytest.mark.parametrize(
    ("overrides", "pointer", "code", "words"),
    [
        ({"To": None}, "/To", contract.CODE_MISSING_PARAMETER, "To is required"),
        ({"From": None}, "/From", contract.CODE_MISSING_PARAMETER, "From is required"),
        (
            {"ApplicationSid": None},
            "/ApplicationSid",
            contract.CODE_MISSING_PARAMETER,
            "ApplicationSid is required",
        ),
        ({"To": "12065550100"}, "/To", contract.CODE_BAD_REQUEST, "E.164"),
        ({"Timeout": 3}, "/Timeout", contract.CODE_BAD_REQUEST, "between 5 and 120"),
        ({"CallerId": "a" * 129}, "/CallerId", contract.CODE_BAD_REQUEST, "at most 128"),
        (
            {"Texml": None, "Url": "https://example.com/t.xml"},
            "/Url",
            contract.CODE_BAD_REQUEST,
            "inline TeXML only",
        ),
        ({"Texml": None}, "/Texml", contract.CODE_MISSING_PARAMETER, "inline TeXML only"),
        ({"Texml": "<Response><Dial>"}, "/Texml", contract.CODE_BAD_REQUEST, "not well-formed"),
        (
            {"Texml": "<Response><Say>Hello</Say></Response>"},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "<Response><Dial><Conference attributes>NAME</Conference></Dial></Response>",
        ),
        (
            {"Texml": "<Response><Dial><Number>+12065550100</Number></Dial></Response>"},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "exactly one <Conference>",
        ),
        (
            {
                "Texml": "<Response><Dial><Conference>a</Conference><Conference>b</Conference>"
                "</Dial></Response>"
            },
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "found <Conference>, <Conference>",
        ),
        (
            {"Texml": "<Response><Dial>hi<Conference>a</Conference></Dial></Response>"},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "exactly one <Conference>",
        ),
        (
            {"Texml": '<Response><Dial timeout="5"><Conference>a</Conference></Dial></Response>'},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "<Dial> attributes are not supported (timeout)",
        ),
        (
            {"Texml": texml("room", label="host")},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "no attribute 'label'",
        ),
        (
            {"Texml": texml("room", muted="yes")},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "<Conference muted>: muted must be true or false, got 'yes'",
        ),
        (
            {"Texml": texml("room", maxParticipants="1")},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "maxParticipants must be between 2 and 250, got 1",
        ),
        (
            {"Texml": texml("room", statusCallbackEvent="start mute")},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "'mute' is not one of them",
        ),
        (
            {"Texml": texml("room", statusCallback="ftp://example.com")},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "absolute http:// or https:// URL",
        ),
        (
            {"Texml": texml("room", record="true")},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "record must be one of record-from-start, do-not-record",
        ),
        ({"Texml": texml("two words")}, "/Texml", contract.CODE_BAD_REQUEST, "1 to 128 letters"),
        ({"Texml": texml("")}, "/Texml", contract.CODE_BAD_REQUEST, "1 to 128 letters"),
        ({"Texml": texml("x" * 129)}, "/Texml", contract.CODE_BAD_REQUEST, "1 to 128 letters"),
        (
            {"Texml": '<!DOCTYPE r [<!ENTITY a "b">]>' + _PLAIN.split("?>", 1)[1]},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "DOCTYPE",
        ),
        (
            {"Texml": _PLAIN + " " * 20_000},
            "/Texml",
            contract.CODE_BAD_REQUEST,
            "longer than",
        ),
    ],
)
async def test_validation(overrides: dict[str, Any], pointer: str, code: str, words: str) -> None:
    async with sandbox_api() as api:
        fields = {k: v for k, v in {**call_fields(), **overrides}.items() if v is not None}
        answer = await initiate(api, **fields)
        assert answer.status == 422, answer.body
        error = answer.error
        assert (error["source"]["pointer"], error["code"]) == (pointer, code)
        assert words in error["detail"]
        assert await api.dials() == []


def test_every_noun_attribute_is_taken_as_the_dial_field_it_stands_for() -> None:
    samples = {
        "startConferenceOnEnter": ("false", "StartConferenceOnEnter", False),
        "endConferenceOnExit": ("TRUE", "EndConferenceOnExit", True),
        "muted": ("true", "Muted", True),
        "beep": ("onExit", "Beep", "onExit"),
        "maxParticipants": ("10", "MaxParticipants", 10),
        "record": ("do-not-record", "ConferenceRecord", "do-not-record"),
        "trim": ("trim-silence", "ConferenceTrim", "trim-silence"),
        "waitUrl": ("", "WaitUrl", ""),
        "statusCallback": ("http://127.0.0.1/c", "ConferenceStatusCallback", "http://127.0.0.1/c"),
        "statusCallbackEvent": ("start end", "ConferenceStatusCallbackEvent", "start end"),
        "statusCallbackMethod": ("GET", "ConferenceStatusCallbackMethod", "GET"),
        "recordingStatusCallback": (
            "https://example.com/r",
            "ConferenceRecordingStatusCallback",
            "https://example.com/r",
        ),
        "recordingStatusCallbackEvent": (
            "in-progress completed failed absent",
            "ConferenceRecordingStatusCallbackEvent",
            "in-progress completed failed absent",
        ),
        "recordingStatusCallbackMethod": (
            "POST",
            "ConferenceRecordingStatusCallbackMethod",
            "POST",
        ),
    }
    assert set(samples) == set(contract.CONFERENCE_NOUN_ATTRIBUTES)
    parsed = parse_conference_dial(
        texml("all.the_attrs-1", **{k: raw for k, (raw, _, _) in samples.items()})
    )
    assert parsed.name == "all.the_attrs-1"
    assert parsed.values == {field: value for _, field, value in samples.values()}
    bare = parse_conference_dial("<Response><Dial><Conference>x</Conference></Dial></Response>")
    assert (bare.name, bare.values) == ("x", {})
    with pytest.raises(ApiFailure):
        parse_conference_dial(
            "<Response xmlns='urn:x'><Dial><Conference>x</Conference></Dial></Response>"
        )


async def test_reset_after_commit_places_the_call_but_drops_the_answer() -> None:
    async with sandbox_api(faults={"reset_after_commit_rate": 1.0}) as api:
        with pytest.raises(aiohttp.ClientError):
            await initiate(api, **call_fields("lost"))
        [dial] = await api.dials()
        assert dial["to"] == "+12065550100"
        assert (await conference_named(api, "lost"))["status"] == "in-progress"


@uses_sdk
def test_the_official_sdk_places_the_call(sandbox_thread: SandboxInfo) -> None:
    account = sandbox_thread.account_sid
    with telnyx.Telnyx(
        api_key=sandbox_thread.api_key, base_url=sandbox_thread.base_url, max_retries=0
    ) as client:
        calls = client.texml.accounts.calls
        # SDK 4.189 sends the body's keys as given (no alias to PascalCase), so the documented
        # names are what a caller must write.
        placed = calls.calls(
            account,
            body={
                "To": "+12065550100",
                "From": "+12065550199",
                "ApplicationSid": APP,
                "Texml": texml("sdk-call", muted="true"),
                "StatusCallbackEvent": "initiated completed",
            },
        )
        assert (placed.to, placed.from_, placed.status) == (
            "+12065550100",
            "+12065550199",
            "queued",
        )
        extra = placed.model_extra or {}
        call_sid = extra["call_sid"]
        assert extra["uri"].endswith(f"/Calls/{call_sid}.json")

        conferences = client.texml.accounts.conferences
        found: list[Any] = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            page = conferences.retrieve_conferences(account, friendly_name="sdk-call")
            found = page.conferences or []
            if found and found[0].status == "in-progress":
                break
            time.sleep(0.005)
        [conference] = found
        assert conference.sid is not None
        listed = (
            conferences.participants.retrieve_participants(
                conference.sid, account_sid=account
            ).participants
            or []
        )
        assert [(p.call_sid, p.muted) for p in listed] == [(call_sid, True)]
        call = calls.retrieve(call_sid, account_sid=account)
        assert (call.status, call.to) == ("in-progress", "+12065550100")

        with pytest.raises(telnyx.UnprocessableEntityError) as snake:
            calls.calls(
                account,
                body={
                    "to": "+12065550100",
                    "from_": "+12065550199",
                    "application_sid": APP,
                    "texml": texml("sdk-call"),
                },
            )
        assert "the body has 'to'" in str(snake.value.body)
