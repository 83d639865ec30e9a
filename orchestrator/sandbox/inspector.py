"""The sandbox's inspector: every request and every callback, as a page at ``/_sandbox/``.

What a webhook handler's author needs to see: the conferences and their legs as they are now,
each API request received (method, path, the answer's status, its fields), each callback sent
with every attempt (its signature headers, and what the receiver answered), the scenario in
force and the rate-limit windows as they stand. Secrets never reach the page: SIP passwords
and anything named like a secret show as ``***``, URLs as ``masking.shown_url`` shows them,
and the API key is never kept (a request's Authorization says only whether it was the
sandbox's key).

Memory is bounded: the last ``REQUESTS_KEPT`` requests and ``CALLBACKS_KEPT`` callbacks (ring
buffers), each field cut to ``VALUE_CHARS`` and each request to ``FIELDS_KEPT`` fields. The
page (``web.page``'s machinery, the board's too) polls ``state.json`` once a second; its
routes are the sandbox's own, never counted, delayed, limited or faulted as the API's are, and
behind the sandbox's key: in the printed URL once (then a cookie), or the Authorization header.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import time
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from orchestrator.masking import HIDDEN, printable, shown_url
from orchestrator.sandbox.callbacks import DeliveryStats, Webhook
from orchestrator.sandbox.limits import Counters, RateLimiter
from orchestrator.sandbox.resources import API_PREFIX
from orchestrator.sandbox.responses import Dropped
from orchestrator.sandbox.simulation import Simulation
from orchestrator.texml import contract
from orchestrator.web.page import Gate, add_page_routes, html_response, json_response, shell

PATH: Final = "/_sandbox/"
REQUESTS_KEPT: Final = 300
CALLBACKS_KEPT: Final = 200
ATTEMPTS_KEPT: Final = 12
FIELDS_KEPT: Final = 40
VALUE_CHARS: Final = 300
ANSWER_CHARS: Final = 200

SECRET_FIELDS: Final = frozenset(
    f.name
    for fields in (contract.DIAL_FIELDS, contract.INITIATE_CALL_FIELDS)
    for f in fields.values()
    if f.secret
)
_SECRET_WORDS: Final = ("password", "secret", "token", "apikey", "api_key")
SIGNATURE_HEADERS: Final = ("telnyx-signature-ed25519", "telnyx-timestamp")

BODY: Final = """<header class="top"><h1>Sandbox inspector</h1><p id="about" class="meta">connecting\u2026</p>
</header><div id="banner" class="banner" role="status" hidden></div>
<section aria-labelledby="t-limits"><h2 id="t-limits">Rate limits</h2><div id="limits"></div></section>
<section aria-labelledby="t-conf"><h2 id="t-conf">Conferences now</h2><div id="conferences"></div></section>
<section aria-labelledby="t-cb"><h2 id="t-cb">Callbacks sent</h2><div id="callbacks"></div></section>
<section aria-labelledby="t-req"><h2 id="t-req">Requests received</h2><div id="requests"></div></section>
<section aria-labelledby="t-sc"><h2 id="t-sc">Scenario in force</h2><pre id="scenario"></pre></section>
<noscript><p>The inspector needs JavaScript to follow the sandbox; state.json holds the same.</p></noscript>"""


def shown_value(name: str, value: str) -> str:
    """A field as the page may show it: secrets hidden, URLs without credentials or query."""
    lowered = name.lower()
    if name in SECRET_FIELDS or any(word in lowered for word in _SECRET_WORDS):
        return HIDDEN
    if "://" in value:
        return shown_url(value)
    return printable(value, limit=VALUE_CHARS)


def shown_fields(items: Collection[tuple[str, Any]]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in list(items)[:FIELDS_KEPT]:
        text = value if isinstance(value, str) else "(a file)"
        key = printable(str(name), limit=80)
        kept[key] = shown_value(key, text[: VALUE_CHARS * 4])
    return kept


@dataclass
class Attempt:
    at: float
    signature: dict[str, str]
    status: int | None
    answer: str


@dataclass
class Sent:
    """One callback and the attempts to deliver it."""

    number: int
    at: float
    hook: Webhook
    attempts: list[Attempt] = field(default_factory=list)


class Inspector:
    def __init__(
        self,
        simulation: Simulation,
        *,
        api_key: str,
        limits: Mapping[str, RateLimiter],
        counters: Counters,
        deliveries: DeliveryStats,
    ) -> None:
        self._sim = simulation
        self._deliveries = deliveries
        self._limits = limits
        self._counters = counters
        self._key = api_key
        self.gate = Gate(api_key, cookie="orchestrator_sandbox", path=PATH, query="key")
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUESTS_KEPT)
        self.sent: deque[Sent] = deque()
        self._by_hook: dict[int, Sent] = {}
        self._numbers = 0
        self.resources: frozenset[web.AbstractResource] = frozenset()

    # What is seen ------------------------------------------------------------

    async def seen(
        self, request: web.Request, response: web.StreamResponse, started: float
    ) -> None:
        """An API request and its answer (the middleware's hook)."""
        self._numbers += 1
        self.requests.append(
            {
                "number": self._numbers,
                "at": time.time(),
                "method": request.method,
                "path": printable(request.path, limit=VALUE_CHARS),
                "query": shown_fields(list(request.query.items())),
                "status": None if isinstance(response, Dropped) else response.status,
                "ms": round((time.monotonic() - started) * 1000, 1),
                "fields": await _body_fields(request),
                "key": self._authorization(request),
            }
        )

    def _authorization(self, request: web.Request) -> str:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if not token:
            return "none"
        if hmac.compare_digest(token.strip().encode("utf-8"), self._key.encode("utf-8")):
            return "the sandbox's key"
        return f"{printable(scheme, limit=20)} {HIDDEN} (not the sandbox's key)"

    def attempted(
        self, hook: Webhook, headers: Mapping[str, str], status: int | None, answer: str
    ) -> None:
        """One attempt at delivering a callback (the sender's hook); retries and duplicates
        of one callback are one entry while it is kept."""
        sent = self._by_hook.get(id(hook))
        if sent is None:
            self._numbers += 1
            sent = Sent(self._numbers, time.time(), hook)
            self._by_hook[id(hook)] = sent
            self.sent.append(sent)
            if len(self.sent) > CALLBACKS_KEPT:
                gone = self.sent.popleft()
                self._by_hook.pop(id(gone.hook), None)
        signature = {k: headers[k] for k in SIGNATURE_HEADERS if k in headers}
        attempt = Attempt(time.time(), signature, status, printable(answer, limit=ANSWER_CHARS))
        if len(sent.attempts) < ATTEMPTS_KEPT:
            sent.attempts.append(attempt)

    # What is shown -----------------------------------------------------------

    def state(self) -> dict[str, Any]:
        now = time.monotonic()
        account = self._sim.account
        views = self._sim.resources
        conferences = [
            {
                **_picked(views.conference(c), ("sid", "friendly_name", "status")),
                "legs": [
                    {
                        **_picked(views.participant(leg), _LEG_FIELDS),
                        "label": leg.label,
                        "to": leg.to,
                    }
                    for leg in c.live_legs()
                ],
            }
            for c in list(account.conferences.values())[-50:]
        ]
        return {
            "now": time.time(),
            "account_sid": account.sid,
            "uptime_s": round(self._sim.clock.uptime(), 1),
            "limits": [
                {
                    "name": name,
                    "limit": limiter.limit,
                    "window_s": limiter.window_s,
                    "used": limiter.used(now),
                }
                for name, limiter in self._limits.items()
            ],
            "requests_by_method": dict(self._counters.requests),
            "rate_limited": dict(self._counters.rate_limited),
            "conferences": conferences,
            "requests": list(self.requests)[::-1],
            "callbacks": [_sent(s) for s in reversed(self.sent)],
            "deliveries": self._deliveries.as_dict(),
            "scenario": plain(self._sim.scenario),
        }

    def add_to(self, router: web.UrlDispatcher) -> frozenset[web.AbstractResource]:
        """The inspector's routes; the resources added, which the middleware lets through to
        their own key check."""
        before = set(router.resources())
        add_page_routes(router, self.gate, page=self._page, routes={"state.json": self._state})
        self.resources = frozenset(set(router.resources()) - before)
        return self.resources

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return html_response(
            shell(
                "Sandbox inspector",
                styles=(f"{PATH}static/page.css",),
                scripts=(f"{PATH}static/page.js", f"{PATH}static/inspector.js"),
                body=BODY,
            )
        )

    async def _state(self, request: web.Request) -> web.StreamResponse:
        return json_response(self.state())


_LEG_FIELDS: Final = ("call_sid", "status", "muted", "hold", "coaching", "coaching_call_sid")


def _picked(view: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: view.get(name) for name in names}


def _sent(sent: Sent) -> dict[str, Any]:
    hook = sent.hook
    return {
        "number": sent.number,
        "at": sent.at,
        "url": shown_url(hook.url),
        "method": hook.method,
        "what": printable(hook.what, limit=VALUE_CHARS),
        "fields": shown_fields(list(hook.fields.items())),
        "attempts": [dataclasses.asdict(a) for a in sent.attempts],
    }


async def _body_fields(request: web.Request) -> dict[str, str]:
    """The request's fields as its handler read them (the body is read once and kept)."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.body_exists:
        return {}
    with contextlib.suppress(Exception):  # a body a client cut off or garbled shows as none
        if request.content_type in (contract.FORM_MEDIA_TYPE, "multipart/form-data"):
            return shown_fields(list((await request.post()).items()))
        parsed = json.loads(await request.read())
        if isinstance(parsed, dict):
            return shown_fields(
                [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in parsed.items()]
            )
    return {}


def plain(value: Any) -> Any:
    """The scenario as JSON holds it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        return [plain(v) for v in value]
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return str(value)
    return value


def inspector_url(base_url: str, api_key: str) -> str:
    """Where the inspector is opened, its key in the URL (``base_url`` ends in ``/v2``)."""
    return f"{base_url.removesuffix(API_PREFIX)}{PATH}?key={api_key}"
