"""A stateful, seeded simulation of Telnyx's TeXML Conferences API, served over HTTP.

Users demo conference files and webhooks against it (``orchestrator sandbox``,
``apply --sandbox``); tests drive it with the official SDK and our own client.
"""

from __future__ import annotations

from orchestrator.sandbox.app import create_app
from orchestrator.sandbox.scenario import (
    FIELD_API,
    ApiBehaviour,
    Faults,
    NumberBehaviour,
    Scenario,
    load_scenario,
    parse_scenario,
)
from orchestrator.sandbox.server import SandboxInfo, running_sandbox, sandbox_in_thread

__all__ = [
    "FIELD_API",
    "ApiBehaviour",
    "Faults",
    "NumberBehaviour",
    "SandboxInfo",
    "Scenario",
    "create_app",
    "load_scenario",
    "parse_scenario",
    "running_sandbox",
    "sandbox_in_thread",
]
