"""A local webhook receiver: print each callback in one line, check its signature, forward it.

Point a conference file's callbacks at it to watch a sandbox run (or a real
call through a tunnel). With a public key every callback's Ed25519 signature
is checked: a missing, stale or wrong one is printed as rejected and answered
401, so the sender's retry logic is exercised too. With ``forward`` each
accepted callback is sent on to the user's own handler, unchanged (method,
body, content type, the Telnyx headers), as ``stripe listen --forward-to``
does; if that handler fails, the receiver answers 502 so the sender retries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from yarl import URL

from orchestrator.masking import shown_url
from orchestrator.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    raw_query,
    refusal,
    rejection,
)

Output = Literal["text", "json"]
FORWARD_TIMEOUT_S = 10.0
_FORWARDED_HEADERS = ("content-type", SIGNATURE_HEADER, TIMESTAMP_HEADER)


def callback_fields(method: str, body: bytes, query: str, content_type: str) -> dict[str, Any]:
    """The callback's fields: from the query (GET), a form, or a JSON body."""
    if method.upper() == "GET":
        return dict(parse_qsl(query, keep_blank_values=True))
    text = body.decode("utf-8", "replace")
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return {"body": text[:200]}
        return parsed if isinstance(parsed, dict) else {"body": parsed}
    return dict(parse_qsl(text, keep_blank_values=True))


def event_name(fields: Mapping[str, Any]) -> str:
    """conference-start, participant-join, call-ringing, recording-completed, amd-machine..."""
    if fields.get("StatusCallbackEvent"):
        return str(fields["StatusCallbackEvent"])
    if fields.get("RecordingStatus"):
        return f"recording-{fields['RecordingStatus']}"
    if fields.get("AnsweredBy"):
        return f"amd-{fields['AnsweredBy']}"
    if fields.get("CallStatus"):
        return f"call-{fields['CallStatus']}"
    return "callback"


def describe(fields: Mapping[str, Any], verdict: str) -> str:
    """One line: event, call, conference, label, status, and what the signature said."""
    parts = [time.strftime("%H:%M:%S"), event_name(fields)]
    for key, shown in (
        ("CallSid", "call"),
        ("ConferenceSid", "conference"),
        ("ParticipantLabel", "label"),
        ("CallStatus", "status"),
        ("SequenceNumber", "seq"),
    ):
        value = fields.get(key)
        if value not in (None, ""):
            parts.append(f"{shown}={value}")
    parts.append(f"[{verdict}]")
    return " ".join(parts)


class Receiver:
    def __init__(
        self,
        *,
        public_key: Ed25519PublicKey | None,
        forward: str | None = None,
        output: Output = "text",
        emit: Callable[[str], None] = print,
    ) -> None:
        self._public_key = public_key
        self._forward = forward
        self._output = output
        self._emit = emit
        self._session: aiohttp.ClientSession | None = None
        self.received = 0
        self.rejected = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._health)
        app.router.add_route("*", "/{path:.*}", self._callback)
        app.on_cleanup.append(self._close)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "received": self.received, "rejected": self.rejected}
        )

    async def _close(self, app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        query = raw_query(request)
        fields = callback_fields(request.method, body, query, request.content_type)
        self.received += 1
        rejected = rejection(request, body, self._public_key)
        if rejected is not None:
            self.rejected += 1
            self._show(fields, f"rejected: {rejected}")
            return refusal(rejected)
        self._show(fields, "unsigned" if self._public_key is None else "verified")
        if self._forward is not None:
            status = await self._forward_to(request, body)
            if status is None or status >= 300:
                return web.json_response({"error": "the forward target failed"}, status=502)
        return web.Response(text="ok")

    def _show(self, fields: Mapping[str, Any], verdict: str) -> None:
        if self._output == "json":
            self._emit(json.dumps({"verdict": verdict, "fields": fields}, ensure_ascii=False))
        else:
            self._emit(describe(fields, verdict))

    async def _forward_to(self, request: web.Request, body: bytes) -> int | None:
        assert self._forward is not None
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)
            self._session = aiohttp.ClientSession(timeout=timeout)
        headers = {k: v for k, v in request.headers.items() if k.lower() in _FORWARDED_HEADERS}
        query = raw_query(request)
        # Byte for byte: the app may check the signature over the query string itself.
        url = URL(self._forward + (f"?{query}" if query else ""), encoded=True)
        try:
            async with self._session.request(
                request.method, url, data=body or None, headers=headers
            ) as answer:
                await answer.read()
                return answer.status
        except (aiohttp.ClientError, TimeoutError) as error:
            self._emit(
                f"forward to {shown_url(self._forward)} failed: {error or type(error).__name__}"
            )
            return None
