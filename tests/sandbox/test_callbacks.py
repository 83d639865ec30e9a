"""Status callbacks delivered as real HTTP requests to a local receiver, and recordings."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import time
import wave
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from tests.sandbox.hooks import Receiver, receiving
from tests.sandbox.support import APP, eventually, sandbox_api

NUMBERS = {"+15550000005": {"hangup_after": 10}, "+15550000001": {"answer": "no-answer"}}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as target:
        target.failing["/fail"] = 1_000  # refused every time
        target.hanging.add("/slow")
        yield target


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_call_progress_events_in_order_as_forms(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok(
            "room",
            To="+15550000005",
            From="+12065550199",
            ApplicationSid=APP,
            StatusCallback=f"{receiver.base_url}/calls?token=s3cret",
            StatusCallbackEvent="initiated ringing answered completed",
        )
        events = await receiver.received("/calls", 4)
        assert [d.method for d in events] == ["POST"] * 4
        assert [d.fields["CallStatus"] for d in events] == [
            "initiated",
            "ringing",
            "in-progress",
            "completed",
        ]
        first = events[0].fields
        assert first["CallSid"] == leg["call_sid"]
        assert first["ConferenceSid"] == leg["conference_sid"]
        assert first["AccountSid"] == api.info.account_sid
        assert (first["To"], first["From"]) == ("+15550000005", "+12065550199")
        # ISO 8601 in UTC, as Telnyx's callback reference shows it.
        assert datetime.strptime(first["Timestamp"], "%Y-%m-%dT%H:%M:%S%z").utcoffset() is not None
        assert first["Timestamp"].endswith("Z") and "EventId" not in first
        assert [d.fields["SequenceNumber"] for d in events] == ["0", "1", "2", "3"]
        assert "CallDuration" in events[3].fields


async def test_default_events_and_get_method(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok(
            "room",
            To="+15550000001",
            ApplicationSid=APP,
            Timeout=5,
            StatusCallback=f"{receiver.base_url}/by-get",
            StatusCallbackMethod="GET",
        )
        [only] = await receiver.received("/by-get", 1)
        assert only.method == "GET"
        assert (only.fields["CallStatus"], only.fields["CallSid"]) == ("no-answer", leg["call_sid"])
        await asyncio.sleep(0.05)
        assert len(receiver.on("/by-get")) == 1  # completed is the only default event


async def test_conference_events(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        url = f"{receiver.base_url}/conference"
        host = await api.dial_ok(
            "room",
            To="+15550000005",
            ApplicationSid=APP,
            Label="host",
            ConferenceStatusCallback=url,
            ConferenceStatusCallbackEvent="start end join leave",
        )
        events = await receiver.received("/conference", 4)
        assert [d.fields["StatusCallbackEvent"] for d in events] == [
            "participant-join",
            "conference-start",
            "participant-leave",
            "conference-end",
        ]
        join = events[0].fields
        assert (join["CallSid"], join["ParticipantLabel"], join["FriendlyName"]) == (
            host["call_sid"],
            "host",
            "room",
        )
        end = events[3].fields
        assert end["ReasonConferenceEnded"] == "last-participant-left"
        assert end["CallSidEndingConference"] == host["call_sid"]
        assert end["ConferenceSid"] == host["conference_sid"]


async def test_recordings_of_a_leg_and_of_the_conference(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok(
            "recorded",
            To="+12065550100",
            ApplicationSid=APP,
            Record=True,
            RecordingChannels="dual",
            RecordingStatusCallback=f"{receiver.base_url}/recording",
            RecordingStatusCallbackEvent="in-progress completed",
            ConferenceRecord="record-from-start",
            ConferenceRecordingStatusCallback=f"{receiver.base_url}/conference-recording",
        )
        sid = leg["conference_sid"]
        await receiver.received("/recording", 1)
        recordings = await api.recordings(sid)
        assert {r["source"] for r in recordings} == {"DialVerb", "Conference"}
        assert {r["status"] for r in recordings} == {"processing"}

        await api.update_conference(sid, Status="completed")
        leg_events = await receiver.received("/recording", 2)
        assert [d.fields["RecordingStatus"] for d in leg_events] == ["in-progress", "completed"]
        done = leg_events[1].fields
        assert done["CallSid"] == leg["call_sid"] and done["RecordingChannels"] == "2"
        [conference_done] = await receiver.received("/conference-recording", 1)
        assert conference_done.fields["RecordingStatus"] == "completed"  # the default event only

        recordings = await api.recordings(sid)
        assert {r["status"] for r in recordings} == {"completed"}
        by_source = {r["source"]: r for r in recordings}
        assert by_source["DialVerb"]["call_sid"] == leg["call_sid"]
        assert by_source["Conference"]["call_sid"] is None
        media_url = by_source["DialVerb"]["media_url"]
        assert media_url == done["RecordingUrl"]
        async with api.session.get(media_url) as media:
            assert media.status == 200
            assert (await media.read())[:4] == b"RIFF"


async def test_unanswered_leg_reports_its_recording_absent(receiver: Receiver) -> None:
    async with sandbox_api(numbers=NUMBERS) as api:
        await api.dial_ok(
            "room",
            To="+15550000001",
            ApplicationSid=APP,
            Timeout=5,
            Record=True,
            RecordingStatusCallback=f"{receiver.base_url}/recording",
            RecordingStatusCallbackEvent="completed absent",
        )
        [absent] = await receiver.received("/recording", 1)
        assert absent.fields["RecordingStatus"] == "absent"


async def test_failing_receivers_never_hold_up_the_api(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.sandbox")
    dead_port = _closed_port()
    async with sandbox_api(numbers=NUMBERS) as api:
        started = time.monotonic()
        for path in ("/slow", "/fail"):
            await api.dial_ok(
                "room",
                To="+12065550100",
                ApplicationSid=APP,
                StatusCallback=f"{receiver.base_url}{path}",
                StatusCallbackEvent="initiated",
            )
        await api.dial_ok(
            "room",
            To="+12065550101",
            ApplicationSid=APP,
            StatusCallback=f"http://user:pw@127.0.0.1:{dead_port}/hook?token=s3cret",
            StatusCallbackEvent="initiated",
        )
        await api.dial_ok(
            "room",
            To="+12065550102",
            ApplicationSid=APP,
            StatusCallback=f"{receiver.base_url}/fine",
            StatusCallbackEvent="initiated",
        )
        await receiver.received("/fine", 1)
        await receiver.received("/fail", 1)
        assert (await api.conferences()).status == 200
        assert time.monotonic() - started < 2

        async def logged() -> bool:
            return "not delivered" in caplog.text and "HTTP 500" in caplog.text

        await eventually(logged)
    assert "s3cret" not in caplog.text and "pw@" not in caplog.text
    assert api.info.api_key not in caplog.text


async def test_callbacks_to_other_hosts_are_never_sent(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.sandbox")
    async with sandbox_api(numbers=NUMBERS) as api:
        for number in ("+12065550100", "+12065550101"):
            await api.dial_ok(
                "room",
                To=number,
                ApplicationSid=APP,
                StatusCallback="https://hooks.example.invalid/calls?token=s3cret",
                StatusCallbackEvent="initiated answered",
                ConferenceStatusCallback=f"{receiver.base_url}/conference",
                ConferenceStatusCallbackEvent="join",
            )
        await receiver.received("/conference", 2)  # local receivers still get theirs
    refusals = [r for r in caplog.records if "only loopback URLs" in r.getMessage()]
    assert len(refusals) == 1  # said once per URL, not once per event
    assert "hooks.example.invalid/calls" in refusals[0].getMessage()
    assert "s3cret" not in caplog.text
    assert not any(
        "delivered (HTTP" in r.getMessage() and "example" in r.getMessage() for r in caplog.records
    )


def test_local_urls_are_loopback_only() -> None:
    from orchestrator.sandbox.callbacks import is_local_url

    assert is_local_url("http://127.0.0.1:9000/x")
    assert is_local_url("http://localhost/x")
    assert is_local_url("http://[::1]:8080/x")
    assert not is_local_url("https://example.com/hooks")
    assert not is_local_url("http://10.0.0.5/x")
    assert not is_local_url("not a url")


async def test_recording_media_is_one_second_of_silence_as_a_wav_of_its_channels() -> None:
    async with sandbox_api() as api:
        leg = await api.dial_ok(
            "wav",
            To="+12065550100",
            ApplicationSid=APP,
            Record=True,
            RecordingChannels="dual",
            ConferenceRecord="record-from-start",
        )
        sid = leg["conference_sid"]

        async def both_started() -> list[dict[str, object]] | None:
            recordings = await api.recordings(sid)
            return recordings if len(recordings) == 2 else None

        await eventually(both_started)
        await api.update_conference(sid, Status="completed")
        by_source = {r["source"]: r for r in await api.recordings(sid)}
        for source, channels in (("DialVerb", 2), ("Conference", 1)):
            async with api.session.get(str(by_source[source]["media_url"])) as media:
                assert media.status == 200
                assert media.content_type == "audio/wav"
                body = await media.read()
            # The 44-byte PCM header and 8000 frames of 16-bit samples per channel.
            assert len(body) == 44 + 8000 * 2 * channels
            with wave.open(io.BytesIO(body)) as audio:
                assert audio.getnchannels() == channels
                assert audio.getsampwidth() == 2
                assert audio.getframerate() == 8000
                assert audio.getnframes() == 8000
                assert audio.readframes(8000) == b"\x00" * (8000 * 2 * channels)
