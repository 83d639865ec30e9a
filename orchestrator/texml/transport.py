"""The HTTP side of the TeXML client: one pooled session, encodings, retries, error mapping.

One shared session with a pooled connector; every request in flight counts
against one limit. Reads, updates and deletes are retried on 429, 5xx,
malformed answers and connection errors with jittered exponential backoff that
honours Retry-After and x-ratelimit-reset; a 429 on them (the API's general
limit) also holds and paces every other read (``ReadThrottle``), never dials.
Requests that may place a call are sent once (``request_once``): whether a
failed one placed a call is for the caller to find out.

Bodies go as JSON, as the official Python SDK sends them; an endpoint that
answers 415 to JSON gets the spec's form encoding from then on (and the other
way round), and the refused request is sent again: a 415 did nothing.

Underneath, an ``HttpTransport`` (``texml.http``) carries one request to the
server and its answer back, and nothing else: encodings, retries, pacing and
error mapping are the same whichever carries them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args
from urllib.parse import urlencode

from orchestrator import __version__
from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.errors import (
    ApiError,
    ApiUnreachable,
    AuthenticationError,
    MalformedAnswer,
    NotFoundError,
    NotSent,
    RateLimitedError,
    RequestRejected,
    ServerError,
)
from orchestrator.masking import shown_url
from orchestrator.pacing.gates import ReadThrottle
from orchestrator.pacing.headers import RateReport, rate_report
from orchestrator.secret import Secret
from orchestrator.texml import contract
from orchestrator.texml.connection import Connection
from orchestrator.texml.http import (
    HttpMethod,
    HttpRequest,
    HttpResponse,
    HttpTransport,
    NoAnswer,
)

RequestValue = contract.FieldValue | Secret

# One DEBUG line per request (``-v``): method, path, status, time, attempt, rate-limit headers.
# The key and bodies are never logged.
REQUEST_LOG: Final = logging.getLogger("orchestrator.requests")

# Kinds of request that may place a call: never retried, paced by the dial pacer, not by reads.
DialKind = Literal["dial", "calls"]
DIAL_KINDS: Final[tuple[DialKind, ...]] = get_args(DialKind)
# What a request is to its encoding and its pacing: a dial kind, or else its method.
RequestKind = DialKind | HttpMethod


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


@dataclass(frozen=True)
class Answer:
    body: Any
    rate: RateReport | None
    date: str | None = None  # the server's Date header: its clock, to the second


@dataclass(frozen=True)
class Gate:
    """Checked once a request holds its place, just before it leaves."""

    stop: asyncio.Event | None
    clear_to_send: Callable[[], bool] | None

    def check(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise NotSent("stopped before the request was sent")
        if self.clear_to_send is not None and not self.clear_to_send():
            raise NotSent("held back: dialing paused while the request waited", held_back=True)


# Body encodings, per kind of endpoint (the spec declares form for some, JSON for others).
Encoding = Literal["json", "form"]
JSON: Final[Encoding] = "json"
FORM: Final[Encoding] = "form"


class Transport:
    """Requests to the API as the product makes them, carried by ``http``."""

    def __init__(
        self,
        connection: Connection,
        http: HttpTransport,
        *,
        concurrency: int = 50,
        retry: RetryPolicy | None = None,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.connection = connection
        self.http = http
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.reads = ReadThrottle(clock=clock)
        self.reads_sent = 0  # reads, updates and deletes that left (for apply --watch's metrics)
        self._in_flight = asyncio.Semaphore(concurrency)
        self._open = False
        # Endpoint kind -> JSON or FORM, once one was refused.
        self._encoding: dict[RequestKind, Encoding] = {}
        # Since when every request has failed to connect (None: the last one got an answer).
        self.unreachable_since: float | None = None
        self._headers = {
            "Authorization": f"Bearer {connection.api_key.reveal()}",
            "Accept": "application/json",
            "User-Agent": f"orchestrator/{__version__}",
        }

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False
        self.reads.close()

    async def request_retrying(
        self,
        method: HttpMethod,
        path: str,
        *,
        body: Mapping[str, RequestValue] | None = None,
        params: Mapping[str, str] | None = None,
        ident: str | None = None,
    ) -> Any:
        """One read, update or delete, retried; its JSON object (None for a DELETE).

        ``ident``: the field that identifies the resource, without which the answer is unusable.
        """
        answer = await self.answer_retrying(method, path, body=body, params=params, ident=ident)
        return answer.body

    async def answer_retrying(
        self,
        method: HttpMethod,
        path: str,
        *,
        body: Mapping[str, RequestValue] | None = None,
        params: Mapping[str, str] | None = None,
        ident: str | None = None,
    ) -> Answer:
        """As ``request_retrying``, with the whole answer (rate-limit headers, the server's date)."""
        attempt = 0
        while True:
            try:
                answer = await self.request_once(
                    method, path, body=body, params=params, attempt=attempt + 1
                )
                if method != "DELETE" and not isinstance(answer.body, dict):
                    raise MalformedAnswer(
                        f"{method} {path}: the API answered with something that is not a JSON object"
                    )
                if ident is not None and not isinstance(answer.body.get(ident), str):
                    raise MalformedAnswer(f"{method} {path}: the answer has no {ident}")
                return answer
            except (RateLimitedError, ServerError, ApiUnreachable, MalformedAnswer) as error:
                attempt += 1
                refused = isinstance(error, ApiUnreachable) and not error.request_sent
                if attempt >= (self.retry.connect_attempts if refused else self.retry.attempts):
                    raise
                if isinstance(error, RateLimitedError):
                    continue  # the read throttle already holds every read for as long as asked
                hint = error.retry_after if isinstance(error, ApiError) else None
                await self.clock.sleep(self.retry.backoff(attempt, hint))

    def unreachable_for(self) -> float:
        """Seconds during which every request has failed to connect (0 while answers arrive)."""
        if self.unreachable_since is None:
            return 0.0
        return self.clock.now() - self.unreachable_since

    def _encode(self, kind: RequestKind, body: Mapping[str, RequestValue]) -> tuple[bytes, str]:
        if self._encoding.get(kind, JSON) == FORM:
            return encode_form(body).encode("utf-8"), contract.FORM_MEDIA_TYPE
        return json.dumps(encode_body(body)).encode("utf-8"), contract.JSON_MEDIA_TYPE

    async def request_once(
        self,
        method: HttpMethod,
        path: str,
        *,
        body: Mapping[str, RequestValue] | None = None,
        params: Mapping[str, str] | None = None,
        kind: RequestKind | None = None,
        gate: Gate | None = None,
        attempt: int = 1,
    ) -> Answer:
        """One request (resent once in the other encoding after a 415, which did nothing)."""
        kind = kind or method
        for _ in range(2):
            try:
                return await self._send(method, path, body, params, kind, gate, attempt)
            except RequestRejected as error:
                if error.status != 415 or body is None:
                    raise
                encoding = self._encoding.get(kind, JSON)
                self._encoding[kind] = FORM if encoding == JSON else JSON
        return await self._send(method, path, body, params, kind, gate, attempt)

    async def _send(
        self,
        method: HttpMethod,
        path: str,
        body: Mapping[str, RequestValue] | None,
        params: Mapping[str, str] | None,
        kind: RequestKind,
        gate: Gate | None,
        attempt: int,
    ) -> Answer:
        if not self._open:
            raise RuntimeError("Transport used outside 'async with'")
        url = self.connection.base_url + path
        data, media_type = (None, None) if body is None else self._encode(kind, body)
        headers = (
            self._headers if media_type is None else {**self._headers, "Content-Type": media_type}
        )
        is_dial = kind in DIAL_KINDS
        if not is_dial:
            sent_at = (await self.reads.acquire()).at
        async with self._in_flight:
            if gate is not None:
                gate.check()
            if is_dial:
                sent_at = self.clock.now()
            else:
                self.reads_sent += 1
            started = self.clock.now()
            outcome = "no answer"
            try:
                response = await self.http.send(HttpRequest(method, url, params, headers, data))
                raw = response.body  # JSON is UTF-8 (RFC 8259): no charset to find
                self.unreachable_since = None
                rate = rate_report(response.headers)
                outcome = str(response.status)
                if rate is not None and REQUEST_LOG.isEnabledFor(logging.DEBUG):
                    outcome += f" {_shown_rate(rate)}"
                if response.status < 300:
                    if not is_dial:
                        self.reads.answered(rate)
                    return Answer(
                        json.loads(raw) if raw.strip() else None,
                        rate,
                        response.headers.get("Date"),
                    )
                text = raw.decode("utf-8", errors="replace")
                failure = self._error_for(response, text, method, path, rate)
            except NoAnswer as error:
                if not error.sent:
                    self._connect_failed()
                raise _unreachable(
                    self.connection.base_url, method, path, error.problem, sent=error.sent
                ) from error
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                outcome += " (not JSON)"
                raise MalformedAnswer(
                    f"{method} {path}: the API answered with something that is not JSON"
                ) from error
            finally:
                if REQUEST_LOG.isEnabledFor(logging.DEBUG):
                    elapsed_ms = (self.clock.now() - started) * 1000
                    REQUEST_LOG.debug(
                        "%s %s -> %s, %.0f ms, attempt %d",
                        method,
                        path + (f"?{urlencode(params)}" if params else ""),
                        outcome,
                        elapsed_ms,
                        attempt,
                    )
        if isinstance(failure, RateLimitedError) and (
            not is_dial or failure.code == contract.CODE_TOO_MANY_REQUESTS
        ):
            # The general limit: hold every read (a dial's caller sees the code and pauses dials).
            self.reads.limited(sent_at, failure.retry_after)
        raise failure

    def _connect_failed(self) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = self.clock.now()

    def _error_for(
        self,
        response: HttpResponse,
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


def _unreachable(
    base_url: str, method: str, path: str, problem: str, *, sent: bool
) -> ApiUnreachable:
    return ApiUnreachable(
        f"cannot reach the API at {shown_url(base_url)} ({problem}); "
        "check TELNYX_BASE_URL / --base-url and the network",
        method=method,
        path=path,
        request_sent=sent,
    )


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


def _shown_rate(rate: RateReport) -> str:
    parts = [
        f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
        for name, value in (
            ("limit", rate.limit),
            ("remaining", rate.remaining),
            ("reset", rate.reset_s),
            ("retry-after", rate.retry_after_s),
        )
        if value is not None
    ]
    return "[" + " ".join(parts) + "]"
