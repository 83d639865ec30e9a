"""The sandbox's handlers, and the wrappers its routes go through.

Every API route goes through ``Routes.api``: request counters, scenario latency, the
Bearer token, the account, the general read limit (GETs), injected faults, then the
handler. Handlers turn ``ApiFailure`` into the Telnyx error body; anything unexpected
becomes a 500 and a log line, never a crash. Introspection routes (``/_sandbox/...``)
check the token only, and are never counted or limited.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from orchestrator.sandbox.dial_fields import named_as_documented
from orchestrator.sandbox.fields import ApiFailure, check_fields, invalid, not_found, read_body
from orchestrator.sandbox.limits import Counters, RateLimiter
from orchestrator.sandbox.media import silence
from orchestrator.sandbox.model import Conference, Leg, is_uuid
from orchestrator.sandbox.paging import date_filter, page
from orchestrator.sandbox.resources import API_PREFIX
from orchestrator.sandbox.responses import Dropped, drop_connection, error_response, garbled
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract

log = logging.getLogger("orchestrator.sandbox")


class Routes:
    """Every route's handler, and the wrappers that each API or introspection route gets."""

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
                    and not isinstance(response, Dropped)
                    and response.status < 300
                    and response.body
                    and self.sim.draw_fault() < malformed_rate
                ):
                    response = garbled(response, self.sim.draw_fault())
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
                "connection dropped" if isinstance(response, Dropped) else response.status,
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
            items = date_filter(query, field, items, filters)
        base = API_PREFIX + contract.CONFERENCES_PATH.format(account_sid=self.sim.account.sid)
        listed = page(request.query, request.path_qs, items, base, filters)
        return web.json_response(
            {
                **listed.envelope,
                "conferences": [self.sim.resources.conference(c) for c in listed.items],
            }
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
        listed = page(request.query, request.path_qs, list(conference.recordings), base, {})
        return web.json_response(
            {
                **listed.envelope,
                "recordings": [self.sim.resources.recording(r) for r in listed.items],
            }
        )

    # Participants -----------------------------------------------------------

    async def dial(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        # From here to the answer nothing awaits: the checks and the dial are one step.
        now = time.monotonic()
        self.limiter.check(now)
        ref = _strip_json(request.match_info["conference_sid"])
        values = check_fields(raw, contract.DIAL_FIELDS)
        leg = named_as_documented(raw, lambda: self.sim.dial(ref, values))
        headers = self.limiter.accept(now)
        reset_rate = self.sim.scenario.faults.reset_after_commit_rate
        if reset_rate > 0 and self.sim.draw_fault() < reset_rate:
            dropped = drop_connection(request)
            log.info("call %s placed, answer withheld (faults.reset_after_commit_rate)", leg.sid)
            return dropped
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
        listed_legs = [leg for leg in conference.live_legs() if leg.listed_at <= now]
        listed = page(request.query, request.path_qs, listed_legs, base, {})
        return web.json_response(
            {
                **listed.envelope,
                "participants": [self.sim.resources.participant(p) for p in listed.items],
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
        leg = named_as_documented(raw, lambda: self.sim.initiate_call(values))
        headers = self.limiter.accept(now)
        reset_rate = self.sim.scenario.faults.reset_after_commit_rate
        if reset_rate > 0 and self.sim.draw_fault() < reset_rate:
            dropped = drop_connection(request)
            log.info("call %s placed, answer withheld (faults.reset_after_commit_rate)", leg.sid)
            return dropped
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
        return await read_body(request, json_bodies=self.sim.scenario.api.json_bodies)

    async def recording_media(self, request: web.Request) -> web.StreamResponse:
        recording = self.sim.account.recording(request.match_info["recording_sid"])
        if recording is None or recording.status != "completed":
            raise not_found("no completed recording with that SID")
        return web.Response(body=silence(recording.channels), content_type="audio/wav")


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


def _strip_json(segment: str) -> str:
    return segment[: -len(".json")] if segment.endswith(".json") else segment
