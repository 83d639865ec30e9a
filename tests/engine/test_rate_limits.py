"""Dialing under an account limit apply was not told about, and shared with another apply.

The limits are windows of the sandbox's clock; here that clock is stepped, so a run that
dials for forty seconds of it takes a fraction of a second, and what it did in those forty
seconds is the same on every machine.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from pathlib import Path

from orchestrator.clock import SteppedClock
from orchestrator.engine.apply import apply_with_connection
from orchestrator.engine.events import CallPlaced, Event
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import ConferenceResult
from orchestrator.engine.run_model import RunModel
from orchestrator.texml.http import HttpRequest, HttpResponse, HttpTransport, NoAnswer
from tests.engine.support import (
    conference_file,
    dialed_once,
    load,
    numbered,
    stepped_sandbox,
)


async def test_a_lower_account_limit_than_configured_costs_no_429_collapse(
    tmp_path: Path,
) -> None:
    # The account allows 5 dials a second; apply is run with its defaults (30 over 5 s), and
    # the API says nothing of when to come back but x-ratelimit-reset.
    count = 200
    path = conference_file(tmp_path, numbered(count), max_participants=800)
    scenario = {"dials_per_second": 5, "dial_window_seconds": 1, "api": {"retry_after": False}}
    bound_s = (count - 5) / 5  # the first window's five go at once, then five a second
    async with stepped_sandbox(**scenario) as sandbox:
        [result] = await sandbox.apply([load(path)])
        took = sandbox.clock.now()
        dials = await sandbox.dials()
    dialed_once(dials, [f"p{i:03d}" for i in range(count)])
    assert result.exit_code == 0, [(p.name, p.observed, p.error) for p in result.participants]
    assert took <= 1.5 * bound_s, f"{took:.1f}s against a bound of {bound_s:.0f}s"
    assert result.dials < count * 1.25  # 429s are few, not a storm
    # The sandbox accepted no more than five in any second.
    times = sorted(d["time"] for d in dials)
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[5:], strict=False))


async def test_two_applies_on_one_account_each_finish_within_twice_the_combined_bound(
    tmp_path: Path,
) -> None:
    # Two people (or CI jobs) apply different files at once, each with its own client and
    # pacer; the account's limit is the default 150 dials in any 5 s, and each apply paces
    # itself to all of it.
    count, limit, window = 300, 150, 5.0
    combined_bound_s = math.floor((2 * count - 1) / limit) * window
    files = [
        conference_file(
            tmp_path,
            numbered(count, start=1000 + 1000 * i),
            name=f"team-{i}",
            max_participants=800,
        )
        for i in range(2)
    ]
    async with stepped_sandbox(seed=3) as sandbox:
        clock = sandbox.clock
        finished: list[float] = []

        async def apply(path: Path) -> ConferenceResult:
            [result] = await apply_with_connection(
                [load(path)],
                sandbox.connection,
                ApplyOptions(),
                asyncio.Event(),
                transport=sandbox.transport,
                clock=clock,
            )
            finished.append(clock.now())
            return result

        results = await clock.run(asyncio.gather(*(apply(f) for f in files)))
        dials = await sandbox.dials()
    assert len(finished) == 2
    for seconds in finished:
        assert seconds <= 2 * combined_bound_s, (finished, combined_bound_s)
    by_label = Counter((d["conference_sid"], d["label"]) for d in dials)
    assert len(by_label) == 2 * count and set(by_label.values()) == {1}
    for result in results:
        assert Counter(p.observed for p in result.participants) == {"connected": count}


class Unplugged:
    """The sandbox's transport until ``pull`` is called; from then on every connection is
    refused, as a port nothing listens on refuses it."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner
        self.pulled = False

    def pull(self) -> None:
        self.pulled = True

    async def send(self, request: HttpRequest) -> HttpResponse:
        if self.pulled:
            raise NoAnswer("connection refused", sent=False)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_the_api_gone_mid_run_stops_new_dials_and_names_who_was_never_dialed(
    tmp_path: Path,
) -> None:
    count = 60
    path = conference_file(tmp_path, numbered(count))
    options = ApplyOptions(dials_per_second=10, dial_window_s=1, give_up_s=30.0)
    dialed: list[str] = []
    async with stepped_sandbox() as sandbox:
        clock: SteppedClock = sandbox.clock
        transport = Unplugged(sandbox.transport)
        gone_at: list[float] = []

        def progress(event: Event) -> None:
            if isinstance(event, CallPlaced):
                dialed.append(event.participant)
                if len(dialed) == 15:
                    transport.pull()  # from now on nothing answers
                    gone_at.append(clock.now())

        model = RunModel()
        model.subscribe(progress)
        run = apply_with_connection(
            [load(path)],
            sandbox.connection,
            options,
            asyncio.Event(),
            model,
            transport=transport,
            clock=clock,
        )
        [result] = await clock.run(run)
        ended_at = clock.now()

    [pulled_at] = gone_at
    assert ended_at - pulled_at < options.give_up_s + 10  # given up on, not waited out
    assert result.error is not None and "has not answered for 30s" in result.error
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
    async with stepped_sandbox(dials_per_second=2, dial_window_seconds=1) as sandbox:
        async with sandbox.client() as other:
            for number in ("+12065550901", "+12065550902"):
                fields = {"To": number, "From": "+12065550200", "ApplicationSid": "1"}
                await other.dial("someone-elses-call", fields)
        [result] = await sandbox.apply([load(path)])
        dials = await sandbox.dials()
    assert result.exit_code == 0, [(p.name, p.observed, p.error) for p in result.participants]
    assert result.rate_limited >= 1
    dialed_once(dials[2:], [f"p{i:03d}" for i in range(4)])  # the refused one, sent again once
