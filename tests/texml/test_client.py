"""TexmlClient over real HTTP against the sandbox: paging, retries and their hints, how each
kind of failure is raised, and the body encoding an endpoint takes."""

from __future__ import annotations

import asyncio
import logging
import urllib.request
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import pytest

from orchestrator.clock import SteppedClock
from orchestrator.errors import (
    ApiUnreachable,
    AuthenticationError,
    DialUnconfirmed,
    MalformedAnswer,
    NotFoundError,
    RateLimitedError,
    RequestRejected,
    ServerError,
)
from orchestrator.sandbox import SandboxInfo, parse_scenario, running_sandbox, sandbox_in_thread
from orchestrator.sandbox.introspection import SandboxClient
from orchestrator.secret import Secret
from orchestrator.texml import contract
from orchestrator.texml.client import PAGE_SIZE, TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.transport import REQUEST_LOG, RetryPolicy
from tests.engine.support import (
    FAST,
    connection_for,
    fast_sandbox,
    sandbox_dials,
    sandbox_health,
)

APP = "1846572522338780702"
FROM = "+12065550200"
# Retries without the production pauses between them (hints from the server still count).
QUICK = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05)


@asynccontextmanager
async def client_of(info: SandboxInfo, **options: Any) -> AsyncIterator[TexmlClient]:
    async with TexmlClient(connection_for(info), retry=options.pop("retry", QUICK), **options) as c:
        yield c


async def gets(info: SandboxInfo) -> int:
    """GET requests the sandbox's API routes have answered."""
    return int((await sandbox_health(info))["requests"]["GET"])


async def conference_of(client: TexmlClient, count: int) -> tuple[str, list[str]]:
    """A conference of ``count`` dialed participants: its SID and their call SIDs, in order."""
    first = await client.dial(
        "paging", {"To": "+12065551000", "From": FROM, "ApplicationSid": APP, "Label": "p000"}
    )
    sid = first.resource["conference_sid"]
    calls = [first.resource["call_sid"]]
    for i in range(1, count):
        fields = {"To": f"+1206555{1000 + i:04d}", "From": FROM, "Label": f"p{i:03d}"}
        calls.append((await client.dial(sid, fields)).resource["call_sid"])
    return sid, calls


# Paging ------------------------------------------------------------------------

# An API whose largest PageSize is below ours: a larger one is refused (422, /PageSize).
SMALL_PAGES = {"api": {"max_page_size": 100}}


def _list_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The client's request log lines for participant lists, in order."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == REQUEST_LOG.name and r.getMessage().startswith("GET ")
        if "/Participants" in r.getMessage().split(" -> ")[0]
    ]


async def test_a_list_longer_than_a_page_is_followed_to_its_end_once_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=REQUEST_LOG.name)
    async with fast_sandbox(**SMALL_PAGES) as info, client_of(info) as c:
        sid, calls = await conference_of(c, 45)
        before = (await sandbox_health(info))["participant_lists"]
        caplog.clear()
        listed = await c.list_participants(sid)
        after = (await sandbox_health(info))["participant_lists"]
    assert [p["call_sid"] for p in listed] == calls  # in order, none skipped, none twice
    lines = _list_lines(caplog)
    # Ours refused, then the server's own page size (20): three pages.
    assert f"PageSize={PAGE_SIZE} -> 422" in lines[0]
    assert "PageSize" not in lines[1].split(" -> ")[0]
    assert [line.split(" -> ")[1][:3] for line in lines] == ["422", "200", "200", "200"]
    assert after - before == 4  # the refused one and the three pages, nothing more


async def test_paging_follows_next_page_uri_so_a_leg_leaving_meanwhile_costs_nobody() -> None:
    # The sandbox in a thread of its own, so that the hang-up below can be made, over HTTP,
    # while the client waits between pages: when the client has logged its first page.
    with sandbox_in_thread(parse_scenario({**FAST, **SMALL_PAGES})) as info:
        async with client_of(info) as direct:
            sid, calls = await conference_of(direct, 45)
        hung_up: list[int] = []

        class HangUpAfterPageOne(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                line = record.getMessage()
                if hung_up or "/Participants" not in line or " -> 200" not in line:
                    return
                path = contract.PARTICIPANT_PATH.format(
                    account_sid=info.account_sid,
                    conference_sid=sid,
                    call_sid_or_label=quote(calls[0], safe=""),
                )
                request = urllib.request.Request(
                    info.base_url + path,
                    method="DELETE",
                    headers={"Authorization": f"Bearer {info.api_key}"},
                )
                with urllib.request.urlopen(request, timeout=10) as answer:
                    hung_up.append(answer.status)

        handler = HangUpAfterPageOne(logging.DEBUG)
        REQUEST_LOG.addHandler(handler)
        level = REQUEST_LOG.level
        REQUEST_LOG.setLevel(logging.DEBUG)
        try:
            async with client_of(info) as c:
                listed = await c.list_participants(sid)
        finally:
            REQUEST_LOG.removeHandler(handler)
            REQUEST_LOG.setLevel(level)
    assert hung_up == [204]
    # Page one had the leg that then left; counting pages by offset would now skip one.
    assert [p["call_sid"] for p in listed] == calls


async def test_a_page_size_the_server_takes_is_one_request() -> None:
    async with fast_sandbox() as info, client_of(info) as client:
        sid, calls = await conference_of(client, 25)
        before = await gets(info)
        listed = await client.list_participants(sid)
        assert await gets(info) == before + 1  # 25 legs fit in one page of PAGE_SIZE
    assert [p["call_sid"] for p in listed] == calls


# Retries and their hints ---------------------------------------------------------


async def test_a_read_answered_5xx_is_retried_until_it_is_answered() -> None:
    async with fast_sandbox(faults={"error_rate": 0.5}, seed=3) as info:
        async with client_of(info) as client:
            found = [await client.list_conferences(friendly_name="none") for _ in range(6)]
        assert found == [[]] * 6
        assert await gets(info) > 6  # some of the six were answered 5xx first


async def test_a_read_answered_5xx_every_time_fails_after_the_policy_s_attempts() -> None:
    async with fast_sandbox(faults={"error_rate": 1.0}) as info:
        retry = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.02)
        async with client_of(info, retry=retry) as client:
            with pytest.raises(ServerError) as raised:
                await client.list_conferences()
        assert await gets(info) == 4
    assert raised.value.status in (500, 503) and raised.value.code == contract.CODE_UNEXPECTED_ERROR


@asynccontextmanager
async def stepped_client(**api: Any) -> AsyncIterator[tuple[TexmlClient, SteppedClock]]:
    """A client and the sandbox it talks to over HTTP, both on one stepped clock."""
    clock = SteppedClock()
    scenario = parse_scenario({"seed": 1, "api": api})
    async with (
        running_sandbox(scenario, clock=clock) as info,
        TexmlClient(connection_for(info), retry=QUICK, clock=clock) as client,
    ):
        yield client, clock


async def _third_read_held(client: TexmlClient, clock: SteppedClock) -> asyncio.Task[Any]:
    """Two reads by another client of the account (whose answers' headers this one never
    saw), 0.6 s of the clock, and a third over the limit of two a second, which the server
    refuses and the client holds: the third, still waiting."""
    async with TexmlClient(client.connection, retry=QUICK, clock=clock) as other:
        await asyncio.gather(other.list_conferences(), other.list_conferences())
    await clock.advance(0.6)
    third = asyncio.ensure_future(client.list_conferences())
    await clock.advance(0)
    assert not third.done()
    assert client.reads.rate_limited == 1  # answered 429 once, and held since
    return third


async def test_a_read_answered_429_waits_as_long_as_retry_after_says() -> None:
    async with stepped_client(reads_per_second=2) as (client, clock):
        # The window frees 0.4 s after the 429; Retry-After says 1 (whole seconds, rounded up).
        third = await _third_read_held(client, clock)
        await clock.advance(0.9)
        assert not third.done()  # the window has freed, but the server said a second
        await clock.advance(0.1)
        assert third.done() and third.result() == []
        assert client.reads.rate_limited == 1
        async with SandboxClient(client.connection) as sandbox:
            health = await sandbox.health()
    assert health["rate_limited"][contract.CODE_TOO_MANY_REQUESTS] == 1


async def test_without_retry_after_a_read_waits_for_the_window_s_reset() -> None:
    async with stepped_client(reads_per_second=2, retry_after=False) as (client, clock):
        third = await _third_read_held(client, clock)
        # x-ratelimit-reset said 0.4 s: waited that, not a blind second of backoff.
        await clock.advance(0.39)
        assert not third.done()
        await clock.advance(0.01)
        assert third.done() and third.result() == []
    assert client.reads.rate_limited == 1


async def test_a_client_that_read_the_headers_holds_its_read_until_the_window_frees() -> None:
    async with stepped_client(reads_per_second=2) as (client, clock):
        await client.list_conferences()
        second = asyncio.ensure_future(client.list_conferences())
        await clock.advance(0.9)
        assert not second.done()  # the first answer said one was left for a second: spread
        await clock.advance(0.1)
        assert second.done()
        third = asyncio.ensure_future(client.list_conferences())
        await clock.advance(0.9)
        assert not third.done()  # the second's answer said none was left: held, not sent
        await clock.advance(0.1)
        assert third.done() and third.result() == []
    assert client.reads.rate_limited == 0


# Failures as types ---------------------------------------------------------------


async def test_a_refused_key_is_an_authentication_error_that_names_the_setting() -> None:
    async with fast_sandbox() as info:
        wrong = Connection(info.base_url, Secret("KEYnot-this-one"), info.account_sid)
        async with TexmlClient(wrong, retry=QUICK) as client:
            with pytest.raises(AuthenticationError) as raised:
                await client.list_conferences()
        assert await gets(info) == 1  # not retried: another try cannot fix a key
    error = raised.value
    assert (error.status, error.code) == (401, contract.CODE_AUTHENTICATION_FAILED)
    assert "TELNYX_API_KEY" in str(error) and "--api-key-file" in str(error)
    assert "KEYnot-this-one" not in str(error)


async def test_an_unknown_conference_is_not_found_and_not_retried() -> None:
    missing = str(uuid.uuid4())
    async with fast_sandbox() as info, client_of(info) as client:
        with pytest.raises(NotFoundError) as raised:
            await client.get_conference(missing)
        assert await client.find_participant(missing, "alice") is None
        assert await gets(info) == 2
    error = raised.value
    assert (error.status, error.code, error.method) == (404, contract.CODE_NOT_FOUND, "GET")
    assert missing in error.path and "HTTP 404" in str(error)


async def test_a_bad_value_is_rejected_with_where_and_why() -> None:
    async with fast_sandbox() as info, client_of(info) as client:
        with pytest.raises(RequestRejected) as listed:
            await client.list_conferences(status="sleeping")
        with pytest.raises(RequestRejected) as dialed:
            await client.dial(
                "bridge", {"To": "+12065550100", "From": FROM, "ApplicationSid": APP, "Timeout": 3}
            )
        assert await sandbox_dials(info) == []
    assert (listed.value.status, listed.value.pointer) == (422, "/Status")
    assert listed.value.detail is not None and "Status must be one of" in listed.value.detail
    # The spec's own example: a value outside an enum is 10032.
    assert "(Status)" in str(listed.value) and "[code 10032]" in str(listed.value)
    assert (dialed.value.status, dialed.value.pointer) == (422, "/Timeout")


async def test_a_dial_over_the_limit_is_rate_limited_with_what_the_headers_said() -> None:
    async with fast_sandbox(dials_per_second=1, dial_window_seconds=1) as info:
        async with client_of(info) as client:
            first = await client.dial(
                "bridge", {"To": "+12065550100", "From": FROM, "ApplicationSid": APP}
            )
            sid = first.resource["conference_sid"]
            with pytest.raises(RateLimitedError) as raised:
                await client.dial(sid, {"To": "+12065550101", "From": FROM})
        assert len(await sandbox_dials(info)) == 1  # refused, and not sent again
    error = raised.value
    assert (error.status, error.code) == (429, contract.CODE_DIAL_RATE_LIMITED)
    assert error.rate is not None
    assert (error.rate.limit, error.rate.remaining, error.rate.retry_after_s) == (1, 0, 1.0)
    assert error.retry_after == 1.0
    assert first.rate is not None and first.rate.remaining == 0  # the accepted one said so too


async def test_a_dial_answered_5xx_is_unconfirmed() -> None:
    async with fast_sandbox(faults={"error_rate": 1.0}) as info:
        async with client_of(info) as client:
            with pytest.raises(DialUnconfirmed) as raised:
                await client.dial(
                    "bridge", {"To": "+12065550100", "From": FROM, "ApplicationSid": APP}
                )
        assert (await sandbox_health(info))["requests"]["POST"] == 1  # never sent twice
    error = raised.value
    assert error.status in (500, 503) and isinstance(error.__cause__, ServerError)
    assert "the call may have been placed" in str(error)


async def test_a_garbled_dial_answer_is_unconfirmed_though_the_call_was_placed() -> None:
    async with fast_sandbox(faults={"malformed_rate": 1.0}, seed=4) as info:
        async with client_of(info) as client:
            errors = []
            for i in range(6):
                fields = {"To": f"+1206555010{i}", "From": FROM, "ApplicationSid": APP}
                with pytest.raises(DialUnconfirmed) as raised:
                    await client.dial("bridge", {**fields, "Label": f"p{i}"})
                errors.append(raised.value)
        dials = await sandbox_dials(info)
    assert [d["label"] for d in dials] == [f"p{i}" for i in range(6)]  # each placed, once
    assert all(e.status == 200 for e in errors)
    # Whether the body was no JSON at all or JSON without the call: unconfirmed either way.
    assert all(e.__cause__ is None or isinstance(e.__cause__, MalformedAnswer) for e in errors)


async def test_a_refused_connection_is_unreachable_and_nothing_was_sent() -> None:
    async with fast_sandbox() as info:
        dead = connection_for(info)
    # The sandbox is gone: its port refuses connections.
    retry = RetryPolicy(connect_attempts=2, base_delay_s=0.01, max_delay_s=0.02)
    async with TexmlClient(dead, retry=retry) as client:
        with pytest.raises(ApiUnreachable) as read:
            await client.list_conferences()
        with pytest.raises(ApiUnreachable) as dial:  # not DialUnconfirmed: no call can exist
            await client.dial("bridge", {"To": "+12065550100", "From": FROM, "ApplicationSid": APP})
        assert client.unreachable_for() > 0
    for error in (read.value, dial.value):
        assert error.request_sent is False
        assert "connection refused" in str(error) and dead.base_url in str(error)
    assert dial.value.method == "POST"


# Encodings -----------------------------------------------------------------------


async def test_an_api_that_refuses_json_gets_forms_after_one_415_per_kind_of_request() -> None:
    async with fast_sandbox(api={"json_bodies": False}) as info:
        async with client_of(info) as client:
            first = await client.dial(
                "bridge",
                {"To": "+12065550100", "From": FROM, "ApplicationSid": APP, "Label": "alice"},
            )
            sid = first.resource["conference_sid"]
            await client.dial(
                sid, {"To": "+12065550101", "From": FROM, "Label": "bob", "Muted": True}
            )
            await client.update_participant(sid, "alice", {"Muted": True})
            await client.update_participant(sid, "bob", {"Muted": False})
            alice = await client.get_participant(sid, "alice")
            bob = await client.get_participant(sid, "bob")
        health = await sandbox_health(info)
        labels = [d["label"] for d in await sandbox_dials(info)]
    # One 415 for dials, one for updates; every other body went as a form the first time.
    assert health["unsupported_media"] == 2
    assert health["requests"]["POST"] == 6
    assert labels == ["alice", "bob"]  # the refused dial did nothing; its form placed one call
    assert (alice["muted"], bob["muted"]) == (True, False)
