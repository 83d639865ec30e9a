"""apply's progress on stderr: one line per event, or the live display on a terminal.

Both subscribe to the run model's event stream (``engine.run_model``); the live
display draws the model itself. Destinations are masked here, where events
become text.
"""

from __future__ import annotations

from typing import Protocol

import click

from orchestrator.engine import events as ev
from orchestrator.engine.run_model import RunModel
from orchestrator.masking import mask_destination

_HUNG_UP = {
    "prune": "hung up (--prune)",
    "redial": "hung up for a redial",
    "machine": "hung up: a machine answered",
    "not_sure": "hung up: detection could not tell who answered",
    "down": "hung up",
}


def _placed(event: ev.CallPlaced) -> str:
    to = mask_destination(event.destination)
    if event.how == "found":
        return f"dialed {to} (its call found after the answer was lost)"
    if event.how == "adopted":
        return "already live (dialed by another apply); adopted"
    return f"dialed {to}"


def _detected(event: ev.MachineDetected) -> str:
    who = {"human": "a person", "machine": "a machine"}.get(event.verdict)
    heard = f"{who} answered" if who else "detection could not tell who answered"
    if event.answered_by is None:
        heard += " (no result in time)"
    return heard if event.verdict == "human" else f"{heard}; {event.action}"


_WORDS: dict[type[ev.Event], object] = {
    ev.Creating: lambda e: "creating the conference",
    ev.Waiting: lambda e: f"waiting for {e.whom}",
    ev.CallPlaced: _placed,
    ev.AnswerLost: lambda e: (
        f"dialed {mask_destination(e.destination)}; the answer was lost ({e.shown})"
    ),
    ev.LostAnswerRuledOut: lambda e: "the API lists no call from that dial",
    ev.DialRefused: lambda e: None if e.status == 429 else f"dial refused (HTTP {e.status})",
    ev.Fallback: lambda e: f"fallback to number {e.number} after {e.after}",
    ev.Retrying: lambda e: f"dialing again after {e.after}",
    ev.Connected: lambda e: "connected",
    ev.LegEnded: lambda e: (
        e.state
        if e.limit is None
        else f"{e.state}: likely the account concurrent-call limit ({e.live} other calls up or ringing)"
    ),
    ev.MachineDetected: _detected,
    ev.Updated: lambda e: "updated " + ", ".join(e.settings),
    ev.HungUp: lambda e: _HUNG_UP[e.why],
    ev.Dropped: lambda e: f"dropped; {e.next}",
    ev.RedialUnanswered: lambda e: (
        f"redial {e.number} of {e.of} not answered ({e.after}); {e.next}"
    ),
    ev.Redialing: lambda e: f"redial {e.number} of {e.of}",
}


def describe(event: ev.Event) -> str | None:
    """One participant event as words ("dialed +1206•••0100", "busy", "waiting for bob");
    None for what a log does not show line by line (the plan, notes, verdicts)."""
    words = _WORDS.get(type(event))
    if words is None or not isinstance(event, ev.ParticipantEvent):
        return None
    text = words(event)  # type: ignore[operator]
    return None if text is None else str(text)


class Progress:
    """One stderr line per event, for logs and pipes (on a terminal, ``report.live``)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self._quiet = quiet

    def expect(self, total: int) -> None:
        """The live display's business; a log has nothing to say about it."""

    def attach(self, model: RunModel) -> None:
        model.subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.DialPaused):
            self.notice(event.why)  # said even with -q: a run that goes quiet needs a reason
            return
        if self._quiet or not isinstance(event, ev.ParticipantEvent):
            return
        text = describe(event)
        if text is not None:
            click.echo(f"{event.conference}/{event.participant}: {text}", err=True)

    def notice(self, line: str) -> None:
        click.echo(line, err=True)

    def finish(self) -> None:
        """Nothing to redraw."""


class ProgressDisplay(Protocol):
    """What apply reports progress to: the log above, or the live display."""

    def expect(self, total: int) -> None: ...
    def attach(self, model: RunModel) -> None: ...
    def notice(self, line: str) -> None: ...
    def finish(self) -> None: ...


def progress_for(*, terminal: bool, quiet: bool, no_color: bool) -> ProgressDisplay:
    """The live display on a terminal (unless -q), the log otherwise."""
    if terminal and not quiet:
        from orchestrator.report.live import LiveProgress  # rich, only where it is drawn

        return LiveProgress(0, no_color=no_color)
    return Progress(quiet=quiet)
