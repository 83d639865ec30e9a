"""Reading a conference file: the bounded YAML reader (``orchestrator.yamlfile``) told what a
conference file holds; a file that cannot be read, or holds nothing, is a :class:`LoadProblem`."""

from __future__ import annotations

from typing import Final

from orchestrator.reading import Unreadable
from orchestrator.yamlfile import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    MAX_NUMBER_CHARS,
    MAX_VALUES,
    Document,
    LoadProblem,
    read_yaml,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_NUMBER_CHARS",
    "MAX_VALUES",
    "Document",
    "LoadProblem",
    "read_document",
]

TOP_LEVEL_KEYS: Final = ("version", "conference", "participants")


def read_document(path: str) -> Document:
    """Read and parse one conference file; raises :class:`LoadProblem` when it is not a
    YAML mapping within the limits."""
    try:
        document = read_yaml(path, what="conference", keys=TOP_LEVEL_KEYS)
    except Unreadable as error:
        raise LoadProblem(error.reason) from None
    if document is None:
        raise LoadProblem(
            "file is empty; a conference file needs version, conference and participants"
        )
    return document
