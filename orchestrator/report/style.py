"""Colour for a terminal, and none elsewhere: one switch for every renderer.

Colour is on only when the stream is a terminal, ``NO_COLOR`` is unset
(https://no-color.org) and ``--no-color`` was not given. Renderers ask for a
meaning (``good``, ``bad``, ...), never a colour, so the palette lives here.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Literal, TextIO

import click

Meaning = Literal["good", "pending", "bad", "change", "add", "remove", "muted"]

_COLOURS: dict[Meaning, str] = {
    "good": "green",
    "pending": "yellow",
    "bad": "red",
    "change": "yellow",
    "add": "green",
    "remove": "red",
    "muted": "bright_black",
}


@dataclass(frozen=True)
class Style:
    colour: bool = False

    def __call__(self, text: str, meaning: Meaning) -> str:
        if not self.colour or not text:
            return text
        return click.style(text, fg=_COLOURS[meaning])


PLAIN = Style(colour=False)


def style_for(stream: TextIO | None = None, *, no_color: bool = False) -> Style:
    """Colour when ``stream`` (stdout by default) is a terminal and nothing turned it off."""
    stream = stream if stream is not None else sys.stdout
    if no_color or os.environ.get("NO_COLOR"):
        return PLAIN
    try:
        return Style(colour=stream.isatty())
    except (AttributeError, ValueError):
        return PLAIN


def state_meaning(state: str) -> Meaning:
    """How a participant state reads: connected is good, on its way pending, anything else bad."""
    if state in ("connected", "absent", "unmanaged"):
        return "good" if state == "connected" else "muted"
    if state in ("connecting", "waiting"):
        return "pending"
    return "bad"
