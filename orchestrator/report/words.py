"""Counts in words: "1 dial", "2 dials"."""

from __future__ import annotations


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
