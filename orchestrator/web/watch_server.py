"""apply --watch --listen: callbacks that wake the watch at once, /healthz, and /metrics.

The conference's status callbacks (point ``conference.status_callback`` of the
file at this server) say at once that someone left (``participant-leave``
carries ``ParticipantLabel``); the watch's next round then starts without
waiting for its interval, though never more than once a second per conference
however many arrive (the watch spaces them). Polling stays on as the safety
net, since callbacks may be late, lost or duplicated; once verified callbacks
arrive for a conference it rests to once a minute (``engine.watch_signals``).
With ``TELNYX_PUBLIC_KEY`` set, a callback whose signature is missing, stale or
wrong is refused with 401 and wakes nothing, its body unread; a replay of one
already taken (the same signature and timestamp) is answered 200 and ignored.
Without the key the server trusts anyone who can reach it: its callbacks wake
rounds but never let polling rest. ``/metrics`` is Prometheus' text format,
built at each scrape from the watch itself (no global registry): with the
reads and the mode (polling or callbacks) of each conference.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orchestrator.engine.watch import Serve, Watch
from orchestrator.engine.watch_signals import CALLBACKS, POLLING
from orchestrator.serving import serving
from orchestrator.texml.client import TexmlClient
from orchestrator.webhooks.intake import Refused, application, take
from orchestrator.webhooks.signing import SeenSignatures


class WatchMetrics(Collector):
    def __init__(self, server: WatchServer) -> None:
        self._server = server

    def collect(self) -> Iterator[Metric]:
        by_state = GaugeMetricFamily(
            "orchestrator_participants",
            "Participants of the watched conferences by observed state.",
            labels=["conference", "state"],
        )
        dials = CounterMetricFamily(
            "orchestrator_dials", "Dial requests sent.", labels=["conference"]
        )
        limited = CounterMetricFamily(
            "orchestrator_rate_limited", "Dials the API answered 429.", labels=["conference"]
        )
        reads = CounterMetricFamily(
            "orchestrator_conference_reads",
            "GETs about the conference (itself, its participants).",
            labels=["conference"],
        )
        modes = GaugeMetricFamily(
            "orchestrator_watch_mode",
            "1 for the mode the conference is watched in: polling, or callbacks (verified "
            "callbacks arrive, polling is a safety net).",
            labels=["conference", "mode"],
        )
        gaps = CounterMetricFamily(
            "orchestrator_callback_gaps",
            "Times the conference callbacks' SequenceNumber skipped (a callback was lost).",
            labels=["conference"],
        )
        attached = self._server.attached
        for watch, _ in attached:
            model = watch.model
            for watched in watch.watched:
                name = watched.spec.conference.name
                for mode in (POLLING, CALLBACKS):
                    modes.add_metric([name, mode], float(watched.signals.mode == mode))
                reads.add_metric([name], watch.reads_of(watched))
                gaps.add_metric([name], watched.signals.gaps)
                if watched.spec.path not in model.conferences:
                    continue
                result = model.result(watched.spec.path)
                for state, count in Counter(str(p.observed) for p in result.participants).items():
                    by_state.add_metric([name, state], count)
                dials.add_metric([name], result.dials)
                limited.add_metric([name], result.rate_limited)
        yield by_state
        yield dials
        yield limited
        yield reads
        yield modes
        yield gaps
        yield CounterMetricFamily(
            "orchestrator_redials",
            "Redials of dropped participants.",
            value=sum(w.redials for w, _ in attached),
        )
        yield CounterMetricFamily(
            "orchestrator_reads",
            "Reads, updates and deletes sent.",
            value=sum(c.reads_sent for _, c in attached),
        )
        yield CounterMetricFamily(
            "orchestrator_rounds", "Reconcile rounds run.", value=sum(w.rounds for w, _ in attached)
        )
        last = max((w.last_round_at for w, _ in attached if w.last_round_at), default=None)
        yield GaugeMetricFamily(
            "orchestrator_last_reconcile_timestamp_seconds",
            "When the last reconcile round ended (Unix time).",
            value=last if last is not None else 0.0,
        )


class WatchServer:
    """The routes of --listen, for the watches attached to it (one per account): a server that
    starts before them (sharing its port with the board) answers /healthz as ``starting``
    and takes callbacks without waking anything until one is attached."""

    def __init__(
        self,
        *,
        public_key: Ed25519PublicKey | None,
        heard: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.attached: list[tuple[Watch, TexmlClient]] = []
        self._heard = heard  # told of each callback taken (the record keeps recordings)
        self._public_key = public_key
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(WatchMetrics(self))
        self._seen = SeenSignatures()
        self.received = 0
        self.rejected = 0
        self.replayed = 0
        self.started = time.monotonic()
        self.url: str | None = None  # where it listens, once it does

    @contextlib.contextmanager
    def attach(self, watch: Watch, client: TexmlClient) -> Iterator[WatchServer]:
        """``watch`` served (woken by callbacks, counted by /healthz and /metrics) for the
        length of the block."""
        pair = (watch, client)
        self.attached.append(pair)
        try:
            yield self
        finally:
            self.attached.remove(pair)

    def add_to(self, app: web.Application) -> None:
        """The routes, last of ``app``'s: every path no earlier route takes is a callback."""
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", "/{path:.*}", self._callback)

    def app(self) -> web.Application:
        app = application()
        self.add_to(app)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        watches = [watch for watch, _ in self.attached]
        watching = [
            w.spec.conference.name for watch in watches for w in watch.watched if not w.ended
        ]
        return web.json_response(
            {
                "status": "ok" if watches else "starting",
                "watching": watching,
                "rounds": sum(watch.rounds for watch in watches),
                "modes": {
                    w.spec.conference.name: w.signals.mode
                    for watch in watches
                    for w in watch.watched
                    if not w.ended
                },
                "callbacks": self.received,
                "rejected": self.rejected,
                "replayed": self.replayed,
            }
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self._registry),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def _callback(self, request: web.Request) -> web.Response:
        taken = await take(request, self._public_key)
        self.received += 1  # once it has arrived whole: a request cut off midway is none
        if isinstance(taken, Refused):
            self.rejected += 1
            return taken.answer
        if self._public_key is not None and not self._seen.first(request.headers):
            self.replayed += 1
            return web.Response(text="ok")  # taken before: answered, never acted on again
        fields = taken.fields
        # By SID, or by name: the first callbacks come before the first round knows the SID.
        keys = [str(fields.get(k) or "") for k in ("ConferenceSid", "FriendlyName")]
        verified = self._public_key is not None  # its signature held: it came from the API
        for watch, _ in self.attached:
            watched = next(filter(None, (watch.by_conference(k) for k in keys if k)), None)
            if watched is not None:
                watch.heard(watched, fields, verified=verified)  # the watch decides when
        if self._heard is not None:
            self._heard(fields)
        return web.Response(text="ok")


def checking(public_key: Ed25519PublicKey | None) -> str:
    """What the start-up line says of the callbacks' signatures."""
    if public_key is not None:
        return "verifying signatures"
    return "NOT verifying signatures: without TELNYX_PUBLIC_KEY it trusts anyone who can reach it"


def listening(
    host: str,
    port: int,
    *,
    public_key: Ed25519PublicKey | None,
    announce: Callable[[str], None] | None = None,
    heard: Callable[[Mapping[str, Any]], None] | None = None,
) -> Serve:
    """What serves a watch on ``host:port`` for the watch's length (``port`` 0: any free one;
    the address bound is announced)."""

    @contextlib.asynccontextmanager
    async def serve(watch: Watch, client: TexmlClient) -> AsyncIterator[object]:
        server = WatchServer(public_key=public_key, heard=heard)
        with server.attach(watch, client):
            async with serving(server.app(), host, port, label="--listen") as bound:
                server.url = f"http://{host}:{bound}"
                if announce is not None:
                    announce(
                        f"listening on {server.url}/ (callbacks, /healthz, /metrics); "
                        f"{checking(public_key)}"
                    )
                yield server

    return serve
