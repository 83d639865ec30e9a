"""A stateful, seeded simulation of Telnyx's TeXML Conferences API, served over HTTP.

Users demo conference files and webhooks against it (``orchestrator sandbox``,
``apply --sandbox``); tests drive it with the official SDK and our own client.

Its parts, from the outside in: ``server`` runs ``app`` (the aiohttp
application), whose ``middleware`` wraps the ``routes``; handlers read bodies
with ``fields`` and ``dial_fields``, page lists with ``paging``, and ask the
``simulation``, which changes the ``model``'s records through the
``lifecycle`` on a ``clock``, with SIDs from ``ids``. Answers are built by
``resources`` (and ``responses``, ``media``); webhooks by ``events``, signed
and sent, at least once, by ``callbacks``. ``limits`` holds the rate limiters and request counters, ``inspector`` the page at
``/_sandbox/`` that shows every request and callback,
``scenario`` the behaviour a run is configured with (read by ``scenario_file``), and ``documents`` the
TeXML of placed calls.
"""

from __future__ import annotations

from orchestrator.sandbox.app import create_app
from orchestrator.sandbox.scenario import (
    FIELD_API,
    ApiBehaviour,
    Faults,
    NumberBehaviour,
    Scenario,
    WebhookBehaviour,
)
from orchestrator.sandbox.scenario_file import load_scenario, parse_scenario
from orchestrator.sandbox.server import SandboxInfo, running_sandbox, sandbox_in_thread

__all__ = [
    "FIELD_API",
    "ApiBehaviour",
    "Faults",
    "NumberBehaviour",
    "SandboxInfo",
    "Scenario",
    "WebhookBehaviour",
    "create_app",
    "load_scenario",
    "parse_scenario",
    "running_sandbox",
    "sandbox_in_thread",
]
