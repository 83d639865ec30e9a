"""The live display on a terminal: a bar of who has settled, counts by state, pace and notes.

Used only when stderr is a terminal (rich is imported here and nowhere else on
apply's path, so ``--help`` and non-interactive runs never load it). It is
redrawn eight times a second by rich's own timer, whether or not anything
happened (a 30 s ring shows a moving clock, a 429 pause its countdown), and
once more at the end with the summary's own states, so its last frame and the
summary agree. Every line is cut to the terminal's width rather than wrapped.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.live_render import VerticalOverflowMethod
from rich.text import Text

from orchestrator.engine.events import EventKind, ProgressEvent
from orchestrator.engine.results import ConferenceResult
from orchestrator.report.words import plural

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

_STATE_STYLE = {"connected": "green", "dialed": "yellow", "waiting": "bright_black"}


def _seconds(value: float) -> str:
    value = max(value, 0.0)
    if value < 60:
        return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s"


class LiveProgress:
    def __init__(
        self, total: int, *, no_color: bool = False, console: Console | None = None
    ) -> None:
        self._console = console or Console(stderr=True, no_color=no_color or None, highlight=False)
        self._lock = threading.Lock()
        self._total = total
        self._state: dict[tuple[str, str], str] = {}
        self._dialed_at: deque[float] = deque()
        self._dials = 0
        self._started = time.monotonic()
        self._paused_until = 0.0
        self._pause_why = ""
        self._creating: dict[str, str] = {}  # conference -> the participant whose dial makes it
        self._waiting_for: dict[tuple[str, str], str] = {}
        self._live = _started(self._console, self._frame)

    def expect(self, total: int) -> None:
        with self._lock:
            self._total = total

    def __call__(self, event: ProgressEvent) -> None:
        key = (event.conference, event.participant)
        with self._lock:
            if event.kind == EventKind.DIALED:
                self._dials += 1
                self._dialed_at.append(time.monotonic())
                self._state[key] = "dialed"
                # The others dial once the conference exists: a creating call may take a ring.
                if self._creating.get(event.conference) not in (None, event.participant):
                    del self._creating[event.conference]
                self._waiting_for.pop(key, None)
            elif event.kind == EventKind.CREATING:
                self._creating[event.conference] = event.participant
            elif event.kind == EventKind.WAITING:
                self._waiting_for[key] = event.reason or "?"
            elif event.kind == EventKind.ENDED:
                self._state[key] = event.reason or "ended"
            elif event.kind in (EventKind.CONNECTED, EventKind.UPDATED):
                self._state[key] = "connected"
            elif event.kind == EventKind.HUNG_UP:
                self._state[key] = "hung up"

    def paused(self, seconds: float, why: str) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)
            self._pause_why = why

    def notice(self, line: str) -> None:
        self._console.print(Text(line, no_wrap=True, overflow="ellipsis"))

    def finish(self, results: Sequence[ConferenceResult] = ()) -> None:
        """The last frame, with each participant as the summary shows it."""
        with self._lock:
            for result in results:
                for outcome in result.participants:
                    self._state[(result.name, outcome.name)] = str(outcome.observed)
            self._creating.clear()
            self._waiting_for.clear()
            self._paused_until = 0.0
            self._finished = time.monotonic()
        self._live.refresh()
        self._live.stop()

    # Drawing ---------------------------------------------------------------

    def _frame(self) -> RenderableType:
        with self._lock:
            now = getattr(self, "_finished", None) or time.monotonic()
            states = Counter(self._state.values())
            total = max(self._total, len(self._state))
            settled = sum(n for state, n in states.items() if state not in ("dialed",))
            waiting = total - len(self._state)
            while self._dialed_at and self._dialed_at[0] < now - RATE_WINDOW_S:
                self._dialed_at.popleft()
            window = min(RATE_WINDOW_S, max(now - self._started, 1e-6))
            rate = len(self._dialed_at) / window
            notes = self._notes(now, waiting, rate)
        width = self._console.width
        label = f" {settled}/{total} settled"
        room = max(width - len(label), 0)
        done = room if not total else min(room, round(room * settled / total))
        # Two glyphs, not one in two colours: the bar must read without colour too.
        bar = Text("\u2588" * done, style="green") + Text(
            "\u2591" * (room - done), style="bright_black"
        )
        bar.append(label)
        counts = Text(no_wrap=True, overflow="ellipsis")
        parts = ([("waiting", waiting)] if waiting else []) + sorted(states.items())
        for index, (state, n) in enumerate(parts):
            if index:
                counts.append(", ")
            colour = _STATE_STYLE.get(state, "red")
            counts.append(f"{n} {state}", style=colour)
        pace = Text(
            f"{rate:.1f} dials/s, {plural(self._dials, 'dial')}, "
            f"{_seconds(now - self._started)} elapsed",
            no_wrap=True,
            overflow="ellipsis",
        )
        lines: list[RenderableType] = [bar, counts, pace]
        lines += [Text(n, style="yellow", no_wrap=True, overflow="ellipsis") for n in notes]
        for line in lines:
            if isinstance(line, Text):
                line.truncate(width, overflow="ellipsis")
        return Group(*lines)

    def _notes(self, now: float, waiting: int, rate: float) -> list[str]:
        notes: list[str] = []
        if now < self._paused_until:
            notes.append(f"paused {_seconds(self._paused_until - now)}: {self._pause_why}")
        elif waiting and rate > 0:
            notes.append(f"last dial in about {_seconds(waiting / rate)} at this pace")
        for conference, creator in self._creating.items():
            notes.append(f"{conference}: waiting for {creator}'s dial to create the conference")
        for (conference, participant), whom in list(self._waiting_for.items())[:3]:
            notes.append(f"{conference}/{participant}: waiting for {whom} to connect")
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
