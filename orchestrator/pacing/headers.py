"""What an answer's rate-limit headers say, read defensively.

Telnyx documents ``x-ratelimit-limit`` (requests allowed in the window),
``x-ratelimit-remaining`` (left in it) and ``x-ratelimit-reset`` (seconds until
it resets); clients also honour ``Retry-After``, which is not documented. None
is promised on every answer, so each field is optional. A reset that reads as
a Unix time (some APIs send one) is turned into seconds from now, and
``Retry-After`` may be seconds or an HTTP date, as RFC 9110 allows.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

# The headers, as Telnyx names them (the sandbox sends them by these names too).
HEADER_RETRY_AFTER: Final = "Retry-After"
HEADER_RATELIMIT_LIMIT: Final = "x-ratelimit-limit"
HEADER_RATELIMIT_REMAINING: Final = "x-ratelimit-remaining"
HEADER_RATELIMIT_RESET: Final = "x-ratelimit-reset"

# Larger than any sensible number of seconds to wait, smaller than any Unix time of this century.
_EPOCH_THRESHOLD_S = 1_000_000_000.0


@dataclass(frozen=True)
class RateReport:
    limit: int | None = None
    remaining: int | None = None
    reset_s: float | None = None
    retry_after_s: float | None = None

    @property
    def wait_s(self) -> float | None:
        """How long the server asked to wait: Retry-After, else the window's reset."""
        return self.retry_after_s if self.retry_after_s is not None else self.reset_s


def rate_report(headers: Mapping[str, str], *, now: float | None = None) -> RateReport | None:
    """The rate-limit headers of an answer; None when it carries none that can be read."""
    wall = time.time() if now is None else now
    report = RateReport(
        limit=_count(headers.get(HEADER_RATELIMIT_LIMIT)),
        remaining=_count(headers.get(HEADER_RATELIMIT_REMAINING)),
        reset_s=_seconds(headers.get(HEADER_RATELIMIT_RESET), wall),
        retry_after_s=_retry_after(headers.get(HEADER_RETRY_AFTER), wall),
    )
    return None if report == RateReport() else report


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(float(value.strip()))
    except (ValueError, OverflowError):
        return None
    return number if number >= 0 else None


def _seconds(value: str | None, wall: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number or number < 0:  # NaN or negative: no usable hint
        return None
    if number >= _EPOCH_THRESHOLD_S:
        number -= wall
    return min(max(number, 0.0), 3600.0)


def _retry_after(value: str | None, wall: float) -> float | None:
    if value is None:
        return None
    seconds = _seconds(value, wall)
    if seconds is not None:
        return seconds
    try:
        moment = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(moment.timestamp() - wall, 0.0), 3600.0)
