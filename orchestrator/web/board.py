"""The board: who is on the bridge and who is missing, live, for anyone given its URL.

A subscriber of the run model: every event is folded (``record.fold``, for the timeline) and,
when it is worth a line, sent at once to every page as a message of the stream
(``web.stream``), with an id a reconnecting page resumes from. How things stand (the rows, the
counts, the timeline) is a snapshot of the run model, the one the summary and the terminal
read, taken on the event loop between two events; it is sent after a change, at most
``1 / SPACING_S`` times a second however many events come, and every ``REFRESH_S`` while
pages are open (the timeline grows with the time). While no page is open, no snapshot is
taken. No page, however many, ever costs a read of the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any, Final

from aiohttp import web

from orchestrator.engine import events as ev
from orchestrator.engine.run_model import RunModel
from orchestrator.record.figures import figures
from orchestrator.record.fold import ConferenceFold, RunFold
from orchestrator.report.timeline import render_svg
from orchestrator.web.board_view import conference, event_line, overview
from orchestrator.web.page import Gate, add_page_routes, html_response, json_response, shell
from orchestrator.web.stream import EventStream

PATH: Final = "/board/"
SPACING_S: Final = 0.2  # snapshots at most five times a second, however many events come
REFRESH_S: Final = 5.0  # and one this often while pages are open, for the timeline's clock
TIMELINE_REDRAW_S: Final = 2.0  # a timeline unchanged but for the time is drawn again this often

BODY: Final = """<header class="top"><h1>Bridge board</h1><p id="run" class="meta">connecting\u2026</p>
</header><div id="banner" class="banner" role="status" hidden></div>
<section id="overview" aria-label="The run at a glance"></section>
<main id="conferences"></main>
<section id="recent" aria-labelledby="recent-title"><h2 id="recent-title">Recent events</h2>
<ol id="events" class="events"></ol></section>
<noscript><p>The board needs JavaScript to follow the run; state.json holds the same.</p></noscript>"""


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
        self._changes: dict[str, int] = {}  # events per conference file (timelines redrawn)
        self._drawn: dict[str, tuple[int, float, dict[str, str]]] = {}
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
            self._changes[event.file] = self._changes.get(event.file, 0) + 1
        line = event_line(event, self.full)
        if line is not None:
            if line["participant"] is not None:
                said = self._said.setdefault(event.file, {})
                said[line["participant"]] = (event.at, line["text"])
            self.stream.append("event", line)
        self._dirty.set()

    async def _send_snapshots(self) -> None:
        while not self.stream.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), REFRESH_S)
            self._dirty.clear()
            if self.stream.viewers and not self.stream.closed:
                self.stream.broadcast("board", self.snapshot())
            await asyncio.sleep(SPACING_S)

    def bound(self, port: int) -> None:
        """Served on ``port`` from now on: snapshots start; the cookie is the port's own (a
        cookie does not tell two ports of one host apart)."""
        self.gate.cookie = f"orchestrator_board_{port}"
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._send_snapshots())

    async def end(self, exit_code: int | None) -> None:
        """The run is over: the last snapshot and the word that it ended, to every page."""
        if not self.stream.closed:
            if self.stream.viewers:
                self.stream.broadcast("board", self.snapshot())
            self.stream.close("end", {"at": time.time(), "exit_code": exit_code})
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # How things stand -----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The board as it stands: taken between two events, so its counts are the model's."""
        self.snapshots += 1
        now = time.time()
        tally = self.model.tally()
        shown = []
        for result in self.model.results():
            fold = self.fold.conferences.get(result.path)
            said = self._said.get(result.path, {})
            view = conference(result, self.model, tally, fold, said, self.full)
            view["timeline"] = self._timeline(result.path, fold, now)
            shown.append(view)
        return {
            "now": now,
            "full": self.full,
            "run": overview(tally, self.model),
            "conferences": shown,
        }

    def _timeline(self, file: str, fold: ConferenceFold | None, now: float) -> dict[str, str]:
        if fold is None or not fold.lanes:
            return {}
        changes = self._changes.get(file, 0)
        drawn = self._drawn.get(file)
        if drawn is not None and drawn[0] == changes and now - drawn[1] < TIMELINE_REDRAW_S:
            return drawn[2]
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
        self._drawn[file] = (changes, now, pictures)
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
