"""Dialing under an account limit apply was not told about, and shared with another apply.

These runs take real time (the limits are real-time windows): 40 s and about 20 s.
They are the behaviour the pacer exists for, so they run with the rest of the suite.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from orchestrator.engine.apply import apply_with_connection
from orchestrator.engine.events import CallPlaced, Event
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.settling import PollSchedule
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from orchestrator.texml.client import TexmlClient
from tests.cli.support import CliSession
from tests.engine.support import (
    conference_file,
    connection_for,
    dialed_once,
    fast_sandbox,
    load,
    numbered,
    sandbox_dials,
)

# Default flags (30 dials/s over 5 s), polling at the default pace too: only the test's
# simulated time is fast (a ring takes 20 ms).
DEFAULTS = ApplyOptions()


@pytest.mark.long
async def test_a_lower_account_limit_than_configured_costs_no_429_collapse(
    tmp_path: Path,
) -> None:
    # The account allows 5 dials a second; apply is run with its defaults (30 over 5 s), and
    # the API says nothing of when to come back but x-ratelimit-reset.
    count = 200
    path = conference_file(tmp_path, numbered(count), max_participants=800)
    scenario = {"dials_per_second": 5, "dial_window_seconds": 1, "api": {"retry_after": False}}
    bound_s = (count - 5) / 5  # the first window's five go at once, then five a second
    async with fast_sandbox(**scenario) as info:
        started = time.monotonic()
        [result] = await apply_with_connection(
            [load(path)], connection_for(info), DEFAULTS, asyncio.Event()
        )
        took = time.monotonic() - started
        dialed_once(await sandbox_dials(info), [f"p{i:03d}" for i in range(count)])
    assert result.exit_code == 0, [(p.name, p.observed, p.error) for p in result.participants]
    assert took <= 1.5 * bound_s, f"{took:.1f}s against a bound of {bound_s:.0f}s"
    assert result.dials < count * 1.25  # 429s are few, not a storm


@pytest.mark.long
def test_two_applies_on_one_account_each_finish_within_twice_the_combined_bound(
    tmp_path: Path,
) -> None:
    # Two people (or CI jobs) apply different files at once; the account's limit is the
    # default 150 dials in any 5 s, and each apply paces itself to all of it.
    count, limit, window = 300, 150, 5.0
    combined_bound_s = math.floor((2 * count - 1) / limit) * window
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 3})) as info:
        cli = CliSession(info, tmp_path)
        files = [
            conference_file(
                tmp_path,
                numbered(count, start=1000 + 1000 * i),
                name=f"team-{i}",
                max_participants=800,
            )
            for i in range(2)
        ]
        reports = [tmp_path / f"report-{i}.json" for i in range(2)]
        started = time.monotonic()
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "orchestrator", "apply", str(f), "-q", "--report", str(r)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=cli.env,
            )
            for f, r in zip(files, reports, strict=True)
        ]
        took = []
        for process in processes:
            _, stderr = process.communicate(timeout=4 * combined_bound_s + 30)
            took.append(time.monotonic() - started)
            assert process.returncode == 0, stderr
        dials = cli.dials()
    for seconds in took:
        assert seconds <= 2 * combined_bound_s, (took, combined_bound_s)
    by_label = Counter((d["conference_sid"], d["label"]) for d in dials)
    assert len(by_label) == 2 * count and set(by_label.values()) == {1}
    for report in reports:
        [document] = json.loads(report.read_text())["conferences"]
        assert document["totals"]["by_state"] == {"connected": count}


async def test_the_api_gone_mid_run_stops_new_dials_and_names_who_was_never_dialed(
    tmp_path: Path,
) -> None:
    count = 60
    path = conference_file(tmp_path, numbered(count))
    options = ApplyOptions(
        dials_per_second=10,
        dial_window_s=1,
        give_up_s=1.0,
        poll=PollSchedule(first_s=0.02, factor=1.5, max_s=0.2, lookup_s=0.05),
    )
    dialed: list[str] = []
    enough = asyncio.Event()

    def progress(event: Event) -> None:
        if isinstance(event, CallPlaced):
            dialed.append(event.participant)
            if len(dialed) >= 15:
                enough.set()

    model = RunModel()
    model.subscribe(progress)
    sandbox = fast_sandbox()
    info = await sandbox.__aenter__()
    run = asyncio.create_task(
        apply_with_connection([load(path)], connection_for(info), options, asyncio.Event(), model)
    )
    await asyncio.wait_for(enough.wait(), 20)
    await sandbox.__aexit__(None, None, None)  # its port refuses connections from now on
    gone = time.monotonic()
    [result] = await asyncio.wait_for(run, 30)

    assert time.monotonic() - gone < 10
    assert result.error is not None and "has not answered for 1s" in result.error
    assert result.exit_code == 3  # calls were placed before it went
    by_name = {p.name: p for p in result.participants}
    assert sorted(by_name) == [f"p{i:03d}" for i in range(count)]
    never = [p for p in result.participants if p.attempts == 0]
    assert len(never) >= count - 30
    assert {p.observed for p in never} == {"not-dialed"}
    for name in dialed:
        assert by_name[name].call_sid is not None
        assert by_name[name].observed in ("connected", "connecting", "unknown")


async def test_a_creating_dial_refused_as_over_the_limit_is_sent_again(tmp_path: Path) -> None:
    # Another process has just used the account's window; this apply's first dial, the one
    # that creates the conference, is refused, and everyone else waits for it.
    path = conference_file(tmp_path, numbered(4))
    async with fast_sandbox(dials_per_second=2, dial_window_seconds=1) as info:
        async with TexmlClient(connection_for(info)) as other:
            for number in ("+12065550901", "+12065550902"):
                fields = {"To": number, "From": "+12065550200", "ApplicationSid": "1"}
                await other.dial("someone-elses-call", fields)
        [result] = await asyncio.wait_for(
            apply_with_connection([load(path)], connection_for(info), DEFAULTS, asyncio.Event()),
            30,
        )
    assert result.exit_code == 0, [(p.name, p.observed, p.error) for p in result.participants]
    assert result.rate_limited >= 1
