"""Run folders: where they are, their header, and finding one by id, prefix or ``last``.

A run folder is ``<record folder>/runs/<run-id>/`` (the record folder is ``.orchestrator/``
next to the first file, or ``--state-dir``), owner-only (0700, its files 0600): it names the
people called and their numbers. ``<run-id>`` starts with the UTC time the run started, so
the names sort as the runs began.

The header (``run.json``) is written when the run starts and again when it ends; a header
without an end is a run that never got to write it: killed, or the machine stopped.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engine.events import Event
from orchestrator.engine.state import STATE_DIR_NAME, StateStore
from orchestrator.errors import UsageError
from orchestrator.files import write_atomically
from orchestrator.reading import Unreadable, read_bounded
from orchestrator.record.codec import Decoder

RUNS = "runs"
HEADER = "run.json"
EVENTS = "events.jsonl"
RECORDINGS = "recordings"
HEADER_VERSION = 1
# A header is a few kilobytes; anything far larger is not one.
MAX_HEADER_BYTES = 1024 * 1024
# How deep below the current folder ``history`` looks for record folders by itself.
SEARCH_DEPTH = 3


def new_run_id(now: float) -> str:
    """``20261216T101502Z-3fa9c1``: when it started (UTC), then enough chance to be unique."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(3)


def runs_folder(state_dir: str | None, spec_path: str) -> Path:
    """Where a run of ``spec_path`` (its first file) is kept."""
    return StateStore(state_dir).directory_for(spec_path) / RUNS


def make_private_folder(folder: Path) -> None:
    """``folder`` and the folders between it and ``runs/`` (included), owner-only; the record
    folder above ``runs/`` gets the record's ``.gitignore``."""
    chain = [folder]
    while chain[-1].name != RUNS and chain[-1].parent != chain[-1]:
        chain.append(chain[-1].parent)
    for private in reversed(chain):
        private.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(private, 0o700)
    record = chain[-1].parent
    ignore = record / ".gitignore"
    if chain[-1].name == RUNS and record.name == STATE_DIR_NAME and not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")


@dataclass
class Header:
    """What a run was: how it was started, on which files, against which account, how it ended."""

    id: str
    command: str
    argv: list[str]
    started: str  # UTC ISO 8601 to the millisecond
    version: str  # orchestrator's
    sandbox: bool = False
    watch: bool = False
    cwd: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)  # path, sha256, git
    accounts: list[dict[str, str]] = field(default_factory=list)  # account_sid, base_url
    ended: str | None = None
    exit_code: int | None = None

    @property
    def interrupted(self) -> bool:
        """No end was written: the run was killed, or its machine stopped."""
        return self.ended is None

    def as_json(self) -> dict[str, Any]:
        return {"header_version": HEADER_VERSION, **self.__dict__}

    @classmethod
    def from_json(cls, document: Any) -> Header:
        if not isinstance(document, dict):
            raise ValueError("not a run header")
        fields = {k: document[k] for k in cls.__dataclass_fields__ if k in document}
        header = cls(**fields)
        if not isinstance(header.id, str) or not isinstance(header.started, str):
            raise ValueError("not a run header")
        return header


def write_header(folder: Path, header: Header) -> None:
    write_atomically(folder / HEADER, json.dumps(header.as_json(), indent=2) + "\n")


@dataclass(frozen=True)
class StoredRun:
    folder: Path
    header: Header

    @property
    def id(self) -> str:
        return self.header.id

    @property
    def events_path(self) -> Path:
        return self.folder / EVENTS

    def events(self) -> tuple[list[Event], int]:
        """The events of the log, and how many lines could not be read (a line cut by a kill)."""
        decoder = Decoder()
        try:
            with self.events_path.open(encoding="utf-8", errors="replace") as lines:
                found = list(decoder.events(lines))
        except FileNotFoundError:
            return [], 0
        return found, decoder.unreadable


def read_run(folder: Path) -> StoredRun | None:
    """The run kept in ``folder``, or None when it holds none that can be read."""
    try:
        text = read_bounded(folder / HEADER, MAX_HEADER_BYTES)
        header = Header.from_json(json.loads(text))
    except (Unreadable, ValueError, TypeError):
        return None
    return StoredRun(folder, header)


def _below(root: Path, depth: int) -> Iterator[Path]:
    """Record folders at most ``depth`` levels below ``root``; hidden folders are skipped."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        if entry.name == STATE_DIR_NAME:
            yield Path(entry.path) / RUNS
        elif depth > 0 and not entry.name.startswith(".") and entry.name != "node_modules":
            yield from _below(Path(entry.path), depth - 1)


def run_folders(state_dir: str | None, files: Iterable[str], cwd: Path) -> list[Path]:
    """Where to look for runs: ``--state-dir``; else the record folders of the files named;
    else every ``.orchestrator/`` from the current folder down ``SEARCH_DEPTH`` levels."""
    if state_dir:
        return [Path(state_dir) / RUNS]
    named = list(files)
    if named:
        return list(dict.fromkeys(runs_folder(None, f) for f in named))
    return list(dict.fromkeys(_below(cwd, SEARCH_DEPTH)))


def list_runs(folders: Iterable[Path]) -> list[StoredRun]:
    """Every run kept in the folders, newest first."""
    found: dict[Path, StoredRun] = {}
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                run = read_run(Path(entry.path))
                if run is not None:
                    found[Path(entry.path).resolve()] = run
    return sorted(found.values(), key=lambda r: (r.header.started, r.id), reverse=True)


def pick(runs: list[StoredRun], ref: str) -> StoredRun:
    """The run ``ref`` names: ``last``, its id, or a prefix of one id only."""
    if not runs:
        raise UsageError("no runs recorded here (see --state-dir, or run from the files' folder)")
    if ref == "last":
        return runs[0]
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(ref)]
    if not matches:
        raise UsageError(f"no run {ref!r} (orchestrator history lists them)")
    if len(matches) > 1:
        shown = ", ".join(r.id for r in matches[:3]) + (", ..." if len(matches) > 3 else "")
        raise UsageError(f"run {ref!r} is ambiguous: {len(matches)} runs start so ({shown})")
    return matches[0]
