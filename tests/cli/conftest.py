from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.cli.support import CliSession


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliSession]:
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 5})) as info:
        yield CliSession(info, tmp_path)
