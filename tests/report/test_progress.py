"""apply's progress on stderr: events as words (numbers masked), a log, or the run model drawn
live; the live display's last frame and the summary are made from the same model."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from orchestrator.engine import events as ev
from orchestrator.engine.results import State
from orchestrator.engine.run_model import RunModel
from orchestrator.report.progress import Progress, describe
from orchestrator.report.summary import render_text


def event(kind: type[ev.ParticipantEvent], participant: str = "alice", **fields: Any) -> Any:
    return kind(file="s.yaml", conference="standup", participant=participant, **fields)


@pytest.mark.parametrize(
    ("happened", "words"),
    [
        (
            event(ev.CallPlaced, destination="+12065550100", call_sid="v3:a"),
            "dialed +1206\u2022\u2022\u20220100",
        ),
        (
            event(ev.CallPlaced, destination="sip:carol@example.sip.telnyx.com", call_sid="v3:a"),
            "dialed sip:c\u2022\u2022\u2022@example.sip.telnyx.com",
        ),
        (
            event(ev.AnswerLost, destination="+12065550100", shown="HTTP 503"),
            "dialed +1206\u2022\u2022\u20220100; the answer was lost (HTTP 503)",
        ),
        (event(ev.Connected), "connected"),
        (event(ev.LegEnded, state="busy"), "busy"),
        (event(ev.Waiting, whom="agent"), "waiting for agent"),
        (event(ev.Updated, settings=("muted",)), "updated muted"),
        (event(ev.HungUp, why="prune"), "hung up (--prune)"),
        (event(ev.Fallback, number=2, after="no-answer"), "fallback to number 2 after no-answer"),
        (
            event(
                ev.MachineDetected, answered_by="machine_end_beep", verdict="machine", action="next"
            ),
            "a machine answered; next",
        ),
        (
            event(ev.MachineDetected, answered_by=None, verdict="not_sure", action="accept"),
            "detection could not tell who answered (no result in time); accept",
        ),
        (event(ev.DialRefused, destination="+12065550100", status=429), None),
        (event(ev.Finished), None),
    ],
)
def test_each_event_in_words(happened: ev.ParticipantEvent, words: str | None) -> None:
    assert describe(happened) == words


def test_without_a_terminal_each_event_is_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress()
    progress(event(ev.CallPlaced, destination="+12065550100", call_sid="v3:a"))
    progress(event(ev.LegEnded, "bob", state="no-answer"))
    progress(event(ev.Dropped, "carol", next="redial 1 of 3 in 10s"))
    progress(ev.DialPaused(file="", conference="", seconds=1, why="dialing paused 1s: 429"))
    progress.finish()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "standup/alice: dialed +1206\u2022\u2022\u20220100",
        "standup/bob: no-answer",
        "standup/carol: dropped; redial 1 of 3 in 10s",
        "dialing paused 1s: 429",
    ]
    assert "+12065550100" not in captured.err


def test_quiet_says_nothing_but_why_dialing_paused(capsys: pytest.CaptureFixture[str]) -> None:
    progress = Progress(quiet=True)
    progress(event(ev.CallPlaced, destination="+12065550100", call_sid="v3:a"))
    progress(ev.DialPaused(file="", conference="", seconds=2, why="dialing paused 2s: 429"))
    progress.finish()
    assert capsys.readouterr().err == "dialing paused 2s: 429\n"


def visible_lines(text: str) -> list[str]:
    """What a terminal shows of rich's output, line by line, without escape codes."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return [line for line in plain.replace("\r", "\n").split("\n") if line.strip()]


def planned(model: RunModel, *names: str) -> None:
    model.publish(
        ev.ConferencePlanned(
            file="s.yaml",
            conference="standup",
            sid=None,
            status=None,
            rows=tuple(
                ev.PlannedRow(
                    name=n,
                    role="participant",
                    to="+12065550100",
                    desired=State.CONNECTED,
                    action="dial",
                )
                for n in names
            ),
        )
    )


def live_display(width: int) -> tuple[Any, io.StringIO, RunModel]:
    from rich.console import Console

    from orchestrator.report.live import LiveProgress

    screen = io.StringIO()
    console = Console(file=screen, width=width, force_terminal=True, color_system=None)
    model = RunModel()
    progress = LiveProgress(0, console=console)
    progress.attach(model)
    return progress, screen, model


def test_the_live_display_fits_40_columns_and_its_last_frame_is_the_summary() -> None:
    progress, screen, model = live_display(40)
    planned(model, "alice", "bob", "coach", "dave")
    model.publish(event(ev.Creating))
    model.publish(event(ev.CallPlaced, destination="+12065550100", call_sid="v3:a"))
    model.publish(event(ev.Waiting, "coach", whom="alice"))
    model.publish(ev.DialPaused(file="", conference="", seconds=5, why="a 429"))
    model.publish(event(ev.Connected))
    model.publish(event(ev.CallPlaced, "bob", destination="+12065550101", call_sid="v3:b"))
    model.publish(event(ev.LegEnded, "bob", state="busy"))
    model.publish(event(ev.DialRefused, "coach", destination="+12065550102", status=429))
    for name, error in (("alice", None), ("bob", "no answer (busy)"), ("coach", None)):
        model.publish(event(ev.Finished, name, error=error))
    model.publish(event(ev.Finished, "dave", note="interrupted before dialing"))
    progress.finish()
    lines = visible_lines(screen.getvalue())
    assert max(len(line) for line in lines) <= 40
    # The last frame: everyone settled, counted as the summary counts them, failures first.
    assert lines[-3].endswith("4/4 settled")
    assert lines[-2] == "1 ended: busy, 2 not-dialed, 1 connected"
    summary = render_text(model.results())
    assert "4 participants: 1 ended: busy, 2 not-dialed, 1 connected;" in summary
    assert "2 dials, 1 rate-limited" in summary
    dials = re.search(r", (\d+) dials?,", lines[-1])
    assert dials is not None and dials.group(1) == "2" and "elapsed" in lines[-1]
    assert "+12065550100" not in screen.getvalue()


def test_a_participant_waiting_on_a_fallback_number_is_not_settled() -> None:
    progress, _screen, model = live_display(60)
    planned(model, "alice")
    model.publish(event(ev.CallPlaced, destination="+12065550100", call_sid="v3:a"))
    model.publish(event(ev.LegEnded, state="no-answer"))
    model.publish(event(ev.Fallback, number=2, after="no-answer"))
    tally = model.tally()
    assert (tally.settled, tally.total) == (0, 1)
    model.publish(event(ev.CallPlaced, destination="+12065550109", call_sid="v3:b"))
    model.publish(event(ev.Connected))
    model.publish(event(ev.Finished))
    assert model.tally().settled == 1
    progress.finish()
    [row] = model.results()[0].participants
    assert (row.observed, row.to, row.attempts) == ("connected", "+12065550109", 2)
    assert row.notes == ["fallback to number 2 after no-answer"]


def test_at_40_columns_the_counts_keep_every_failure_and_shorten_the_rest() -> None:
    progress, screen, model = live_display(40)
    names = [f"p{i:02d}" for i in range(30)]
    planned(model, *names)
    for i, name in enumerate(names[:20]):
        model.publish(event(ev.CallPlaced, name, destination="+12065550100", call_sid=f"v3:{i}"))
        if i < 12:
            model.publish(event(ev.Connected, name))
    model.publish(event(ev.LegEnded, "p12", state="failed"))
    model.publish(event(ev.LegEnded, "p13", state="no-answer"))
    model.publish(event(ev.LegEnded, "p14", state="busy"))
    progress.finish()
    lines = visible_lines(screen.getvalue())
    counts = lines[-2]
    assert len(counts) <= 40
    for failure in ("1 busy", "1 failed", "1 no-answer"):
        assert failure in counts, counts
