"""Events as lines of the run's log, and back: one JSON object a line.

``{"at":"2026-12-16T10:15:02.123Z","kind":"dialed","source":"engine","file":"bridge.yaml",
"conference":"bridge","participant":"alice","destination":"+12065550100","call_sid":"v3:..."}``

Times are UTC to the millisecond; a field left at its default is left out (the reader puts it
back), so the log grows by what happened, not by the shape of the classes. A plan that names
the same rows as the last one of its file says ``"rows":"same"``: a watch plans every few
seconds, and a large conference's rows would otherwise fill the disk with repeats.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from orchestrator.engine import events as ev
from orchestrator.engine.results import State
from orchestrator.record import facts

SAME_ROWS = "same"


def iso_ms(moment: float) -> str:
    """A Unix time as UTC ISO 8601 to the millisecond: 2026-12-07T20:50:56.123Z."""
    stamp = datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    """The Unix time of an ISO 8601 stamp (``Z`` or an offset; none is taken as UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@cache
def event_classes() -> dict[str, type[ev.Event]]:
    """Every kind of event the log may hold, by its ``kind``."""
    found: dict[str, type[ev.Event]] = {}
    pending: list[type[ev.Event]] = [ev.Event]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if dataclasses.is_dataclass(cls) and cls.kind not in ("event",):
            found.setdefault(cls.kind, cls)
    # The record's own kinds are defined in a module of their own: make sure it is loaded.
    for cls in (
        facts.CallLearned,
        facts.ConferenceLearned,
        facts.RecordingKept,
        facts.RecordingNotKept,
    ):
        found[cls.kind] = cls
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, State):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields but those at their default, ``at`` and ``source``."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(value):
        if field.name in ("at", "source"):
            continue
        item = getattr(value, field.name)
        if field.default is not dataclasses.MISSING and item == field.default:
            continue
        out[field.name] = _plain(item)
    return out


class Encoder:
    """Events to lines; remembers each file's last plan so a repeat is written short, and
    leaves out what a round of apply --watch repeats without news: a note the participant
    already has, a participant's bare ``finished`` right after the same, a conference seen as
    it was last seen (the run model makes nothing more of them)."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[ev.PlannedRow, ...]] = {}
        self._last: dict[tuple[str, ...], dict[str, Any]] = {}
        self._notes: set[tuple[str, str, str]] = set()

    def _repeats(self, event: ev.Event, fields: dict[str, Any]) -> bool:
        if isinstance(event, ev.Noted):
            note = (event.file, event.participant, event.text)
            if note in self._notes:
                return True
            self._notes.add(note)
        if isinstance(event, ev.ParticipantEvent):
            key: tuple[str, ...] = (event.file, event.participant)
        elif isinstance(event, ev.ConferenceSeen):
            key = (event.file, "", event.kind, event.source)
        else:
            return False
        said = {"kind": event.kind, **fields}
        repeatable = isinstance(event, ev.ConferenceSeen) or (
            isinstance(event, ev.Finished) and len(fields) == 3  # file, conference, participant
        )
        if repeatable and self._last.get(key) == said:
            return True
        self._last[key] = said
        return False

    def line(self, event: ev.Event) -> str | None:
        """The event's line; None for a repeat that says nothing new."""
        fields = _fields(event)
        if self._repeats(event, fields):
            return None
        document: dict[str, Any] = {"at": iso_ms(event.at), "kind": event.kind}
        document["source"] = event.source
        document.update(fields)
        if isinstance(event, ev.ConferencePlanned):
            if self._rows.get(event.file) == event.rows:
                document["rows"] = SAME_ROWS
            self._rows[event.file] = event.rows
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _decode(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _decode(options[0], value) if len(options) == 1 else value
    if hint is State:
        return State(value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_decode(item, v) for v in value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value)
    return value


def _build(cls: type[Any], document: dict[str, Any]) -> Any:
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.init}
    values = {k: _decode(hints[k], v) for k, v in document.items() if k in known}
    return cls(**values)


class Decoder:
    """Lines back to events; ``unreadable`` counts the lines it could not make one of (a line
    cut short by a kill, a kind this version does not know)."""

    def __init__(self) -> None:
        self._rows: dict[str, Any] = {}
        self.unreadable = 0

    def event(self, line: str) -> ev.Event | None:
        try:
            document = json.loads(line)
            cls = event_classes()[document.pop("kind")]
            document["at"] = parse_iso(document["at"])
            if cls is ev.ConferencePlanned:
                if document.get("rows") == SAME_ROWS:
                    document["rows"] = self._rows.get(document["file"], [])
                self._rows[document["file"]] = document["rows"]
            event: ev.Event = _build(cls, document)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.unreadable += 1
            return None
        return event

    def events(self, lines: Iterable[str]) -> Iterator[ev.Event]:
        for line in lines:
            if not line.strip():
                continue
            event = self.event(line)
            if event is not None:
                yield event
