"""Recordings kept in the run folder: Telnyx's links expire 10 minutes after the call.

A completed recording's ``media_url`` is downloaded as soon as the record hears of it: from
a ``recording-completed`` callback (apply --watch --listen), at the end of apply, and by
``history --fetch`` (``GET Conferences/{sid}/Recordings``). Each is kept once, under its SID,
with its SHA-256 in the log. The API key goes with the request only when the link is on the
API's own origin (the sandbox serves its audio so); a presigned link elsewhere needs none,
and must not receive it. A link that has expired is refused by its host: the log says so
(``recording-not-kept``) and a later ``--fetch`` asks the API again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from orchestrator.engine.events import Source
from orchestrator.engine.run_model import RunModel
from orchestrator.errors import OrchestratorError
from orchestrator.masking import shown_url
from orchestrator.record.facts import CallLearned, RecordingKept, RecordingNotKept
from orchestrator.record.recorder import Recorder
from orchestrator.record.runs import RECORDINGS, make_private_folder
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection

# An hour of 8 kHz 16-bit stereo WAV is about 115 MB; anything past this is not a recording.
MAX_RECORDING_BYTES = 4 * 1024**3
CHUNK = 1 << 16
_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
_EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
}


class NotKept(Exception):
    """Why a recording could not be downloaded, in a few words."""


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parsed = URL(url)
    return parsed.scheme, parsed.host, parsed.port


def _file_name(sid: str, url: str, content_type: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", sid).strip(".-")[:100] or "recording"
    suffix = Path(URL(url).path).suffix.lower()
    if suffix not in (".wav", ".mp3"):
        suffix = _EXTENSIONS.get(content_type, ".audio")
    return safe + suffix


async def download(url: str, folder: Path, sid: str, key: str | None) -> tuple[str, int, str]:
    """``url`` into ``folder`` as ``<sid>.<ext>``: the file's name, size and SHA-256."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=_TIMEOUT) as session,
            # Redirects are not followed with the key: a presigned link elsewhere needs none.
            session.get(url, headers=headers, allow_redirects=not key) as response,
        ):
            if response.status in (401, 403, 404, 410):
                raise NotKept(
                    f"HTTP {response.status}: the link has expired or the recording is gone "
                    "(links last 10 minutes after the call)"
                )
            if response.status != 200:
                raise NotKept(f"HTTP {response.status} from {shown_url(url)}")
            if (response.content_length or 0) > MAX_RECORDING_BYTES:
                raise NotKept("larger than 4 GiB; not a recording")
            name = _file_name(sid, url, response.content_type)
            return (name, *await _save(response, folder, name))
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise NotKept(f"cannot download it ({type(error).__name__})") from None


async def _save(response: aiohttp.ClientResponse, folder: Path, name: str) -> tuple[int, str]:
    make_private_folder(folder)
    temporary = folder / f".{name}.part"
    digest = hashlib.sha256()
    size = 0
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > MAX_RECORDING_BYTES:
                    raise NotKept("larger than 4 GiB; not a recording")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


class Keeper:
    """Downloads each completed recording once into the run folder, and logs it."""

    def __init__(
        self,
        recorder: Recorder,
        *,
        kept: Iterable[str] = (),
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self._recorder = recorder
        self._say = say
        self.kept: set[str] = set(kept)
        self.missed: dict[str, str] = {}
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._learned: set[tuple[str, str]] = set()  # (call SID, field) taken from callbacks

    def _key_for(self, url: str) -> str | None:
        """The API key of the connection ``url`` is on the origin of, if any."""
        for connection in self._recorder.connections:
            with contextlib.suppress(ValueError):
                if _origin(url) == _origin(connection.base_url):
                    return connection.api_key.reveal()
        return None

    async def keep(self, recording: Mapping[str, Any], source: Source) -> None:
        """One recording (the API's resource fields); nothing if kept already or not complete."""
        sid = recording.get("sid")
        url = recording.get("media_url")
        if not isinstance(sid, str) or sid in self.kept or sid in self._busy:
            return
        if recording.get("status") != "completed" or not isinstance(url, str):
            return
        folder = self._recorder.folder
        conference_sid = recording.get("conference_sid")
        call_sid = recording.get("call_sid")
        where = self._recorder.where(str(conference_sid or ""), call_sid)
        if folder is None or where is None:
            return
        self._busy.add(sid)
        common: dict[str, Any] = {"file": where.file, "conference": where.conference}
        try:
            name, size, sha = await download(url, folder / RECORDINGS, sid, self._key_for(url))
        except (NotKept, OSError) as error:
            why = str(error) if isinstance(error, NotKept) else f"cannot write it ({error})"
            if self.missed.get(sid) != why:
                self.missed[sid] = why
                self._recorder.append(
                    RecordingNotKept(**common, recording_sid=sid, why=why, source=source)
                )
            self._say(f"{where.conference}: recording {sid} not kept: {why}")
            return
        finally:
            self._busy.discard(sid)
        self.kept.add(sid)
        self.missed.pop(sid, None)
        self._recorder.append(
            RecordingKept(
                **common,
                recording_sid=sid,
                conference_sid=conference_sid if isinstance(conference_sid, str) else None,
                call_sid=call_sid if isinstance(call_sid, str) else None,
                participant=where.participant,
                path=f"{RECORDINGS}/{name}",
                bytes=size,
                sha256=sha,
                duration_s=_int(recording.get("duration")),
                channels=_int(recording.get("channels")),
                started_at=recording.get("start_time"),
                source=source,
            )
        )
        self._say(f"{where.conference}: recording {sid} kept ({RECORDINGS}/{name})")

    async def keep_listed(self, client: TexmlClient, conference_sid: str) -> str | None:
        """Every completed recording of the conference; what could not be learned, if anything."""
        try:
            listed = await client.list_recordings(conference_sid)
        except OrchestratorError as error:
            return f"recordings of conference {conference_sid}: {error}"
        await asyncio.gather(*(self.keep(dict(r), "api") for r in listed))
        return None

    def from_callback(self, fields: Mapping[str, Any]) -> None:
        """A callback heard by apply --watch --listen: a completed recording is downloaded now;
        a call's ``completed`` callback gives its hangup cause, which the API's call resource
        does not carry."""
        self._hangup_cause(fields)
        if fields.get("RecordingStatus") != "completed" or not fields.get("RecordingUrl"):
            return
        recording = {
            "sid": fields.get("RecordingSid"),
            "media_url": fields.get("RecordingUrl"),
            "status": "completed",
            "conference_sid": fields.get("ConferenceSid"),
            "call_sid": fields.get("CallSid"),
            "duration": fields.get("RecordingDuration"),
            "channels": fields.get("RecordingChannels"),
            "start_time": fields.get("RecordingStartTime"),
        }
        task = asyncio.get_running_loop().create_task(self.keep(recording, "callback"))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _hangup_cause(self, fields: Mapping[str, Any]) -> None:
        call_sid = fields.get("CallSid")
        if fields.get("CallStatus") != "completed" or not isinstance(call_sid, str):
            return
        where = self._recorder.where(str(fields.get("ConferenceSid") or ""), call_sid)
        if where is None or where.participant is None:
            return
        for name, key in (("hangup_cause", "HangupCause"), ("hangup_source", "HangupSource")):
            value = fields.get(key)
            if isinstance(value, str) and value and (call_sid, name) not in self._learned:
                self._learned.add((call_sid, name))
                self._recorder.append(
                    CallLearned(
                        file=where.file,
                        conference=where.conference,
                        participant=where.participant,
                        call_sid=call_sid,
                        field=name,
                        value=value,
                        source="callback",
                    )
                )

    async def drain(self) -> None:
        """Wait for the downloads the callbacks started."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def records(spec: ConferenceSpec) -> bool:
    """Whether the file asks for any recording: the conference's, or a participant's leg."""
    return spec.conference.record == "record-from-start" or any(
        p.settings.record for p in spec.participants
    )


async def keep_at_end(
    keeper: Keeper,
    groups: Mapping[Connection, list[ConferenceSpec]],
    model: RunModel,
) -> None:
    """At the end of apply: the callbacks' downloads finished, then every completed recording
    of the conferences that record (one a still running conference is still making is not
    complete yet: ``history --fetch`` keeps it later)."""
    await keeper.drain()
    for connection, specs in groups.items():
        sids = []
        for spec in specs:
            known = model.conferences.get(spec.path)
            if records(spec) and known is not None and known.sid is not None:
                sids.append(known.sid)
        if not sids:
            continue
        async with TexmlClient(connection) as client:
            for sid in sids:
                await keeper.keep_listed(client, sid)
