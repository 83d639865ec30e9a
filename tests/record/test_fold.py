"""The fold and its figures, on a run whose every moment is chosen."""

from __future__ import annotations

import pytest

from orchestrator.record.figures import figures, spans
from orchestrator.record.fold import RunFold
from tests.record.support import FILE, T0, demo_events


def folded() -> RunFold:
    fold = RunFold()
    for event in demo_events():
        fold.add(event)
    return fold


def test_each_participant_gets_its_legs_and_how_each_ended() -> None:
    conference = folded().conferences[FILE]
    assert list(conference.lanes) == ["alice", "bob", "carol", "dave", "erin"]
    bob = conference.lanes["bob"]
    assert [(leg.call_sid, leg.connected_at, leg.end) for leg in bob.legs] == [
        ("B1", T0 + 3, T0 + 20),
        ("B2", T0 + 31, T0 + 60),  # on until the conference ended
    ]
    assert bob.legs[0].cause == "left the conference"
    assert bob.legs[1].cause == "the conference ended"
    dave = conference.lanes["dave"]
    assert [leg.cause for leg in dave.legs] == ["busy", "the conference ended"]
    assert dave.legs[1].to == "+12065550113"
    erin = conference.lanes["erin"]
    assert erin.legs[0].cause == "a machine answered; hung up"
    assert erin.legs[0].connected_at is None
    assert [m.kind for m in erin.marks] == ["paced", "machine"]
    assert [m.kind for m in bob.marks] == ["drop", "redial"]
    assert [m.kind for m in dave.marks] == ["unreached", "fallback"]


def test_spans_show_ringing_connected_muted_and_coaching() -> None:
    conference = folded().conferences[FILE]
    until = T0 + 60
    dave = spans(conference.lanes["dave"], until)
    assert [(s.kind, round(s.start - T0, 3), round(s.end - T0, 3)) for s in dave] == [
        ("ringing", 0.7, 5),
        ("ringing", 5.1, 9),
        ("connected", 9, 60),
        ("muted", 9, 60),
    ]
    carol = [s for s in spans(conference.lanes["carol"], until) if s.kind == "coaching"]
    assert [(s.start - T0, s.label) for s in carol] == [(4, "coaching alice")]


def test_figures_time_to_first_and_all_connected_and_the_longest_gap() -> None:
    fold = folded()
    conference = fold.conferences[FILE]
    for lane in ("erin",):  # the voicemail: never connected, so never all at once
        conference.lanes[lane].desired = None
    got = figures(conference, run_end=T0 + 60)
    assert got.first_connected_s == pytest.approx(2)
    assert got.first_who == "alice"
    assert got.all_connected_s == pytest.approx(9)  # dave's second number
    assert got.joined_s == pytest.approx({"alice": 2, "bob": 3, "carol": 4, "dave": 9})
    assert got.longest_missing_s == pytest.approx(11)  # bob, from 20 s to 31 s
    assert got.longest_missing_who == ("bob",)


def test_never_all_connected_when_someone_never_joined() -> None:
    got = figures(folded().conferences[FILE], run_end=T0 + 60)
    assert got.all_connected_s is None and got.longest_missing_s is None
    assert got.joined_s["erin"] is None
