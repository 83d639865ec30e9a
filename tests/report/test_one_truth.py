"""Every view of a run says the same thing: the live display's last frame, the text summary and
the JSON report, after a normal run, one with 429s and one stopped midway, against the sandbox
in memory on a stepped clock."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from orchestrator.engine import events as ev
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.run_model import RunModel
from orchestrator.report.live import LiveProgress
from orchestrator.report.summary import render_json, render_text
from orchestrator.report.words import state_counts
from tests.engine.support import SteppedSandbox, conference_file, load, numbered, stepped_sandbox

WIDTH = 120


def _last_frame(screen: io.StringIO) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    lines = [line for line in plain.replace("\r", "\n").split("\n") if line.strip()]
    return lines[-3:]


async def _run(
    tmp_path: Path, count: int, options: Any, stop_after: int | None = None, **scenario: Any
) -> tuple[list[str], str, dict[str, Any], RunModel]:
    path = conference_file(tmp_path, numbered(count), max_participants=800)
    screen = io.StringIO()
    display = LiveProgress(
        count, console=Console(file=screen, width=WIDTH, force_terminal=True, color_system=None)
    )
    model = RunModel()
    display.attach(model)
    stop = asyncio.Event()
    placed = 0

    def stop_midway(event: ev.Event) -> None:
        nonlocal placed
        if isinstance(event, ev.CallPlaced):
            placed += 1
            if stop_after is not None and placed >= stop_after:
                stop.set()

    model.subscribe(stop_midway)
    async with stepped_sandbox(**scenario) as sandbox:
        if scenario.get("dials_per_second"):
            await _fill_the_window(sandbox, scenario["dials_per_second"])
        await sandbox.apply([load(path)], options, stop=stop, model=model)
    display.finish()
    results = model.results()
    text = render_text(results)
    report = json.loads(render_json(results, exit_code=model.exit_code()))
    return _last_frame(screen), text, report, model


async def _fill_the_window(sandbox: SteppedSandbox, dials: int) -> None:
    """Another process has just used the account's dial window: the run's first dials meet 429s."""
    async with sandbox.client() as other:
        for i in range(dials):
            fields = {
                "To": f"+1206555{9000 + i:04d}",
                "From": "+12065550200",
                "ApplicationSid": "1",
            }
            await other.dial("someone-elses-call", fields)


def _agree(frame: list[str], text: str, report: dict[str, Any], model: RunModel) -> None:
    bar, counts, pace = frame
    [conference] = report["conferences"]
    totals = conference["totals"]
    by_state = totals["by_state"]
    # Each participant once, in the report, the frame and the summary.
    names = [p["name"] for p in conference["participants"]]
    assert len(names) == len(set(names)) == totals["participants"]
    assert bar.endswith(f" {totals['participants']}/{totals['participants']} settled")
    line = ", ".join(text for text, _ in state_counts(by_state))
    assert counts == line
    assert f"{totals['participants']} participants: {line};" in text
    dials = totals["dials"]
    assert f", {dials} dial{'s' if dials != 1 else ''}," in pace
    assert f"{dials} dial{'s' if dials != 1 else ''}, {totals['rate_limited']} rate-limited" in text
    assert sum(p["attempts"] for p in conference["participants"]) == dials
    assert report["exit_code"] == conference["exit_code"] == model.exit_code()
    assert Counter(p["observed"] for p in conference["participants"]) == Counter(by_state)


async def test_a_normal_run(tmp_path: Path) -> None:
    frame, text, report, model = await _run(tmp_path, 12, ApplyOptions())
    _agree(frame, text, report, model)
    assert report["conferences"][0]["totals"]["by_state"] == {"connected": 12}


async def test_a_run_with_429s(tmp_path: Path) -> None:
    # The account allows 10 dials in a second, which another process has just used.
    options = ApplyOptions(dials_per_second=10, dial_window_s=1)
    frame, text, report, model = await _run(
        tmp_path, 40, options, dials_per_second=10, dial_window_seconds=1
    )
    _agree(frame, text, report, model)
    totals = report["conferences"][0]["totals"]
    assert totals["rate_limited"] > 0
    assert totals["dials"] == 40  # the refused ones placed nothing and are not dials


async def test_a_run_stopped_midway(tmp_path: Path) -> None:
    # Paced to 10 dials a second, the run is stopped once 15 calls were placed.
    options = ApplyOptions(dials_per_second=10, dial_window_s=1)
    frame, text, report, model = await _run(tmp_path, 60, options, stop_after=15)
    _agree(frame, text, report, model)
    [conference] = report["conferences"]
    by_state = conference["totals"]["by_state"]
    assert conference["interrupted"] is True
    assert by_state.get("not-dialed", 0) >= 30  # never dialed, and said so
    never = [p for p in conference["participants"] if p["observed"] == "not-dialed"]
    assert all(p["attempts"] == 0 for p in never)
    assert all("interrupted before dialing" in p["notes"] for p in never)
