"""The sandbox as an aiohttp application: the simulation, its limits and counters, and
the routes that serve them.

One application holds the API's routes at ``/v2``, the introspection routes
at ``/v2/_sandbox`` and the inspector's page at ``/_sandbox/``; its one middleware (``middleware``) does what every API
request goes through, puts introspection behind the token alone, and answers
unknown paths and methods with a Telnyx error body.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.sandbox.callbacks import WebhookSender
from orchestrator.sandbox.inspector import Inspector
from orchestrator.sandbox.limits import (
    Counters,
    dial_caps,
    dial_limiter,
    read_limiter,
    write_limiter,
)
from orchestrator.sandbox.middleware import sandbox_middleware
from orchestrator.sandbox.resources import API_PREFIX
from orchestrator.sandbox.routes import ApiRoutes, IntrospectionRoutes
from orchestrator.sandbox.scenario import Scenario
from orchestrator.sandbox.simulation import Simulation
from orchestrator.webhooks.signing import SigningKey

SIMULATION: Final = web.AppKey("simulation", Simulation)
WEBHOOKS: Final = web.AppKey("webhooks", WebhookSender)
INSPECTOR: Final = web.AppKey("inspector", Inspector)

MAX_BODY_BYTES: Final = 1024 * 1024


def create_app(
    scenario: Scenario,
    *,
    api_key: str,
    account_sid: str,
    signing_key: SigningKey,
    allow_remote_callbacks: bool = False,
    access_log: bool = False,
    clock: Clock = REAL_CLOCK,
) -> web.Application:
    """The sandbox serving ``/v2/...``, signing its callbacks with ``signing_key``;
    ``access_log``: a line at INFO for every API request (otherwise at DEBUG); ``clock``:
    the time its simulation, limits and deliveries run on."""
    webhooks = WebhookSender(
        signing_key=signing_key,
        behaviour=scenario.webhooks,
        seed=scenario.seed,
        allow_remote=allow_remote_callbacks,
        clock=clock,
    )
    simulation = Simulation(scenario, account_sid=account_sid, notify=webhooks.send, clock=clock)
    counters = Counters()

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SIMULATION] = simulation
    app[WEBHOOKS] = webhooks
    introspection = IntrospectionRoutes(simulation, counters, webhooks.stats)
    own_routes = introspection.add_to(app.router, prefix=API_PREFIX)
    dials, reads, writes = dial_limiter(scenario), read_limiter(scenario), write_limiter(scenario)
    hourly, daily = dial_caps(scenario)
    ApiRoutes(simulation, dials, (hourly, daily)).add_to(app.router, prefix=API_PREFIX)
    inspector = Inspector(
        simulation,
        api_key=api_key,
        limits={
            "dials (and placed calls)": dials,
            "reads (GET)": reads,
            # The limits older scenarios do not have are shown once a scenario sets them.
            **{
                name: limiter
                for name, limiter in (
                    ("writes (POST, DELETE)", writes),
                    ("dials this hour", hourly),
                    ("dials today", daily),
                )
                if limiter.limit > 0
            },
        },
        counters=counters,
        deliveries=webhooks.stats,
    )
    inspector.add_to(app.router)
    webhooks.attempted = inspector.attempted
    app[INSPECTOR] = inspector
    app.middlewares.append(
        sandbox_middleware(
            simulation,
            counters,
            reads,
            writes,
            api_key=api_key,
            access_log=access_log,
            introspection=own_routes,
            inspector=inspector,
        )
    )

    async def restart_clock(_: web.Application) -> None:
        simulation.clock.restart()

    async def stop(_: web.Application) -> None:
        simulation.close()
        await webhooks.close()

    app.on_startup.append(restart_clock)
    app.on_cleanup.append(stop)
    return app
