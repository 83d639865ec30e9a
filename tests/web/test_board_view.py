"""The board's words for the run: a dial cap that stopped dialing is said where the terminal
says it, in the same words."""

from __future__ import annotations

from orchestrator.engine import events as ev
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.verdicts import cap_words
from orchestrator.web.board_view import event_line, overview


def test_a_dial_cap_is_shown_in_the_overview_and_the_recent_events() -> None:
    model = RunModel()
    assert overview(model.tally(), model)["capped"] is None
    capped = ev.AccountCapped(
        file="b.yaml", conference="bridge", limit="dial-cap", allowed=10, frees_in_s=3600
    )
    model.publish(capped)
    said = overview(model.tally(), model)["capped"]
    assert said == cap_words(10, 3600)
    assert said.startswith("account dial cap (10 dials) reached: no more dials this run")
    assert "a place frees in an hour or more" in said
    line = event_line(capped, full=False)
    assert line is not None and line["text"] == said
    # The terminal's notice names who met it; otherwise the same words.
    assert cap_words(10, 3600, "scribe").replace(" at scribe", "") == said
