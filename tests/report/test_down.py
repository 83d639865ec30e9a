"""down's lines from hand-built teardowns: hung up, not there, could not, and what ended."""

from __future__ import annotations

from pathlib import Path

from orchestrator.engine.teardown import HangUp, HangUpResult, Teardown
from orchestrator.report.down import render_down_text
from orchestrator.spec.model import ConferenceSpec
from tests.engine.support import CONFERENCE_SID, conference_file, load, numbered


def spec_of(tmp_path: Path, name: str = "test-bridge") -> ConferenceSpec:
    return load(conference_file(tmp_path, numbered(3), name=name))


def test_each_participant_is_one_line_and_the_host_s_exit_is_explained(tmp_path: Path) -> None:
    spec = spec_of(tmp_path)
    teardown = Teardown(
        spec=spec,
        conference_sid=CONFERENCE_SID,
        hang_ups=(
            HangUp(name="p001", result=HangUpResult.HUNG_UP),
            HangUp(name="p002", result=HangUpResult.ABSENT),
            HangUp(name="p000", result=HangUpResult.FAILED, error="HTTP 500: try again"),
        ),
        ended_with=("p000",),
    )
    assert not teardown.ok
    assert render_down_text([teardown]) == (
        f"Conference test-bridge ({spec.path}): {CONFERENCE_SID}\n"
        "  - hung up p001\n"
        "  = p002 was not in the conference\n"
        "  ! could not hang up p000: HTTP 500: try again\n"
        "  the conference ended with p000 (end_conference_on_exit); "
        "anyone else still in it was hung up too\n"
    )


def test_ending_the_conference_and_one_not_running(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ended = Teardown(
        spec=spec_of(tmp_path / "a"), conference_sid=CONFERENCE_SID, ended_conference=True
    )
    idle = Teardown(spec=spec_of(tmp_path / "b", "retro"), conference_sid=None)
    assert ended.ok and idle.ok
    assert render_down_text([ended, idle]).splitlines() == [
        f"Conference test-bridge ({ended.spec.path}): {CONFERENCE_SID}",
        "  ended the conference (Status=completed); everyone in it was hung up",
        f"Conference retro ({idle.spec.path}): not running; nothing to end",
    ]
