"""apply's progress on stderr: events as words (numbers masked), a log or a live count."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from orchestrator.engine.events import EventKind, ProgressEvent
from orchestrator.report import progress as progress_module
from orchestrator.report.progress import Progress, describe

CLEAR = "\r\x1b[2K"  # back to the start of the line, and clear it


def event(kind: EventKind, participant: str = "alice", **details: str) -> ProgressEvent:
    return ProgressEvent(conference="standup", participant=participant, kind=kind, **details)


@pytest.mark.parametrize(
    ("happened", "words"),
    [
        (event(EventKind.DIALED, destination="+12065550100"), "dialed +1206\u2022\u2022\u20220100"),
        (
            event(EventKind.DIALED, destination="sip:carol@example.sip.telnyx.com"),
            "dialed sip:c\u2022\u2022\u2022@example.sip.telnyx.com",
        ),
        (event(EventKind.DIALED), "dialed"),
        (event(EventKind.CONNECTED), "connected"),
        (event(EventKind.ENDED, reason="busy"), "busy"),
        (event(EventKind.ENDED), "ended"),
        (event(EventKind.WAITING, reason="agent"), "waiting for agent"),
        (event(EventKind.UPDATED), "updated"),
        (event(EventKind.HUNG_UP), "hung up"),
    ],
)
def test_each_event_in_words(happened: ProgressEvent, words: str) -> None:
    assert describe(happened) == words


def test_without_a_terminal_each_event_is_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(2, live=False, quiet=False)
    progress(event(EventKind.DIALED, destination="+12065550100"))
    progress(event(EventKind.ENDED, "bob", reason="no-answer"))
    progress.notice("dialing paused 1s: the API answered 429")
    progress.finish()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "standup/alice: dialed +1206\u2022\u2022\u20220100",
        "standup/bob: no-answer",
        "dialing paused 1s: the API answered 429",
    ]
    assert "+12065550100" not in captured.err


def test_quiet_says_nothing_but_why_dialing_paused(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(2, live=False, quiet=True)
    progress(event(EventKind.DIALED, destination="+12065550100"))
    progress.paused(2.0, "dialing paused 2s: the API answered 429")
    progress.finish()
    assert capsys.readouterr().err == "dialing paused 2s: the API answered 429\n"


def test_on_a_terminal_one_line_of_counts_is_redrawn(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # click keeps escape codes only for a terminal; capsys is none, so it is told otherwise.
    monkeypatch.setattr("click.utils.should_strip_ansi", lambda stream=None, color=None: False)
    now = [100.0]
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    progress = Progress(0, live=True, quiet=False)
    progress.expect(3)
    progress(event(EventKind.DIALED, destination="+12065550100"))
    now[0] += 0.05
    progress(event(EventKind.CONNECTED))  # within a tenth of a second: not drawn yet
    progress.notice("a notice")
    now[0] += 0.04
    progress(event(EventKind.ENDED, "bob", reason="busy"))  # still within it
    now[0] += 0.2
    progress(event(EventKind.DIALED, "carol"))  # drawn: a tenth of a second has passed
    progress.finish()
    assert capsys.readouterr().err == (
        f"{CLEAR}3 participants: 2 waiting, 1 dialed"
        f"{CLEAR}a notice\n"  # clears the count, says its line, and draws the count again
        f"{CLEAR}3 participants: 2 waiting, 1 connected"
        f"{CLEAR}3 participants: 1 busy, 1 connected, 1 dialed"
        f"{CLEAR}3 participants: 1 busy, 1 connected, 1 dialed\n"  # finish: the last word
    )
