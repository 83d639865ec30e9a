"""What the engine tells a progress display while it works: one typed event per step.

The destination travels apart from the words, so whoever shows an event masks
it (or not) in one place; a new kind of event cannot leak a number by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    CREATING = "creating"  # this participant's dial is the one that creates the conference
    DIALED = "dialed"  # a dial (or a placed call) was accepted; ``destination`` is the number
    CONNECTED = "connected"
    ENDED = "ended"  # ``reason``: no-answer, busy, failed, hung-up, unknown
    WAITING = "waiting"  # ``reason``: the participant it waits for
    UPDATED = "updated"  # muted, hold or coaching changed on the live call
    HUNG_UP = "hung up"  # by --prune, or for a redial
    DROPPED = "dropped"  # a connected leg left (apply --watch); ``reason``: what happens next


@dataclass(frozen=True, kw_only=True)
class ProgressEvent:
    conference: str
    participant: str
    kind: EventKind
    destination: str | None = None
    reason: str | None = None


ProgressHook = Callable[[ProgressEvent], None]
