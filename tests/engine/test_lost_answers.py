"""Dials whose answers are lost: each participant's budget bounds the calls placed, whatever the
API answers, and the summary's attempts are the calls the sandbox placed.

In memory on a stepped clock, with apply's own defaults: a lost answer's call is looked for
as long as in production (lost_answer_grace_s), and that costs no real time."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import ConferenceResult
from orchestrator.sandbox.introspection import DialRecord
from tests.engine.support import conference_file, load, numbered, stepped_sandbox


def placed_per_participant(result: ConferenceResult, dials: list[DialRecord]) -> Counter[str]:
    """Calls the sandbox placed for each participant: by Label, or by number for a call placed
    without one (the conference-creating call)."""
    by_number = {p.to: p.name for p in result.participants}
    return Counter(d["label"] or by_number[d["to"]] for d in dials)


async def test_a_lost_answer_to_a_number_that_fails_at_once_is_one_attempt(
    tmp_path: Path,
) -> None:
    # Every answer is lost and bob's number fails before any Label lookup can see the leg:
    # its call is found in Calls, ended, instead of being dialed again and again.
    people = [
        {"name": "alice", "to": "+12065550100", "role": "host"},
        {"name": "bob", "to": "+12065550101"},
    ]
    path = conference_file(tmp_path, people)
    scenario = {
        "latency_ms": 100,
        "faults": {"reset_after_commit_rate": 1.0},
        "numbers": {"+12065550101": {"answer": "fail", "seconds": 0.5}},
    }
    async with stepped_sandbox(**scenario) as sandbox:
        [result] = await sandbox.apply([load(path)])
        dials = await sandbox.dials()
    assert Counter(d["label"] for d in dials) == {"alice": 1, "bob": 1}
    alice, bob = result.participants
    assert (alice.observed, alice.attempts) == ("connected", 1)
    assert (bob.observed, bob.attempts) == ("ended: failed", 1)
    assert any("answer was lost" in note for note in bob.notes)
    assert result.dials == 2


async def test_answers_lost_beyond_the_budget_end_the_participant_not_dialed(
    tmp_path: Path,
) -> None:
    # Half the API's answers are 5xx and do nothing (reads are retried; dials never are):
    # a participant is dialed again after one lost answer its call cannot be found for, and
    # after a second is reported not dialed, with both answers named.
    path = conference_file(tmp_path, numbered(8))
    # A lost answer's call is looked for only briefly: the longer it is looked for, the likelier
    # one lookup meets eight 5xx in a row and leaves the participant unknown, not this test's case.
    options = ApplyOptions(lost_answer_grace_s=0.2)
    async with stepped_sandbox(faults={"error_rate": 0.5}, seed=3) as sandbox:
        [result] = await sandbox.apply([load(path)], options)
        placed = Counter(d["label"] for d in await sandbox.dials())
        health = await sandbox.health()
    not_dialed = [p for p in result.participants if p.observed == "not-dialed"]
    assert not_dialed, "the seed should lose two answers in a row for someone"
    for outcome in not_dialed:
        assert outcome.error is not None
        assert outcome.error.startswith("not dialed: the answers to its 2 dials were lost (HTTP 5")
        assert outcome.attempts == 0
    assert {p.name: p.attempts for p in result.participants} == {
        p.name: placed[p.name] for p in result.participants
    }
    # Never more than two dial requests for a participant with a budget of one.
    assert health["requests"]["POST"] <= 2 * len(result.participants)


@pytest.mark.parametrize("seed", [1, 2])
async def test_under_faults_no_number_is_called_beyond_its_budget(
    tmp_path: Path, seed: int
) -> None:
    people = numbered(40)
    for person in people[::4]:
        person["retry"] = {"attempts": 1}  # a budget of two calls
    path = conference_file(tmp_path, people)
    scenario = {
        "profile": "field",
        "seed": seed,
        "faults": {"error_rate": 0.1, "reset_after_commit_rate": 0.05},
    }
    async with stepped_sandbox(**scenario) as sandbox:
        [result] = await sandbox.apply([load(path)])
        dials = await sandbox.dials()
    placed = placed_per_participant(result, dials)
    budgets = {p["name"]: 1 + p.get("retry", {}).get("attempts", 0) for p in people}
    assert {name for name, n in placed.items() if n > budgets[name]} == set()
    assert {p.name: p.attempts for p in result.participants} == {
        name: placed[name] for name in budgets
    }
    assert result.dials == len(dials)
    assert [p.name for p in result.participants] == list(budgets)
