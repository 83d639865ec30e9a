"""A run made of events, at chosen times: what a timeline or a figure is checked against."""

from __future__ import annotations

from orchestrator.engine import events as ev
from orchestrator.engine.results import State

T0 = 1_800_000_000.0  # the run plans its conference at this moment
FILE = "bridge.yaml"
NAME = "bridge"


def _row(name: str, role: str, to: str, **settings: object) -> ev.PlannedRow:
    return ev.PlannedRow(
        name=name, role=role, to=to, desired=State.CONNECTED, action="dial", **settings
    )


def at(seconds: float) -> dict[str, object]:
    return {"file": FILE, "conference": NAME, "at": T0 + seconds}


def demo_events() -> list[ev.Event]:
    """alice (host) on from 2 s; bob drops at 20 s and is redialed, on again at 31 s; carol
    coaches alice from 4 s; dave is muted, busy on his first number, on his second at 9 s;
    erin's voicemail answers and is hung up; an edit of the file is refused at 40 s and the
    next applied at 45 s; the conference ends at 60 s."""
    rows = (
        _row("alice", "host", "+12065550100"),
        _row("bob", "participant", "+12065550101"),
        _row("carol", "coach", "+12065550102", coaching="alice"),
        _row("dave", "participant", "+12065550103", muted=True),
        _row("erin", "participant", "+12065550104"),
    )
    return [
        ev.ConferencePlanned(**at(0), sid=None, status=None, rows=rows),
        ev.CallPlaced(**at(0.5), participant="alice", destination="+12065550100", call_sid="A1"),
        ev.CallPlaced(**at(0.6), participant="bob", destination="+12065550101", call_sid="B1"),
        ev.DialRefused(**at(0.6), participant="erin", destination="+12065550104", status=429),
        ev.CallPlaced(**at(0.7), participant="dave", destination="+12065550103", call_sid="D1"),
        ev.CallPlaced(**at(1.0), participant="erin", destination="+12065550104", call_sid="E1"),
        ev.ConferenceSeen(**at(2), sid="CF1", status="in-progress", source="poll"),
        ev.Connected(**at(2), participant="alice", call_sid="A1", source="poll"),
        ev.Connected(**at(3), participant="bob", call_sid="B1", source="poll"),
        ev.CallPlaced(**at(3.5), participant="carol", destination="+12065550102", call_sid="C1"),
        ev.Connected(**at(4), participant="carol", call_sid="C1", source="poll"),
        ev.LegEnded(**at(5), participant="dave", state="busy", call_sid="D1", source="poll"),
        ev.Fallback(**at(5), participant="dave", number=2, after="busy"),
        ev.CallPlaced(**at(5.1), participant="dave", destination="+12065550113", call_sid="D2"),
        ev.MachineDetected(
            **at(6),
            participant="erin",
            answered_by="machine",
            verdict="machine",
            action="hangup",
            source="api",
        ),
        ev.HungUp(**at(6.2), participant="erin", why="machine", call_sid="E1"),
        ev.Connected(**at(9), participant="dave", call_sid="D2", source="poll"),
        ev.LegEnded(**at(20), participant="bob", state="hung-up", source="poll"),
        ev.Dropped(**at(20), participant="bob", next="redial 1 of 2 in 10s"),
        ev.Redialing(**at(30), participant="bob", number=1, of=2),
        ev.CallPlaced(**at(30), participant="bob", destination="+12065550101", call_sid="B2"),
        ev.Connected(**at(31), participant="bob", call_sid="B2", source="poll"),
        ev.EditRefused(
            **at(40),
            findings=(
                ev.Finding(path=FILE, line=21, col=12, message="participants[3].muted: expected"),
            ),
        ),
        ev.EditApplied(**at(45)),
        ev.ConferenceSeen(**at(60), sid="CF1", status="completed", source="poll"),
    ]
