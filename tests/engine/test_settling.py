"""Settling: a run learns of the last answer within a dense look of it, conferences settle
together rather than in turn, and the reads follow what the API says of its limit.

The sandbox runs in memory on a stepped clock: "when" is the clock's, the same on every
machine; answers come the scenario's ring time (two seconds) after each dial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import ConferenceResult, State
from orchestrator.engine.waiting import PollSchedule
from orchestrator.texml import contract
from tests.engine.support import conference_file, load, numbered, stepped_sandbox

RING_S = 2.0  # the sandbox's default: every number answers two seconds after its dial
DENSE_S = PollSchedule().dense_s


async def settle(tmp_path: Path, conferences: int, participants: int, **scenario: Any) -> Any:
    """Apply ``conferences`` files of ``participants`` each; (results, when the apply ended,
    when the last answer came, the sandbox's health), times on the clock."""
    paths = [
        conference_file(tmp_path, numbered(participants, start=1000 + 100 * n), name=f"c{n}")
        for n in range(conferences)
    ]
    async with stepped_sandbox(**scenario) as sandbox:
        results = await sandbox.apply([load(path) for path in paths])
        ended = sandbox.clock.now()
        last_answer = max(d["time"] for d in await sandbox.dials()) + RING_S
        health = await sandbox.health()
    return results, ended, last_answer, health


def everyone_connected(results: list[ConferenceResult]) -> bool:
    return all(p.observed == State.CONNECTED for r in results for p in r.participants)


async def test_an_apply_ends_within_a_dense_look_of_the_last_answer(tmp_path: Path) -> None:
    results, ended, last_answer, health = await settle(tmp_path, 1, 5)
    assert everyone_connected(results)
    assert last_answer <= ended <= last_answer + DENSE_S  # not a backoff's step later
    # Dense only while an answer may come: about one list a look over the ring time, and the
    # reconciling look at the end.
    assert health["participant_lists"] <= RING_S / DENSE_S + 4


async def test_thirty_two_conferences_settle_as_soon_as_one_does(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    one = await settle(tmp_path / "one", 1, 3)
    many = await settle(tmp_path / "many", 32, 3)
    for results, ended, last_answer, _ in (one, many):
        assert everyone_connected(results)
        assert last_answer <= ended <= last_answer + DENSE_S
    # Without a budget of our own the conferences wait for nobody: each costs what one does.
    assert many[3]["participant_lists"] <= 32 * (one[3]["participant_lists"] + 1)


async def test_the_reads_follow_the_limit_the_apis_headers_state(tmp_path: Path) -> None:
    limited = {"api": {"reads_per_second": 10}}
    results, _, _, health = await settle(tmp_path, 6, 3, **limited)
    assert everyone_connected(results)
    # The headers said how much was left: the reads were spread to fit, none refused.
    assert health["rate_limited"][contract.CODE_TOO_MANY_REQUESTS] == 0
    assert health["participant_lists"] >= 6


async def test_a_leg_that_may_ring_longer_is_looked_at_densely_for_longer(
    tmp_path: Path,
) -> None:
    # Nobody answers: the leg rings for the file's timeout, then ends; until then the run looks
    # densely, and learns of the end within a look.
    path = conference_file(
        tmp_path,
        [{"name": "lead", "to": "+12065550100", "role": "host", "timeout": 10}],
        name="ringing",
    )
    async with stepped_sandbox(numbers={"+12065550100": {"answer": "no-answer"}}) as sandbox:
        options = ApplyOptions(settle_timeout_s=60)
        [result] = await sandbox.apply([load(path)], options)
        ended = sandbox.clock.now()
        [dial] = await sandbox.dials()
        lists = (await sandbox.health())["participant_lists"]
    [lead] = result.participants
    assert lead.observed != State.CONNECTED
    assert dial["time"] + 10 <= ended <= dial["time"] + 10 + 2 * DENSE_S + 1.0
    assert lists >= 10 / DENSE_S / 2  # dense through the ring time, not backing off to 2 s


async def test_while_calls_are_still_being_placed_it_looks_once_a_second(tmp_path: Path) -> None:
    # One dial a second: the last of six is placed five seconds in and answered at seven.
    path = conference_file(tmp_path, numbered(6), name="paced")
    async with stepped_sandbox() as sandbox:
        options = ApplyOptions(dials_per_second=1, dial_window_s=1)
        [result] = await sandbox.apply([load(path)], options)
        ended = sandbox.clock.now()
        dials = await sandbox.dials()
        lists = (await sandbox.health())["participant_lists"]
    assert all(p.observed == State.CONNECTED for p in result.participants)
    last_answer = max(d["time"] for d in dials) + RING_S
    placing = max(d["time"] for d in dials) - min(d["time"] for d in dials)
    assert placing >= 5
    assert last_answer <= ended <= last_answer + DENSE_S
    # A look a second while placing, then densely through the last ring: not dense throughout.
    busy_s = PollSchedule().busy_s
    assert lists <= placing / busy_s + RING_S / DENSE_S + 4


async def test_a_wait_begun_while_calls_were_placed_ends_when_the_last_is_placed(
    tmp_path: Path,
) -> None:
    # Legs that answer 50 ms after their dial: the first legs' poller starts a wait of a
    # second while the others are still being placed; the last answer must not wait it out.
    ring_s, latency_s = 0.05, 0.1
    path = conference_file(tmp_path, numbered(5, start=1000))
    async with stepped_sandbox(ring_seconds=ring_s, latency_ms=latency_s * 1000) as sandbox:
        [result] = await sandbox.apply([load(path)])
        ended = sandbox.clock.now()
        last_answer = max(d["time"] for d in await sandbox.dials()) + ring_s
    assert all(p.observed == State.CONNECTED for p in result.participants)
    # A dense look, then its own round trip and the reconciling look's (a second's wait
    # would end past 1.4 s of the clock).
    assert last_answer <= ended <= last_answer + DENSE_S + 3 * latency_s
