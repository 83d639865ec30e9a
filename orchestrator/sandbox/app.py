"""The sandbox as an aiohttp application: the simulation, its webhooks, and the paths
each route answers.

Handlers and the wrappers every API route goes through are in ``routes``; unknown
paths and methods answer with a Telnyx error body here.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from orchestrator.sandbox.callbacks import WebhookSender
from orchestrator.sandbox.fields import ApiFailure, not_found
from orchestrator.sandbox.limits import dial_limiter, read_limiter
from orchestrator.sandbox.resources import API_PREFIX
from orchestrator.sandbox.responses import error_response
from orchestrator.sandbox.routes import Routes
from orchestrator.sandbox.scenario import Scenario
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract

SIMULATION: Final = web.AppKey("simulation", Simulation)
WEBHOOKS: Final = web.AppKey("webhooks", WebhookSender)

MAX_BODY_BYTES: Final = 1024 * 1024


def create_app(
    scenario: Scenario, *, api_key: str, account_sid: str, allow_remote_callbacks: bool = False
) -> web.Application:
    """The sandbox as an aiohttp application serving ``/v2/...``."""
    webhooks = WebhookSender(allow_remote=allow_remote_callbacks)
    simulation = Simulation(scenario, account_sid=account_sid, notify=webhooks.send)
    app = web.Application(middlewares=[_json_errors], client_max_size=MAX_BODY_BYTES)
    app[SIMULATION] = simulation
    app[WEBHOOKS] = webhooks
    routes = Routes(simulation, dial_limiter(scenario), read_limiter(scenario), api_key=api_key)

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
