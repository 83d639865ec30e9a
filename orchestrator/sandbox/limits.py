"""Rate limits and request counters: the account's dial limit and its hourly and daily
dial caps, the general limit on reads and on writes, and what clients asked of the API (reported by /_sandbox/health, read by benchmarks).

Limits run on the sandbox's underlying clock (real time unless a test steps it), not
simulated time: they protect the API, not the calls. Refused requests do not count
against a limit.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from typing import Final

from orchestrator.sandbox.fields import ApiFailure
from orchestrator.sandbox.scenario import Scenario
from orchestrator.texml import contract

# The general limit on reads counts GETs over a rolling window of one (real) second, and on
# writes POSTs and DELETEs.
READ_WINDOW_S: Final = 1.0
HOUR_S: Final = 3600.0
DAY_S: Final = 86400.0


class RateLimiter:
    """A rolling window of accepted requests: at most ``limit`` in any ``window_s`` seconds."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        *,
        code: str = contract.CODE_DIAL_RATE_LIMITED,
        title: str = "Dials per second limit exceeded",
        noun: str = "dials",
        retry_after: bool = True,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.code = code
        self.title = title
        self.noun = noun
        self.retry_after = retry_after
        self._accepted: deque[float] = deque()

    def _expire(self, now: float) -> None:
        while self._accepted and self._accepted[0] <= now - self.window_s:
            self._accepted.popleft()

    def check(self, now: float) -> None:
        """Raise a 429 ApiFailure when one more request now would break the limit."""
        if self.limit <= 0:
            return
        self._expire(now)
        if len(self._accepted) < self.limit:
            return
        reset = max(self._accepted[0] + self.window_s - now, 0.0)
        headers = {
            contract.HEADER_RATELIMIT_LIMIT: str(self.limit),
            contract.HEADER_RATELIMIT_REMAINING: "0",
            contract.HEADER_RATELIMIT_RESET: f"{reset:.3f}",
        }
        if self.retry_after:
            headers[contract.HEADER_RETRY_AFTER] = str(max(1, math.ceil(reset)))
        raise ApiFailure(
            429,
            self.code,
            self.title,
            f"at most {self.limit} {self.noun} in any {_seconds(self.window_s)} s;"
            " retry after the reset",
            headers=headers,
        )

    def used(self, now: float) -> int:
        """Requests accepted within the window that ends ``now`` (the inspector shows it)."""
        self._expire(now)
        return len(self._accepted)

    def accept(self, now: float) -> dict[str, str]:
        """Count a request that was carried out; the rate-limit headers for its answer."""
        if self.limit <= 0:
            return {}
        self._expire(now)
        self._accepted.append(now)
        reset = self._accepted[0] + self.window_s - now
        return {
            contract.HEADER_RATELIMIT_LIMIT: str(self.limit),
            contract.HEADER_RATELIMIT_REMAINING: str(max(self.limit - len(self._accepted), 0)),
            contract.HEADER_RATELIMIT_RESET: f"{max(reset, 0.0):.3f}",
        }


def dial_limiter(scenario: Scenario) -> RateLimiter:
    """The account's limit on dials and placed calls (one budget for both)."""
    return RateLimiter(
        scenario.dial_limit, scenario.dial_window_seconds, retry_after=scenario.api.retry_after
    )


def read_limiter(scenario: Scenario) -> RateLimiter:
    """The general limit on GETs (``api.reads_per_second``; 0 means none)."""
    return _general_limiter(scenario, scenario.api.reads_per_second, "GET requests")


def write_limiter(scenario: Scenario) -> RateLimiter:
    """The general limit on POSTs and DELETEs, dials included (``api.writes_per_second``)."""
    return _general_limiter(scenario, scenario.api.writes_per_second, "POST and DELETE requests")


def _general_limiter(scenario: Scenario, per_second: int, noun: str) -> RateLimiter:
    """Telnyx's general limit (10011) on one kind of request, over a one-second window."""
    return RateLimiter(
        per_second,
        READ_WINDOW_S,
        code=contract.CODE_TOO_MANY_REQUESTS,
        title="Too many requests",
        noun=noun,
        retry_after=scenario.api.retry_after,
    )


def dial_caps(scenario: Scenario) -> tuple[RateLimiter, RateLimiter]:
    """The account's hourly and daily caps on dials and placed calls (``account:``).

    Telnyx documents the caps, not how a request over one is refused: the sandbox answers
    as the dial limit does (429, code 90103), its x-ratelimit-reset (and Retry-After) saying
    when a place frees, an hour or a day away rather than seconds."""
    account = scenario.account
    return (
        RateLimiter(
            account.dials_per_hour,
            HOUR_S,
            title="Hourly dial cap reached",
            noun="dials (the account's hourly cap)",
            retry_after=scenario.api.retry_after,
        ),
        RateLimiter(
            account.dials_per_day,
            DAY_S,
            title="Daily dial cap reached",
            noun="dials (the account's daily cap)",
            retry_after=scenario.api.retry_after,
        ),
    )


@dataclasses.dataclass
class Counters:
    """What clients asked of the API routes, for /_sandbox/health (benchmarks read it)."""

    requests: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"GET": 0, "POST": 0, "DELETE": 0}
    )
    participant_lists: int = 0
    rate_limited: dict[str, int] = dataclasses.field(
        default_factory=lambda: {
            contract.CODE_DIAL_RATE_LIMITED: 0,
            contract.CODE_TOO_MANY_REQUESTS: 0,
        }
    )
    unsupported_media: int = 0

    def asked(self, method: str, *, participant_list: bool) -> None:
        self.requests[method] = self.requests.get(method, 0) + 1
        if participant_list:
            self.participant_lists += 1

    def answered(self, failure: ApiFailure) -> None:
        if failure.status == 429:
            self.rate_limited[failure.code] = self.rate_limited.get(failure.code, 0) + 1
        elif failure.status == 415:
            self.unsupported_media += 1


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
