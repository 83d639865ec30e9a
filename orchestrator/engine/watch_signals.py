"""What tells apply --watch to look at a conference: its polling, or its verified callbacks.

Each watched conference is in one of two modes:

- ``polling`` (where every conference starts): a round every interval, longer
  while nothing changes, as ``WatchOptions`` says; a callback only wakes the
  round sooner.
- ``callbacks``: a callback whose signature held (``TELNYX_PUBLIC_KEY`` set)
  has arrived for it, so the API is known to tell this watch what happens;
  polling relaxes to a safety net (``WatchOptions.safety_net_s``, a minute),
  and a callback, a gap in the conference callbacks' ``SequenceNumber`` (one
  was lost) or an edit of the file starts a round at once.

Only a verified callback moves a conference to ``callbacks``: without the
key anyone who can reach the port could send one, and must never be able to
make the watch stop looking. A safety-net round that finds a change no
callback announced moves it back to ``polling``: the callbacks are not
telling everything (a subscription to fewer events, a receiver behind a
broken proxy). Reads are counted per conference, from the requests
themselves (``CountingReads``), for ``/metrics``. A file is read for edits
between rounds (``edited``), so that an edit starts a round at once in
either mode.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import unquote

from orchestrator.reading import Unreadable, read_bounded
from orchestrator.texml.http import HttpRequest, HttpResponse, HttpTransport
from orchestrator.yamlfile import MAX_FILE_BYTES

Mode = Literal["polling", "callbacks"]
POLLING: Final[Mode] = "polling"
CALLBACKS: Final[Mode] = "callbacks"

# How a request's path names the conference it is about.
_CONFERENCE_IN_PATH: Final = re.compile(r"/Conferences/([^/?]+)")


@dataclass
class Signals:
    """One conference's mode and what its callbacks said."""

    mode: Mode = POLLING
    verified: int = 0  # callbacks taken whose signature held
    unverified: int = 0  # callbacks taken without a key to check them
    gaps: int = 0  # times a conference callback's SequenceNumber skipped one or more
    last_sequence: int | None = None  # of the last conference callback taken
    switches: list[tuple[float, Mode]] = field(default_factory=list)  # (when, to which mode)
    heard_since_round: bool = False  # a callback came since the last round began

    def switch(self, mode: Mode, now: float) -> bool:
        """Move to ``mode``; whether that changed anything."""
        if mode == self.mode:
            return False
        self.mode = mode
        self.switches.append((now, mode))
        return True

    def heard(self, fields: Mapping[str, Any], *, verified: bool, now: float) -> bool:
        """A callback about this conference; whether it calls for a look (a duplicate of a
        conference event already taken does not)."""
        self.heard_since_round = True
        if verified:
            self.verified += 1
            self.switch(CALLBACKS, now)
        else:
            self.unverified += 1
        sequence = _sequence(fields)
        if sequence is None:
            return True  # a call's progress, a recording: their numbers are per call
        last = self.last_sequence
        if last is not None and sequence <= last:
            return False  # delivered again, or late: what it said was looked at already
        if last is not None and sequence > last + 1:
            self.gaps += 1  # one or more were lost: look now, not at the safety net
        self.last_sequence = sequence
        return True


def _sequence(fields: Mapping[str, Any]) -> int | None:
    """A conference event's SequenceNumber (its place among the conference's callbacks)."""
    if not fields.get("StatusCallbackEvent"):
        return None
    try:
        return int(str(fields.get("SequenceNumber", "")))
    except ValueError:
        return None


class CountingReads:
    """An ``HttpTransport`` that counts the GETs about each conference (by its SID in the
    path) before handing every request on to ``inner``."""

    def __init__(self, inner: HttpTransport) -> None:
        self.inner = inner
        self.by_conference: Counter[str] = Counter()

    async def send(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            found = _CONFERENCE_IN_PATH.search(request.url)
            if found is not None:
                self.by_conference[unquote(found[1]).removesuffix(".json")] += 1
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def digest_of(path: str) -> bytes:
    """The file's digest; empty when it cannot be read (then the last version stays)."""
    try:
        # Bounded and without blocking: the file may have become a FIFO or grown huge.
        return hashlib.sha256(read_bounded(path, MAX_FILE_BYTES)).digest()
    except Unreadable:
        return b""


def edited(path: str, digest: bytes) -> bool:
    """Whether the file's content is no longer the version of ``digest`` (an unreadable file
    is not an edit: the last version stays in force)."""
    found = digest_of(path)
    return bool(found) and found != digest


@dataclass
class FileCheck:
    """Reading a file for edits between rounds, cheaply: its digest only when its stat moved."""

    stamp: tuple[int, int, int] | None = None  # mtime (ns), size and inode at the last look

    def edited(self, path: str, digest: bytes) -> bool:
        try:
            found = os.stat(path)
            stamp: tuple[int, int, int] | None = (found.st_mtime_ns, found.st_size, found.st_ino)
        except OSError:
            stamp = None
        if stamp is not None and stamp == self.stamp:
            return False
        self.stamp = stamp
        return edited(path, digest)
