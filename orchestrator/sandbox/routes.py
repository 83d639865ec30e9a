"""The API's handlers and the paths they answer, and the sandbox's own introspection routes.

A handler reads the request, asks the simulation, and answers with a resource
view; a failed check is an ``ApiFailure`` that the middleware turns into the
error body. What every API request goes through around its handler (token,
limits, faults, counters) is in ``middleware``.

Each list path answers with and without ``.json``; a path parameter that ends
in ``.json`` is the same resource without it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from orchestrator.sandbox import introspection
from orchestrator.sandbox.callbacks import DeliveryStats
from orchestrator.sandbox.dial_fields import named_as_documented
from orchestrator.sandbox.fields import check_fields, not_found, not_one_of, read_body
from orchestrator.sandbox.limits import Counters, RateLimiter
from orchestrator.sandbox.media import silence
from orchestrator.sandbox.model import Conference, Departed, Leg
from orchestrator.sandbox.paging import call_date_filter, date_filter, page
from orchestrator.sandbox.resources import shown_call_status
from orchestrator.sandbox.responses import drop_connection
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract

log = logging.getLogger("orchestrator.sandbox")

# Route names of a conference's participant list: its GETs are counted apart (benchmarks
# read how often clients poll it); the POSTs on the same paths are dials.
PARTICIPANT_LISTS: Final = frozenset({"participants", "participants.json"})
# The status the answer to a placed call gives, as the spec's example of that answer does (the
# call itself is ringing already, or about to: the Calls resource never says queued).
PLACED_CALL_STATUS: Final = "queued"
# GET Calls' Status filter takes the spec's enum for it: how a call ended.
CALL_STATUS_FILTERS: Final = contract.CALL_ENDED_STATUSES


async def fault_key(request: web.Request) -> str:
    """What identifies a request for its fault draws: its method and path, and for a POST
    whom it dials (its Label, or To), so each participant's dials draw their own faults."""
    whom = ""
    if request.method == "POST" and request.can_read_body:
        body = await request.read()
        fields: object = {}
        with contextlib.suppress(ValueError, RecursionError):
            if request.content_type == contract.JSON_MEDIA_TYPE:
                fields = json.loads(body)
            else:
                fields = dict(parse_qsl(body.decode("utf-8", "replace")))
        if isinstance(fields, dict):
            whom = str(fields.get("Label") or fields.get("To") or "")
    # The route and what it names, but not the account: that differs from run to run.
    route = request.match_info.route.resource
    where = route.canonical if route is not None else request.path
    named = sorted((k, v) for k, v in request.match_info.items() if k != "account_sid")
    return f"{request.method} {where} {named} {whom}"


def is_participant_list(request: web.Request) -> bool:
    return request.method in ("GET", "HEAD") and request.match_info.route.name in PARTICIPANT_LISTS


class ApiRoutes:
    def __init__(
        self,
        simulation: Simulation,
        dial_limiter: RateLimiter,
        caps: Sequence[RateLimiter] = (),
    ) -> None:
        """``caps``: the account's hourly and daily dial caps, checked after the dial limit."""
        self.sim = simulation
        self.views = simulation.resources
        self.dial_limiter = dial_limiter
        self.caps = tuple(cap for cap in caps if cap.limit > 0)
        self._max_page = simulation.scenario.api.max_page_size

    def add_to(self, router: web.UrlDispatcher, *, prefix: str) -> None:
        """Register every API path below ``prefix``.

        A path is matched against the routes in the order they were added (no two of
        these match the same path), so the dial's comes first: most requests are dials."""
        for name, path in _both_spellings("participants", prefix + contract.PARTICIPANTS_PATH):
            router.add_post(path, self.dial, name=name)
            router.add_get(path, self.list_participants, name=name)
        participant = prefix + contract.PARTICIPANT_PATH
        router.add_get(participant, self.get_participant, name="participant")
        router.add_post(participant, self.update_participant, name="participant")
        router.add_delete(participant, self.delete_participant, name="participant")
        for name, path in _both_spellings("conferences", prefix + contract.CONFERENCES_PATH):
            router.add_get(path, self.list_conferences, name=name)
        conference = prefix + contract.CONFERENCE_PATH
        router.add_get(conference, self.get_conference, name="conference")
        router.add_post(conference, self.update_conference, name="conference")
        for name, path in _both_spellings("recordings", prefix + contract.RECORDINGS_PATH):
            router.add_get(path, self.list_recordings, name=name)
        for name, path in _both_spellings("calls", prefix + contract.CALLS_PATH):
            router.add_post(path, self.initiate_call, name=name)
            router.add_get(path, self.list_calls, name=name)
        router.add_get(prefix + contract.CALL_PATH, self.get_call, name="call")
        router.add_post(prefix + contract.CALL_PATH, self.update_call, name="call")

    # Lookups ----------------------------------------------------------------

    def _conference(self, request: web.Request) -> Conference:
        ref = _strip_json(request.match_info["conference_sid"])
        conference = self.sim.account.conference(ref)
        if conference is None:
            raise not_found(f"no conference {ref} in this account")
        return conference

    def _participant(self, request: web.Request) -> Leg:
        found = self._participant_or_departed(request, departed=False)
        assert isinstance(found, Leg)
        return found

    def _participant_or_departed(self, request: web.Request, *, departed: bool) -> Leg | Departed:
        """The live participant named in the path; with ``departed``, also one hung up through
        the API that reads still return (api.hangup_lag_s)."""
        conference = self._conference(request)
        ref = request.match_info["call_sid_or_label"]
        refs = [ref, ref[: -len(".json")]] if ref.endswith(".json") else [ref]
        for name in refs:
            leg = conference.live_leg(name)
            if leg is not None:
                return leg
        if departed:
            now = self.sim.clock.now()
            for name in refs:
                gone = conference.departed_one(name, now)
                if gone is not None:
                    return gone
        raise not_found(f"no participant {ref} in conference {conference.sid} (it may have left)")

    async def _body(self, request: web.Request) -> dict[str, Any]:
        return await read_body(request, json_bodies=self.sim.scenario.api.json_bodies)

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
                raise not_one_of(
                    "Status", f"Status must be one of {', '.join(contract.CONFERENCE_STATUSES)}"
                )
            filters["Status"] = status
            items = [c for c in items if c.status == status]
        for field in ("DateCreated", "DateUpdated"):
            items = date_filter(query, field, items, filters)
        base = self.views.account_path(contract.CONFERENCES_PATH)
        listed = page(query, request.path_qs, items, base, filters, max_size=self._max_page)
        return web.json_response(
            {**listed.envelope, "conferences": [self.views.conference(c) for c in listed.items]}
        )

    async def get_conference(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.views.conference(self._conference(request)))

    async def update_conference(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        conference = self._conference(request)
        values = check_fields(raw, contract.UPDATE_CONFERENCE_FIELDS)
        self.sim.update_conference(conference, values)
        return web.json_response(self.views.conference(conference))

    async def list_recordings(self, request: web.Request) -> web.StreamResponse:
        conference = self._conference(request)
        base = self.views.account_path(contract.RECORDINGS_PATH, conference_sid=conference.sid)
        listed = page(
            request.query,
            request.path_qs,
            list(conference.recordings),
            base,
            {},
            max_size=self._max_page,
        )
        return web.json_response(
            {**listed.envelope, "recordings": [self.views.recording(r) for r in listed.items]}
        )

    # Participants -----------------------------------------------------------

    async def dial(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        # From here to the answer nothing awaits: the checks and the dial are one step.
        now = self.sim.clock.now()
        self._check_dial_limits(now)
        ref = _strip_json(request.match_info["conference_sid"])
        values = check_fields(raw, contract.DIAL_FIELDS)
        leg = named_as_documented(raw, lambda: self.sim.dial(ref, values))
        headers = self._accept_dial(now)
        if await self._answer_withheld(request):
            dropped = drop_connection(request)
            log.info("call %s placed, answer withheld (faults.reset_after_commit_rate)", leg.sid)
            return dropped
        if leg.in_app_texml:
            return web.json_response(self._app_texml_answer(leg), headers=headers)
        return web.json_response(self.views.dial_answer(leg), headers=headers)

    def _check_dial_limits(self, now: float) -> None:
        self.dial_limiter.check(now)
        for cap in self.caps:
            cap.check(now)

    def _accept_dial(self, now: float) -> dict[str, str]:
        for cap in self.caps:
            cap.accept(now)
        return self.dial_limiter.accept(now)

    def _app_texml_answer(self, leg: Leg) -> dict[str, object]:
        """A dial answer as usual, naming the conference SID no conference has (app-texml)."""
        assert leg.app_conference_sid is not None
        return {
            "account_sid": self.sim.account.sid,
            "call_sid": leg.sid,
            "coaching": False,
            "coaching_call_sid": None,
            "conference_sid": leg.app_conference_sid,
            "end_conference_on_exit": leg.end_conference_on_exit,
            "hold": False,
            "muted": leg.muted,
            "status": "connecting",
            "uri": self.views.account_path(
                contract.PARTICIPANT_PATH,
                conference_sid=leg.app_conference_sid,
                call_sid_or_label=leg.sid,
            ),
        }

    async def list_participants(self, request: web.Request) -> web.StreamResponse:
        conference = self._conference(request)
        base = self.views.account_path(contract.PARTICIPANTS_PATH, conference_sid=conference.sid)
        # A new leg is listed only once the scenario's list lag has passed since it joined;
        # one hung up through the API, until its hang-up lag has passed.
        now = self.sim.clock.now()
        shown: list[Leg | Departed] = [
            leg for leg in conference.live_legs() if leg.listed_at <= now
        ]
        departed = conference.still_shown(now)
        if departed:
            shown = sorted([*shown, *departed], key=lambda item: item.seq)
        listed = page(request.query, request.path_qs, shown, base, {}, max_size=self._max_page)
        return web.json_response(
            {
                **listed.envelope,
                "participants": [self._participant_view(p) for p in listed.items],
            }
        )

    def _participant_view(self, item: Leg | Departed) -> contract.ParticipantResource:
        return item.view if isinstance(item, Departed) else self.views.participant(item)

    async def get_participant(self, request: web.Request) -> web.StreamResponse:
        found = self._participant_or_departed(request, departed=True)
        return web.json_response(self._participant_view(found))

    async def update_participant(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        leg = self._participant(request)
        values = check_fields(raw, contract.UPDATE_PARTICIPANT_FIELDS)
        self.sim.update_participant(leg, values)
        return web.json_response(self.views.participant(leg))

    async def delete_participant(self, request: web.Request) -> web.StreamResponse:
        leg = self._participant(request)
        self.sim.hang_up(leg)
        return web.Response(status=204)

    # Calls ------------------------------------------------------------------

    async def initiate_call(self, request: web.Request) -> web.StreamResponse:
        raw = await self._body(request)
        # As for a dial, nothing awaits from the checks to the answer.
        now = self.sim.clock.now()
        self._check_dial_limits(now)
        values = check_fields(raw, contract.INITIATE_CALL_FIELDS)
        leg = named_as_documented(raw, lambda: self.sim.initiate_call(values))
        headers = self._accept_dial(now)
        if await self._answer_withheld(request):
            dropped = drop_connection(request)
            log.info("call %s placed, answer withheld (faults.reset_after_commit_rate)", leg.sid)
            return dropped
        # The spec's InitiateCallResult is from, to and status; the SID is an addition.
        answer: dict[str, object] = {"from": leg.from_, "to": leg.to, "status": PLACED_CALL_STATUS}
        if self.sim.scenario.api.initiate_call_sid:
            result: contract.InitiateCallResult = {
                "call_sid": leg.sid,
                "account_sid": self.sim.account.sid,
                "uri": self.views.call_uri(leg),
            }
            answer.update(result)
        return web.json_response(answer, headers=headers)

    async def _answer_withheld(self, request: web.Request) -> bool:
        """Whether faults.reset_after_commit_rate drops the answer of a call just placed (a
        draw of the request's own, as the middleware's are)."""
        rate = self.sim.scenario.faults.reset_after_commit_rate
        if rate <= 0:
            return False
        draw = self.sim.fault_draws("withheld " + await fault_key(request))
        return draw() < rate

    async def list_calls(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        filters: dict[str, str] = {}
        # Eventually consistent, as GET Calls/{sid}: a new call is listed once the lag passed.
        now = self.sim.clock.now()
        items = [leg for leg in self.sim.account.calls.values() if leg.known_at <= now]
        for field, attribute in (("To", "to"), ("From", "from_")):
            if wanted := query.get(field):
                filters[field] = wanted
                items = [leg for leg in items if getattr(leg, attribute) == wanted]
        if status := query.get("Status"):
            if status not in CALL_STATUS_FILTERS:
                raise not_one_of(
                    "Status", f"Status must be one of {', '.join(CALL_STATUS_FILTERS)}"
                )
            filters["Status"] = status
            items = [leg for leg in items if shown_call_status(leg) == status]
        items = call_date_filter(query, items, filters)
        items.sort(key=lambda leg: leg.seq)
        base = self.views.account_path(contract.CALLS_PATH)
        listed = page(query, request.path_qs, items, base, filters, max_size=self._max_page)
        return web.json_response(
            {**listed.envelope, "calls": [self.views.call(leg) for leg in listed.items]}
        )

    def _call(self, request: web.Request) -> Leg:
        ref = request.match_info["call_sid"]
        calls = self.sim.account.calls
        leg = calls.get(ref)
        if leg is None and ref.endswith(".json"):
            leg = calls.get(ref[: -len(".json")])
        # Calls is eventually consistent: a new call is unknown until the scenario's lag passed.
        if leg is None or leg.known_at > self.sim.clock.now():
            raise not_found(f"no call {ref} in this account")
        return leg

    async def get_call(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.views.call(self._call(request)))

    async def update_call(self, request: web.Request) -> web.StreamResponse:
        """UpdateTexmlCall: ``Status=completed`` ends the call (the sandbox runs no other TeXML,
        so a new ``Url`` or ``Texml`` is ignored)."""
        raw = await self._body(request)
        leg = self._call(request)
        status = raw.get("Status")
        if status is not None and status != "completed":
            raise not_one_of("Status", "Status must be one of completed")
        if status == "completed" and leg.live:
            self.sim.hang_up(leg)
        return web.json_response(self.views.call(leg))


class IntrospectionRoutes:
    """What the sandbox shows of itself: accepted dials, health and counters, recordings' audio.

    Health's ``webhooks`` counts what became of the callbacks (``callbacks.DeliveryStats``)."""

    def __init__(
        self, simulation: Simulation, counters: Counters, deliveries: DeliveryStats
    ) -> None:
        self.sim = simulation
        self.counters = counters
        self.deliveries = deliveries

    def add_to(self, router: web.UrlDispatcher, *, prefix: str) -> frozenset[web.AbstractResource]:
        """Register the routes below ``prefix`` (their own paths start with /_sandbox); the
        resources added, by which the middleware tells them from the API's."""
        resources: set[web.AbstractResource] = set()
        for path, handler in (
            (introspection.DIALS_PATH, self.dials),
            (introspection.HEALTH_PATH, self.health),
            (introspection.RECORDINGS_PATH, self.recording_media),
        ):
            resource = router.add_get(prefix + path, handler).resource
            if resource is not None:
                resources.add(resource)
        return frozenset(resources)

    async def dials(self, request: web.Request) -> web.StreamResponse:
        views = self.sim.resources
        return web.json_response(
            {"dials": [views.dial_record(leg) for leg in self.sim.account.dials]}
        )

    async def health(self, request: web.Request) -> web.StreamResponse:
        account = self.sim.account
        live = sum(1 for leg in account.calls.values() if leg.live)
        running = sum(1 for c in account.conferences.values() if c.status != "completed")
        return web.json_response(
            {
                "status": "ok",
                "account_sid": account.sid,
                "uptime_s": round(self.sim.clock.uptime(), 3),
                "dials": len(account.dials),
                "live_calls": live,
                "conferences": len(account.conferences),
                "running_conferences": running,
                "requests": dict(self.counters.requests),
                "participant_lists": self.counters.participant_lists,
                "rate_limited": dict(self.counters.rate_limited),
                "unsupported_media": self.counters.unsupported_media,
                "webhooks": self.deliveries.as_dict(),
            }
        )

    async def recording_media(self, request: web.Request) -> web.StreamResponse:
        recording = self.sim.account.recording(request.match_info["recording_sid"])
        if recording is None or recording.status != "completed":
            raise not_found("no completed recording with that SID")
        return web.Response(body=silence(recording.channels), content_type="audio/wav")


def _both_spellings(name: str, path: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """A list path and its route name, without and with ``.json``."""
    return (name, path), (f"{name}.json", f"{path}.json")


def _strip_json(segment: str) -> str:
    return segment[: -len(".json")] if segment.endswith(".json") else segment
