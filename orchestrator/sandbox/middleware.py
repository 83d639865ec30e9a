"""What every request goes through around its handler, as aiohttp middleware.

API routes, outermost first: the access line and the error body (``ApiFailure``
and anything unexpected), the request counters, the scenario's latency, the
Bearer token and the account in the path, the general read limit (GETs), and
injected faults (an error instead of the handler, or its answer garbled).
Introspection routes check the token only: they are never counted, delayed,
limited or faulted.

Paths and methods no route knows pass straight through to the root
application, which answers with the Telnyx error body: aiohttp runs a
sub-application's middleware for its unmatched paths too, and those must not
count, wait or ask for a token.

Every access line, of an answered request or a refused one (4xx, 5xx, a
dropped connection), is INFO when the access log is on and DEBUG otherwise:
what the simulation does (calls, conferences, webhooks) is logged at INFO
regardless, and what clients met is counted by /_sandbox/health (requests by
method, 429s by code), so nothing needs to read the access lines.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from orchestrator.sandbox.fields import ApiFailure, not_found
from orchestrator.sandbox.limits import Counters, RateLimiter
from orchestrator.sandbox.responses import Dropped, error_response, garbled
from orchestrator.sandbox.routes import is_participant_list
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract

log = logging.getLogger("orchestrator.sandbox")


def api_middlewares(
    simulation: Simulation,
    counters: Counters,
    read_limiter: RateLimiter,
    *,
    api_key: str,
    access_log: bool,
) -> list[Middleware]:
    scenario = simulation.scenario
    faults = scenario.faults
    key = api_key.encode("utf-8")
    level = logging.INFO if access_log else logging.DEBUG

    async def answers(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The error body for a failure, and the access line for whatever is answered."""
        started = time.monotonic()
        try:
            response = await handler(request)
        except ApiFailure as failure:
            counters.answered(failure)
            response = error_response(failure)
        except Exception:
            log.exception("%s %s failed inside the sandbox", request.method, request.path)
            response = error_response(
                ApiFailure(
                    500,
                    contract.CODE_UNEXPECTED_ERROR,
                    "Internal server error",
                    "the sandbox failed; see its log",
                )
            )
        dropped = isinstance(response, Dropped)
        if log.isEnabledFor(level):
            log.log(
                level,
                "%s %s -> %s (%.0f ms)",
                request.method,
                request.path,
                "connection dropped" if dropped else response.status,
                (time.monotonic() - started) * 1000,
            )
        return response

    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        counters.asked(request.method, participant_list=is_participant_list(request))
        return await handler(request)

    async def latency(request: web.Request, handler: Handler) -> web.StreamResponse:
        if scenario.latency_ms > 0:
            await asyncio.sleep(scenario.latency_ms / 1000)
        return await handler(request)

    async def credentials(request: web.Request, handler: Handler) -> web.StreamResponse:
        """The Bearer token, then the account in the path."""
        if not authorized(request, key):
            raise unauthorized()
        account_sid = request.match_info.get("account_sid")
        if account_sid != simulation.account.sid:
            raise not_found(f"no account {account_sid}")
        return await handler(request)

    async def read_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return await handler(request)
        now = time.monotonic()
        read_limiter.check(now)
        headers = read_limiter.accept(now)
        response = await handler(request)
        response.headers.update(headers)
        return response

    async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        """An error instead of the handler (error_rate), or its answer garbled (malformed_rate).

        The draws come in this order (error, then the handler's own, then garbling), so a
        seed gives the same faults for the same requests."""
        if faults.error_rate > 0 and simulation.draw_fault() < faults.error_rate:
            status = 500 if simulation.draw_fault() < 0.5 else 503
            raise ApiFailure(
                status,
                contract.CODE_UNEXPECTED_ERROR,
                "Internal server error" if status == 500 else "Service unavailable",
                "injected fault (faults.error_rate); nothing was done",
            )
        response = await handler(request)
        if (
            faults.malformed_rate > 0
            and isinstance(response, web.Response)
            and not isinstance(response, Dropped)
            and response.status < 300
            and response.body
            and simulation.draw_fault() < faults.malformed_rate
        ):
            return garbled(response, simulation.draw_fault())
        return response

    steps = (answers, count, latency, credentials, read_limit, inject_faults)
    return [_on_routes_only(step) for step in steps]


def introspection_middlewares(*, api_key: str) -> list[Middleware]:
    key = api_key.encode("utf-8")

    async def bearer_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not authorized(request, key):
            return error_response(unauthorized())
        try:
            return await handler(request)
        except ApiFailure as failure:
            return error_response(failure)

    return [_on_routes_only(bearer_token)]


def authorized(request: web.Request, key: bytes) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8"), key)


def unauthorized() -> ApiFailure:
    return ApiFailure(
        401,
        contract.CODE_AUTHENTICATION_FAILED,
        "Authentication failed",
        "the Authorization header must be 'Bearer <API key>' with this sandbox's key",
    )


def _on_routes_only(step: Middleware) -> Middleware:
    """``step`` as middleware that leaves unmatched paths and methods to the root app."""

    # Not a coroutine itself: it hands on the awaitable, so the check costs no extra frame.
    @web.middleware
    def middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if request.match_info.http_exception is not None:
            return handler(request)
        return step(request, handler)

    return middleware
