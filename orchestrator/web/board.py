"""The board: who is on the bridge and who is missing, live, for anyone given its URL.

A subscriber of the run model: every event is folded (``record.fold``, for the timeline) and,
when it is worth a line, sent at once to every page as a message of the stream
(``web.stream``), with an id a reconnecting page resumes from. How things stand is read from
the run model, the one the summary and the terminal read, on the event loop between two
events. A page that connects is given all of it (``snapshot``); after that, at most
``1 / SPACING_S`` times a second however many events come, the overview and the conferences
whose words changed (a conference that did not change is not sent again); a conference's
timeline is drawn again when it moved (at most every ``TIMELINE_SPACING_S``) and every
``TIMELINE_CLOCK_S`` for the time that passes. While no page is open, nothing is built or
drawn. No page, however many, ever costs a read of the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from typing import Any, Final

from aiohttp import web

from orchestrator.engine import events as ev
from orchestrator.engine.results import ConferenceResult
from orchestrator.engine.run_model import RunModel, Tally
from orchestrator.record.figures import figures
from orchestrator.record.fold import ConferenceFold, RunFold
from orchestrator.report.timeline import render_svg
from orchestrator.web.board_view import conference, event_line, overview
from orchestrator.web.page import Gate, add_page_routes, html_response, json_response, shell
from orchestrator.web.stream import EventStream

PATH: Final = "/board/"
SPACING_S: Final = 0.2  # changes sent at most five times a second, however many events come
TIMELINE_SPACING_S: Final = 5.0  # a conference's timeline drawn at most this often as it moves
TIMELINE_CLOCK_S: Final = 30.0  # and this often while pages are open, for the time that passes

BODY: Final = """<header class="top"><h1>Bridge board</h1><p id="run" class="meta">connecting\u2026</p>
</header><div id="banner" class="banner" role="status" hidden></div>
<section id="overview" aria-label="The run at a glance"></section>
<main id="conferences"></main>
<section id="recent" aria-labelledby="recent-title"><h2 id="recent-title">Recent events</h2>
<ol id="events" class="events"></ol></section>
<noscript><p>The board needs JavaScript to follow the run; state.json holds the same.</p></noscript>"""


# What a timeline's drawing depends on but the passing of time: a round of a watch that
# changes nothing leaves it as it was, and its timeline is not drawn again for it.
Shape = tuple[object, ...]


def shape(fold: ConferenceFold) -> Shape:
    lanes = tuple(
        (
            name,
            len(lane.marks),
            lane.settings[-1] if lane.settings else None,
            tuple((leg.dialed_at, leg.connected_at, leg.end) for leg in lane.legs),
        )
        for name, lane in fold.lanes.items()
    )
    return (fold.start, fold.end, len(fold.marks), lanes)


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Board:
    def __init__(self, model: RunModel, *, token: str, full: bool = False) -> None:
        self.model = model
        self.full = full
        self.gate = Gate(token, cookie="orchestrator_board", path=PATH, query="token")
        self.stream = EventStream()
        self.fold = RunFold()
        self._said: dict[str, dict[str, tuple[float, str]]] = {}  # file -> who -> last line
        self._drawn: dict[str, tuple[Shape, float, dict[str, str]]] = {}  # shape, when, SVGs
        self._touched: set[str] = set()  # files with events since the last broadcast
        self._sent: dict[str, str] = {}  # file -> its view as last broadcast (JSON)
        self._sent_run = ""
        self._order: dict[str, int] = {}  # each file's number: its pictures' ids
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.snapshots = 0  # taken, over the board's life
        model.subscribe(self._heard)

    # The stream ----------------------------------------------------------------

    def _heard(self, event: ev.Event) -> None:
        if self.stream.closed:
            return
        self.fold.add(event)
        if event.file:
            self._touched.add(event.file)
        line = event_line(event, self.full)
        if line is not None:
            if line["participant"] is not None:
                said = self._said.setdefault(event.file, {})
                said[line["participant"]] = (event.at, line["text"])
            self.stream.append("event", line)
        self._dirty.set()

    async def _send_changes(self) -> None:
        while not self.stream.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), TIMELINE_SPACING_S)
            self._dirty.clear()
            if self.stream.viewers and not self.stream.closed:
                self._broadcast(time.time())
            await asyncio.sleep(SPACING_S)

    def _broadcast(self, now: float) -> None:
        """What changed since the last broadcast: the overview and the conferences that moved
        (each sent only when its words changed), and the timelines due a drawing."""
        news = self._news(now)
        if news is not None:
            self.stream.broadcast("board", news)
        for file, pictures in self._timelines_due(now):
            self.stream.broadcast("timeline", {"file": file, **pictures})

    def bound(self, port: int) -> None:
        """Served on ``port`` from now on: updates start; the cookie is the port's own (a
        cookie does not tell two ports of one host apart)."""
        self.gate.cookie = f"orchestrator_board_{port}"
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._send_changes())

    async def end(self, exit_code: int | None) -> None:
        """The run is over: the last changes and the word that it ended, to every page."""
        if not self.stream.closed:
            if self.stream.viewers:
                self._broadcast(time.time())
            self.stream.close("end", {"at": time.time(), "exit_code": exit_code})
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # How things stand -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole board as it stands (for a page that connects, and state.json): taken
        between two events, so its counts are the model's."""
        self.snapshots += 1
        now = time.time()
        tally = self.model.tally()
        shown = []
        for result in self.model.results():
            view = self._view(result, tally)
            fold = self.fold.conferences.get(result.path)
            drawn = self._drawn.get(result.path)
            if drawn is not None and fold is not None and drawn[0] == shape(fold):
                view["timeline"] = drawn[2]
            elif fold is not None and fold.lanes:
                view["timeline"] = self._draw(result.path, fold, now)
            shown.append(view)
        return {
            "now": now,
            "full": self.full,
            "run": overview(tally, self.model),
            "conferences": shown,
        }

    def _view(self, result: ConferenceResult, tally: Tally) -> dict[str, Any]:
        fold = self.fold.conferences.get(result.path)
        said = self._said.get(result.path, {})
        return conference(result, self.model, tally, fold, said, self.full)

    def _news(self, now: float) -> dict[str, Any] | None:
        """The overview and the conferences whose words changed since the last broadcast;
        None when nothing did."""
        tally = self.model.tally()
        run = overview(tally, self.model)
        changed = []
        touched, self._touched = self._touched, set()
        for result in self.model.results_for(f for f in self.model.conferences if f in touched):
            view = self._view(result, tally)
            said = json.dumps(view, sort_keys=True)
            if self._sent.get(result.path) != said:
                self._sent[result.path] = said
                changed.append(view)
        said_run = json.dumps(run, sort_keys=True)
        if not changed and said_run == self._sent_run:
            return None
        self._sent_run = said_run
        self.snapshots += 1
        return {"now": now, "full": self.full, "run": run, "conferences": changed}

    def _timelines_due(self, now: float) -> list[tuple[str, dict[str, str]]]:
        """The timelines to draw again: changed, and not drawn for ``TIMELINE_SPACING_S``;
        or not drawn for ``TIMELINE_CLOCK_S``, for the time that passed."""
        due = []
        for file, fold in self.fold.conferences.items():
            if not fold.lanes:
                continue
            drawn = self._drawn.get(file)
            if drawn is not None:
                age = now - drawn[1]
                moved = drawn[0] != shape(fold)
                if age < TIMELINE_CLOCK_S and not (moved and age >= TIMELINE_SPACING_S):
                    continue
            due.append((file, self._draw(file, fold, now)))
        return due

    def _draw(self, file: str, fold: ConferenceFold, now: float) -> dict[str, str]:
        number = self._order.setdefault(file, len(self._order))
        found = figures(fold, now)
        title = f"Timeline of {fold.name} ({fold.file}) so far"
        words = f"{len(fold.lanes)} participants, one lane each, from the plan to now."
        pictures = {
            kind: render_svg(
                fold,
                found,
                title=title,
                description=words,
                compact=kind == "narrow",
                full=self.full,
                prefix=f"{kind[0]}{number}-",
                standalone=False,
            )
            for kind in ("wide", "narrow")
        }
        self._drawn[file] = (shape(fold), now, pictures)
        return pictures

    # The routes ----------------------------------------------------------------

    def add_to(self, app: web.Application) -> None:
        add_page_routes(
            app.router,
            self.gate,
            page=self._page,
            routes={"state.json": self._state, "events": self._events},
        )

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return html_response(
            shell(
                "Bridge board",
                styles=(f"{PATH}static/page.css",),
                scripts=(f"{PATH}static/page.js", f"{PATH}static/board.js"),
                body=BODY,
            )
        )

    async def _state(self, request: web.Request) -> web.StreamResponse:
        return json_response(self.snapshot())

    async def _events(self, request: web.Request) -> web.StreamResponse:
        return await self.stream.serve(request, lambda: [("board", self.snapshot())])
