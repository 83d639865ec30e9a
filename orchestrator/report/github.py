"""GitHub Actions workflow commands: one annotation line on a file's line and column."""

from __future__ import annotations

from typing import Literal

from orchestrator.spec.model import Location

Severity = Literal["error", "warning", "notice"]


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(severity: Severity, location: Location, message: str) -> str:
    """``::error file=F,line=L,col=C::message``, escaped as the runner expects."""
    return (
        f"::{severity} file={escape_property(location.file)},"
        f"line={location.line},col={location.col}::{escape_data(message)}"
    )
