"""Answers other than a resource: the Telnyx error body, a dial answer withheld by a
dropped connection, and a successful answer garbled by an injected fault.
"""

from __future__ import annotations

import logging

from aiohttp import web

from orchestrator.sandbox.fields import ApiFailure

log = logging.getLogger("orchestrator.sandbox")


def error_response(failure: ApiFailure) -> web.Response:
    return web.json_response(failure.body(), status=failure.status, headers=failure.headers)


class Dropped(web.Response):
    """Stands in for the answer of a dial whose connection was dropped: nothing reaches the client."""


def drop_connection(request: web.Request) -> Dropped:
    """Abort the request's connection; the stand-in answer to return from the handler."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return Dropped()


def garbled(response: web.Response, draw: float) -> web.Response:
    """The same answer (status and headers) with a body a client cannot use."""
    body = response.body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
    choices = ("{}", "null", text[: max(1, len(text) // 2)], "<html>Bad gateway</html>")
    chosen = choices[min(int(draw * len(choices)), len(choices) - 1)]
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    log.info("answer garbled to %r (faults.malformed_rate)", chosen[:20])
    return web.Response(status=response.status, text=chosen, headers=headers)
