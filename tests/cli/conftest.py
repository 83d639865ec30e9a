from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import CliSession


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliSession]:
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 5})) as info:
        yield CliSession(info, tmp_path)


@pytest.fixture(autouse=True)
def _sandbox_log_level() -> Iterator[None]:
    """An in-process --sandbox run quiets the sandbox's log; later tests get it back as it was."""
    logger = logging.getLogger("orchestrator.sandbox")
    level = logger.level
    yield
    logger.setLevel(level)
