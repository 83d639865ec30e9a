"""Apply's progress on stderr: a live count on a terminal, one line per event otherwise.

Destinations are masked here, where events become text.
"""

from __future__ import annotations

import time
from collections import Counter

import click

from orchestrator.engine.events import EventKind, ProgressEvent
from orchestrator.report.summary import mask_destination


def describe(event: ProgressEvent) -> str:
    """One event as words: "dialed +1206•••0100", "busy", "waiting for bob"."""
    if event.kind == EventKind.DIALED:
        return f"dialed {mask_destination(event.destination or '')}".rstrip()
    if event.kind == EventKind.ENDED:
        return event.reason or "ended"
    if event.kind == EventKind.WAITING:
        return f"waiting for {event.reason}"
    return str(event.kind)


class Progress:
    """Counts by state on a TTY (one line, redrawn at most ten times a second); a log line per
    event otherwise."""

    def __init__(self, total: int, *, live: bool, quiet: bool) -> None:
        self._live = live
        self._quiet = quiet
        self._total = total
        self._state: dict[tuple[str, str], str] = {}
        self._drawn_at = 0.0

    def expect(self, total: int) -> None:
        self._total = total

    def __call__(self, event: ProgressEvent) -> None:
        if self._quiet:
            return
        if not self._live:
            click.echo(f"{event.conference}/{event.participant}: {describe(event)}", err=True)
            return
        self._state[(event.conference, event.participant)] = (
            event.reason or "ended" if event.kind == EventKind.ENDED else str(event.kind)
        )
        now = time.monotonic()
        if now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw()

    def paused(self, seconds: float, why: str) -> None:
        """Dialing pauses: say why, even with -q (a run that goes quiet needs a reason)."""
        self.notice(why)

    def notice(self, line: str) -> None:
        if self._live:
            click.echo("\r\x1b[2K" + line, err=True)
            if self._state:
                self._draw()
            return
        click.echo(line, err=True)

    def _draw(self) -> None:
        counts = Counter(self._state.values())
        waiting = self._total - len(self._state)
        parts = [f"{waiting} waiting"] if waiting else []
        parts += [f"{n} {state}" for state, n in sorted(counts.items())]
        click.echo(f"\r\x1b[2K{self._total} participants: {', '.join(parts)}", err=True, nl=False)

    def finish(self) -> None:
        if self._live and not self._quiet and self._state:
            self._draw()
            click.echo("", err=True)
