"""Shared fixtures: the sandbox on an ephemeral loopback port, with simulated time running fast."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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


def _shares(total: int, workers: int) -> list[int]:
    """Where each worker's share of the list starts: xdist's worksteal hands out the list in
    contiguous shares (``remaining // workers_left`` each) before any stealing."""
    starts, position = [], 0
    for left in range(workers, 0, -1):
        starts.append(position)
        position += (total - position) // left
    return starts


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what they do
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each long test at the head of a different worker's share, so that they run side by side
    and overlap everything else; the rest keep their order. Without xdist: long tests first."""
    long = [item for item in items if item.get_closest_marker("long") is not None]
    if not long:
        return
    rest = [item for item in items if item.get_closest_marker("long") is None]
    workerinput = getattr(config, "workerinput", None)
    workers = int(workerinput["workercount"]) if workerinput else 1
    heads = _shares(len(items), workers)[: len(long)]
    ordered: list[pytest.Item] = []
    first, extra = long[: len(heads)], long[len(heads) :]
    for index in range(len(items)):
        if first and index in heads:
            ordered.append(first.pop(0))
        elif extra:
            ordered.append(extra.pop(0))  # more long tests than workers: soon after the first
        else:
            ordered.append(rest.pop(0))
    items[:] = ordered


def _writable(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder in which this user cannot create a file: a folder without write permission,
    or, for root (whom permissions do not stop), sysfs."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not _writable(folder):
            yield folder
            return
        for candidate in (Path("/sys"), Path("/proc/sys")):
            if candidate.is_dir() and not _writable(candidate):
                yield candidate
                return
        pytest.skip("no folder here refuses new files to this user")
    finally:
        folder.chmod(0o755)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium per test module (tests/browser.py)."""
    from tests.browser import launched

    with launched() as chromium:
        yield chromium
