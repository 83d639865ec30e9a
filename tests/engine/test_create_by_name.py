"""Creating the conference when dialing into its friendly name is refused (404, 422) or runs
the application's own TeXML (``api.create_by_name: app-texml``): the engine recognises each,
within a bounded time for the last, and creates the conference with InitiateTexmlCall."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.engine.creating import NOT_JOINED_GRACE_S
from orchestrator.engine.options import ApplyOptions
from tests.engine.support import conference_file, dialed_once, load, numbered, stepped_sandbox

NAMES = [f"p{i:03d}" for i in range(6)]


@pytest.mark.parametrize(("mode", "status"), [("refuse-404", 404), ("refuse-422", 422)])
async def test_a_refused_dial_into_the_name_falls_back_to_a_texml_call(
    tmp_path: Path, mode: str, status: int
) -> None:
    path = conference_file(tmp_path, numbered(6))
    notices: list[str] = []
    async with stepped_sandbox(api={"create_by_name": mode}) as sandbox:
        [result] = await sandbox.apply([load(path)], ApplyOptions(notice=notices.append))
        dials = await sandbox.dials()
    assert result.exit_code == 0
    dialed_once(dials, NAMES)
    [created] = [d for d in dials if d["label"] is None]
    host = result.participants[0]
    assert (created["to"], host.attempts) == (host.to, 1)  # the refused dial placed nothing
    assert notices == [
        f"test-bridge: the API answers {status} to a dial into its name; creating it with a "
        "TeXML <Dial><Conference> call instead (and the run's other new conferences too)"
    ]


async def test_a_dial_into_the_name_that_joins_no_conference_is_hung_up_and_replaced(
    tmp_path: Path,
) -> None:
    path = conference_file(tmp_path, numbered(6))
    notices: list[str] = []
    async with stepped_sandbox(api={"create_by_name": "app-texml"}) as sandbox:
        [result] = await sandbox.apply([load(path)], ApplyOptions(notice=notices.append))
        dials = await sandbox.dials()
    assert result.exit_code == 0
    host = result.participants[0]
    # The host was called twice: by name (answered, in no conference, hung up within the
    # grace), then by the TeXML call that made the conference. Both count as attempts.
    stray, creating = [d for d in dials if d["to"] == host.to]
    assert (stray["label"], stray["conference_sid"], stray["status"]) == ("p000", None, "completed")
    assert (creating["label"], creating["conference_sid"]) == (None, result.sid)
    assert creating["call_sid"] == host.call_sid and host.attempts == 2
    assert "its first call ran the application's TeXML, in no conference; hung up" in host.notes
    # Answered after ring_seconds (2 s), it is given up once the grace has passed, and a poll.
    assert 2 + NOT_JOINED_GRACE_S <= creating["time"] - stray["time"] <= 2 + NOT_JOINED_GRACE_S + 3
    # Everyone else once, into the conference the TeXML call made.
    others = [d for d in dials if d["to"] != host.to]
    assert sorted(d["label"] for d in others) == NAMES[1:]
    assert {d["conference_sid"] for d in others} == {result.sid}
    assert [p.attempts for p in result.participants[1:]] == [1] * 5 and result.dials == 7
    assert notices == [
        "test-bridge: the API places a call that joins no conference; creating it with a TeXML "
        "<Dial><Conference> call instead (and the run's other new conferences too)"
    ]


async def test_more_than_250_on_the_texml_path_says_what_it_does(tmp_path: Path) -> None:
    path = conference_file(tmp_path, numbered(4), max_participants=300)
    notices: list[str] = []
    async with stepped_sandbox(api={"create_by_name": "app-texml"}) as sandbox:
        [result] = await sandbox.apply([load(path)], ApplyOptions(notice=notices.append))
        dials = await sandbox.dials()
    assert result.exit_code == 0
    assert any("created with 250" in n and "asks for 300" in n for n in notices), notices
    dialed = [d for d in dials if d["label"] not in (None, "p000")]
    assert len(dialed) == 3 and all(d["conference_sid"] == result.sid for d in dialed)
