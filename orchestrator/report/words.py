"""Counts in words: "1 dial", "2 dials", and a line of counts by state that fits a width."""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.report.style import state_meaning

ELLIPSIS = "\u2026"

# Shorter words for a narrow terminal: the state stays recognisable, the count stays whole.
_SHORT = {
    "connected": "conn.",
    "connecting": "ringing",
    "waiting": "wait",
    "not-dialed": "undialed",
    "unmanaged": "unmgd",
}


def creating_words(creator: str) -> str:
    """Why a conference does not move yet: the dial that creates it has not been answered."""
    return f"waiting for {creator}'s dial to create the conference"


def coach_words(coach: str, whom: str) -> str:
    """Why a coach is not dialed yet: whom it coaches is not connected."""
    return f"{coach}: waiting for {whom} to connect"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def short_state(state: str) -> str:
    """``ended: no-answer`` -> ``no-answer``, ``connected`` -> ``conn.``."""
    return _SHORT.get(state, state.removeprefix("ended: "))


def state_counts(counts: Mapping[str, int], width: int | None = None) -> list[tuple[str, str]]:
    """Counts by state as a line shows them, ``(text, state)`` each ("8 no-answer"), failures
    first, fitted to ``width`` (None: any): shorter words first, then the counts that are not
    failures left out from the end, an ellipsis (state "") in their place. Failures are never
    left out."""
    ordered = sorted(counts.items(), key=lambda item: (state_meaning(item[0]) != "bad", item[0]))
    parts = [(f"{n} {state}", state) for state, n in ordered]
    if width is None or _length(parts) <= width:
        return parts
    parts = [(f"{n} {short_state(state)}", state) for state, n in ordered]
    kept = len(parts)
    while _length(parts[:kept]) > width and kept > 0:
        if state_meaning(parts[kept - 1][1]) == "bad":
            break
        kept -= 1
        if _length([*parts[:kept], (ELLIPSIS, "")]) <= width:
            break
    if kept == len(parts):
        return parts
    return [*parts[:kept], (ELLIPSIS, "")]


def _length(parts: list[tuple[str, str]]) -> int:
    return len(", ".join(text for text, _ in parts))
