"""The webhook receiver over real HTTP: lines printed, signatures checked as Telnyx signs them
(and as the official SDK verifies them), good callbacks forwarded unchanged."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telnyx.lib.webhook_verification import verify_webhook_signature
from yarl import URL

from orchestrator.webhooks.receiver import Receiver, describe, event_name
from orchestrator.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
    SigningKey,
    public_key_from,
    verify,
)

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JOIN = b"StatusCallbackEvent=participant-join&ConferenceSid=c-1&CallSid=v3%3Aabc&ParticipantLabel=alice&SequenceNumber=3"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def test_our_signatures_verify_with_the_official_sdk_and_tampering_fails() -> None:
    key = SigningKey.generate()
    headers = key.headers(JOIN)
    verify_webhook_signature(JOIN, headers, key.public_key)  # raises if it does not verify
    verify(JOIN, headers, public_key_from(key.public_key))
    with pytest.raises(Exception, match="signature"):
        verify_webhook_signature(JOIN + b"x", headers, key.public_key)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify(JOIN, headers, public_key_from(SigningKey.generate().public_key))
    stale = key.headers(JOIN, now=time.time() - 600)
    with pytest.raises(SignatureRejected, match="stale"):
        verify(JOIN, stale, public_key_from(key.public_key))
    with pytest.raises(SignatureRejected, match="no telnyx-signature-ed25519"):
        verify(JOIN, {}, public_key_from(key.public_key))


def test_a_callback_in_one_line() -> None:
    fields = {
        "StatusCallbackEvent": "participant-join",
        "CallSid": "v3:abc",
        "ParticipantLabel": "a",
    }
    assert event_name(fields) == "participant-join"
    assert event_name({"CallStatus": "ringing"}) == "call-ringing"
    assert event_name({"RecordingStatus": "completed"}) == "recording-completed"
    assert event_name({"AnsweredBy": "machine", "CallStatus": "in-progress"}) == "amd-machine"
    line = describe(fields, "verified")
    assert line.endswith("participant-join call=v3:abc label=a [verified]")


async def test_the_receiver_prints_verifies_rejects_and_forwards() -> None:
    key = SigningKey.generate()
    forwarded: list[tuple[str, bytes, dict[str, str]]] = []

    async def handler(request: web.Request) -> web.Response:
        forwarded.append((request.method, await request.read(), dict(request.headers)))
        return web.Response(text="thanks")

    app = web.Application()
    app.router.add_route("*", "/hook", handler)
    lines: list[str] = []
    async with serving(app) as target:
        receiver = Receiver(
            public_key=public_key_from(key.public_key), forward=f"{target}/hook", emit=lines.append
        )
        async with serving(receiver.app()) as url, aiohttp.ClientSession() as http:
            good = {**FORM, **key.headers(JOIN)}
            async with http.post(f"{url}/calls", data=JOIN, headers=good) as answer:
                assert answer.status == 200
            bad = {**FORM, **SigningKey.generate().headers(JOIN)}
            async with http.post(f"{url}/calls", data=JOIN, headers=bad) as answer:
                assert answer.status == 401
            query = "CallSid=v3%3Aabc&CallStatus=ringing"
            signed_get = key.headers(query.encode())  # a GET's query string is what is signed
            raw = URL(f"{url}/calls?{query}", encoded=True)  # sent as signed, byte for byte
            async with http.get(raw, headers=signed_get) as answer:
                assert answer.status == 200
            async with http.get(f"{url}/healthz") as answer:
                health = await answer.json()
    assert lines[0].endswith(
        "participant-join call=v3:abc conference=c-1 label=alice seq=3 [verified]"
    )
    assert "rejected: the signature does not match" in lines[1]
    assert lines[2].endswith("call-ringing call=v3:abc status=ringing [verified]")
    assert health == {"status": "ok", "received": 3, "rejected": 1}
    # Only what verified went on, unchanged: body, type and Telnyx's headers (so the app can
    # verify them itself).
    assert [(m, b) for m, b, _ in forwarded] == [("POST", JOIN), ("GET", b"")]
    headers = forwarded[0][2]
    verify_webhook_signature(forwarded[0][1], headers, key.public_key)
    assert headers[TIMESTAMP_HEADER] and headers[SIGNATURE_HEADER]


async def test_json_output_and_a_failing_forward_target_is_502_so_the_sender_retries() -> None:
    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app = web.Application()
    app.router.add_route("*", "/hook", broken)
    lines: list[str] = []
    async with serving(app) as target:
        receiver = Receiver(
            public_key=None, forward=f"{target}/hook", output="json", emit=lines.append
        )
        async with (
            serving(receiver.app()) as url,
            aiohttp.ClientSession() as http,
            http.post(f"{url}/c", data=JOIN, headers=FORM) as answer,
        ):
            assert answer.status == 502
    document: dict[str, Any] = json.loads(lines[0])
    assert document["verdict"] == "unsigned"
    assert document["fields"]["ParticipantLabel"] == "alice"
