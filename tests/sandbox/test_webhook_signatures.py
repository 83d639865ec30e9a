"""Every kind of callback is signed as Telnyx signs it, checked by the official SDK's verifier
with the public key the sandbox reports; a tampered payload or another key fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from orchestrator.sandbox import parse_scenario, running_sandbox
from orchestrator.webhooks.signing import SigningKey
from tests.sandbox.hooks import Arrival, Receiver, receiving
from tests.sandbox.support import APP, open_api, sandbox_api
from tests.sdk import uses_sdk, verify_webhook_signature, webhook_verification_error

# Hangs up ten simulated seconds after answering; human, so detection reports after 2.5 s.
CALLEE = "+15550000005"
NUMBERS = {CALLEE: {"hangup_after": 10}}

# Path on the receiver -> how many callbacks of that kind one call sends there.
KINDS = {
    "/calls": 4,  # initiated, ringing, answered, completed
    "/conference": 4,  # participant-join, conference-start, participant-leave, conference-end
    "/recording": 2,  # the leg's in-progress and completed
    "/conference-recording": 1,  # completed (the default event)
    "/amd": 1,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as target:
        yield target


def _dial_fields(receiver: Receiver, method: str) -> dict[str, str | bool]:
    query = "?token=s3cret%2Fx&plain=a+b"  # the callback URLs' own, percent-encoded, query
    return {
        "To": CALLEE,
        "From": "+12065550199",
        "ApplicationSid": APP,
        "Label": "host",
        "StatusCallback": receiver.url("/calls") + query,
        "StatusCallbackMethod": method,
        "StatusCallbackEvent": "initiated ringing answered completed",
        "ConferenceStatusCallback": receiver.url("/conference") + query,
        "ConferenceStatusCallbackMethod": method,
        "ConferenceStatusCallbackEvent": "start end join leave",
        "Record": True,
        "RecordingStatusCallback": receiver.url("/recording") + query,
        "RecordingStatusCallbackMethod": method,
        "RecordingStatusCallbackEvent": "in-progress completed",
        "ConferenceRecord": "record-from-start",
        "ConferenceRecordingStatusCallback": receiver.url("/conference-recording") + query,
        "ConferenceRecordingStatusCallbackMethod": method,
        "MachineDetection": "Enable",
        "AmdStatusCallback": receiver.url("/amd") + query,
        "AmdStatusCallbackMethod": method,
    }


async def _every_kind(receiver: Receiver, method: str) -> tuple[str, list[Arrival]]:
    """One call that sends every kind of callback; the public key and what arrived."""
    async with sandbox_api(numbers=NUMBERS) as api:
        await api.dial_ok("signed", **_dial_fields(receiver, method))
        arrivals = [
            arrival
            for path, count in KINDS.items()
            for arrival in await receiver.received(path, count)
        ]
    return api.info.public_key, arrivals


@pytest.mark.parametrize("method", ["POST", "GET"])
@uses_sdk
async def test_every_kind_of_callback_verifies_with_the_official_sdk(
    receiver: Receiver, method: str
) -> None:
    public_key, arrivals = await _every_kind(receiver, method)
    assert len(arrivals) == sum(KINDS.values())
    statuses = {a.fields.get("CallStatus") for a in arrivals if a.path == "/calls"}
    assert statuses == {"initiated", "ringing", "in-progress", "completed"}
    for arrival in arrivals:
        assert arrival.method == method
        verify_webhook_signature(arrival.payload, arrival.headers, public_key)
        # What Telnyx documents, and nothing it does not send: no event id.
        assert "EventId" not in arrival.fields and arrival.fields["ConnectionId"]
        # Telnyx's recording and AMD callbacks carry no Timestamp, SequenceNumber or start time.
        bare = "RecordingStatus" in arrival.fields or arrival.path == "/amd"
        assert bare == ("Timestamp" not in arrival.fields), arrival.fields
        assert "RecordingStartTime" not in arrival.fields
        assert bare == ("SequenceNumber" not in arrival.fields), arrival.fields
        if not bare:
            timestamp = arrival.fields["Timestamp"]
            assert datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"), timestamp
        assert ("CallInitiatedAt" in arrival.fields) == (arrival.path == "/calls")
        if method == "GET":
            assert arrival.body == b""
            # The URL's own query comes first, as given; the signature covers all of it.
            assert arrival.query_string.startswith("token=s3cret%2Fx&plain=a+b&")
        else:
            assert arrival.headers["Content-Type"] == "application/x-www-form-urlencoded"
            assert arrival.query_string == "token=s3cret%2Fx&plain=a+b"


@pytest.mark.parametrize("method", ["POST", "GET"])
@uses_sdk
async def test_a_tampered_payload_or_another_key_fails(receiver: Receiver, method: str) -> None:
    public_key, arrivals = await _every_kind(receiver, method)
    other_key = SigningKey.generate().public_key
    for arrival in arrivals:
        payload = arrival.payload
        tampered = payload.replace(b"AccountSid=", b"AccountSid=x", 1)
        assert tampered != payload
        with pytest.raises(webhook_verification_error()):
            verify_webhook_signature(tampered, arrival.headers, public_key)
        with pytest.raises(webhook_verification_error()):
            verify_webhook_signature(payload, arrival.headers, other_key)
        if method == "GET":  # a GET's body is not what is signed
            with pytest.raises(webhook_verification_error()):
                verify_webhook_signature(b"", arrival.headers, public_key)


@uses_sdk
async def test_a_given_signing_key_signs_and_is_reported(receiver: Receiver) -> None:
    key = SigningKey.generate()
    scenario = parse_scenario({"time_scale": 0.01, "seed": 1})
    async with running_sandbox(scenario, signing_key=key) as info, open_api(info) as api:
        assert info.public_key == key.public_key
        await api.dial_ok(
            "keyed",
            To="+12065550100",
            ApplicationSid=APP,
            StatusCallback=receiver.url("/calls"),
            StatusCallbackEvent="initiated",
        )
        [arrival] = await receiver.received("/calls", 1)
    verify_webhook_signature(arrival.body, arrival.headers, key.public_key)


async def test_each_run_has_a_key_of_its_own_unless_given_one() -> None:
    scenario = parse_scenario({})
    async with running_sandbox(scenario) as first, running_sandbox(scenario) as second:
        assert first.public_key != second.public_key
    assert len(first.public_key) == 44 and first.public_key.endswith("=")  # 32 bytes, base64
    assert "public_key" in repr(first) and "api_key" not in repr(first)
