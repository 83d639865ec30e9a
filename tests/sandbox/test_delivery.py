"""Callbacks delivered as Telnyx promises, not more kindly: retried when a receiver fails,
duplicated and reordered when the scenario says so, each with the documented fields a receiver
de-duplicates and orders them by (and no event id, which Telnyx does not send); and the
completed callback's account of how the call ended."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from orchestrator.sandbox import introspection
from orchestrator.sandbox.callbacks import retry_delay
from tests.sandbox.hooks import Arrival, Receiver, event_key, receiving
from tests.sandbox.support import APP, Api, eventually, sandbox_api, stepped_api
from tests.sdk import uses_sdk, verify_webhook_signature

HANGS_UP = "+15550000005"  # hangs up ten simulated seconds after answering
STAYS_UP = "+15550000008"  # answers and stays
NUMBERS = {
    HANGS_UP: {"hangup_after": 10},
    "+15550000001": {"answer": "no-answer"},
    "+15550000002": {"answer": "busy"},
    "+15550000003": {"answer": "fail"},
    "+15550000004": {"answer": "after", "seconds": 60},
}
ALL_EVENTS = "initiated ringing answered completed"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as target:
        yield target


async def _health(api: Api) -> dict[str, Any]:
    answer = await api.request("GET", introspection.HEALTH_PATH)
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def _settled(api: Api, *, within: float = 5.0) -> dict[str, int]:
    """The webhook counters once nothing is pending any more."""

    async def probe() -> dict[str, int] | None:
        counts = dict((await _health(api))["webhooks"])
        return counts if counts["pending"] == 0 else None

    return await api.eventually(probe, within=within)


# Retries ---------------------------------------------------------------------------


def test_retries_wait_one_two_four_seconds_then_double_up_to_a_minute() -> None:
    assert [retry_delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


@uses_sdk
async def test_a_receiver_that_fails_twice_still_gets_the_same_callback_three_times(
    receiver: Receiver,
) -> None:
    receiver.failing["/flaky"] = 2
    async with stepped_api(numbers=NUMBERS) as api:  # retries wait for the test's clock
        await api.dial_ok(
            "retried",
            To="+12065550100",
            ApplicationSid=APP,
            StatusCallback=receiver.url("/flaky"),
            StatusCallbackEvent="initiated",
        )
        await receiver.received("/flaky", 1)
        for retry in (1, 2):  # one second, then two
            await api.advance(retry_delay(retry) - 0.1)
            assert len(receiver.on("/flaky")) == retry  # not yet
            await api.advance(0.1)
            await receiver.received("/flaky", retry + 1)
        attempts = receiver.on("/flaky")
        counts = await _settled(api)
    assert len({a.event for a in attempts}) == 1  # the same event, three times
    assert [a.fields for a in attempts] == [attempts[0].fields] * 3  # fields and all
    assert [a.body for a in attempts] == [attempts[0].body] * 3  # byte for byte
    for attempt in attempts:  # each attempt signed afresh, each verifies
        verify_webhook_signature(attempt.payload, attempt.headers, api.info.public_key)
    assert (counts["failed"], counts["retried"], counts["sent"], counts["abandoned"]) == (
        2,
        2,
        1,
        0,
    )


async def test_retry_attempts_sets_how_often_a_failing_receiver_is_tried(
    receiver: Receiver,
) -> None:
    receiver.failing["/down"] = 100
    async with stepped_api(numbers=NUMBERS, webhooks={"retry_attempts": 1}) as api:
        await api.dial_ok(
            "given-up",
            To="+12065550100",
            ApplicationSid=APP,
            StatusCallback=receiver.url("/down"),
            StatusCallbackEvent="initiated",
        )
        counts = await _settled(api, within=60)
    assert len(receiver.on("/down")) == 2  # the first try and one retry
    assert (counts["failed"], counts["retried"], counts["abandoned"]) == (2, 1, 1)


async def test_without_retries_a_failure_is_dropped_at_once(receiver: Receiver) -> None:
    receiver.failing["/down"] = 100
    async with sandbox_api(numbers=NUMBERS, webhooks={"retry_attempts": 0}) as api:
        await api.dial_ok(
            "dropped",
            To="+12065550100",
            ApplicationSid=APP,
            StatusCallback=receiver.url("/down"),
            StatusCallbackEvent="initiated",
        )
        counts = await _settled(api, within=2)
    assert len(receiver.on("/down")) == 1
    assert (counts["failed"], counts["retried"], counts["abandoned"]) == (1, 0, 1)


# Duplicates and order ---------------------------------------------------------------


async def test_duplicate_rate_one_delivers_every_callback_twice_the_same(
    receiver: Receiver,
) -> None:
    async with sandbox_api(numbers=NUMBERS, webhooks={"duplicate_rate": 1}) as api:
        await api.dial_ok(
            "twice",
            To=HANGS_UP,
            ApplicationSid=APP,
            StatusCallback=receiver.url("/calls"),
            StatusCallbackEvent=ALL_EVENTS,
        )
        arrivals = await receiver.received("/calls", 8)
        counts = await _settled(api)
    # A duplicate is the same callback twice: the documented fields a handler keys on say so.
    by_event = Counter(a.event for a in arrivals)
    assert len(by_event) == 4 and set(by_event.values()) == {2}
    for event in by_event:
        copies = [a.body for a in arrivals if a.event == event]
        assert copies[0] == copies[1]  # every field: SequenceNumber, Timestamp, ...
    assert all("EventId" not in a.fields for a in arrivals)
    assert counts["duplicated"] == 4 and counts["sent"] == 8


async def _sequence_arrivals(receiver: Receiver, **scenario: Any) -> list[tuple[str, int]]:
    """Five calls' four events each to one URL: (CallSid, SequenceNumber) in arrival order."""
    async with sandbox_api(numbers=NUMBERS, **scenario) as api:
        for i in range(5):
            await api.dial_ok(
                "ordered",
                To=HANGS_UP,
                ApplicationSid=APP,
                Label=f"p{i}",
                StatusCallback=receiver.url("/calls"),
                StatusCallbackEvent=ALL_EVENTS,
            )
        arrivals = await receiver.received("/calls", 20)
        await _settled(api)
    return [(a.fields["CallSid"], int(a.fields["SequenceNumber"])) for a in arrivals]


def _out_of_order(arrived: list[tuple[str, int]]) -> int:
    """How many callbacks arrived after a later one of the same call."""
    latest: dict[str, int] = {}
    late = 0
    for call, number in arrived:
        if number < latest.get(call, -1):
            late += 1
        latest[call] = max(number, latest.get(call, -1))
    return late


async def test_callbacks_to_one_url_arrive_in_order_by_default(receiver: Receiver) -> None:
    arrived = await _sequence_arrivals(receiver)
    assert _out_of_order(arrived) == 0
    for call in {c for c, _ in arrived}:
        assert [n for c, n in arrived if c == call] == [0, 1, 2, 3]


async def test_a_reorder_window_makes_callbacks_arrive_out_of_order(receiver: Receiver) -> None:
    arrived = await _sequence_arrivals(receiver, webhooks={"reorder_window_ms": 400})
    assert _out_of_order(arrived) >= 1
    # Every event still arrives exactly once, and SequenceNumber puts each call back in order.
    for call in {c for c, _ in arrived}:
        assert sorted(n for c, n in arrived if c == call) == [0, 1, 2, 3]


def _iso_utc(text: str, *, milliseconds: bool = False) -> datetime:
    """A callback's ISO 8601 date, as Telnyx's reference shows them (``...Z``)."""
    shape = "%Y-%m-%dT%H:%M:%S.%f%z" if milliseconds else "%Y-%m-%dT%H:%M:%S%z"
    assert text.endswith("Z") and len(text) == (24 if milliseconds else 20), text
    return datetime.strptime(text, shape)


async def test_callbacks_carry_the_documented_fields_and_no_event_id(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        await api.dial_ok(
            "ids",
            To=HANGS_UP,
            ApplicationSid=APP,
            StatusCallback=receiver.url("/calls"),
            StatusCallbackEvent=ALL_EVENTS,
            ConferenceStatusCallback=receiver.url("/conference"),
            ConferenceStatusCallbackEvent="start end join leave",
        )
        calls = await receiver.received("/calls", 4)
        conference = await receiver.received("/conference", 4)
    arrivals = [*calls, *conference]
    # Every event is told apart by documented fields alone.
    assert len({event_key(a.fields) for a in arrivals}) == 8
    for arrival in arrivals:
        assert "EventId" not in arrival.fields
        assert _iso_utc(arrival.fields["Timestamp"])
        assert arrival.fields["SequenceNumber"].isdigit()
        assert arrival.fields["ConnectionId"].isdigit()
    assert len({a.fields["ConnectionId"] for a in arrivals}) == 1
    # CallInitiatedAt on call-progress callbacks only, the same on each, not after the first.
    initiated = {a.fields["CallInitiatedAt"] for a in calls}
    assert len(initiated) == 1
    placed = _iso_utc(initiated.pop(), milliseconds=True)
    assert placed.replace(microsecond=0) <= _iso_utc(calls[0].fields["Timestamp"])
    assert all("CallInitiatedAt" not in a.fields for a in conference)


# How a call ended --------------------------------------------------------------------


async def _completed(api: Api, receiver: Receiver, path: str, to: str, **fields: Any) -> Arrival:
    await api.dial_ok(
        "ended",
        To=to,
        ApplicationSid=APP,
        StatusCallback=receiver.url(path),
        StatusCallbackEvent="completed",
        **fields,
    )
    [completed] = await receiver.received(path, 1)
    return completed


async def test_a_completed_callback_says_how_an_answered_call_ended(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        completed = (await _completed(api, receiver, "/callee", HANGS_UP)).fields
    assert (completed["CallStatus"], completed["HangupCause"], completed["HangupSource"]) == (
        "completed",
        "normal_clearing",
        "callee",
    )
    answered = _iso_utc(completed["AnsweredTime"])
    assert answered <= _iso_utc(completed["Timestamp"])
    duration = int(completed["CallDuration"])
    assert 9 <= duration <= 11
    stats = json.loads(completed["CallQualityStats"])
    assert set(stats) == {"inbound", "outbound"}
    for direction in stats.values():
        assert set(direction) == {
            "mos",
            "jitter_max_variance",
            "jitter_packet_count",
            "packet_count",
            "skip_packet_count",
        }
        assert all(isinstance(value, str) for value in direction.values())
        assert 4.0 <= float(direction["mos"]) <= 4.5
        assert 0 <= float(direction["jitter_max_variance"]) < 50
        packets = int(direction["packet_count"])
        assert packets == duration * 50  # 20 ms frames
        assert 0 <= int(direction["skip_packet_count"]) < packets * 0.01  # under 1% lost


@pytest.mark.parametrize(
    ("to", "status", "cause", "source"),
    [
        ("+15550000002", "busy", "user_busy", "callee"),
        ("+15550000001", "no-answer", "no_answer", "unknown"),
        ("+15550000003", "failed", "call_rejected", "callee"),
    ],
)
async def test_a_call_never_answered_says_why_and_has_no_answer_time_or_quality(
    receiver: Receiver, to: str, status: str, cause: str, source: str
) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        completed = (await _completed(api, receiver, "/never", to, Timeout=5)).fields
    assert (completed["CallStatus"], completed["HangupCause"], completed["HangupSource"]) == (
        status,
        cause,
        source,
    )
    assert (completed["AnsweredTime"], completed["CallQualityStats"]) == ("", "")
    assert completed["CallDuration"] == "0"


async def test_hanging_up_through_the_api_is_the_caller_s_doing(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        ringing = await api.dial_ok(
            "ours",
            To="+15550000004",  # still ringing when hung up
            ApplicationSid=APP,
            StatusCallback=receiver.url("/ringing"),
            StatusCallbackEvent="completed",
        )
        sid = ringing["conference_sid"]
        answered = await api.dial_ok(
            sid,
            To="+12065550100",
            StatusCallback=receiver.url("/answered"),
            StatusCallbackEvent="completed",
        )

        async def connected() -> bool:
            return (await api.call_status(answered["call_sid"])) == "in-progress"

        await eventually(connected)
        assert (await api.delete_participant(sid, ringing["call_sid"])).status == 204
        assert (await api.delete_participant(sid, answered["call_sid"])).status == 204
        [canceled] = await receiver.received("/ringing", 1)
        [hung_up] = await receiver.received("/answered", 1)
    assert [canceled.fields[k] for k in ("CallStatus", "HangupCause", "HangupSource")] == [
        "canceled",
        "originator_cancel",
        "caller",
    ]
    assert canceled.fields["AnsweredTime"] == ""
    assert [hung_up.fields[k] for k in ("CallStatus", "HangupCause", "HangupSource")] == [
        "completed",
        "normal_clearing",
        "caller",
    ]
    assert hung_up.fields["AnsweredTime"] and hung_up.fields["CallQualityStats"].startswith("{")


async def test_a_time_limit_ends_the_call_as_such(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        # A call that would stay up is ended by its TimeLimit (30 s, the least the API takes).
        completed = (await _completed(api, receiver, "/limit", STAYS_UP, TimeLimit=30)).fields
    assert (completed["HangupCause"], completed["HangupSource"]) == ("time_limit", "unknown")
    assert 29 <= int(completed["CallDuration"]) <= 31


async def test_a_slow_receiver_holds_up_only_its_own_url(receiver: Receiver) -> None:
    receiver.failing["/flaky"] = 1
    async with stepped_api(numbers=NUMBERS) as api:  # the retry waits until the test says
        for path in ("/flaky", "/fine"):
            await api.dial_ok(
                "apart",
                To="+12065550100",
                ApplicationSid=APP,
                StatusCallback=receiver.url(path),
                StatusCallbackEvent="initiated",
            )
        await receiver.received("/fine", 1)  # not behind the other URL's retry
        assert len(receiver.on("/flaky")) == 1
        await api.advance(retry_delay(1))
        [_, retried] = await receiver.received("/flaky", 2)
        assert retried.body == receiver.on("/flaky")[0].body
