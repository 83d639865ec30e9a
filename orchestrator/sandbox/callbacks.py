"""Delivering callbacks as real HTTP requests: signed, at least once, in the background.

Signing, as Telnyx does it: every request carries ``telnyx-timestamp`` (Unix
seconds) and ``telnyx-signature-ed25519``, base64 of the Ed25519 signature of
``"{timestamp}|{payload}"`` with the sandbox's key (``SandboxInfo.public_key``
verifies it). The payload is the raw form body of a POST; a GET has no body,
so the raw query string it is sent with is signed instead (the callback URL's
own query, then ``&`` and the fields; ``signing.signed_payload``). Each
attempt is signed afresh, at the time it is sent.

Delivery is at least once, and no more orderly than that:

- Each callback URL has its own queue and one worker: a callback is sent once
  those queued before it for the same URL have been attempted, so a slow or
  dead receiver delays nobody else.
- A delivery fails when the connection is refused or reset, when no answer
  comes within 5 s, or when the answer is not 2xx (redirects are not
  followed). A failed callback is tried again after 1 s, 2 s and 4 s of real
  time (never scaled by time_scale: it is the receiver's time), each retry
  going to the back of its URL's queue, so later callbacks may overtake it.
  ``webhooks.retry_attempts`` sets how many retries (default 3; the delay
  doubles each time, at most 60 s). After the last one the callback is
  logged and dropped. The API never waits for, or fails because of, a webhook.
- ``webhooks.duplicate_rate`` delivers that fraction of callbacks twice;
  ``webhooks.reorder_window_ms`` holds each one (each copy) a random 0..N ms
  of real time before it is queued, so callbacks to one URL can arrive out of
  order. Both draw from the scenario's seed.

A callback's fields are fixed when its event happens (``events``): a retry or a
duplicate is the same callback again, every field the same (``Timestamp`` and
``SequenceNumber`` included); only its signature headers are made afresh. No
field names the delivery: Telnyx sends no event id, and neither does the sandbox.

Only loopback receivers are called unless the sandbox was started with
remote callbacks allowed: configs written for production name real webhook
hosts, and a simulation must not send them made-up events. Log lines show a
URL as ``masking.shown_url`` does: where it points, never its credentials or
query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Final
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from orchestrator import __version__
from orchestrator.clock import REAL_CLOCK, Clock, Timer
from orchestrator.masking import shown_url
from orchestrator.sandbox.scenario import WebhookBehaviour
from orchestrator.texml import contract
from orchestrator.texml.connection import is_loopback
from orchestrator.webhooks.signing import SigningKey, signed_payload

log = logging.getLogger("orchestrator.sandbox")

DEFAULT_TIMEOUT_S: Final = 5.0
MAX_PENDING_PER_URL: Final = 10_000
# The characters of a URL that needs no more percent-encoding.
_ENCODED_URL: Final = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%#\[\]]*")
FIRST_RETRY_DELAY_S: Final = 1.0
MAX_RETRY_DELAY_S: Final = 60.0


def retry_delay(retry: int) -> float:
    """Real seconds before retry number ``retry`` (1, 2, ...): 1 s, 2 s, 4 s, ... at most 60 s."""
    return min(FIRST_RETRY_DELAY_S * 2.0 ** (retry - 1), MAX_RETRY_DELAY_S)


@dataclass(frozen=True)
class Webhook:
    url: str
    method: str  # GET (fields in the query string) or POST (form-encoded body)
    fields: Mapping[str, str]
    what: str  # for the log: which event this is


@dataclass
class DeliveryStats:
    """What became of the callbacks (reported by /_sandbox/health as ``webhooks``)."""

    sent: int = 0  # attempts answered 2xx
    failed: int = 0  # attempts that failed (each retry that fails counts again)
    retried: int = 0  # retries scheduled
    abandoned: int = 0  # callbacks dropped after their last attempt failed
    duplicated: int = 0  # callbacks sent twice (webhooks.duplicate_rate)
    dropped: int = 0  # callbacks not queued: too many pending for their URL
    not_local: int = 0  # skipped: the receiver is not on this machine
    pending: int = 0  # callbacks held, queued, in flight or waiting for a retry

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Attempt:
    hook: Webhook
    number: int = 1  # 1 for the first try


def is_local_url(url: str) -> bool:
    """True for http(s) URLs whose host is a loopback address or ``localhost`` (no DNS lookup)."""
    try:
        host = URL(url).host
    except (ValueError, TypeError, IndexError):
        return False
    return host is not None and is_loopback(host)


def as_given(url: str) -> URL:
    """``url`` sent as it was given when it is percent-encoded already (a receiver may check
    its own query byte for byte), else as yarl encodes it."""
    if _ENCODED_URL.fullmatch(url):
        return URL(url, encoded=True)
    return URL(url)


def request_of(hook: Webhook) -> tuple[URL, bytes | None, bytes]:
    """Where ``hook`` goes, its body (None for a GET) and the payload its signature covers."""
    encoded = urlencode(list(hook.fields.items()))
    if hook.method == "GET":
        base = as_given(hook.url)
        own = base.raw_query_string
        query = f"{own}&{encoded}" if own and encoded else own or encoded
        bare = str(base.with_query(None).with_fragment(None))
        target = URL(f"{bare}?{query}" if query else bare, encoded=True)
        return target, None, signed_payload("GET", b"", query)
    body = encoded.encode("ascii")
    return as_given(hook.url).with_fragment(None), body, signed_payload("POST", body, "")


class WebhookSender:
    def __init__(
        self,
        *,
        signing_key: SigningKey,
        behaviour: WebhookBehaviour | None = None,
        seed: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        allow_remote: bool = False,
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._key = signing_key
        self._clock = clock
        self._behaviour = behaviour or WebhookBehaviour()
        self._random = random.Random(f"{seed}:webhooks")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._allow_remote = allow_remote
        self._refused_urls: set[str] = set()
        self._queues: dict[str, asyncio.Queue[_Attempt]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._timers: set[Timer] = set()  # held callbacks and pending retries
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self.stats = DeliveryStats()
        # Told of every attempt: the callback, its headers, the answer's status (None: none
        # came) and body or what went wrong (the inspector shows them).
        self.attempted: Callable[[Webhook, Mapping[str, str], int | None, str], None] | None = None

    def send(self, hook: Webhook) -> None:
        """Deliver ``hook`` in the background (held, duplicated as configured); never blocks
        and never raises."""
        if self._closed:
            return
        if not self._allow_remote and not is_local_url(hook.url):
            self.stats.not_local += 1
            if hook.url not in self._refused_urls:
                self._refused_urls.add(hook.url)
                log.warning(
                    "webhook %s %s: not delivered; the sandbox calls only loopback URLs "
                    "(start it with --allow-remote-callbacks to deliver elsewhere)",
                    hook.method,
                    shown_url(hook.url),
                )
            return
        behaviour = self._behaviour
        copies = 1
        if behaviour.duplicate_rate > 0 and self._random.random() < behaviour.duplicate_rate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            hold_s = 0.0
            if behaviour.reorder_window_ms > 0:
                hold_s = self._random.uniform(0.0, behaviour.reorder_window_ms) / 1000
            self.stats.pending += 1
            self._later(hold_s, _Attempt(hook))

    async def close(self) -> None:
        self._closed = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers.clear()
        self._queues.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _later(self, seconds: float, attempt: _Attempt) -> None:
        if seconds <= 0:
            self._enqueue(attempt)
            return
        holder: list[Timer] = []

        def due() -> None:
            self._timers.discard(holder[0])
            self._enqueue(attempt)

        handle = self._clock.call_later(seconds, due)
        holder.append(handle)
        self._timers.add(handle)

    def _enqueue(self, attempt: _Attempt) -> None:
        if self._closed:
            return
        hook = attempt.hook
        queue = self._queues.get(hook.url)
        if queue is None:
            queue = asyncio.Queue(MAX_PENDING_PER_URL)
            self._queues[hook.url] = queue
            self._workers[hook.url] = asyncio.get_running_loop().create_task(
                self._work(queue), name=f"webhooks to {shown_url(hook.url)}"
            )
        try:
            queue.put_nowait(attempt)
        except asyncio.QueueFull:
            self.stats.pending -= 1
            self.stats.dropped += 1
            log.warning(
                "webhook %s %s: too many pending, dropped %s",
                hook.method,
                shown_url(hook.url),
                hook.what,
            )

    async def _work(self, queue: asyncio.Queue[_Attempt]) -> None:
        while True:
            attempt = await queue.get()
            try:
                failure = await self._deliver(attempt.hook)
            except Exception:  # a receiver must never be able to stop the worker
                failure = "failed inside the sandbox"
                log.exception(
                    "webhook %s %s: delivery failed",
                    attempt.hook.method,
                    shown_url(attempt.hook.url),
                )
            try:
                if failure is None:
                    self.stats.pending -= 1
                else:
                    self._failed(attempt, failure)
            finally:
                queue.task_done()

    def _failed(self, attempt: _Attempt, reason: str) -> None:
        self.stats.failed += 1
        hook = attempt.hook
        where = f"{hook.method} {shown_url(hook.url)}"
        attempts = 1 + self._behaviour.retry_attempts
        if attempt.number >= attempts:
            self.stats.pending -= 1
            self.stats.abandoned += 1
            log.warning(
                "webhook %s: %s not delivered (%s), attempt %d of %d; dropped",
                where,
                hook.what,
                reason,
                attempt.number,
                attempts,
            )
            return
        delay = retry_delay(attempt.number)
        self.stats.retried += 1
        log.warning(
            "webhook %s: %s not delivered (%s), attempt %d of %d; again in %g s",
            where,
            hook.what,
            reason,
            attempt.number,
            attempts,
            delay,
        )
        self._later(delay, _Attempt(hook, attempt.number + 1))

    async def _deliver(self, hook: Webhook) -> str | None:
        """One attempt; None when it was delivered, else why not."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": f"orchestrator-sandbox/{__version__}"},
            )
        target, body, payload = request_of(hook)
        headers = self._key.headers(payload)
        if body is not None:
            headers["Content-Type"] = contract.FORM_MEDIA_TYPE
        try:
            async with self._session.request(
                hook.method, target, data=body, headers=headers, allow_redirects=False
            ) as response:
                answer = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            failure = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
            if self.attempted is not None:
                self.attempted(hook, headers, None, failure)
            return failure
        if self.attempted is not None:
            self.attempted(hook, headers, status, answer[:512].decode("utf-8", "replace"))
        if not 200 <= status < 300:
            return f"HTTP {status}"
        self.stats.sent += 1
        log.info(
            "webhook %s %s: %s delivered (HTTP %s)",
            hook.method,
            shown_url(hook.url),
            hook.what,
            status,
        )
        return None
