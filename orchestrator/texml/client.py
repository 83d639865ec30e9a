"""orchestrator's client for the TeXML Conferences API, on aiohttp.

One shared session with a pooled connector; every request in flight counts
against one limit. Reads, updates and deletes are retried on 429, 5xx and
connection errors with jittered exponential backoff that honours Retry-After
and x-ratelimit-reset. Dials are never retried here: whether a failed dial
placed a call is for the caller to find out (see ``DialUnconfirmed``).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import quote

import aiohttp
from yarl import URL

from orchestrator import __version__
from orchestrator.errors import (
    ApiError,
    ApiUnreachable,
    AuthenticationError,
    NotFoundError,
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
    ParticipantResource,
    RecordingResource,
)

T = TypeVar("T")

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


@dataclass
class ClientStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    dials: int = 0


class DialUnconfirmed(ApiError):
    """The dial may or may not have placed a call (5xx, reset or timeout after sending)."""


class TexmlClient:
    """Typed methods for the endpoints the product uses."""

    def __init__(
        self,
        connection: Connection,
        *,
        concurrency: int = 50,
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
        on_rate_limited: Callable[[float], None] | None = None,
    ) -> None:
        self.connection = connection
        self.retry = retry or RetryPolicy()
        self.stats = ClientStats()
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 10.0))
        self._in_flight = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._on_rate_limited = on_rate_limited
        self._session: aiohttp.ClientSession | None = None

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
        return cast(ConferenceResource, await self._request_retrying("GET", path))

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
        self, conference: str, fields: Mapping[str, RequestValue]
    ) -> ParticipantResource:
        """Dial one participant into ``conference`` (a SID, or a friendly name with ApplicationSid).

        Raises RateLimitedError (nothing placed; wait and dial again), DialUnconfirmed (a call may
        have been placed: look it up by Label before dialing again), or another ApiError.
        """
        path = self._path(contract.PARTICIPANTS_PATH, conference_sid=conference)
        self.stats.dials += 1
        try:
            result = await self._request_once("POST", path, body=fields)
        except ServerError as error:
            raise DialUnconfirmed(
                f"{error} (the call may have been placed)",
                status=error.status,
                code=error.code,
                detail=error.detail,
                method="POST",
                path=path,
            ) from error
        except ApiUnreachable as error:
            if not error.request_sent:
                raise
            raise DialUnconfirmed(
                f"{error} (the call may have been placed)", status=0, method="POST", path=path
            ) from error
        return cast(ParticipantResource, result)

    async def get_participant(
        self, conference_sid: str, call_sid_or_label: str
    ) -> ParticipantResource:
        path = self._path(
            contract.PARTICIPANT_PATH,
            conference_sid=conference_sid,
            call_sid_or_label=call_sid_or_label,
        )
        return cast(ParticipantResource, await self._request_retrying("GET", path))

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
        return cast(CallResource, await self._request_retrying("GET", path))

    # Sandbox introspection ----------------------------------------------

    async def sandbox_dials(self) -> list[DialRecord]:
        body = await self._request_retrying("GET", contract.SANDBOX_DIALS_PATH)
        return cast(list[DialRecord], body["dials"])

    # Transport -----------------------------------------------------------

    async def _list_all(self, path: str, key: str, query: Mapping[str, str | None]) -> list[Any]:
        """Follow next_page_uri until the last page."""
        items: list[Any] = []
        params = {k: v for k, v in query.items() if v is not None}
        params["PageSize"] = "250"
        page: dict[str, Any] = await self._request_retrying("GET", path, params=params)
        items.extend(page.get(key) or [])
        seen_pages = 0
        while next_uri := page.get("next_page_uri"):
            seen_pages += 1
            if (
                seen_pages > 10_000
            ):  # a server that never stops paging is a server bug, not ours to loop on
                break
            page = await self._request_retrying(
                "GET", _relative_to_base(next_uri, self.connection.base_url)
            )
            items.extend(page.get(key) or [])
        return items

    async def _request_retrying(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, RequestValue] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        attempt = 0
        while True:
            try:
                return await self._request_once(method, path, body=body, params=params)
            except (RateLimitedError, ServerError, ApiUnreachable) as error:
                attempt += 1
                refused = isinstance(error, ApiUnreachable) and not error.request_sent
                if attempt >= (self.retry.connect_attempts if refused else self.retry.attempts):
                    raise
                hint = error.retry_after if isinstance(error, ApiError) else None
                self.stats.retries += 1
                await asyncio.sleep(self.retry.backoff(attempt, hint))

    async def _request_once(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, RequestValue] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        if self._session is None:
            raise RuntimeError("TexmlClient used outside 'async with'")
        url = self.connection.base_url + path
        data = None if body is None else json.dumps(encode_body(body))
        headers = None if body is None else {"Content-Type": "application/json"}
        async with self._in_flight:
            self.stats.requests += 1
            try:
                async with self._session.request(
                    method, url, data=data, params=params, headers=headers
                ) as response:
                    text = await response.text()
                    if response.status < 300:
                        return json.loads(text) if text.strip() else None
                    raise self._error_for(response, text, method, path)
            except aiohttp.ClientConnectorError as error:
                raise _unreachable(
                    self.connection.base_url, method, path, error, sent=False
                ) from error
            except (TimeoutError, aiohttp.ClientError) as error:
                # Past connecting, the request may have reached the server.
                raise _unreachable(
                    self.connection.base_url, method, path, error, sent=True
                ) from error
            except json.JSONDecodeError as error:
                raise ApiError(
                    f"{method} {path}: the API answered with something that is not JSON",
                    status=0,
                    method=method,
                    path=path,
                ) from error

    def _error_for(
        self, response: aiohttp.ClientResponse, text: str, method: str, path: str
    ) -> ApiError:
        status = response.status
        code, title, detail, pointer = _first_error(text)
        retry_after = _retry_after(response.headers)
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
            "retry_after": retry_after,
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
            if self._on_rate_limited is not None:
                self._on_rate_limited(retry_after if retry_after is not None else 1.0)
            return RateLimitedError(message, **kwargs)
        if status >= 500:
            return ServerError(message, **kwargs)
        return RequestRejected(message, **kwargs)


def encode_body(body: Mapping[str, RequestValue]) -> dict[str, contract.FieldValue]:
    """The JSON body as sent on the wire: the only place a Secret is revealed."""
    return {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in body.items()}


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


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name in (contract.HEADER_RETRY_AFTER, contract.HEADER_RATELIMIT_RESET):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(float(value), 0.0)
        except ValueError:
            continue
    return None


def _relative_to_base(uri: str, base_url: str) -> str:
    """next_page_uri is rooted at the host (/v2/texml/...); make it relative to the base URL."""
    target = URL(uri)
    base_path = URL(base_url).path.rstrip("/")
    path = target.path
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return str(URL.build(path=path, query=target.query))


async def gather_limited(coroutines: list[Awaitable[T]], limit: int) -> list[T]:
    """Await coroutines with at most ``limit`` running at once, keeping their order."""
    semaphore = asyncio.Semaphore(limit)

    async def run(coroutine: Awaitable[T]) -> T:
        async with semaphore:
            return await coroutine

    return list(await asyncio.gather(*(run(c) for c in coroutines)))
