"""The timeline drawn from folded events: a lane per participant, words for every shape."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from orchestrator.record.figures import figures
from orchestrator.record.fold import RunFold
from orchestrator.report.timeline import BARS, render_svg
from tests.record.support import FILE, T0, demo_events

SVG = "{http://www.w3.org/2000/svg}"


def drawn(*, compact: bool = False, full: bool = False) -> ET.Element:
    fold = RunFold()
    for event in demo_events():
        fold.add(event)
    conference = fold.conferences[FILE]
    svg = render_svg(
        conference,
        figures(conference, T0 + 60),
        title="Timeline of bridge",
        description="five participants",
        compact=compact,
        full=full,
    )
    return ET.fromstring(svg)


@pytest.mark.parametrize("compact", [False, True], ids=["wide", "compact"])
def test_one_lane_per_participant_with_its_name_as_text(compact: bool) -> None:
    root = drawn(compact=compact)
    assert root.get("width") == ("360" if compact else "1000")
    assert root.find(f"{SVG}title").text == "Timeline of bridge"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "five participants"  # type: ignore[union-attr]
    lanes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "lane"]
    assert [g.get("data-participant") for g in lanes] == ["alice", "bob", "carol", "dave", "erin"]
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    for name in ("alice", "bob", "carol", "dave", "erin", "conference"):
        assert name in texts


def test_colour_is_never_the_only_signal() -> None:
    root = drawn()
    patterns = {p.get("id") for p in root.iter(f"{SVG}pattern")}
    assert {"t-ringing", "t-muted", "t-hold", "t-coaching"} <= patterns
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    for words in BARS.values():  # every kind of bar is named in the legend
        assert words in texts
    for words in ("dropped", "redialed", "machine detected", "fallback number dialed"):
        assert words in texts
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert "coaching alice" in titles  # carol's band says whom she coaches
    assert any(t.startswith("bob (participant, +1206•••0101)") for t in titles)


def test_numbers_are_masked_unless_full() -> None:
    masked = ET.tostring(drawn()).decode()
    assert "+12065550101" not in masked
    assert "+12065550101" in ET.tostring(drawn(full=True)).decode()
