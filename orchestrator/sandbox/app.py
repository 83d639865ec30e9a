"""The sandbox as an aiohttp application: the simulation, its limits and counters, and
the sub-applications that serve them.

The root application only answers unknown paths and methods with a Telnyx error
body. The API is a sub-application at ``/v2`` whose middleware (``middleware``)
does what every API request goes through; the introspection routes are another
at ``/v2/_sandbox``, behind the token alone.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

from orchestrator.sandbox.callbacks import WebhookSender
from orchestrator.sandbox.fields import ApiFailure, not_found
from orchestrator.sandbox.limits import Counters, dial_limiter, read_limiter
from orchestrator.sandbox.middleware import api_middlewares, introspection_middlewares
from orchestrator.sandbox.resources import API_PREFIX
from orchestrator.sandbox.responses import error_response
from orchestrator.sandbox.routes import SANDBOX_PREFIX, ApiRoutes, IntrospectionRoutes
from orchestrator.sandbox.scenario import Scenario
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract
from orchestrator.webhooks.signing import SigningKey

SIMULATION: Final = web.AppKey("simulation", Simulation)
WEBHOOKS: Final = web.AppKey("webhooks", WebhookSender)

MAX_BODY_BYTES: Final = 1024 * 1024


def create_app(
    scenario: Scenario,
    *,
    api_key: str,
    account_sid: str,
    signing_key: SigningKey,
    allow_remote_callbacks: bool = False,
    access_log: bool = False,
) -> web.Application:
    """The sandbox serving ``/v2/...``, signing its callbacks with ``signing_key``;
    ``access_log``: a line at INFO for every API request (otherwise at DEBUG)."""
    webhooks = WebhookSender(
        signing_key=signing_key,
        behaviour=scenario.webhooks,
        seed=scenario.seed,
        allow_remote=allow_remote_callbacks,
    )
    simulation = Simulation(scenario, account_sid=account_sid, notify=webhooks.send)
    counters = Counters()

    api = web.Application(
        middlewares=api_middlewares(
            simulation,
            counters,
            read_limiter(scenario),
            api_key=api_key,
            access_log=access_log,
        )
    )
    ApiRoutes(simulation, dial_limiter(scenario)).add_to(api)
    introspection = web.Application(middlewares=introspection_middlewares(api_key=api_key))
    IntrospectionRoutes(simulation, counters, webhooks.stats).add_to(introspection)

    # The root application makes every request, so its size limit is the one that holds.
    app = web.Application(middlewares=[_json_errors], client_max_size=MAX_BODY_BYTES)
    app[SIMULATION] = simulation
    app[WEBHOOKS] = webhooks
    app.add_subapp(API_PREFIX + SANDBOX_PREFIX, introspection)
    app.add_subapp(API_PREFIX, api)

    async def restart_clock(_: web.Application) -> None:
        simulation.clock.restart()

    async def stop(_: web.Application) -> None:
        simulation.close()
        await webhooks.close()

    app.on_startup.append(restart_clock)
    app.on_cleanup.append(stop)
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
