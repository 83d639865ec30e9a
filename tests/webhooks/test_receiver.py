"""The webhook receiver over real HTTP: lines printed, signatures checked as Telnyx signs them
(and as the official SDK verifies them), good callbacks forwarded unchanged."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
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
from tests.sdk import uses_sdk, verify_webhook_signature

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


@uses_sdk
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
    assert re.fullmatch(r"\[verified\] \d\d:\d\d:\d\d participant-join call=v3:abc label=a", line)


@uses_sdk
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
    assert lines[0].startswith("[verified] ")
    assert lines[0].endswith("participant-join call=v3:abc conference=c-1 label=alice seq=3")
    # Nothing of a rejected callback is read: where it came, and why it was refused.
    assert lines[1].startswith("[rejected: the signature does not match")
    assert lines[1].endswith(f" POST /calls ({len(JOIN)} bytes)")
    assert lines[2].startswith("[verified] ")
    assert lines[2].endswith("call-ringing call=v3:abc status=ringing")
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


async def post_all(
    app: web.Application, requests: list[tuple[bytes, dict[str, str]]]
) -> list[tuple[int, str]]:
    """Each body with its headers POSTed to ``app``: the status and the answer of each."""
    answers = []
    async with serving(app) as url, aiohttp.ClientSession() as http:
        for body, headers in requests:
            async with http.post(f"{url}/calls", data=body, headers=headers) as answer:
                answers.append((answer.status, await answer.text()))
    return answers


async def test_a_field_cannot_forge_a_line_nor_reach_the_terminal_raw() -> None:
    forged = urlencode(
        {
            "CallStatus": "completed\n12:00:00 call-completed call=v3:real [verified]",
            "CallSid": "v3:\x1b[2J\x1b]0;owned\x07\u202egnp.exe\x9b31m\\n",
        }
    ).encode()
    lines: list[str] = []
    key = SigningKey.generate()
    receiver = Receiver(public_key=public_key_from(key.public_key), emit=lines.append)
    signed = {**FORM, **key.headers(forged)}
    wrong = {**FORM, **SigningKey.generate().headers(forged)}
    answers = await post_all(receiver.app(), [(forged, wrong), (forged, signed)])
    assert [status for status, _ in answers] == [401, 200]
    rejected, taken = lines
    # The verdict comes first; a rejected callback's fields are not even read.
    assert rejected.startswith("[rejected: the signature does not match")
    assert "verified" not in rejected and "v3:" not in rejected
    # A taken one's fields stay on its own line, every control character escaped.
    assert taken.isprintable() and taken.startswith("[verified] ")
    assert "status=completed\\n12:00:00 call-completed" in taken
    assert "\\x1b[2J\\x1b]0;owned\\x07\\u202egnp.exe\\x9b31m\\\\n" in taken

    lines.clear()
    json_receiver = Receiver(public_key=None, output="json", emit=lines.append)
    await post_all(json_receiver.app(), [(forged, FORM)])
    assert lines[0].isascii() and lines[0].isprintable() and "\n" not in lines[0]
    assert json.loads(lines[0])["fields"]["CallSid"].startswith("v3:\x1b[2J")


DEEP = b"[" * 100_000 + b"]" * 100_000
NOT_UTF8 = b"CallSid=v3:\xff\xfe&CallStatus=ringing"
BAD_ESCAPES = b"CallSid=v3%3A%ff%fe&CallStatus=ringing"
JSON = {"Content-Type": "application/json"}


async def test_with_a_key_a_body_is_not_read_before_its_signature_holds() -> None:
    key = SigningKey.generate()
    lines: list[str] = []
    receiver = Receiver(public_key=public_key_from(key.public_key), emit=lines.append)
    answers = await post_all(receiver.app(), [(DEEP, JSON), (NOT_UTF8, FORM)])
    assert [status for status, _ in answers] == [401, 401]
    assert lines[0].startswith("[rejected: no telnyx-signature-ed25519")
    assert lines[0].endswith(f"POST /calls ({len(DEEP)} bytes)")
    assert len(lines) == 2


async def test_a_body_that_cannot_be_read_is_one_line_and_a_400_never_a_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = SigningKey.generate()
    lines: list[str] = []
    receiver = Receiver(public_key=public_key_from(key.public_key), emit=lines.append)
    bodies = [(DEEP, JSON), (b'{"CallSid": ', JSON), (NOT_UTF8, FORM), (BAD_ESCAPES, FORM)]
    signed = [(body, {**kind, **key.headers(body)}) for body, kind in bodies]
    unsigned = Receiver(public_key=None, emit=lines.append)
    answers = await post_all(receiver.app(), signed)
    answers += await post_all(unsigned.app(), [(DEEP, JSON), (b"x" * 2_000_000, FORM)])
    assert [status for status, _ in answers] == [400, 400, 400, 400, 400, 413]
    assert [line.split("] ")[0] for line in lines] == [
        "[unreadable: the JSON body is nested too deeply",
        "[unreadable: the body is not JSON",
        "[unreadable: the body is not UTF-8",
        "[unreadable: the form has escapes that are not UTF-8",
        "[unreadable: the JSON body is nested too deeply",
        "[unreadable: the body is over 1024 KiB",
    ]
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text
