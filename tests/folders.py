"""Folders a test needs refused: where this user cannot create a file, and the OS's words."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path


def refusal(folder: Path) -> str | None:
    """Why this user cannot create a file in ``folder`` (the OS's words), or None if it can."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            return None
    except OSError as error:
        return error.strerror


@dataclass(frozen=True)
class ReadOnly:
    folder: Path
    reason: str  # what the OS says to a new file there, e.g. "Permission denied"
