"""orchestrator's client for the TeXML Conferences API: one typed method per endpoint used.

The HTTP side (session, encodings, retries, error mapping) is
``orchestrator.texml.transport``; here are the paths, the paging, and what a
usable answer must carry. Dials are never retried here: whether a failed dial
placed a call is for the caller to find out (``DialUnconfirmed``), and their
own limit is the dial pacer's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

from yarl import URL

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.errors import (
    ApiUnreachable,
    DialUnconfirmed,
    MalformedAnswer,
    NotFoundError,
    RequestRejected,
    ServerError,
)
from orchestrator.pacing.gates import ReadThrottle
from orchestrator.pacing.headers import RateReport
from orchestrator.texml import contract
from orchestrator.texml.connection import Connection
from orchestrator.texml.contract import (
    CallResource,
    ConferenceResource,
    InitiateCallResult,
    ParticipantResource,
    RecordingResource,
)
from orchestrator.texml.http import AiohttpTransport, HttpMethod, HttpTransport
from orchestrator.texml.transport import (
    Answer,
    DialKind,
    Gate,
    RequestValue,
    RetryPolicy,
    Transport,
)

__all__ = ["CallList", "DialAnswer", "RequestValue", "TexmlClient"]


# Lists ask for this many items a page: the API does not publish its maximum. A server that
# refuses it is asked again without PageSize, for its own default.
PAGE_SIZE = "1000"
# What a path part may carry unencoded: a call SID's colon (RFC 3986 allows it in a segment).
PATH_SAFE = ":"


T = TypeVar("T")


@dataclass(frozen=True)
class CallList:
    """Calls as the API listed them, and its clock when it did (None: it sent no Date)."""

    calls: list[CallResource]
    server_time: datetime | None


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP or RFC 2822 date (``Fri, 27 Oct 2023 07:41:58 +0000``); None if it is not one."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class DialAnswer(Generic[T]):
    """An accepted dial (or placed call): the resource, and what its rate-limit headers said."""

    resource: T
    rate: RateReport | None


class TexmlClient:
    """Typed methods for the endpoints the product uses.

    ``transport`` carries the requests (default: over the network, ``AiohttpTransport``;
    one given is its giver's to close); ``clock`` is the time retries, the read throttle and
    everything that paces a run read (default: real time).
    """

    def __init__(
        self,
        connection: Connection,
        *,
        transport: HttpTransport | None = None,
        clock: Clock = REAL_CLOCK,
        concurrency: int = 50,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.connection = connection
        self.clock = clock
        self._own_http = transport is None
        http = transport or AiohttpTransport(concurrency=concurrency, timeout_s=timeout_s)
        self._transport = Transport(
            connection, http, concurrency=concurrency, retry=retry, clock=clock
        )

    @property
    def reads(self) -> ReadThrottle:
        """The throttle every read waits in (the API's general limit)."""
        return self._transport.reads

    @property
    def reads_sent(self) -> int:
        """Reads, updates and deletes sent so far."""
        return self._transport.reads_sent

    def unreachable_for(self) -> float:
        """Seconds during which every request has failed to connect (0 while answers arrive)."""
        return self._transport.unreachable_for()

    async def __aenter__(self) -> TexmlClient:
        await self._transport.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._transport.close()
        if self._own_http:
            await self._transport.http.aclose()

    # Paths ---------------------------------------------------------------

    def _path(self, template: str, **parts: str) -> str:
        """``template`` with its parts percent-encoded, but for ``:``: a call SID (``v3:...``)
        goes raw, as the official SDK sends it (a colon is allowed in a path segment); a
        Label's slashes, spaces and the like are still encoded."""
        quoted = {k: quote(v, safe=PATH_SAFE) for k, v in parts.items()}
        account = quote(self.connection.account_sid, safe=PATH_SAFE)
        return template.format(account_sid=account, **quoted)

    # Conferences ---------------------------------------------------------

    async def get_conference(self, conference_sid: str) -> ConferenceResource:
        path = self._path(contract.CONFERENCE_PATH, conference_sid=conference_sid)
        return cast(
            ConferenceResource, await self._transport.request_retrying("GET", path, ident="sid")
        )

    async def list_conferences(
        self, *, friendly_name: str | None = None, status: str | None = None
    ) -> list[ConferenceResource]:
        query = {"FriendlyName": friendly_name, "Status": status}
        path = self._path(contract.CONFERENCES_PATH)
        items = await self._list_all(path, "conferences", query)
        return cast(list[ConferenceResource], items)

    async def update_conference(
        self, conference_sid: str, fields: Mapping[str, RequestValue]
    ) -> ConferenceResource:
        path = self._path(contract.CONFERENCE_PATH, conference_sid=conference_sid)
        return cast(
            ConferenceResource, await self._transport.request_retrying("POST", path, body=fields)
        )

    async def list_recordings(self, conference_sid: str) -> list[RecordingResource]:
        path = self._path(contract.RECORDINGS_PATH, conference_sid=conference_sid)
        return cast(list[RecordingResource], await self._list_all(path, "recordings", {}))

    # Participants --------------------------------------------------------

    async def dial(
        self,
        conference: str,
        fields: Mapping[str, RequestValue],
        *,
        stop: asyncio.Event | None = None,
        clear_to_send: Callable[[], bool] | None = None,
    ) -> DialAnswer[ParticipantResource]:
        """Dial one participant into ``conference`` (a SID, or a friendly name with ApplicationSid).

        Raises RateLimitedError (nothing placed; wait and dial again), DialUnconfirmed (a call may
        have been placed: look it up by Label before dialing again), NotSent (``stop`` was set,
        or ``clear_to_send`` said no, when the request was about to leave), or another ApiError /
        ApiUnreachable (nothing placed).
        """
        path = self._path(contract.PARTICIPANTS_PATH, conference_sid=conference)
        answer = await self._place("POST", path, fields, "dial", Gate(stop, clear_to_send))
        if not _is_dial_answer(answer.body):
            raise DialUnconfirmed(
                f"POST {path}: the API accepted the dial but its answer has no call_sid and "
                "conference_sid (the call may have been placed)",
                status=200,
                method="POST",
                path=path,
                rate=answer.rate,
            )
        return DialAnswer(cast(ParticipantResource, answer.body), answer.rate)

    async def initiate_call(
        self,
        fields: Mapping[str, RequestValue],
        *,
        stop: asyncio.Event | None = None,
        clear_to_send: Callable[[], bool] | None = None,
    ) -> DialAnswer[InitiateCallResult]:
        """Place a call that runs TeXML (InitiateTexmlCall); raises like ``dial``.

        The documented answer is only ``from``, ``to`` and ``status``; a ``call_sid`` (or ``sid``)
        is used when present, and the resource is empty when the body is not an object.
        """
        path = self._path(contract.CALLS_PATH)
        answer = await self._place("POST", path, fields, "calls", Gate(stop, clear_to_send))
        body = answer.body if isinstance(answer.body, dict) else {}
        return DialAnswer(cast(InitiateCallResult, body), answer.rate)

    async def _place(
        self,
        method: HttpMethod,
        path: str,
        fields: Mapping[str, RequestValue],
        kind: DialKind,
        gate: Gate,
    ) -> Answer:
        """Send one request that may place a call, never retried; an answer that leaves it
        unknown whether a call was placed is DialUnconfirmed."""
        try:
            return await self._transport.request_once(
                method, path, body=fields, kind=kind, gate=gate
            )
        except ServerError as error:
            raise DialUnconfirmed(
                f"{error} (the call may have been placed)",
                status=error.status,
                code=error.code,
                detail=error.detail,
                method=method,
                path=path,
                rate=error.rate,
            ) from error
        except ApiUnreachable as error:
            if not error.request_sent:
                raise
            raise DialUnconfirmed(
                f"{error} (the call may have been placed)", status=0, method=method, path=path
            ) from error
        except MalformedAnswer as error:
            raise DialUnconfirmed(
                f"{error} (the call may have been placed)", status=200, method=method, path=path
            ) from error

    async def get_participant(
        self, conference_sid: str, call_sid_or_label: str
    ) -> ParticipantResource:
        path = self._path(
            contract.PARTICIPANT_PATH,
            conference_sid=conference_sid,
            call_sid_or_label=call_sid_or_label,
        )
        return cast(
            ParticipantResource,
            await self._transport.request_retrying("GET", path, ident="call_sid"),
        )

    async def find_participant(
        self, conference_sid: str, call_sid_or_label: str
    ) -> ParticipantResource | None:
        """The participant, or None when it is definitely not (or no longer) in the conference."""
        try:
            return await self.get_participant(conference_sid, call_sid_or_label)
        except NotFoundError:
            return None

    async def list_participants(self, conference_sid: str) -> list[ParticipantResource]:
        path = self._path(contract.PARTICIPANTS_PATH, conference_sid=conference_sid)
        return cast(list[ParticipantResource], await self._list_all(path, "participants", {}))

    async def update_participant(
        self, conference_sid: str, call_sid_or_label: str, fields: Mapping[str, RequestValue]
    ) -> ParticipantResource:
        path = self._path(
            contract.PARTICIPANT_PATH,
            conference_sid=conference_sid,
            call_sid_or_label=call_sid_or_label,
        )
        return cast(
            ParticipantResource, await self._transport.request_retrying("POST", path, body=fields)
        )

    async def delete_participant(self, conference_sid: str, call_sid_or_label: str) -> None:
        path = self._path(
            contract.PARTICIPANT_PATH,
            conference_sid=conference_sid,
            call_sid_or_label=call_sid_or_label,
        )
        await self._transport.request_retrying("DELETE", path)

    # Calls ---------------------------------------------------------------

    async def get_call(self, call_sid: str) -> CallResource:
        path = self._path(contract.CALL_PATH, call_sid=call_sid)
        return cast(
            CallResource, await self._transport.request_retrying("GET", path, ident="status")
        )

    async def hang_up_call(self, call_sid: str) -> CallResource:
        """End a call in no conference (UpdateTexmlCall with ``Status=completed``)."""
        path = self._path(contract.CALL_PATH, call_sid=call_sid)
        body = {"Status": "completed"}
        return cast(CallResource, await self._transport.request_retrying("POST", path, body=body))

    async def list_calls(self, *, to: str, since: date | None = None) -> CallList:
        """The account's calls to ``to`` (started on or after ``since``, a date of the server's),
        with the server's clock at the answer. Eventually consistent: a new call may be missing."""
        query: dict[str, str | None] = {"To": to}
        if since is not None:
            # StartTime_gt is documented as "after" a date: the day before includes ``since``.
            query["StartTime_gt"] = (since - timedelta(days=1)).isoformat()
        items, server_time = await self._list_dated(self._path(contract.CALLS_PATH), "calls", query)
        return CallList(cast(list[CallResource], items), server_time)

    # Transport -----------------------------------------------------------

    async def _list_all(self, path: str, key: str, query: Mapping[str, str | None]) -> list[Any]:
        """Follow next_page_uri until the last page."""
        items, _ = await self._list_dated(path, key, query)
        return items

    async def _list_dated(
        self, path: str, key: str, query: Mapping[str, str | None]
    ) -> tuple[list[Any], datetime | None]:
        """Every page's items, and the server's clock when it answered the first page."""
        items: list[Any] = []
        params = {k: v for k, v in query.items() if v is not None}
        params["PageSize"] = PAGE_SIZE
        try:
            first = await self._transport.answer_retrying("GET", path, params=params)
        except RequestRejected as error:
            if "PageSize" not in f"{error.pointer} {error.detail}":
                raise
            del params["PageSize"]
            first = await self._transport.answer_retrying("GET", path, params=params)
        page = first.body if isinstance(first.body, dict) else {}
        items.extend(_items(page, key))
        seen_pages = 0
        while next_uri := page.get("next_page_uri"):
            seen_pages += 1
            if (
                seen_pages > 10_000
            ):  # a server that never stops paging is a server bug, not ours to loop on
                break
            page = await self._transport.request_retrying(
                "GET", _relative_to_base(str(next_uri), self.connection.base_url)
            )
            items.extend(_items(page, key))
        return items, parse_http_date(first.date)


def _is_dial_answer(result: Any) -> bool:
    return (
        isinstance(result, dict)
        and isinstance(result.get("call_sid"), str)
        and bool(result["call_sid"])
        and isinstance(result.get("conference_sid"), str)
        and bool(result["conference_sid"])
    )


# The field that identifies an item of each kind of list; an item without it cannot be used.
_ITEM_IDS = {"participants": "call_sid", "conferences": "sid", "recordings": "sid", "calls": "sid"}


def _items(page: dict[str, Any], key: str) -> list[Any]:
    """The page's items that look like resources: objects carrying their identifying SID."""
    items = page.get(key) or []
    if not isinstance(items, list):
        return []
    ident = _ITEM_IDS.get(key)
    return [
        item
        for item in items
        if isinstance(item, dict) and (ident is None or isinstance(item.get(ident), str))
    ]


def _relative_to_base(uri: str, base_url: str) -> str:
    """next_page_uri is rooted at the host (/v2/texml/...); make it relative to the base URL."""
    target = URL(uri)
    base_path = URL(base_url).path.rstrip("/")
    path = target.path
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return str(URL.build(path=path, query=target.query))
