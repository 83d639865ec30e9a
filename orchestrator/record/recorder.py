"""The run being recorded: a subscriber of the run model that appends each event to the log.

Each line is flushed to the operating system as its event happens, so a run killed with
SIGKILL leaves every line written before the kill; the log is fsynced when a signal stops
the run and when the run ends, and the header then gets the end and the exit code. Nothing
here may stop a run: a record that cannot be written warns once and the run goes on.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator import __version__
from orchestrator.engine import events as ev
from orchestrator.masking import shown_url
from orchestrator.record.codec import Encoder, iso_ms
from orchestrator.record.provenance import file_facts, scrubbed_argv
from orchestrator.record.runs import (
    EVENTS,
    Header,
    make_private_folder,
    new_run_id,
    runs_folder,
    write_header,
)
from orchestrator.texml.connection import Connection


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


class Recorder:
    """Appends a run's events to its folder; ``folder`` is None when it could not be made."""

    def __init__(
        self, folder: Path | None, header: Header, warn: Callable[[str], None] | None = None
    ) -> None:
        self.folder = folder
        self.header = header
        self.connections: list[Connection] = []
        self._warn = warn or (lambda line: None)
        self._encoder = Encoder()
        self._lock = threading.Lock()
        self._log: IO[str] | None = None
        self._files: threading.Thread | None = None
        # Which conference and participant a SID belongs to, for what is learned by SID later.
        self._conferences: dict[str, tuple[str, str]] = {}
        self._calls: dict[str, tuple[str, str, str]] = {}
        if folder is not None:
            try:
                self._log = open(folder / EVENTS, "a", encoding="utf-8", opener=_private)  # noqa: SIM115
            except OSError as error:
                self._failed(error)

    @classmethod
    def start(
        cls,
        *,
        command: str,
        argv: Sequence[str],
        paths: Sequence[str],
        state_dir: str | None,
        sandbox: bool = False,
        watch: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> Recorder:
        """A new run folder for the run about to start, its header written."""
        now = time.time()
        run_id = new_run_id(now)
        header = Header(
            id=run_id,
            command=command,
            argv=scrubbed_argv(argv),
            started=iso_ms(now),
            version=__version__,
            sandbox=sandbox,
            watch=watch,
            cwd=os.getcwd(),
            files=[{"path": p} for p in paths],
        )
        folder: Path | None = runs_folder(state_dir, paths[0]) / run_id if paths else None
        try:
            if folder is None:
                raise OSError("no file named")
            make_private_folder(folder)
            write_header(folder, header)
        except OSError as error:
            recorder = cls(None, header, warn)
            recorder._failed(error, folder)
            return recorder
        recorder = cls(folder, header, warn)
        # Digests and commits are read beside the run's start, not before it (git takes time).
        recorder._files = threading.Thread(
            target=recorder._read_files, args=(list(paths),), daemon=True
        )
        recorder._files.start()
        return recorder

    def _read_files(self, paths: list[str]) -> None:
        self.header.files = [file_facts(p) for p in paths]

    def _failed(self, error: OSError, where: Path | None = None) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
        self._log = None
        shown = where or self.folder
        self._warn(
            f"warning: {shown}: cannot keep this run's record ({error.strerror or error}); "
            "the run goes on without it. Use --state-dir for a writable folder"
        )

    # The stream --------------------------------------------------------------

    def attach(self, subscribe: Callable[[ev.Subscriber], None]) -> None:
        subscribe(self)

    def __call__(self, event: ev.Event) -> None:
        self.append(event)
        if isinstance(event, ev.RunStopped):
            self.sync()  # a second signal may end the process before the run ends

    def learn(self, event: ev.Event) -> None:
        """Note the SIDs ``event`` names (done for every event appended)."""
        sid = getattr(event, "sid", None)
        if isinstance(sid, str) and isinstance(event, ev.ConferencePlanned | ev.ConferenceSeen):
            self._conferences[sid] = (event.file, event.conference)
        call_sid = getattr(event, "call_sid", None)
        if isinstance(call_sid, str) and isinstance(event, ev.ParticipantEvent):
            self._calls[call_sid] = (event.file, event.conference, event.participant)

    def where(self, conference_sid: str, call_sid: str | None) -> Where | None:
        """The conference (file, name) of a SID, and the participant of a call SID."""
        call = self._calls.get(call_sid or "")
        conference = self._conferences.get(conference_sid)
        if conference is None and call is None:
            return None
        if conference is None:
            assert call is not None
            conference = call[:2]
        return Where(conference[0], conference[1], call[2] if call is not None else None)

    def append(self, event: ev.Event) -> None:
        """One line for ``event``, flushed."""
        self.learn(event)
        with self._lock:
            if self._log is None:
                return
            line = self._encoder.line(event)
            if line is None:
                return
            try:
                self._log.write(line)
                self._log.flush()
            except OSError as error:
                self._failed(error)

    def sync(self) -> None:
        with self._lock:
            if self._log is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._log.fileno())

    # The header --------------------------------------------------------------

    def use(self, connections: Iterable[Connection]) -> None:
        """The accounts the run talks to (their URLs without credentials), into the header."""
        self.connections = list(connections)
        self.header.accounts = [
            {"account_sid": c.account_sid, "base_url": shown_url(c.base_url)}
            for c in self.connections
        ]
        self._write_header()

    def close(self) -> None:
        """Everything appended on disk; nothing more is written."""
        self.sync()
        with self._lock:
            if self._log is not None:
                with contextlib.suppress(OSError):
                    self._log.close()
                self._log = None

    def finish(self, exit_code: int) -> None:
        """The run has ended: everything on disk, and the header says how it ended."""
        self.close()
        self.header.ended = iso_ms(time.time())
        self.header.exit_code = exit_code
        self._write_header()

    def _write_header(self) -> None:
        if self._files is not None:
            self._files.join()
        if self.folder is None:
            return
        try:
            write_header(self.folder, self.header)
        except OSError as error:
            self._failed(error)


@dataclass(frozen=True)
class Where:
    """The conference (its file and name) a SID belongs to, and whose call it is, if anyone's."""

    file: str
    conference: str
    participant: str | None = None
