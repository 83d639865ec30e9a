"""Delivering status callbacks as real HTTP requests, in the background.

Each callback URL gets its own queue and worker, so events reach one receiver
in the order they happened and a slow or dead receiver delays nobody else.
A delivery that fails (refused, timed out, non-2xx) is logged once and
dropped: the API never waits for, or fails because of, a webhook.

Only loopback receivers are called unless the sandbox was started with
remote callbacks allowed: configs written for production name real webhook
hosts, and a simulation must not send them made-up events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from yarl import URL

from orchestrator import __version__
from orchestrator.texml.connection import is_loopback

log = logging.getLogger("orchestrator.sandbox")

DEFAULT_TIMEOUT_S: Final = 5.0
MAX_PENDING_PER_URL: Final = 10_000


@dataclass(frozen=True)
class Webhook:
    url: str
    method: str  # GET (fields in the query string) or POST (form-encoded body)
    fields: Mapping[str, str]
    what: str  # for the log: which event this is


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    not_local: int = 0  # skipped: the receiver is not on this machine


def safe_url(url: str) -> str:
    """The URL without credentials or query string, which may hold tokens: fit for a log line."""
    try:
        parsed = URL(url)
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "<invalid URL>"


def is_local_url(url: str) -> bool:
    """True for http(s) URLs whose host is a loopback address or ``localhost`` (no DNS lookup)."""
    try:
        host = URL(url).host
    except (ValueError, TypeError):
        return False
    return host is not None and is_loopback(host)


class WebhookSender:
    def __init__(self, *, timeout_s: float = DEFAULT_TIMEOUT_S, allow_remote: bool = False) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._allow_remote = allow_remote
        self._refused_urls: set[str] = set()
        self._queues: dict[str, asyncio.Queue[Webhook]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self.stats = DeliveryStats()

    def send(self, hook: Webhook) -> None:
        """Queue ``hook`` for delivery; never blocks and never raises."""
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
                    safe_url(hook.url),
                )
            return
        queue = self._queues.get(hook.url)
        if queue is None:
            queue = asyncio.Queue(MAX_PENDING_PER_URL)
            self._queues[hook.url] = queue
            self._workers[hook.url] = asyncio.get_running_loop().create_task(
                self._work(queue), name=f"webhooks to {safe_url(hook.url)}"
            )
        try:
            queue.put_nowait(hook)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning(
                "webhook %s %s: too many pending, dropped %s",
                hook.method,
                safe_url(hook.url),
                hook.what,
            )

    async def drain(self) -> None:
        """Wait until every queued webhook has been attempted (for tests and orderly shutdown)."""
        for queue in list(self._queues.values()):
            await queue.join()

    async def close(self) -> None:
        self._closed = True
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

    async def _work(self, queue: asyncio.Queue[Webhook]) -> None:
        while True:
            hook = await queue.get()
            try:
                await self._deliver(hook)
            except Exception:  # a receiver must never be able to stop the worker
                self.stats.failed += 1
                log.exception("webhook %s %s: delivery failed", hook.method, safe_url(hook.url))
            finally:
                queue.task_done()

    async def _deliver(self, hook: Webhook) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"User-Agent": f"orchestrator-sandbox/{__version__}"},
            )
        where = f"{hook.method} {safe_url(hook.url)}"
        fields = dict(hook.fields)
        try:
            if hook.method == "GET":
                request = self._session.get(hook.url, params=fields, allow_redirects=False)
            else:
                request = self._session.post(hook.url, data=fields, allow_redirects=False)
            async with request as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
            self.stats.failed += 1
            reason = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
            log.warning("webhook %s: %s not delivered (%s)", where, hook.what, reason)
            return
        if status >= 400:
            self.stats.failed += 1
            log.warning("webhook %s: %s answered HTTP %s", where, hook.what, status)
            return
        self.stats.sent += 1
        log.info("webhook %s: %s delivered (HTTP %s)", where, hook.what, status)
