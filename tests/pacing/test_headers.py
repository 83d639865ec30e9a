"""rate_report: what an answer's rate-limit headers say, read defensively."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from orchestrator.pacing.headers import RateReport, rate_report

# A fixed wall clock, so Unix-time resets and HTTP dates have a known distance from now.
NOW = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


def test_the_documented_headers_in_seconds() -> None:
    report = rate_report(
        {"x-ratelimit-limit": "150", "x-ratelimit-remaining": "12", "x-ratelimit-reset": "2.5"},
        now=NOW,
    )
    assert report == RateReport(limit=150, remaining=12, reset_s=2.5, retry_after_s=None)
    assert report is not None and report.wait_s == 2.5


def test_retry_after_in_seconds_is_what_to_wait_before_the_reset() -> None:
    report = rate_report({"x-ratelimit-reset": "0.4", "Retry-After": "3"}, now=NOW)
    assert report == RateReport(reset_s=0.4, retry_after_s=3.0)
    assert report is not None and report.wait_s == 3.0


def test_retry_after_zero_means_now_not_unknown() -> None:
    report = rate_report({"Retry-After": "0"}, now=NOW)
    assert report is not None and report.wait_s == 0.0


@pytest.mark.parametrize(
    ("reset", "seconds"),
    [
        (str(int(NOW) + 4), 4.0),  # a Unix time: seconds from now
        (str(int(NOW) - 60), 0.0),  # a Unix time already past: now
        ("5000", 3600.0),  # seconds, but more than an hour: capped
    ],
    ids=["unix-time", "unix-time-past", "capped"],
)
def test_a_reset_as_a_unix_time_is_turned_into_seconds_from_now(reset: str, seconds: float) -> None:
    report = rate_report({"x-ratelimit-reset": reset}, now=NOW)
    assert report == RateReport(reset_s=seconds)


@pytest.mark.parametrize(
    ("date", "seconds"),
    [
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: go now
    ],
    ids=["future", "past"],
)
def test_retry_after_as_an_http_date(date: str, seconds: float) -> None:
    report = rate_report({"Retry-After": date}, now=NOW)
    assert report == RateReport(retry_after_s=seconds)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ratelimit-limit": "lots"},
        {"x-ratelimit-remaining": "-3"},
        {"x-ratelimit-reset": "NaN"},
        {"x-ratelimit-reset": "-1"},
        {"x-ratelimit-reset": "soon"},
        {"Retry-After": "tomorrow-ish"},
        {"Retry-After": ""},
        {"x-ratelimit-limit": "", "x-ratelimit-remaining": "1e400", "Retry-After": "Wed, 99 Foo"},
    ],
)
def test_junk_values_are_ignored(headers: dict[str, str]) -> None:
    assert rate_report(headers, now=NOW) is None


def test_junk_next_to_a_good_value_leaves_the_good_one() -> None:
    report = rate_report(
        {"x-ratelimit-limit": "150.0", "x-ratelimit-remaining": "none", "Retry-After": "x"},
        now=NOW,
    )
    assert report == RateReport(limit=150)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/json", "X-Request-Id": "abc"}],
    ids=["no-headers", "unrelated"],
)
def test_no_rate_limit_header_is_none(headers: dict[str, str]) -> None:
    assert rate_report(headers, now=NOW) is None


def test_header_names_in_any_case_as_aiohttp_hands_them_over() -> None:
    headers = CIMultiDict({"X-RateLimit-Limit": "5", "X-RATELIMIT-RESET": "1", "retry-after": "2"})
    assert rate_report(headers, now=NOW) == RateReport(limit=5, reset_s=1.0, retry_after_s=2.0)
