"""What apply dialed, kept locally: the API does not return a participant's Label.

Like Terraform's state or kubectl's last-applied configuration, this record lets
plan and apply tell which live participants were dialed from a file (and by which
settings) after the file has changed. It is a cache, never the truth: every
decision is checked against the live API, and a record that is missing or cannot
be read only means less is known.

Default location: ``.orchestrator/`` next to the conference file, holding a
``.gitignore`` of ``*`` (so it is never committed) and one JSON file per account
and conference name. While a conference is applied, ``<record>.lock`` next to
its record holds an advisory lock (``engine.lock``), so two applies of one
conference on one machine take turns, as Terraform locks its state.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.engine.lock import DEFAULT_LOCK_TIMEOUT_S, holding
from orchestrator.files import write_atomically
from orchestrator.spec.schema import DESTINATION_PATTERN, NAME_PATTERN
from orchestrator.spec.settings_table import upgrade_fingerprint

STATE_DIR_NAME = ".orchestrator"
STATE_VERSION = 1
STATE_DIR_ENV = "ORCHESTRATOR_STATE_DIR"

# A record holds at most a few hundred participants (about a kilobyte each); anything
# far larger is not one, and reading it whole would stall the run.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# Fingerprints nest four levels deep; deeper values cannot be ours and would make
# writing the record back recurse without bound.
MAX_FINGERPRINT_DEPTH = 8
# Labels are participant names; destinations are what a file may name.
_LABEL = re.compile(NAME_PATTERN)
_DESTINATION = re.compile(DESTINATION_PATTERN)


Fingerprint = dict[str, Any]


@dataclass(frozen=True)
class Recorded:
    """One participant as apply dialed it."""

    call_sid: str
    conference_sid: str
    to: str  # the destination dialed
    # Each setting (by its YAML key) as the call was dialed, or since updated or taken in
    # (spec.settings_table.fingerprint); never a password.
    fingerprint: Fingerprint


@dataclass
class ConferenceState:
    account_sid: str
    conference: str  # the friendly name
    participants: dict[str, Recorded] = field(default_factory=dict)  # by Label


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
        """The record, or an empty one when there is none or it is unreadable (warned once)."""
        path = self.path_for(spec_path, account_sid, conference)
        try:
            text = _read_record(path)
            if text is None:
                return ConferenceState(account_sid, conference)
            return _parse_record(text, account_sid, conference)
        except (OSError, _Unreadable) as error:
            if path not in self._warned and self._warn is not None:
                self._warned.add(path)
                reason = error.strerror if isinstance(error, OSError) else str(error)
                self._warn(
                    f"warning: {path}: cannot read the local record of dialed participants "
                    f"({reason or error}); going by the live conference alone"
                )
            return ConferenceState(account_sid, conference)

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

    def lock_path_for(self, spec_path: str, account_sid: str, conference: str) -> Path:
        record = self.path_for(spec_path, account_sid, conference)
        return record.with_name(record.name + ".lock")

    def locked(
        self,
        spec_path: str,
        account_sid: str,
        conference: str,
        *,
        on_wait: Callable[[str], None] | None = None,
        timeout_s: float | None = DEFAULT_LOCK_TIMEOUT_S,
        poll_s: float = 0.15,
        clock: Clock = REAL_CLOCK,
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """The exclusive lock on the conference's record for the length of a block
        (``engine.lock.holding``); a lock file that cannot be had only warns."""
        lock_path = self.lock_path_for(spec_path, account_sid, conference)
        return holding(
            lock_path,
            conference,
            prepare=_prepare,
            on_wait=on_wait,
            on_unlocked=self._warn_unlocked,
            timeout_s=timeout_s,
            poll_s=poll_s,
            clock=clock,
        )

    def _warn_unlocked(self, lock_path: Path, error: OSError) -> None:
        if lock_path in self._warned or self._warn is None:
            return
        self._warned.add(lock_path)
        self._warn(
            f"warning: {lock_path}: cannot lock the local record ({error.strerror or error}); "
            "going on without the lock, so another apply of this conference is not kept out. "
            "Use --state-dir for a writable folder"
        )

    def _write(self, directory: Path, state: ConferenceState) -> None:
        _prepare(directory)
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


def _read_record(path: Path) -> str | None:
    """The record's text, or None when there is none."""
    try:
        # Non-blocking: a FIFO in the record's place must not hang the run.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _Unreadable("a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise _Unreadable("not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_RECORD_BYTES:  # the size may change while reading; read no more anyway
            chunk = os.read(fd, min(1 << 20, MAX_RECORD_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_RECORD_BYTES:
        raise _Unreadable(f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MB, so not a record")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise _Unreadable("not UTF-8 text") from None


class _Unreadable(Exception):
    """Why a record cannot be used, in a few words."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_record(text: str, account_sid: str, conference: str) -> ConferenceState:
    """The record in ``text``, checked in every part the commands rely on."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:  # json.loads refuses to nest deeper than the interpreter's limit
        raise _Unreadable("nested too deeply to be a record") from None
    except ValueError:  # malformed JSON, NaN, integers too long to convert
        raise _Unreadable("not valid JSON") from None
    if not isinstance(document, dict):
        raise _Unreadable("not a record: expected a JSON object")
    version = document.get("version")
    if type(version) is int and version > STATE_VERSION:  # bool is an int; True is no version
        raise _Unreadable(f"written by a newer orchestrator, record version {version}")
    if type(version) is not int or version != STATE_VERSION:
        raise _Unreadable(f"not a record: version is not {STATE_VERSION}")
    if document.get("account_sid") != account_sid or document.get("conference") != conference:
        raise _Unreadable("written for another conference")
    participants = document.get("participants")
    if not isinstance(participants, dict):
        raise _Unreadable("not a record: participants is not an object")
    state = ConferenceState(account_sid, conference)
    for label, entry in participants.items():
        state.participants[label] = _recorded(label, entry)
    return state


def _recorded(label: str, entry: object) -> Recorded:
    if not _LABEL.fullmatch(label):
        raise _Unreadable(f"not a record: {label[:40]!r} is not a participant name")
    if not isinstance(entry, dict):
        raise _Unreadable(f"not a record: participants.{label} is not an object")
    for key in ("call_sid", "conference_sid", "to"):
        if not _is_text(entry.get(key)):
            raise _Unreadable(f"not a record: participants.{label}.{key} is not text")
    if not _DESTINATION.fullmatch(entry["to"]):
        raise _Unreadable(f"not a record: participants.{label}.to is not a number or SIP URI")
    settings = entry.get("fingerprint")
    if not isinstance(settings, dict) or not _nests_within(settings, MAX_FINGERPRINT_DEPTH):
        raise _Unreadable(f"not a record: participants.{label}.fingerprint is not settings")
    return Recorded(
        call_sid=entry["call_sid"],
        conference_sid=entry["conference_sid"],
        to=entry["to"],
        fingerprint=upgrade_fingerprint(settings),
    )


def _is_text(value: object) -> bool:
    """Short printable text that can be written out again (no lone surrogates)."""
    if not isinstance(value, str) or not 0 < len(value) <= 256 or not value.isprintable():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _nests_within(value: object, depth: int) -> bool:
    """Whether ``value`` has no list or object nested more than ``depth`` levels deep."""
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return True
    return depth > 0 and all(_nests_within(item, depth - 1) for item in items)


def _prepare(directory: Path) -> None:
    """The record folder, with the ``.gitignore`` that keeps it out of commits."""
    directory.mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
