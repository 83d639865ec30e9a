"""What the record learns besides the run's own steps: the API's word on legs and conferences
after the fact, and the recordings kept. They are events like the engine's (same fields, same
lines in the log), written by the record itself rather than published to the run model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from orchestrator.engine.events import Event, ParticipantEvent

# The fields of a call the record takes from GET Calls/{sid}, once the call has ended.
CALL_FIELDS = (
    "status",
    "answered_at",
    "ended_at",
    "duration_s",
    "answered_by",
    "hangup_cause",
    "hangup_source",
)
# The fields of a conference it takes from GET Conferences/{sid}, once it has completed.
CONFERENCE_FIELDS = ("status", "created_at", "ended_at", "reason", "call_sid_ending")


@dataclass(frozen=True, kw_only=True)
class CallLearned(ParticipantEvent):
    """One field of one call, as the API (or a callback) gave it; written once per call and field."""

    kind: ClassVar[str] = "call-learned"
    call_sid: str
    field: str  # one of CALL_FIELDS
    value: str | int | None  # times as UTC ISO 8601


@dataclass(frozen=True, kw_only=True)
class ConferenceLearned(Event):
    """One field of the conference, as the API gave it once the conference had completed."""

    kind: ClassVar[str] = "conference-learned"
    sid: str
    field: str  # one of CONFERENCE_FIELDS
    value: str | None


@dataclass(frozen=True, kw_only=True)
class RecordingKept(Event):
    """A completed recording, downloaded into the run folder (``path``, relative to it)."""

    kind: ClassVar[str] = "recording-kept"
    recording_sid: str
    conference_sid: str | None
    call_sid: str | None = None  # a participant's own recording; None: the conference's
    participant: str | None = None
    path: str
    bytes: int
    sha256: str
    duration_s: int | None = None
    channels: int | None = None
    started_at: str | None = None


@dataclass(frozen=True, kw_only=True)
class RecordingNotKept(Event):
    """A recording that could not be downloaded, and why (its link expired, it failed...)."""

    kind: ClassVar[str] = "recording-not-kept"
    recording_sid: str
    why: str
