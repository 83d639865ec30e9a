"""Shared fixtures: the sandbox on an ephemeral loopback port, with simulated time running fast."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from orchestrator.sandbox import SandboxInfo, parse_scenario, running_sandbox, sandbox_in_thread
from tests.folders import ReadOnly, refusal

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


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[ReadOnly]:
    """A folder in which this user cannot create a file: a folder without write permission,
    or, for root (whom permissions do not stop), sysfs, which refuses root too."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for candidate in (folder, Path("/sys")):
            reason = refusal(candidate) if candidate.is_dir() else None
            if reason is not None:
                yield ReadOnly(candidate, reason)
                return
        pytest.fail("no folder here refuses new files to this user: not even /sys")
    finally:
        folder.chmod(0o755)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module (tests/browser.py)."""
    from tests.browser import launched

    with launched() as chromium:
        yield chromium


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection built (modules, test items, strategies) lives to the end: keep the
    garbage collector from walking it again at every full collection, the last ones at exit
    included."""
    gc.freeze()
