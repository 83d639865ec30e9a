"""JSON paths as people read them: ``participants[2].recording.channels``."""

from __future__ import annotations

import re

from orchestrator.spec.model import JsonPath

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(path: JsonPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:  # quoted, so that odd keys (spaces, dots, line breaks) stay readable on one line
            text += f"[{part!r}]"
    return text


def is_secret_path(path: JsonPath) -> bool:
    """The path of a SIP password, whose value is never shown."""
    return len(path) >= 2 and path[-2] == "sip_auth" and path[-1] == "password"
