"""JSON paths as people read them: ``participants[2].recording.channels``."""

from __future__ import annotations

from orchestrator.spec.model import JsonPath


def format_path(path: JsonPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def is_secret_path(path: JsonPath) -> bool:
    """The path of a SIP password, whose value is never shown."""
    return len(path) >= 2 and path[-2] == "sip_auth" and path[-1] == "password"


def starts_with(path: JsonPath, prefix: JsonPath) -> bool:
    return path[: len(prefix)] == prefix
