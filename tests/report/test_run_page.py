"""The run page, looked at in headless Chromium: no error, a lane per participant, no
horizontal overflow on a desktop or a phone; and nothing it needs from outside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orchestrator.record.recorder import Recorder
from orchestrator.record.runs import list_runs, run_folders
from orchestrator.record.view import view_of
from orchestrator.report.run_page import render_run_html
from tests.browser import look
from tests.record.support import demo_events


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page")
    recorder = Recorder.start(
        command="apply", argv=["apply", "bridge.yaml"], paths=["bridge.yaml"], state_dir=str(folder)
    )
    for event in demo_events():
        recorder(event)
    recorder.finish(0)
    [run] = list_runs(run_folders(str(folder), [], folder))
    out = folder / "run.html"
    out.write_text(render_run_html(view_of(run), base=folder), encoding="utf-8")
    return out


def test_the_page_needs_nothing_from_outside(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html
    assert not re.search(r"(src|href)=\"[a-z]+:", html)  # no URL with a scheme
    assert "url(" not in html.replace("url(#", "")  # patterns only, no fetched image
    assert "+12065550101" not in html  # numbers masked


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.long
def test_in_chromium_one_lane_each_and_no_horizontal_overflow(
    browser: object, page: Path, width: int, tmp_path: Path
) -> None:
    looked = look(browser, page, width, screenshot=tmp_path / f"run-{width}.png")
    assert looked.errors == []
    assert looked.lanes == [5]  # one timeline shown, one lane per participant
    assert looked.width <= width
    assert (tmp_path / f"run-{width}.png").stat().st_size > 10_000
