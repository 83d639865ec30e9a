"""The sandbox's HTTP face: routes, authentication, faults, dial limits, paging.

Every API route goes through ``_Routes.api``: request counters, scenario latency, the
Bearer token, the account, the general read limit (GETs), injected faults, then the
handler. Handlers turn ``ApiFailure`` into the Telnyx error body; anything unexpected
becomes a 500 and a log line, never a crash. Introspection routes (``/_sandbox/...``)
check the token only, and are never counted or limited.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hmac
import logging
import math
import operator
import re
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from orchestrator.sandbox.callbacks import WebhookSender
from orchestrator.sandbox.fields import (
    ApiFailure,
    check_fields,
    decode_json,
    invalid,
    malformed,
    not_found,
)
from orchestrator.sandbox.model import Conference, Leg, is_uuid
from orchestrator.sandbox.resources import API_PREFIX
from orchestrator.sandbox.scenario import Scenario
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract

log = logging.getLogger("orchestrator.sandbox")

SIMULATION: Final = web.AppKey("simulation", Simulation)
WEBHOOKS: Final = web.AppKey("webhooks", WebhookSender)

# Telnyx's TeXML lists default to 20 items a page; we cap a page at 1000 like Twilio.
DEFAULT_PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 1000
MAX_BODY_BYTES: Final = 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Sequenced(Protocol):
    seq: int


S = TypeVar("S", bound=Sequenced)


class RateLimiter:
    """A rolling window of accepted requests: at most ``limit`` in any ``window_s`` seconds.

    Real (monotonic) time, not simulated: the limits protect the API, not the calls.
    Refused requests do not count.
    """

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        code: str = contract.CODE_DIAL_RATE_LIMITED,
        title: str = "Dials per second limit exceeded",
        noun: str = "dials",
        retry_after: bool = True,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.code = code
        self.title = title
        self.noun = noun
        self.retry_after = retry_after
        self._accepted: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._accepted and self._accepted[0] <= now - self.window_s:
            self._accepted.popleft()

    def check(self, now: float) -> None:
        """Raise a 429 ApiFailure when one more request now would break the limit."""
        if self.limit <= 0:
            return
        self._expire(now)
        if len(self._accepted) < self.limit:
            return
        reset = max(self._accepted[0] + self.window_s - now, 0.0)
        headers = {
            contract.HEADER_RATELIMIT_LIMIT: str(self.limit),
            contract.HEADER_RATELIMIT_REMAINING: "0",
            contract.HEADER_RATELIMIT_RESET: f"{reset:.3f}",
        }
        if self.retry_after:
            headers[contract.HEADER_RETRY_AFTER] = str(max(1, math.ceil(reset)))
        raise ApiFailure(
            429,
            self.code,
            self.title,
            f"at most {self.limit} {self.noun} in any {_seconds(self.window_s)} s;"
            " retry after the reset",
            headers=headers,
        )

    def accept(self, now: float) -> dict[str, str]:
        """Count a request that was carried out; the rate-limit headers for its answer."""
        if self.limit <= 0:
            return {}
        self._expire(now)
        self._accepted.append(now)
        reset = self._accepted[0] + self.window_s - now
        return {
            contract.HEADER_RATELIMIT_LIMIT: str(self.limit),
            contract.HEADER_RATELIMIT_REMAINING: str(max(self.limit - len(self._accepted), 0)),
            contract.HEADER_RATELIMIT_RESET: f"{max(reset, 0.0):.3f}",
        }


@dataclasses.dataclass
class Counters:
    """What clients asked of the API routes, for /_sandbox/health (benchmarks read it)."""

    requests: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"GET": 0, "POST": 0, "DELETE": 0}
    )
    participant_lists: int = 0
    rate_limited: dict[str, int] = dataclasses.field(
        default_factory=lambda: {
            contract.CODE_DIAL_RATE_LIMITED: 0,
            contract.CODE_TOO_MANY_REQUESTS: 0,
        }
    )
    unsupported_media: int = 0

    def answered(self, failure: ApiFailure) -> None:
        if failure.status == 429:
            self.rate_limited[failure.code] = self.rate_limited.get(failure.code, 0) + 1
        elif failure.status == 415:
            self.unsupported_media += 1


def create_app(
    scenario: Scenario, *, api_key: str, account_sid: str, allow_remote_callbacks: bool = False
) -> web.Application:
    """The sandbox as an aiohttp application serving ``/v2/...``."""
    webhooks = WebhookSender(allow_remote=allow_remote_callbacks)
    simulation = Simulation(scenario, account_sid=account_sid, notify=webhooks.send)
    retry_after = scenario.api.retry_after
    dial_limiter = RateLimiter(
        scenario.dial_limit, scenario.dial_window_seconds, retry_after=retry_after
    )
    read_limiter = RateLimiter(
        scenario.api.reads_per_second,
        READ_WINDOW_S,
        code=contract.CODE_TOO_MANY_REQUESTS,
        title="Too many requests",
        noun="GET requests",
        retry_after=retry_after,
    )
    app = web.Application(middlewares=[_json_errors], client_max_size=MAX_BODY_BYTES)
    app[SIMULATION] = simulation
    app[WEBHOOKS] = webhooks
    routes = _Routes(simulation, dial_limiter, read_limiter, api_key=api_key)

    async def restart_clock(_: web.Application) -> None:
        simulation.clock.restart()

    async def stop(_: web.Application) -> None:
        simulation.close()
        await webhooks.close()

    app.on_startup.append(restart_clock)
    app.on_cleanup.append(stop)

    conferences = API_PREFIX + contract.CONFERENCES_PATH
    conference = API_PREFIX + contract.CONFERENCE_PATH
    participants = API_PREFIX + contract.PARTICIPANTS_PATH
    participant = API_PREFIX + contract.PARTICIPANT_PATH
    recordings = API_PREFIX + contract.RECORDINGS_PATH
    calls = API_PREFIX + contract.CALLS_PATH
    call = API_PREFIX + contract.CALL_PATH
    api = routes.api
    app.router.add_get(conferences, api(routes.list_conferences))
    app.router.add_get(conferences + ".json", api(routes.list_conferences))
    app.router.add_get(conference, api(routes.get_conference))
    app.router.add_post(conference, api(routes.update_conference))
    app.router.add_get(participants, api(routes.list_participants, participant_list=True))
    app.router.add_get(participants + ".json", api(routes.list_participants, participant_list=True))
    app.router.add_post(participants, api(routes.dial))
    app.router.add_post(participants + ".json", api(routes.dial))
    app.router.add_get(participant, api(routes.get_participant))
    app.router.add_post(participant, api(routes.update_participant))
    app.router.add_delete(participant, api(routes.delete_participant))
    app.router.add_get(recordings, api(routes.list_recordings))
    app.router.add_get(recordings + ".json", api(routes.list_recordings))
    app.router.add_post(calls, api(routes.initiate_call))
    app.router.add_post(calls + ".json", api(routes.initiate_call))
    app.router.add_get(call, api(routes.get_call))
    app.router.add_get(API_PREFIX + contract.SANDBOX_DIALS_PATH, routes.introspection(routes.dials))
    app.router.add_get(
        API_PREFIX + contract.SANDBOX_HEALTH_PATH, routes.introspection(routes.health)
    )
    app.router.add_get(
        API_PREFIX + contract.SANDBOX_RECORDINGS_PATH, routes.introspection(routes.recording_media)
    )
    return app


def error_response(failure: ApiFailure) -> web.Response:
    return web.json_response(failure.body(), status=failure.status, headers=failure.headers)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
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


class _Routes:
    def __init__(
        self,
        simulation: Simulation,
        limiter: RateLimiter,
        read_limiter: RateLimiter,
        *,
        api_key: str,
    ) -> None:
        self.sim = simulation
        self.limiter = limiter
        self.read_limiter = read_limiter
        self.counters = Counters()
        self._api_key = api_key.encode("utf-8")

    # Wrappers ---------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode("utf-8"), self._api_key)

    def _unauthorized(self) -> ApiFailure:
        return ApiFailure(
            401,
            contract.CODE_AUTHENTICATION_FAILED,
            "Authentication failed",
            "the Authorization header must be 'Bearer <API key>' with this sandbox's key",
        )

    def api(self, handler: Handler, *, participant_list: bool = False) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            started = time.monotonic()
            requests = self.counters.requests
            requests[request.method] = requests.get(request.method, 0) + 1
            if participant_list:
                self.counters.participant_lists += 1
            read_headers: dict[str, str] = {}
            try:
                latency = self.sim.scenario.latency_ms
                if latency > 0:
                    await asyncio.sleep(latency / 1000)
                if not self._authorized(request):
                    raise self._unauthorized()
                if request.match_info.get("account_sid") != self.sim.account.sid:
                    raise not_found(f"no account {request.match_info.get('account_sid')}")
                if request.method in ("GET", "HEAD"):
                    now = time.monotonic()
                    self.read_limiter.check(now)
                    read_headers = self.read_limiter.accept(now)
                error_rate = self.sim.scenario.faults.error_rate
                if error_rate > 0 and self.sim.draw_fault() < error_rate:
                    status = 500 if self.sim.draw_fault() < 0.5 else 503
                    raise ApiFailure(
                        status,
                        contract.CODE_UNEXPECTED_ERROR,
                        "Internal server error" if status == 500 else "Service unavailable",
                        "injected fault (faults.error_rate); nothing was done",
                    )
                response = await handler(request)
                response.headers.update(read_headers)
                malformed_rate = self.sim.scenario.faults.malformed_rate
                if (
                    malformed_rate > 0
                    and isinstance(response, web.Response)
                    and not isinstance(response, _Dropped)
                    and response.status < 300
                    and response.body
                    and self.sim.draw_fault() < malformed_rate
                ):
                    response = _garbled(response, self.sim.draw_fault())
            except ApiFailure as failure:
                self.counters.answered(failure)
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
            log.info(
                "%s %s -> %s (%.0f ms)",
                request.method,
                request.path,
                "connection dropped" if isinstance(response, _Dropped) else response.status,
                (time.monotonic() - started) * 1000,
            )
            return response

        return wrapped

    def introspection(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if not self._authorized(request):
                return error_response(self._unauthorized())
            try:
                return await handler(request)
            except ApiFailure as failure:
                return error_response(failure)

        return wrapped

    # Lookups ----------------------------------------------------------------

    def _conference(self, request: web.Request) -> Conference:
        ref = _strip_json(request.match_info["conference_sid"])
        conference = self.sim.account.conferences.get(ref.lower()) if is_uuid(ref) else None
        if conference is None:
            raise not_found(f"no conference {ref} in this account")
        return conference

    def _participant(self, request: web.Request) -> Leg:
        conference = self._conference(request)
        ref = request.match_info["call_sid_or_label"]
        leg = conference.live_leg(ref)
        if leg is None and ref.endswith(".json"):
            leg = conference.live_leg(ref[: -len(".json")])
        if leg is None:
            raise not_found(
                f"no participant {ref} in conference {conference.sid} (it may have left)"
            )
        return leg

    # Conferences ------------------------------------------------------------

    async def list_conferences(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        filters: dict[str, str] = {}
        items = list(self.sim.account.conferences.values())
        if name := query.get("FriendlyName"):
            filters["FriendlyName"] = name
            items = [c for c in items if c.friendly_name == name]
        if status := query.get("Status"):
            if status not in contract.CONFERENCE_STATUSES:
                raise invalid(
                    "Status", f"Status must be one of {', '.join(contract.CONFERENCE_STATUSES)}"
                )
            filters["Status"] = status
            items = [c for c in items if c.status == status]
        for field in ("DateCreated", "DateUpdated"):
            items = _date_filter(query, field, items, filters)
        base = API_PREFIX + contract.CONFERENCES_PATH.format(account_sid=self.sim.account.sid)
        page = _page(request, items, base, filters)
        return web.json_response(
            {**page.envelope, "conferences": [self.sim.resources.conference(c) for c in page.items]}
        )

    async def get_conference(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.sim.resources.conference(self._conference(request)))

    async def update_conference(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        conference = self._conference(request)
        values = check_fields(raw, contract.UPDATE_CONFERENCE_FIELDS)
        self.sim.update_conference(conference, values)
        return web.json_response(self.sim.resources.conference(conference))

    async def list_recordings(self, request: web.Request) -> web.StreamResponse:
        conference = self._conference(request)
        base = API_PREFIX + contract.RECORDINGS_PATH.format(
            account_sid=self.sim.account.sid, conference_sid=conference.sid
        )
        page = _page(request, list(conference.recordings), base, {})
        return web.json_response(
            {**page.envelope, "recordings": [self.sim.resources.recording(r) for r in page.items]}
        )

    # Participants -----------------------------------------------------------

    async def dial(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        # From here to the answer nothing awaits: the checks and the dial are one step.
        now = time.monotonic()
        self.limiter.check(now)
        ref = _strip_json(request.match_info["conference_sid"])
        values = check_fields(raw, contract.DIAL_FIELDS)
        leg = _named_as_documented(raw, lambda: self.sim.dial(ref, values))
        headers = self.limiter.accept(now)
        reset_rate = self.sim.scenario.faults.reset_after_commit_rate
        if reset_rate > 0 and self.sim.draw_fault() < reset_rate:
            _drop_connection(request)
            log.info("call %s placed, answer withheld (faults.reset_after_commit_rate)", leg.sid)
            return _Dropped()
        resource = self.sim.resources.participant(leg)
        answer = {key: resource[key] for key in _DIAL_RESPONSE_KEYS}
        return web.json_response(answer, headers=headers)

    async def list_participants(self, request: web.Request) -> web.StreamResponse:
        conference = self._conference(request)
        base = API_PREFIX + contract.PARTICIPANTS_PATH.format(
            account_sid=self.sim.account.sid, conference_sid=conference.sid
        )
        # A new leg is listed only once the scenario's list lag has passed since it joined.
        now = time.monotonic()
        listed = [leg for leg in conference.live_legs() if leg.listed_at <= now]
        page = _page(request, listed, base, {})
        return web.json_response(
            {
                **page.envelope,
                "participants": [self.sim.resources.participant(p) for p in page.items],
            }
        )

    async def get_participant(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.sim.resources.participant(self._participant(request)))

    async def update_participant(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        leg = self._participant(request)
        values = check_fields(raw, contract.UPDATE_PARTICIPANT_FIELDS)
        self.sim.update_participant(leg, values)
        return web.json_response(self.sim.resources.participant(leg))

    async def delete_participant(self, request: web.Request) -> web.StreamResponse:
        leg = self._participant(request)
        self.sim.hang_up(leg)
        return web.Response(status=204)

    # Calls ------------------------------------------------------------------

    async def initiate_call(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        # As for a dial, nothing awaits from the checks to the answer.
        now = time.monotonic()
        self.limiter.check(now)
        values = check_fields(raw, contract.INITIATE_CALL_FIELDS)
        leg = _named_as_documented(raw, lambda: self.sim.initiate_call(values))
        headers = self.limiter.accept(now)
        reset_rate = self.sim.scenario.faults.reset_after_commit_rate
        if reset_rate > 0 and self.sim.draw_fault() < reset_rate:
            _drop_connection(request)
            log.info("call %s placed, answer withheld (faults.reset_after_commit_rate)", leg.sid)
            return _Dropped()
        # The spec's InitiateCallResult is from, to and status; the SID is an addition.
        answer: dict[str, object] = {"from": leg.from_, "to": leg.to, "status": "queued"}
        if self.sim.scenario.api.initiate_call_sid:
            result: contract.InitiateCallResult = {
                "call_sid": leg.sid,
                "account_sid": self.sim.account.sid,
                "uri": self.sim.resources.call(leg)["uri"],
            }
            answer.update(result)
        return web.json_response(answer, headers=headers)

    async def get_call(self, request: web.Request) -> web.StreamResponse:
        ref = request.match_info["call_sid"]
        leg = self.sim.account.calls.get(ref)
        if leg is None and ref.endswith(".json"):
            leg = self.sim.account.calls.get(ref[: -len(".json")])
        # Calls is eventually consistent: a new call is unknown until the scenario's lag passed.
        if leg is None or leg.known_at > time.monotonic():
            raise not_found(f"no call {ref} in this account")
        return web.json_response(self.sim.resources.call(leg))

    # Introspection ----------------------------------------------------------

    async def dials(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"dials": [self.sim.resources.dial_record(leg) for leg in self.sim.account.dials]}
        )

    async def health(self, request: web.Request) -> web.StreamResponse:
        live = sum(1 for leg in self.sim.account.calls.values() if leg.live)
        running = sum(1 for c in self.sim.account.conferences.values() if c.status != "completed")
        return web.json_response(
            {
                "status": "ok",
                "account_sid": self.sim.account.sid,
                "uptime_s": round(self.sim.clock.uptime(), 3),
                "dials": len(self.sim.account.dials),
                "live_calls": live,
                "conferences": len(self.sim.account.conferences),
                "running_conferences": running,
                "requests": dict(self.counters.requests),
                "participant_lists": self.counters.participant_lists,
                "rate_limited": dict(self.counters.rate_limited),
                "unsupported_media": self.counters.unsupported_media,
            }
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        return await _body(request, json_bodies=self.sim.scenario.api.json_bodies)

    async def recording_media(self, request: web.Request) -> web.StreamResponse:
        recording = self.sim.account.recording(request.match_info["recording_sid"])
        if recording is None or recording.status != "completed":
            raise not_found("no completed recording with that SID")
        return web.Response(body=_silence(recording.channels), content_type="audio/wav")


# The general limit on reads counts GETs over a rolling window of one (real) second.
READ_WINDOW_S: Final = 1.0

_DIAL_RESPONSE_KEYS: Final = (
    "account_sid",
    "call_sid",
    "coaching",
    "coaching_call_sid",
    "conference_sid",
    "end_conference_on_exit",
    "hold",
    "muted",
    "status",
    "uri",
)


def _named_as_documented(raw: Mapping[str, Any], act: Callable[[], Leg]) -> Leg:
    """``act()``; a missing field that the body has under another spelling says so.

    SDK 4.189's InitiateTexmlCall sends its body's keys as given, so ``to`` or
    ``from_`` arrive as such while the API reads only PascalCase names.
    """
    try:
        return act()
    except ApiFailure as failure:
        name = (failure.pointer or "/")[1:]
        if failure.code == contract.CODE_MISSING_PARAMETER and name:
            spelled = [k for k in raw if k != name and _plain(k) == _plain(name)]
            if spelled:
                failure.detail += f" (the body has {spelled[0]!r}: field names are PascalCase)"
        raise


def _plain(name: str) -> str:
    return name.replace("_", "").lower()


def _garbled(response: web.Response, draw: float) -> web.Response:
    """The same answer (status and headers) with a body a client cannot use."""
    body = response.body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else ""
    choices = ("{}", "null", text[: max(1, len(text) // 2)], "<html>Bad gateway</html>")
    garbled = choices[min(int(draw * len(choices)), len(choices) - 1)]
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    log.info("answer garbled to %r (faults.malformed_rate)", garbled[:20])
    return web.Response(status=response.status, text=garbled, headers=headers)


class _Dropped(web.Response):
    """Stands in for the answer of a dial whose connection was dropped: nothing reaches the client."""


def _drop_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _body(request: web.Request, *, json_bodies: bool) -> dict[str, Any]:
    """The request's fields, from a JSON or a form body; {} when there is none.

    ``json_bodies=False``: only form bodies are taken, anything else is a 415.
    """
    try:
        return await _read_body(request, json_bodies=json_bodies)
    except web.HTTPRequestEntityTooLarge:
        raise ApiFailure(
            413, contract.CODE_BAD_REQUEST, "Request too large", "the request body is too large"
        ) from None


async def _read_body(request: web.Request, *, json_bodies: bool) -> dict[str, Any]:
    content_type = request.content_type
    if not request.body_exists:
        return {}
    if content_type in (contract.FORM_MEDIA_TYPE, "multipart/form-data"):
        try:
            form = await request.post()
        except ValueError:
            raise malformed("the form body could not be decoded") from None
        return {key: value for key, value in form.items() if isinstance(value, str)}
    if not json_bodies:
        if not (await request.read()).strip():
            return {}
        raise ApiFailure(
            415,
            contract.CODE_UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            f"send the body as {contract.FORM_MEDIA_TYPE}, not {content_type}; nothing was done",
        )
    if content_type == contract.JSON_MEDIA_TYPE or content_type.endswith("+json"):
        return decode_json(await request.read())
    raw = await request.read()
    if not raw.strip():
        return {}
    if raw.lstrip().startswith(b"{"):
        return decode_json(raw)
    raise malformed(
        f"send the body as application/x-www-form-urlencoded or application/json, not {content_type}"
    )


class _Page:
    def __init__(self, items: Sequence[Any], envelope: dict[str, Any]) -> None:
        self.items = items
        self.envelope = envelope


def _page(request: web.Request, items: Sequence[S], base: str, filters: Mapping[str, str]) -> _Page:
    """One page of ``items`` (in creation order) with the list envelope the API sends.

    PageToken carries the position of the last item served, so following
    next_page_uri neither skips nor repeats items when earlier ones leave.
    """
    query = request.query
    page = _query_int(query, "Page", 0, minimum=0)
    size = _query_int(query, "PageSize", DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)
    token = query.get("PageToken")
    if token:
        after = _decode_token(token)
        index = next((i for i, item in enumerate(items) if item.seq > after), len(items))
    else:
        index = page * size
    chunk = items[index : index + size]
    start = page * size
    end = start + len(chunk) - 1 if chunk else start
    first = f"{base}.json?{urlencode({**filters, 'Page': 0, 'PageSize': size})}"
    next_uri = None
    if index + size < len(items) and chunk:
        next_query = {
            **filters,
            "Page": page + 1,
            "PageSize": size,
            "PageToken": _encode_token(chunk[-1].seq),
        }
        next_uri = f"{base}.json?{urlencode(next_query)}"
    envelope = {
        "page": page,
        "page_size": size,
        "start": start,
        "end": end,
        "uri": request.path_qs,
        "first_page_uri": first,
        "next_page_uri": next_uri,
    }
    return _Page(chunk, envelope)


def _query_int(
    query: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\d{1,9}", raw.strip()):
        raise invalid(name, f"{name} must be a whole number, got {raw!r}")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = (
            f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        )
        raise invalid(name, f"{name} must be {bounds}, got {value}")
    return value


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode("ascii").rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        prefix, _, number = text.partition(":")
        if prefix != "after":
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid(
            "PageToken", "PageToken is not one this server gave out; start again from Page=0"
        ) from None


_DATE_OPERATORS: Final[dict[str, Callable[[date, date], bool]]] = {
    ">": operator.ge,
    "<": operator.le,
    "": operator.eq,
}


def _date_filter(
    query: Mapping[str, str], field: str, items: list[Conference], filters: dict[str, str]
) -> list[Conference]:
    """DateCreated=2023-05-22, DateCreated>=2023-05-22 (sent as key 'DateCreated>') or DateCreated<=..."""
    for suffix in _DATE_OPERATORS:
        raw = query.get(field + suffix)
        if not raw:
            continue
        value = raw.lstrip("=<>")
        operator = suffix or (raw[0] if raw[0] in "<>" else "")
        compare = _DATE_OPERATORS[operator]
        try:
            wanted = date.fromisoformat(value)
        except ValueError:
            raise invalid(
                field, f"{field} must be a date such as 2023-05-22, got {raw!r}"
            ) from None
        filters[field + suffix] = raw
        attribute = "created" if field == "DateCreated" else "updated"
        items = [c for c in items if compare(getattr(c, attribute).date(), wanted)]
    return items


def _strip_json(segment: str) -> str:
    return segment[: -len(".json")] if segment.endswith(".json") else segment


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _silence(channels: int) -> bytes:
    """A short silent WAV: something real at every media_url the sandbox hands out."""
    rate, width, seconds = 8000, 2, 1
    data = b"\x00" * (rate * width * channels * seconds)
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, channels, rate, rate * width * channels, width * channels, 16
    )
    return header + b"data" + struct.pack("<I", len(data)) + data
