"""Machine detection when ``Calls/{sid}`` shows ``answered_by`` late (``api.answered_by_lag_s``):
within the budget (the detection's timeout plus a margin) the verdict is waited for and
``on_machine`` does what it says; past it the answer is not_sure, and said so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.engine.detection import DETECTION_MARGIN_S
from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, State
from tests.engine.support import conference_file, load, stepped_sandbox

MACHINE = "+15550000011"
DESK = "+12065550150"
NUMBERS = {MACHINE: {"answered_by": "machine"}}
HOST: dict[str, Any] = {"name": "host", "to": "+12065550001", "role": "host"}


def oncall(to: str | list[str], **detection: Any) -> dict[str, Any]:
    return {"name": "oncall", "to": to, "machine_detection": {"mode": "Enable", **detection}}


async def apply(tmp_path: Path, person: dict[str, Any], lag: float) -> tuple[Any, list[str]]:
    path = conference_file(tmp_path, [HOST, person])
    async with stepped_sandbox(numbers=NUMBERS, api={"answered_by_lag_s": lag}) as sandbox:
        [result] = await sandbox.apply([load(path)])
        dials = await sandbox.dials()
    return result, [d["to"] for d in dials if d["label"] == "oncall"]


def outcome(result: ConferenceResult) -> ParticipantOutcome:
    return next(p for p in result.participants if p.name == "oncall")


async def test_a_late_result_within_the_budget_lets_on_machine_hang_up(tmp_path: Path) -> None:
    # A machine is heard 4 s after the answer; Calls shows it 20 s later: within 30 s + 5 s.
    result, dialed = await apply(tmp_path, oncall(MACHINE, on_machine="hangup"), lag=20)
    person = outcome(result)
    assert (person.observed, person.answered_by) == (State.MACHINE, "machine")
    assert person.error == "a machine answered (machine_detection.on_machine: hangup)"
    assert dialed == [MACHINE] and result.exit_code == 3


async def test_a_late_result_within_the_budget_lets_on_machine_dial_the_next(
    tmp_path: Path,
) -> None:
    result, dialed = await apply(tmp_path, oncall([MACHINE, DESK], on_machine="next"), lag=20)
    person = outcome(result)
    assert (person.observed, person.to, person.answered_by) == (State.CONNECTED, DESK, "human")
    assert dialed == [MACHINE, DESK] and result.exit_code == 0


async def test_a_result_later_than_the_budget_is_not_sure_and_said_so(tmp_path: Path) -> None:
    # Detection's timeout 2 s: the budget is 2 s + the margin; the result shows 20 s late.
    lag = 2 + DETECTION_MARGIN_S + 13
    result, dialed = await apply(
        tmp_path, oncall(MACHINE, timeout_ms=2000, on_machine="hangup"), lag=lag
    )
    person = outcome(result)
    assert (person.observed, person.answered_by) == (State.CONNECTED, "not_sure")
    assert person.notes == [
        "detection could not tell who answered (no result in time); kept "
        "(machine_detection.on_not_sure: accept)"
    ]
    assert dialed == [MACHINE] and result.exit_code == 0


async def test_past_the_budget_on_not_sure_decides(tmp_path: Path) -> None:
    person = oncall([MACHINE, DESK], timeout_ms=2000, on_machine="hangup", on_not_sure="next")
    result, dialed = await apply(tmp_path, person, lag=30)
    assert dialed == [MACHINE, DESK]
    # The desk's person is not heard in time either: both not_sure, both hung up, and said so.
    person_ = outcome(result)
    assert person_.observed == State.HUNG_UP and person_.answered_by == "not_sure"
    assert person_.error and "could not tell who answered" in person_.error
    assert result.exit_code == 3
