"""The live display on a terminal: a bar of who has settled, counts by state, pace and notes.

Used only when stderr is a terminal (rich is imported here and nowhere else on
apply's path, so ``--help`` and non-interactive runs never load it). It is
redrawn eight times a second by rich's own timer, whether or not anything
happened (a 30 s ring shows a moving clock, a 429 pause its countdown), from
the run model (``engine.run_model``) that the summary is made from too, so its
last frame and the summary agree. Every line is cut to the terminal's width
rather than wrapped; the counts keep the failures in view and shorten the rest.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.live_render import VerticalOverflowMethod
from rich.text import Text

from orchestrator.engine import events as ev
from orchestrator.engine.run_model import RunModel, Tally
from orchestrator.report.style import state_meaning
from orchestrator.report.words import coach_words, creating_words, plural, state_counts

REFRESH_PER_SECOND = 8


def _started(
    console: Console,
    frame: Callable[[], RenderableType],
    *,
    vertical_overflow: VerticalOverflowMethod = "ellipsis",
) -> Live:
    """A display redrawn from ``frame`` on a timer, whether or not anything happened; nothing
    else written to the terminal is captured."""
    live = Live(
        console=console,
        get_renderable=frame,
        refresh_per_second=REFRESH_PER_SECOND,
        redirect_stdout=False,
        redirect_stderr=False,
        vertical_overflow=vertical_overflow,
    )
    live.start()
    return live


RATE_WINDOW_S = 5.0  # dials per second are measured over this much of the recent past

_MEANING_STYLE = {"good": "green", "pending": "yellow", "muted": "bright_black", "bad": "red"}


def _seconds(value: float) -> str:
    value = max(value, 0.0)
    if value < 60:
        return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s"


class LiveProgress:
    """The run model, drawn: what it counts is what the summary counts."""

    def __init__(
        self, total: int, *, no_color: bool = False, console: Console | None = None
    ) -> None:
        self._console = console or Console(stderr=True, no_color=no_color or None, highlight=False)
        self._lock = threading.Lock()
        self._expected = total
        self._model: RunModel | None = None
        self._dialed_at: deque[float] = deque()
        self._started = time.monotonic()
        self._finished: float | None = None
        self._live = _started(self._console, self._frame)

    def expect(self, total: int) -> None:
        with self._lock:
            self._expected = total

    def attach(self, model: RunModel) -> None:
        with self._lock:
            self._model = model
        model.subscribe(self._heard)

    def _heard(self, event: ev.Event) -> None:
        """Only the pace is the display's own: when each dial went."""
        if isinstance(event, ev.AnswerLost) or (
            isinstance(event, ev.CallPlaced) and event.how == "answered"
        ):
            with self._lock:
                self._dialed_at.append(time.monotonic())

    def notice(self, line: str) -> None:
        self._console.print(Text(line, no_wrap=True, overflow="ellipsis"))

    def finish(self) -> None:
        """The last frame: the model once the run is over, as the summary shows it."""
        with self._lock:
            self._finished = time.monotonic()
        self._live.refresh()
        self._live.stop()

    # Drawing ---------------------------------------------------------------

    def _frame(self) -> RenderableType:
        with self._lock:
            model = self._model
            now = self._finished or time.monotonic()
            while self._dialed_at and self._dialed_at[0] < now - RATE_WINDOW_S:
                self._dialed_at.popleft()
            window = min(RATE_WINDOW_S, max(now - self._started, 1e-6))
            rate = 0.0 if self._finished else len(self._dialed_at) / window
            expected = self._expected
            finished = self._finished is not None
        tally = model.tally() if model is not None else _NOTHING_YET
        # Before the plans come in, everyone expected is waiting.
        labels = dict(tally.labels)
        if expected > tally.total:
            labels["waiting"] = labels.get("waiting", 0) + expected - tally.total
        width = self._console.width
        lines: list[Text] = [
            _bar(tally.settled, max(expected, tally.total), width),
            _counts(labels, width),
            Text(
                f"{rate:.1f} dials/s, {plural(tally.dials, 'dial')}, "
                f"{_seconds(now - self._started)} elapsed",
                no_wrap=True,
                overflow="ellipsis",
            ),
        ]
        if not finished:
            notes = _notes(tally, labels.get("waiting", 0), rate)
            lines += [Text(n, style="yellow", no_wrap=True, overflow="ellipsis") for n in notes]
        for line in lines:
            line.truncate(width, overflow="ellipsis")
        return Group(*lines)


_NOTHING_YET = Tally(
    total=0,
    settled=0,
    labels={},
    dials=0,
    rate_limited=0,
    paused_until=0.0,
    pause_why="",
    creating=(),
    waiting=(),
)


def _bar(settled: int, total: int, width: int) -> Text:
    label = f" {settled}/{total} settled"
    room = max(width - len(label), 0)
    done = room if not total else min(room, round(room * settled / total))
    # Two glyphs, not one in two colours: the bar must read without colour too.
    bar = Text("\u2588" * done, style="green") + Text(
        "\u2591" * (room - done), style="bright_black"
    )
    bar.append(label)
    return bar


def _counts(labels: dict[str, int], width: int) -> Text:
    counts = Text(no_wrap=True, overflow="ellipsis")
    for index, (text, state) in enumerate(state_counts(labels, width)):
        if index:
            counts.append(", ")
        counts.append(text, style=_MEANING_STYLE[state_meaning(state)] if state else None)
    return counts


def _notes(tally: Tally, waiting: int, rate: float) -> list[str]:
    """Why nothing moves, when it does not: a pause, the creating dial, a coach's wait."""
    notes: list[str] = []
    now = time.time()
    if now < tally.paused_until:
        notes.append(f"paused {_seconds(tally.paused_until - now)}: {tally.pause_why}")
    elif waiting and rate > 0:
        notes.append(f"last dial in about {_seconds(waiting / rate)} at this pace")
    for conference, creator in tally.creating:
        notes.append(f"{conference}: {creating_words(creator)}")
    for conference, coach, whom in tally.waiting[:3]:
        notes.append(f"{conference}/{coach_words(coach, whom)}")
    return notes


class WatchDisplay:
    """status --watch on a terminal: the latest status in place, and when the next one comes."""

    def __init__(self, interval_s: float, *, no_color: bool = False) -> None:
        self._console = Console(no_color=no_color or None, highlight=False)
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._body = Text("")
        self._refreshed = time.monotonic()
        self._error: str | None = None
        self._live = _started(self._console, self._frame, vertical_overflow="visible")

    def show(self, text: str) -> None:
        """A fresh status (the renderers' text, colour codes and all)."""
        with self._lock:
            self._body = Text.from_ansi(text.rstrip("\n"))
            self._refreshed = time.monotonic()
            self._error = None

    def failed(self, error: str) -> None:
        """The last refresh failed; the last good status stays on screen."""
        with self._lock:
            self._error = error
            self._refreshed = time.monotonic()

    def stop(self) -> None:
        self._live.refresh()
        self._live.stop()

    def _frame(self) -> RenderableType:
        with self._lock:
            age = time.monotonic() - self._refreshed
            footer = Text(no_wrap=True, overflow="ellipsis")
            if self._error:
                footer.append(f"error: {self._error}\n", style="red")
            footer.append(
                f"refreshed {_seconds(age)} ago; next in {_seconds(self._interval_s - age)}; "
                "Ctrl-C to stop",
                style="bright_black",
            )
            return Group(self._body, footer)
