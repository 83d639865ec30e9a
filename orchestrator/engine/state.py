"""What apply dialed, kept locally: the API does not return a participant's Label.

Like Terraform's state or kubectl's last-applied configuration, this record lets
plan and apply tell which live participants were dialed from a file (and by which
settings) after the file has changed. It is a cache, never the truth: every
decision is checked against the live API, and a record that is missing or cannot
be read only means less is known.

Default location: ``.orchestrator/`` next to the conference file, holding a
``.gitignore`` of ``*`` (so it is never committed) and one JSON file per account
and conference name.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.files import write_atomically
from orchestrator.spec.model import Callback, Participant

STATE_DIR_NAME = ".orchestrator"
STATE_VERSION = 1
STATE_DIR_ENV = "ORCHESTRATOR_STATE_DIR"

Fingerprint = dict[str, Any]


@dataclass(frozen=True)
class Recorded:
    """One participant as apply dialed it."""

    call_sid: str
    conference_sid: str
    to: str  # the destination dialed
    fingerprint: Fingerprint  # settings a live call cannot change


@dataclass
class ConferenceState:
    account_sid: str
    conference: str  # the friendly name
    participants: dict[str, Recorded] = field(default_factory=dict)  # by Label


def _callback(callback: Callback | None) -> Any:
    if callback is None:
        return None
    return {"url": callback.url, "method": callback.method, "events": list(callback.events)}


def fingerprint(participant: Participant) -> Fingerprint:
    """The settings that only a new dial can change (never a password)."""
    settings = participant.settings
    recording = settings.recording
    detection = settings.machine_detection
    return {
        "to": list(participant.to),
        "record": settings.record,
        "recording": None
        if recording is None
        else {
            "channels": recording.channels,
            "track": recording.track,
            "trim": recording.trim,
            "status_callback": _callback(recording.status_callback),
        },
        "machine_detection": None
        if detection is None
        else {
            "mode": detection.mode,
            "timeout_ms": detection.timeout_ms,
            "speech_threshold_ms": detection.speech_threshold_ms,
            "speech_end_threshold_ms": detection.speech_end_threshold_ms,
            "silence_timeout_ms": detection.silence_timeout_ms,
            "cancel_playback_on_machine_detection": detection.cancel_playback_on_machine_detection,
            "cancel_playback_on_detect_message_end": (
                detection.cancel_playback_on_detect_message_end
            ),
        },
        "sip_auth": settings.sip_auth.username if settings.sip_auth is not None else None,
        "caller_id": settings.caller_id,
        "from": settings.from_,
        "timeout": settings.timeout,
        "time_limit": settings.time_limit,
        "codecs": list(settings.preferred_codecs),
        "headers": [list(pair) for pair in settings.custom_headers],
    }


def fingerprint_differences(recorded: Fingerprint, desired: Fingerprint) -> list[str]:
    """Names of the settings that differ, besides ``to`` (judged by the destination dialed)."""
    return [key for key in desired if key != "to" and recorded.get(key) != desired[key]]


def _file_name(account_sid: str, conference: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", conference)[:60].strip("-.") or "conference"
    digest = hashlib.sha256(f"{account_sid}\0{conference}".encode()).hexdigest()[:16]
    return f"{readable}-{digest}.json"


class StateStore:
    """Reads and writes the records; warns (once per file) about records it cannot read."""

    def __init__(
        self, directory: str | Path | None = None, warn: Callable[[str], None] | None = None
    ) -> None:
        self.directory = Path(directory) if directory else None
        self._warn = warn
        self._warned: set[Path] = set()

    def directory_for(self, spec_path: str) -> Path:
        if self.directory is not None:
            return self.directory
        return Path(spec_path).resolve().parent / STATE_DIR_NAME

    def path_for(self, spec_path: str, account_sid: str, conference: str) -> Path:
        return self.directory_for(spec_path) / _file_name(account_sid, conference)

    def load(self, spec_path: str, account_sid: str, conference: str) -> ConferenceState:
        state = ConferenceState(account_sid, conference)
        path = self.path_for(spec_path, account_sid, conference)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("account_sid") != account_sid or document.get("conference") != (
                conference
            ):
                raise ValueError("written for another conference")
            for label, entry in document["participants"].items():
                state.participants[str(label)] = Recorded(
                    call_sid=str(entry["call_sid"]),
                    conference_sid=str(entry["conference_sid"]),
                    to=str(entry["to"]),
                    fingerprint=dict(entry["fingerprint"]),
                )
        except FileNotFoundError:
            return state
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            if path not in self._warned and self._warn is not None:
                self._warned.add(path)
                reason = error.strerror if isinstance(error, OSError) else "not a state file"
                self._warn(
                    f"warning: {path}: cannot read the local record of dialed participants "
                    f"({reason}); going by the live conference alone"
                )
            return ConferenceState(account_sid, conference)
        return state

    def save(self, spec_path: str, state: ConferenceState) -> None:
        """Write the record; a failure only warns, since the calls it describes are placed anyway."""
        directory = self.directory_for(spec_path)
        try:
            self._write(directory, state)
        except OSError as error:
            if self._warn is not None:
                self._warn(
                    f"warning: {directory}: cannot write the local record of dialed participants "
                    f"({error.strerror or error}); plan and apply --prune will not recognise "
                    "participants removed from the file. Use --state-dir for a writable folder"
                )

    def _write(self, directory: Path, state: ConferenceState) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n", encoding="utf-8")
        document = {
            "version": STATE_VERSION,
            "account_sid": state.account_sid,
            "conference": state.conference,
            "participants": {
                label: {
                    "call_sid": entry.call_sid,
                    "conference_sid": entry.conference_sid,
                    "to": entry.to,
                    "fingerprint": entry.fingerprint,
                }
                for label, entry in sorted(state.participants.items())
            },
        }
        write_atomically(
            directory / _file_name(state.account_sid, state.conference),
            json.dumps(document, indent=2) + "\n",
        )
