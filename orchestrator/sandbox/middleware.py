"""What every request goes through around its handler: one aiohttp middleware.

API routes, in this order: the access line and the error body (``ApiFailure``
and anything unexpected), the request counters, the scenario's latency, the
Bearer token and the account in the path, the general limit (on GETs, and on POSTs and
DELETEs, each with its own budget), and
injected faults (an error instead of the handler, or its answer garbled).
Introspection routes check the token only: they are never counted, delayed,
limited or faulted. Paths and methods no route knows are answered with the
Telnyx error body, and are not counted, delayed or asked for a token.

The steps are written out in one coroutine rather than stacked as a middleware
each: every API request passes through all of them, and each layer of
middleware is a coroutine frame entered and resumed per request.

Every access line, of an answered request or a refused one (4xx, 5xx, a
dropped connection), is INFO when the access log is on and DEBUG otherwise:
what the simulation does (calls, conferences, webhooks) is logged at INFO
regardless, and what clients met is counted by /_sandbox/health (requests by
method, 429s by code), so nothing needs to read the access lines.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Collection

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from orchestrator.sandbox.fields import ApiFailure, not_found
from orchestrator.sandbox.inspector import Inspector
from orchestrator.sandbox.limits import Counters, RateLimiter
from orchestrator.sandbox.responses import Dropped, error_response, garbled
from orchestrator.sandbox.routes import fault_key, is_participant_list
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract

log = logging.getLogger("orchestrator.sandbox")

_READS = frozenset({"GET", "HEAD"})


def sandbox_middleware(
    simulation: Simulation,
    counters: Counters,
    read_limiter: RateLimiter,
    write_limiter: RateLimiter | None = None,
    *,
    api_key: str,
    access_log: bool,
    introspection: Collection[web.AbstractResource],
    inspector: Inspector | None = None,
) -> Middleware:
    """The one middleware of the sandbox's application; ``introspection``: the resources
    of the sandbox's own routes (every other route is the API's); ``inspector``: told of
    every API request, its routes checking their own key."""
    scenario = simulation.scenario
    faults = scenario.faults
    latency_s = scenario.latency_ms / 1000
    account_sid = simulation.account.sid
    key = api_key.encode("utf-8")
    level = logging.INFO if access_log else logging.DEBUG
    clock = simulation.clock.base  # latency and the read limit are real time, not simulated

    async def api(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = clock.now()
        method = request.method
        try:
            counters.asked(method, participant_list=is_participant_list(request))
            if latency_s > 0:
                await clock.sleep(latency_s)
            if not authorized(request, key):
                raise unauthorized()
            in_path = request.match_info.get("account_sid")
            if in_path != account_sid:
                raise not_found(f"no account {in_path}")
            limit_headers = general_limit(method, read_limiter, write_limiter, clock.now())
            # Fault draws come in this order (error, then the handler's own, then garbling),
            # from the request's own sequence: a seed gives the same faults to the same
            # requests, however they interleave.
            draw = simulation.draw_fault
            if faults.any:
                draw = simulation.fault_draws(await fault_key(request))
            if faults.error_rate > 0 and draw() < faults.error_rate:
                raise injected_error(draw())
            response = await handler(request)
            if (
                faults.malformed_rate > 0
                and isinstance(response, web.Response)
                and not isinstance(response, Dropped)
                and response.status < 300
                and response.body
                and draw() < faults.malformed_rate
            ):
                response = garbled(response, draw())
            if limit_headers and contract.HEADER_RATELIMIT_LIMIT not in response.headers:
                # A dial's answer carries the dial limit's headers, which say more to its sender.
                response.headers.update(limit_headers)
        except ApiFailure as failure:
            counters.answered(failure)
            response = error_response(failure)
        except Exception:
            log.exception("%s %s failed inside the sandbox", method, request.path)
            response = error_response(
                ApiFailure(
                    500,
                    contract.CODE_UNEXPECTED_ERROR,
                    "Internal server error",
                    "the sandbox failed; see its log",
                )
            )
        if log.isEnabledFor(level):
            log.log(
                level,
                "%s %s -> %s (%.0f ms)",
                method,
                request.path,
                "connection dropped" if isinstance(response, Dropped) else response.status,
                (clock.now() - started) * 1000,
            )
        if inspector is not None:
            await inspector.seen(request, response, started)
        return response

    async def own(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not authorized(request, key):
            return error_response(unauthorized())
        try:
            return await handler(request)
        except ApiFailure as failure:
            return error_response(failure)

    # Not a coroutine itself: it hands on the awaitable, so choosing costs no extra frame.
    @web.middleware
    def middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        match_info = request.match_info
        if match_info.http_exception is not None:
            return unmatched(request, handler)
        if match_info.route.resource in introspection:
            return own(request, handler)
        if inspector is not None and match_info.route.resource in inspector.resources:
            return handler(request)  # the inspector's page: its key as a cookie or a header
        return api(request, handler)

    return middleware


def general_limit(
    method: str, reads: RateLimiter, writes: RateLimiter | None, now: float
) -> dict[str, str]:
    """The general limit's check (429, code 10011: reads and writes each have a budget) and,
    once passed, its headers (none when the limit is off)."""
    general = reads if method in _READS else writes
    if general is None or general.limit <= 0:
        return {}
    general.check(now)
    return general.accept(now)


async def unmatched(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods answer with a Telnyx error body, not aiohttp's text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return error_response(not_found(f"no such resource: {request.method} {request.path}"))
    except web.HTTPMethodNotAllowed as error:
        failure = ApiFailure(
            405,
            contract.CODE_BAD_REQUEST,
            "Method not allowed",
            f"{request.method} is not allowed here; use {', '.join(sorted(error.allowed_methods))}",
        )
        return error_response(failure)


def injected_error(draw: float) -> ApiFailure:
    """The answer faults.error_rate gives instead of the handler's: 500 or 503 by ``draw``."""
    status = 500 if draw < 0.5 else 503
    return ApiFailure(
        status,
        contract.CODE_UNEXPECTED_ERROR,
        "Internal server error" if status == 500 else "Service unavailable",
        "injected fault (faults.error_rate); nothing was done",
    )


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
