"""Shared fixtures: the sandbox on an ephemeral loopback port, with simulated time running fast."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from orchestrator.sandbox import SandboxInfo, parse_scenario, running_sandbox, sandbox_in_thread

# One simulated second lasts 10 ms: a default ring of 2 s answers after 20 ms.
FAST_SCENARIO = {"time_scale": 0.01, "seed": 1}


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxInfo]:
    """The sandbox in the test's event loop."""
    async with running_sandbox(parse_scenario(FAST_SCENARIO)) as info:
        yield info


@pytest.fixture
def sandbox_thread() -> Iterator[SandboxInfo]:
    """The sandbox in a background thread, for synchronous clients."""
    with sandbox_in_thread(parse_scenario(FAST_SCENARIO)) as info:
        yield info
