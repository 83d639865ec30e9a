"""A local webhook receiver: print each callback in one line, check its signature, forward it.

Point a conference file's callbacks at it to watch a sandbox run (or a real
call through a tunnel). With a public key every callback's Ed25519 signature
is checked on its raw bytes before anything of it is read: a missing, stale or
wrong one is printed as rejected and answered 401, so the sender's retry logic
is exercised too. A body that cannot be read is printed as unreadable and
answered 400. With ``forward`` each accepted callback is sent on to the user's
own handler, unchanged (method, body, content type, the Telnyx headers), as
``stripe listen --forward-to`` does; if that handler fails, the receiver
answers 502 so the sender retries.

Each line starts with the verdict and shows no field raw: control characters
are escaped and long values cut, so a callback cannot print a line of its own
(a forged ``[verified]``) nor drive the terminal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from yarl import URL

from orchestrator.masking import printable, shown_url
from orchestrator.webhooks.intake import Refused, application, take
from orchestrator.webhooks.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, raw_query

Output = Literal["text", "json"]
FORWARD_TIMEOUT_S = 10.0
_FORWARDED_HEADERS = ("content-type", SIGNATURE_HEADER, TIMESTAMP_HEADER)
_SHOWN_CHARS = 80  # of one field's value in a line


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
    """One line: what the signature said, then event, call, conference, label, status."""
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
    return printable(f"[{verdict}] ") + " ".join(
        printable(part, limit=_SHOWN_CHARS) for part in parts
    )


def describe_refused(method: str, path: str, size: int | None, verdict: str) -> str:
    """One line for a callback nothing was read of: the verdict, then where it came in."""
    where = printable(f"{method} {path}", limit=_SHOWN_CHARS)
    length = f" ({size} bytes)" if size is not None else ""
    return f"{printable(f'[{verdict}]')} {time.strftime('%H:%M:%S')} {where}{length}"


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
        app = application()
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
        taken = await take(request, self._public_key)
        self.received += 1  # once it has arrived whole: a request cut off midway is none
        if isinstance(taken, Refused):
            self.rejected += 1
            self._show_refused(request, taken)
            return taken.answer
        self._show(taken.fields, "unsigned" if self._public_key is None else "verified")
        if self._forward is not None:
            status = await self._forward_to(request, taken.body)
            if status is None or status >= 300:
                return web.json_response({"error": "the forward target failed"}, status=502)
        return web.Response(text="ok")

    def _show(self, fields: Mapping[str, Any], verdict: str) -> None:
        if self._output == "json":
            # ASCII only: every control character of a field escaped, C1 and U+2028 included.
            self._emit(json.dumps({"verdict": verdict, "fields": fields}))
        else:
            self._emit(describe(fields, verdict))

    def _show_refused(self, request: web.Request, refused: Refused) -> None:
        if self._output == "json":
            document = {
                "verdict": refused.verdict,
                "method": request.method,
                "path": request.path,
                "size": refused.size,
            }
            self._emit(json.dumps(document))
        else:
            self._emit(
                describe_refused(request.method, request.path, refused.size, refused.verdict)
            )

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
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # The library's text may quote the whole URL, credentials and all: its type instead.
            why = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
            self._emit(f"forward to {shown_url(self._forward)} failed: {why}")
            return None
