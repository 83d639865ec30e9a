"""Answering-machine detection, simulated: who picks up is the scenario's, what is reported
and when is the detection's, and nothing is detected for a call that did not ask.

The sandbox runs on a stepped clock (a simulated second is one of its seconds); its
callbacks come over real HTTP, once the clock has reached the moment they are sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from orchestrator.sandbox.lifecycle import detection_result
from orchestrator.texml import contract
from tests.sandbox.hooks import Receiver, receiving
from tests.sandbox.support import APP, Api, stepped_api

HUMAN = "+15550000010"
MACHINE = "+15550000011"
NOT_SURE = "+15550000012"
NUMBERS = {
    HUMAN: {"answered_by": "human"},
    MACHINE: {"answered_by": "machine"},
    NOT_SURE: {"answered_by": "not_sure"},
}
ROOM_TEXML = "<Response><Dial><Conference>{name}</Conference></Dial></Response>"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as target:
        yield target


def _amd(receiver: Receiver, mode: str | None = "Enable", **more: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "AmdStatusCallback": receiver.url("/amd"),
        "StatusCallback": receiver.url("/calls"),
        "StatusCallbackEvent": "answered",
        **more,
    }
    if mode is not None:
        fields["MachineDetection"] = mode
    return fields


async def _answered(api: Api, call_sid: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        call = await api.call(call_sid)
        return call if call["status"] == "in-progress" else None

    return await api.eventually(probe)


async def _detected(api: Api, call_sid: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        call = await api.call(call_sid)
        return call if call["answered_by"] is not None else None

    return await api.eventually(probe)


async def test_a_machine_is_detected_after_the_detection_time(receiver: Receiver) -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok("amd", To=MACHINE, ApplicationSid=APP, **_amd(receiver))
        answered = await _answered(api, leg["call_sid"])
        assert "answered_by" in answered and answered["answered_by"] is None  # not yet known
        await api.advance(3.9)
        assert (await api.call(leg["call_sid"]))["answered_by"] is None
        assert receiver.on("/amd") == []
        await api.advance(0.1)  # four simulated seconds after the answer
        [amd] = await receiver.received("/amd", 1)
        call = await api.call(leg["call_sid"])
    assert call["answered_by"] == "machine"
    assert call["answered_by"] in ("human", "machine", "not_sure")  # the spec's enum
    assert call["status"] == "in-progress"  # detection alone ends nothing
    fields = amd.fields
    assert (fields["AnsweredBy"], fields["MachineDetectionDuration"]) == ("machine_start", "4000")
    # As Telnyx's AMD callback example: the call, its result, and nothing else.
    assert fields["CallSid"] == leg["call_sid"] and fields["CallSidLegacy"]
    assert set(fields) == {
        "AccountSid", "CallSid", "CallSidLegacy", "ConnectionId", "AnsweredBy",
        "MachineDetectionDuration",
    }  # fmt: skip
    assert fields["AccountSid"] == api.info.account_sid
    assert "CallStatus" not in fields and fields["ConnectionId"]
    assert "EventId" not in fields


@pytest.mark.parametrize(
    ("number", "resource", "callback", "duration"),
    [
        (HUMAN, "human", "human", "2500"),
        (MACHINE, "machine", "machine_start", "4000"),
        (NOT_SURE, "not_sure", "unknown", "5000"),  # at the MachineDetectionTimeout
        ("+12065550100", "human", "human", "2500"),  # a number the scenario does not name
    ],
)
async def test_each_kind_of_answer_is_reported_as_such(
    receiver: Receiver, number: str, resource: str, callback: str, duration: str
) -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok(
            "kinds", To=number, ApplicationSid=APP, **_amd(receiver, MachineDetectionTimeout=5000)
        )
        call = await _detected(api, leg["call_sid"])
        [amd] = await receiver.received("/amd", 1)
    assert call["answered_by"] == resource
    assert (amd.fields["AnsweredBy"], amd.fields["MachineDetectionDuration"]) == (
        callback,
        duration,
    )


async def test_answered_by_words_callback_gives_the_callbacks_word_on_the_call(
    receiver: Receiver,
) -> None:
    async with stepped_api(numbers=NUMBERS, api={"answered_by_words": "callback"}) as api:
        leg = await api.dial_ok("words", To=MACHINE, ApplicationSid=APP, **_amd(receiver))
        call = await _detected(api, leg["call_sid"])
        [amd] = await receiver.received("/amd", 1)
    assert call["answered_by"] == amd.fields["AnsweredBy"] == "machine_start"


async def test_without_machine_detection_nothing_is_detected(receiver: Receiver) -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok("none", To=MACHINE, ApplicationSid=APP, **_amd(receiver, None))
        await _answered(api, leg["call_sid"])
        await api.advance(15)  # well past a machine's four simulated seconds
        call = await api.call(leg["call_sid"])
        [answered] = await receiver.received("/calls", 1)
    assert call["answered_by"] is None
    assert receiver.on("/amd") == []
    assert "AnsweredBy" not in answered.fields


async def test_detect_message_end_waits_for_the_greeting_to_end(receiver: Receiver) -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        quick = await api.dial_ok("beep", To=MACHINE, ApplicationSid=APP, **_amd(receiver))
        slow = await api.dial_ok(
            quick["conference_sid"], To=MACHINE, **_amd(receiver, "DetectMessageEnd")
        )
        await _detected(api, quick["call_sid"])
        [first] = await receiver.received("/amd", 1)
        early = await api.call(slow["call_sid"])
        await api.advance(5.9)
        assert len(receiver.on("/amd")) == 1  # the greeting plays on
        await api.advance(0.1)  # six simulated seconds of greeting more
        _, beep = await receiver.received("/amd", 2)
        done = await api.call(slow["call_sid"])
    assert (first.fields["CallSid"], first.fields["AnsweredBy"]) == (
        quick["call_sid"],
        "machine_start",
    )
    assert early["answered_by"] is None  # a machine by now, but not reported until the beep
    assert done["answered_by"] == "machine"
    assert beep.fields["CallSid"] == slow["call_sid"]
    assert (beep.fields["AnsweredBy"], beep.fields["MachineDetectionDuration"]) == (
        "machine_end_beep",
        "10000",
    )


def test_a_timeout_shorter_than_the_detection_reports_what_is_known_by_then() -> None:
    assert detection_result("human", "Enable", 30_000) == (2.5, "human", "human")
    assert detection_result("human", "Enable", 2_000) == (2.0, "not_sure", "unknown")
    assert detection_result("machine", "Enable", 3_000) == (3.0, "not_sure", "unknown")
    assert detection_result("machine", "DetectMessageEnd", 30_000) == (
        10.0,
        "machine",
        "machine_end_beep",
    )
    # Known to be a machine, but its greeting outlasts the timeout: no beep heard.
    assert detection_result("machine", "DetectMessageEnd", 6_000) == (
        6.0,
        "machine",
        "machine_end_other",
    )
    assert detection_result("not_sure", "DetectMessageEnd", 30_000) == (30.0, "not_sure", "unknown")


async def test_a_call_that_ends_before_the_result_has_none(receiver: Receiver) -> None:
    numbers = {MACHINE: {"answered_by": "machine", "hangup_after": 1}}
    async with stepped_api(numbers=numbers) as api:
        leg = await api.dial_ok("short", To=MACHINE, ApplicationSid=APP, **_amd(receiver))

        async def ended() -> bool:
            return (await api.call_status(leg["call_sid"])) == "completed"

        await api.eventually(ended)
        await api.advance(10)
        call = await api.call(leg["call_sid"])
    assert call["answered_by"] is None
    assert receiver.on("/amd") == []


async def test_call_progress_after_the_result_carries_answered_by(receiver: Receiver) -> None:
    numbers = {MACHINE: {"answered_by": "machine", "hangup_after": 10}}
    async with stepped_api(numbers=numbers) as api:
        await api.dial_ok(
            "after",
            To=MACHINE,
            ApplicationSid=APP,
            **_amd(receiver, StatusCallbackEvent="answered completed"),
        )
        await api.advance(2 + 10)  # the ring, then ten seconds of call
        answered, completed = await receiver.received("/calls", 2)
    assert "AnsweredBy" not in answered.fields  # sent before detection was done
    assert completed.fields["AnsweredBy"] == "machine_start"


# Placed calls (InitiateTexmlCall) ------------------------------------------------------


async def _place(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    body = {
        "To": MACHINE,
        "From": "+12065550199",
        "ApplicationSid": APP,
        "Texml": ROOM_TEXML.format(name=name),
        **fields,
    }
    answer = await api.request("POST", api.path(contract.CALLS_PATH), json=body)
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def _conferences_named(api: Api, name: str) -> list[dict[str, Any]]:
    answer = await api.conferences(FriendlyName=name)
    return list(answer.body["conferences"])


async def test_a_placed_call_runs_its_texml_only_once_detection_is_done(
    receiver: Receiver,
) -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        placed = await _place(
            api,
            "waits",
            MachineDetection="Enable",
            AsyncAmdStatusCallback=receiver.url("/amd"),
        )
        await _answered(api, placed["call_sid"])
        assert await _conferences_named(api, "waits") == []  # answered, TeXML not run yet

        async def joined() -> list[dict[str, Any]] | None:
            return await _conferences_named(api, "waits") or None

        [conference] = await api.eventually(joined)
        [amd] = await receiver.received("/amd", 1)
        call = await api.call(placed["call_sid"])
    assert amd.fields["AnsweredBy"] == "machine_start" and "ConferenceSid" not in amd.fields
    assert call["answered_by"] == "machine"
    assert conference["status"] == "in-progress"


async def test_a_placed_call_with_async_amd_joins_at_once(receiver: Receiver) -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        placed = await _place(
            api,
            "parallel",
            MachineDetection="DetectMessageEnd",
            AsyncAmd=True,
            AsyncAmdStatusCallback=receiver.url("/amd"),
        )
        await _answered(api, placed["call_sid"])

        async def joined() -> list[dict[str, Any]] | None:
            return await _conferences_named(api, "parallel") or None

        assert len(await api.eventually(joined)) == 1
        assert receiver.on("/amd") == []  # joined while the greeting still plays
        await api.advance(10)  # the greeting's end
        [amd] = await receiver.received("/amd", 1)
    assert amd.fields["AnsweredBy"] == "machine_end_beep"
    assert "ConferenceSid" not in amd.fields and amd.fields["CallSid"] == placed["call_sid"]


async def test_a_placed_call_may_say_disable(receiver: Receiver) -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        placed = await _place(api, "off", MachineDetection="Disable", AmdStatusCallback="")
        await _answered(api, placed["call_sid"])
        await api.advance(10)
        call = await api.call(placed["call_sid"])
    assert call["answered_by"] is None
