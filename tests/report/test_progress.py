"""apply's progress on stderr: events as words (numbers masked), a log or a live count."""

from __future__ import annotations

import io
import re

import pytest

from orchestrator.engine.events import EventKind, ProgressEvent
from orchestrator.report.progress import Progress, describe


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
    progress = Progress()
    progress(event(EventKind.DIALED, destination="+12065550100"))
    progress(event(EventKind.ENDED, "bob", reason="no-answer"))
    progress(event(EventKind.DROPPED, "carol", reason="dropped; redial 1 of 3 in 10s"))
    progress.notice("dialing paused 1s: the API answered 429")
    progress.finish()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "standup/alice: dialed +1206\u2022\u2022\u20220100",
        "standup/bob: no-answer",
        "standup/carol: dropped; redial 1 of 3 in 10s",
        "dialing paused 1s: the API answered 429",
    ]
    assert "+12065550100" not in captured.err


def test_quiet_says_nothing_but_why_dialing_paused(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(quiet=True)
    progress(event(EventKind.DIALED, destination="+12065550100"))
    progress.paused(2.0, "dialing paused 2s: the API answered 429")
    progress.finish()
    assert capsys.readouterr().err == "dialing paused 2s: the API answered 429\n"


def visible_lines(text: str) -> list[str]:
    """What a terminal shows of rich's output, line by line, without escape codes."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return [line for line in plain.replace("\r", "\n").split("\n") if line.strip()]


def test_on_a_terminal_the_live_display_fits_40_columns_and_ends_with_the_summarys_counts() -> None:
    from rich.console import Console

    from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, State
    from orchestrator.report.live import LiveProgress

    screen = io.StringIO()
    console = Console(file=screen, width=40, force_terminal=True, color_system=None)
    progress = LiveProgress(3, console=console)
    progress(event(EventKind.CREATING))
    progress(event(EventKind.DIALED, destination="+12065550100"))
    progress(event(EventKind.WAITING, "coach", reason="alice"))
    progress.paused(5.0, "the API refused a dial as over the account's dial limit (429)")
    progress(event(EventKind.CONNECTED))
    progress(event(EventKind.ENDED, "bob", reason="busy"))
    final = [
        ParticipantOutcome(name=n, role="participant", to="+12065550100", observed=o)
        for n, o in (("alice", State.CONNECTED), ("bob", State.BUSY), ("coach", State.CONNECTED))
    ]
    results = [
        ConferenceResult(
            path="s.yaml", name="standup", sid="c", status="in-progress", participants=final
        )
    ]
    progress.finish(results)
    lines = visible_lines(screen.getvalue())
    assert max(len(line) for line in lines) <= 40
    # The last frame: everyone settled, counted as the summary counts them.
    assert lines[-3].endswith("3/3 settled")
    assert lines[-2] == "2 connected, 1 ended: busy"
    # One dial was made (the rate before it, "907.3 dials/s", may hold any digits).
    dials = re.search(r", (\d+) dials?,", lines[-1])
    assert dials is not None and dials.group(1) == "1" and "elapsed" in lines[-1]
    assert "+12065550100" not in screen.getvalue()
