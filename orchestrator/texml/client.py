"""orchestrator's client for the TeXML Conferences API, on aiohttp.

One shared session with a pooled connector; every request in flight counts
against one limit. Reads, updates and deletes are retried on 429, 5xx and
connection errors with jittered exponential backoff that honours Retry-After
and x-ratelimit-reset; a 429 on them (the API's general limit) also holds and
paces every other read (``ReadThrottle``), never dials. Dials are never retried
here: whether a failed dial placed a call is for the caller to find out (see
``DialUnconfirmed``), and their own limit is the dial pacer's.

Bodies go as JSON, as the official Python SDK sends them; an endpoint that
answers 415 to JSON gets the spec's form encoding from then on (and the other
way round), and the refused request is sent again: a 415 did nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from orchestrator import __version__
from orchestrator.errors import (
    ApiError,
    ApiUnreachable,
    AuthenticationError,
    DialUnconfirmed,
    MalformedAnswer,
    NotFoundError,
    NotSent,
    RateLimitedError,
    RequestRejected,
    ServerError,
)
from orchestrator.secret import Secret
from orchestrator.texml import contract
from orchestrator.texml.connection import Connection
from orchestrator.texml.contract import (
    CallResource,
    ConferenceResource,
    DialRecord,
    InitiateCallResult,
    ParticipantResource,
    RecordingResource,
)
from orchestrator.texml.ratelimit import RateReport, rate_report
from orchestrator.texml.throttle import ReadThrottle

RequestValue = contract.FieldValue | Secret


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # total tries of one read/update/delete
    # A refused connection rarely heals within seconds; fail fast so a wrong URL is reported quickly.
    connect_attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 8.0

    def backoff(self, attempt: int, hint_s: float | None) -> float:
        """Delay before try ``attempt + 1``: the server's hint if any, else full-jitter exponential."""
        if hint_s is not None:
            return min(max(hint_s, 0.0), self.max_delay_s)
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return random.uniform(self.base_delay_s / 2, ceiling)


# Lists ask for this many items a page: the API does not publish its maximum. A server that
# refuses it is asked again without PageSize, for its own default.
PAGE_SIZE = "1000"


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    dials: int = 0
    reads: int = 0


T = TypeVar("T")


@dataclass(frozen=True)
class DialAnswer(Generic[T]):
    """An accepted dial (or placed call): the resource, and what its rate-limit headers said."""

    resource: T
    rate: RateReport | None


@dataclass(frozen=True)
class _Answer:
    body: Any
    rate: RateReport | None


@dataclass(frozen=True)
class _Gate:
    """Checked once a request holds its place, just before it leaves."""

    stop: asyncio.Event | None
    clear_to_send: Callable[[], bool] | None

    def check(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise NotSent("stopped before the request was sent")
        if self.clear_to_send is not None and not self.clear_to_send():
            raise NotSent("held back: dialing paused while the request waited", held_back=True)


# Body encodings, per kind of endpoint (the spec declares form for some, JSON for others).
JSON = "json"
FORM = "form"


class TexmlClient:
    """Typed methods for the endpoints the product uses."""

    def __init__(
        self,
        connection: Connection,
        *,
        concurrency: int = 50,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self.reads = ReadThrottle()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 10.0))
        self._in_flight = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self._encoding: dict[str, str] = {}  # endpoint kind -> JSON or FORM, once one was refused
        # Since when every request has failed to connect (None: the last one got an answer).
        self.unreachable_since: float | None = None

    async def __aenter__(self) -> TexmlClient:
        connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={
                "Authorization": f"Bearer {self.connection.api_key.reveal()}",
                "Accept": "application/json",
                "User-Agent": f"orchestrator/{__version__}",
            },
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.reads.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # Paths ---------------------------------------------------------------

    def _path(self, template: str, **parts: str) -> str:
        quoted = {k: quote(v, safe="") for k, v in parts.items()}
        return template.format(account_sid=quote(self.connection.account_sid, safe=""), **quoted)

    # Conferences ---------------------------------------------------------

    async def get_conference(self, conference_sid: str) -> ConferenceResource:
        path = self._path(contract.CONFERENCE_PATH, conference_sid=conference_sid)
        return cast(ConferenceResource, await self._request_retrying("GET", path, ident="sid"))

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
        return cast(ConferenceResource, await self._request_retrying("POST", path, body=fields))

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
        answer = await self._place("POST", path, fields, "dial", _Gate(stop, clear_to_send))
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
        answer = await self._place("POST", path, fields, "calls", _Gate(stop, clear_to_send))
        body = answer.body if isinstance(answer.body, dict) else {}
        return DialAnswer(cast(InitiateCallResult, body), answer.rate)

    async def _place(
        self,
        method: str,
        path: str,
        fields: Mapping[str, RequestValue],
        kind: str,
        gate: _Gate,
    ) -> _Answer:
        """Send one request that may place a call, never retried; an answer that leaves it
        unknown whether a call was placed is DialUnconfirmed."""
        self.stats.dials += 1
        try:
            return await self._request_once(method, path, body=fields, kind=kind, gate=gate)
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
            ParticipantResource, await self._request_retrying("GET", path, ident="call_sid")
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
        return cast(ParticipantResource, await self._request_retrying("POST", path, body=fields))

    async def delete_participant(self, conference_sid: str, call_sid_or_label: str) -> None:
        path = self._path(
            contract.PARTICIPANT_PATH,
            conference_sid=conference_sid,
            call_sid_or_label=call_sid_or_label,
        )
        await self._request_retrying("DELETE", path)

    # Calls ---------------------------------------------------------------

    async def get_call(self, call_sid: str) -> CallResource:
        path = self._path(contract.CALL_PATH, call_sid=call_sid)
        return cast(CallResource, await self._request_retrying("GET", path, ident="status"))

    # Sandbox introspection ----------------------------------------------

    async def sandbox_dials(self) -> list[DialRecord]:
        body = await self._request_retrying("GET", contract.SANDBOX_DIALS_PATH)
        return cast(list[DialRecord], body["dials"])

    async def sandbox_health(self) -> dict[str, Any]:
        """The sandbox's counters (requests by method, 429s by code, ...)."""
        return cast(
            dict[str, Any], await self._request_retrying("GET", contract.SANDBOX_HEALTH_PATH)
        )

    # Transport -----------------------------------------------------------

    async def _list_all(self, path: str, key: str, query: Mapping[str, str | None]) -> list[Any]:
        """Follow next_page_uri until the last page."""
        items: list[Any] = []
        params = {k: v for k, v in query.items() if v is not None}
        params["PageSize"] = PAGE_SIZE
        try:
            page = await self._request_retrying("GET", path, params=params)
        except RequestRejected as error:
            if "PageSize" not in f"{error.pointer} {error.detail}":
                raise
            del params["PageSize"]
            page = await self._request_retrying("GET", path, params=params)
        items.extend(_items(page, key))
        seen_pages = 0
        while next_uri := page.get("next_page_uri"):
            seen_pages += 1
            if (
                seen_pages > 10_000
            ):  # a server that never stops paging is a server bug, not ours to loop on
                break
            page = await self._request_retrying(
                "GET", _relative_to_base(str(next_uri), self.connection.base_url)
            )
            items.extend(_items(page, key))
        return items

    async def _request_retrying(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, RequestValue] | None = None,
        params: Mapping[str, str] | None = None,
        ident: str | None = None,
    ) -> Any:
        """One read, update or delete, retried; its JSON object (None for a DELETE).

        ``ident``: the field that identifies the resource, without which the answer is unusable.
        """
        attempt = 0
        while True:
            try:
                answer = await self._request_once(method, path, body=body, params=params)
                if method != "DELETE" and not isinstance(answer.body, dict):
                    raise MalformedAnswer(
                        f"{method} {path}: the API answered with something that is not a JSON object"
                    )
                if ident is not None and not isinstance(answer.body.get(ident), str):
                    raise MalformedAnswer(f"{method} {path}: the answer has no {ident}")
                return answer.body
            except (RateLimitedError, ServerError, ApiUnreachable, MalformedAnswer) as error:
                attempt += 1
                refused = isinstance(error, ApiUnreachable) and not error.request_sent
                if attempt >= (self.retry.connect_attempts if refused else self.retry.attempts):
                    raise
                if isinstance(error, RateLimitedError):
                    continue  # the read throttle already holds every read for as long as asked
                hint = error.retry_after if isinstance(error, ApiError) else None
                self.stats.retries += 1
                await asyncio.sleep(self.retry.backoff(attempt, hint))

    def unreachable_for(self) -> float:
        """Seconds during which every request has failed to connect (0 while answers arrive)."""
        if self.unreachable_since is None:
            return 0.0
        return time.monotonic() - self.unreachable_since

    def _encode(self, kind: str, body: Mapping[str, RequestValue]) -> tuple[str | bytes, str]:
        if self._encoding.get(kind, JSON) == FORM:
            return encode_form(body), contract.FORM_MEDIA_TYPE
        return json.dumps(encode_body(body)), contract.JSON_MEDIA_TYPE

    async def _request_once(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, RequestValue] | None = None,
        params: Mapping[str, str] | None = None,
        kind: str | None = None,
        gate: _Gate | None = None,
    ) -> _Answer:
        """One request (resent once in the other encoding after a 415, which did nothing)."""
        kind = kind or method
        for _ in range(2):
            try:
                return await self._send(method, path, body, params, kind, gate)
            except RequestRejected as error:
                if error.status != 415 or body is None:
                    raise
                encoding = self._encoding.get(kind, JSON)
                self._encoding[kind] = FORM if encoding == JSON else JSON
        return await self._send(method, path, body, params, kind, gate)

    async def _send(
        self,
        method: str,
        path: str,
        body: Mapping[str, RequestValue] | None,
        params: Mapping[str, str] | None,
        kind: str,
        gate: _Gate | None,
    ) -> _Answer:
        if self._session is None:
            raise RuntimeError("TexmlClient used outside 'async with'")
        url = self.connection.base_url + path
        data, media_type = (None, None) if body is None else self._encode(kind, body)
        headers = None if media_type is None else {"Content-Type": media_type}
        is_dial = kind in ("dial", "calls")
        if not is_dial:
            sent_at = (await self.reads.acquire()).at
        async with self._in_flight:
            if gate is not None:
                gate.check()
            if is_dial:
                sent_at = time.monotonic()
            else:
                self.stats.reads += 1
            self.stats.requests += 1
            try:
                async with self._session.request(
                    method, url, data=data, params=params, headers=headers
                ) as response:
                    text = await response.text()
                    self.unreachable_since = None
                    rate = rate_report(response.headers)
                    if response.status < 300:
                        if not is_dial:
                            self.reads.answered()
                        return _Answer(json.loads(text) if text.strip() else None, rate)
                    failure = self._error_for(response, text, method, path, rate)
            except aiohttp.ClientConnectorError as error:
                self._connect_failed()
                raise _unreachable(
                    self.connection.base_url, method, path, error, sent=False
                ) from error
            except (TimeoutError, aiohttp.ClientError) as error:
                # Past connecting, the request may have reached the server.
                raise _unreachable(
                    self.connection.base_url, method, path, error, sent=True
                ) from error
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise MalformedAnswer(
                    f"{method} {path}: the API answered with something that is not JSON"
                ) from error
        if isinstance(failure, RateLimitedError) and (
            not is_dial or failure.code == contract.CODE_TOO_MANY_REQUESTS
        ):
            # The general limit: hold every read (a dial's caller sees the code and pauses dials).
            self.reads.limited(sent_at, failure.retry_after)
        raise failure

    def _connect_failed(self) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = time.monotonic()

    def _error_for(
        self,
        response: aiohttp.ClientResponse,
        text: str,
        method: str,
        path: str,
        rate: RateReport | None,
    ) -> ApiError:
        status = response.status
        code, title, detail, pointer = _first_error(text)
        what = detail or title or response.reason or "error"
        where = f" ({pointer.lstrip('/')})" if pointer else ""
        coded = f" [code {code}]" if code else ""
        message = f"{method} {path}: HTTP {status}: {what}{where}{coded}"
        kwargs: dict[str, Any] = {
            "status": status,
            "code": code,
            "detail": detail or title,
            "pointer": pointer,
            "method": method,
            "path": path,
            "rate": rate,
        }
        if status == 401:
            return AuthenticationError(
                f"the API refused the API key (HTTP 401{coded}); check TELNYX_API_KEY or --api-key-file",
                **kwargs,
            )
        if status == 404:
            return NotFoundError(message, **kwargs)
        if status == 429:
            self.stats.rate_limited += 1
            return RateLimitedError(message, **kwargs)
        if status >= 500:
            return ServerError(message, **kwargs)
        return RequestRejected(message, **kwargs)


def encode_body(body: Mapping[str, RequestValue]) -> dict[str, contract.FieldValue]:
    """The JSON body as sent on the wire: the only place a Secret is revealed."""
    return {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in body.items()}


def encode_form(body: Mapping[str, RequestValue]) -> str:
    """The form body as sent on the wire: booleans as true/false, CustomHeaders as a JSON array."""
    pairs: list[tuple[str, str]] = []
    for name, value in encode_body(body).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = json.dumps(value, separators=(",", ":"))
        else:
            text = str(value)
        pairs.append((name, text))
    return urlencode(pairs)


def _is_dial_answer(result: Any) -> bool:
    return (
        isinstance(result, dict)
        and isinstance(result.get("call_sid"), str)
        and bool(result["call_sid"])
        and isinstance(result.get("conference_sid"), str)
        and bool(result["conference_sid"])
    )


# The field that identifies an item of each kind of list; an item without it cannot be used.
_ITEM_IDS = {"participants": "call_sid", "conferences": "sid", "recordings": "sid"}


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


def _unreachable(
    base_url: str, method: str, path: str, error: BaseException, *, sent: bool
) -> ApiUnreachable:
    return ApiUnreachable(
        f"cannot reach the API at {base_url} ({_connection_problem(error)}); "
        "check TELNYX_BASE_URL / --base-url and the network",
        method=method,
        path=path,
        request_sent=sent,
    )


def _connection_problem(error: BaseException) -> str:
    """A few words a person can act on, instead of the library's exception text."""
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, aiohttp.ClientConnectorDNSError):
        return "host not found"
    if isinstance(error, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return "TLS handshake failed"
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        return cause.strerror or type(cause).__name__
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(error, aiohttp.ClientOSError):
        return error.strerror or "connection reset"
    return type(error).__name__


def _first_error(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    try:
        body = json.loads(text)
        first = body["errors"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None, None, None, None
    if not isinstance(first, dict):
        return None, None, None, None
    source = first.get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else None
    code = first.get("code")
    return (
        None if code is None else str(code),
        first.get("title"),
        first.get("detail"),
        pointer,
    )


def _relative_to_base(uri: str, base_url: str) -> str:
    """next_page_uri is rooted at the host (/v2/texml/...); make it relative to the base URL."""
    target = URL(uri)
    base_path = URL(base_url).path.rstrip("/")
    path = target.path
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return str(URL.build(path=path, query=target.query))
