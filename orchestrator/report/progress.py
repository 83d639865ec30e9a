"""Apply's progress on stderr: one line per event, or the live display on a terminal.

Destinations are masked here, where events become text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import click

from orchestrator.engine.events import EventKind, ProgressEvent
from orchestrator.engine.results import ConferenceResult
from orchestrator.masking import mask_destination


def describe(event: ProgressEvent) -> str:
    """One event as words: "dialed +1206•••0100", "busy", "waiting for bob"."""
    if event.kind == EventKind.DIALED:
        return f"dialed {mask_destination(event.destination or '')}".rstrip()
    if event.kind == EventKind.ENDED:
        return event.reason or "ended"
    if event.kind == EventKind.WAITING:
        return f"waiting for {event.reason}"
    if event.kind == EventKind.CREATING:
        return "creating the conference"
    if event.kind == EventKind.DROPPED:
        return event.reason or "dropped"
    return str(event.kind)


class Progress:
    """One stderr line per event, for logs and pipes (on a terminal, ``report.live``)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self._quiet = quiet

    def expect(self, total: int) -> None:
        """The live display's business; a log has nothing to say about it."""

    def __call__(self, event: ProgressEvent) -> None:
        if not self._quiet:
            click.echo(f"{event.conference}/{event.participant}: {describe(event)}", err=True)

    def paused(self, seconds: float, why: str) -> None:
        """Dialing pauses: said even with -q (a run that goes quiet needs a reason)."""
        self.notice(why)

    def notice(self, line: str) -> None:
        click.echo(line, err=True)

    def finish(self, results: Sequence[ConferenceResult] = ()) -> None:
        """Nothing to redraw."""


class ProgressDisplay(Protocol):
    """What apply reports progress to: the log above, or the live display."""

    def expect(self, total: int) -> None: ...
    def __call__(self, event: ProgressEvent) -> None: ...
    def paused(self, seconds: float, why: str) -> None: ...
    def notice(self, line: str) -> None: ...
    def finish(self, results: Sequence[ConferenceResult] = ()) -> None: ...


def progress_for(*, terminal: bool, quiet: bool, no_color: bool) -> ProgressDisplay:
    """The live display on a terminal (unless -q), the log otherwise."""
    if terminal and not quiet:
        from orchestrator.report.live import LiveProgress  # rich, only where it is drawn

        return LiveProgress(0, no_color=no_color)
    return Progress(quiet=quiet)
