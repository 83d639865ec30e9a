"""800 participants under the general limit on writes (``api.writes_per_second``: 429, code
10011, on POST and DELETE, dials included): apply, in-place updates, prune and down each
pace themselves on the 429s and the x-ratelimit headers, and finish with every participant
accounted for."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import State
from orchestrator.engine.state import StateStore
from orchestrator.engine.teardown import HangUpResult, tear_down
from tests.engine.support import conference_file, load, numbered, stepped_sandbox

PEOPLE = 800
WRITES_PER_SECOND = 10


@pytest.mark.long
async def test_eight_hundred_updates_prunes_and_hang_ups_pace_themselves(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    options = ApplyOptions(state=store)
    scenario = {"api": {"writes_per_second": WRITES_PER_SECOND}}
    async with stepped_sandbox(**scenario) as sandbox:
        path = conference_file(tmp_path, numbered(PEOPLE), max_participants=PEOPLE)
        [applied] = await sandbox.apply([load(path)], options)
        assert applied.exit_code == 0 and applied.dials == PEOPLE
        assert applied.rate_limited > 0  # the dials met the limit on writes, and went again

        # Everyone muted in place: 800 updates, no dial.
        path = conference_file(tmp_path, numbered(PEOPLE, muted=True), max_participants=PEOPLE)
        started = sandbox.clock.now()
        [updated] = await sandbox.apply([load(path)], options)
        assert updated.exit_code == 0 and updated.dials == 0
        assert all("updated muted" in p.notes for p in updated.participants)
        # No faster than the limit allows: 800 writes at 10 a second.
        assert sandbox.clock.now() - started >= PEOPLE / WRITES_PER_SECOND

        # Half of them no longer in the file: --prune hangs those up.
        kept = PEOPLE // 2
        path = conference_file(tmp_path, numbered(kept, muted=True), max_participants=PEOPLE)
        [pruned] = await sandbox.apply([load(path)], dataclasses.replace(options, prune=True))
        assert pruned.exit_code == 0
        states = [p.observed for p in pruned.participants]
        assert (states.count(State.CONNECTED), states.count(State.ABSENT)) == (kept, kept)

        # down: the other half, each hung up.
        async with sandbox.client() as client:
            down = await sandbox.clock.run(
                tear_down(client, load(path), end_conference=False, store=store)
            )
        assert down.ok and len(down.hang_ups) == kept
        assert {h.result for h in down.hang_ups} == {HangUpResult.HUNG_UP}
        health = await sandbox.health()
        dials = await sandbox.dials()
    assert health["rate_limited"]["10011"] > 0
    assert len(dials) == PEOPLE  # nobody dialed twice
    assert {d["status"] for d in dials} == {"completed"}  # and nobody left up
