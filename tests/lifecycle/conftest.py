from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.lifecycle.support import Bench


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 5})) as info:
        yield Bench(info, tmp_path)
