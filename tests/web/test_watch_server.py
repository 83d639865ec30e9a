"""apply --watch --listen's server: a flood of callbacks costs at most one extra round a second
per conference, a replay wakes nothing, and bodies are read only once their signature holds.

Callbacks come over real HTTP; the watch reads the sandbox in memory, on a stepped clock the
tests move on between callbacks, so "a second" is one of that clock's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.watch import WatchOptions, file_reloader, watch_with_connection
from orchestrator.web.watch_server import WatchServer, listening
from orchestrator.webhooks.signing import SigningKey, public_key_from
from tests.engine.support import SteppedSandbox, conference_file, load, stepped_sandbox

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PEOPLE = [
    {"name": "lead", "to": "+12065550100", "role": "host"},
    {"name": "bob", "to": "+12065550101"},
]
# Without a callback nothing would be read again for half a minute: every read counted here
# is one a callback caused.
SLOW = WatchOptions(interval_s=30)


@asynccontextmanager
async def watched(
    sandbox: SteppedSandbox,
    path: Path,
    key: SigningKey | None,
    said: list[str] | None = None,
    options: WatchOptions = SLOW,
) -> AsyncIterator[WatchServer]:
    """A watch of ``path`` with its --listen server (verifying ``key``'s signatures, if given)
    once the first round has run; what it announces goes to ``said``."""
    servers: list[WatchServer] = []
    public_key = public_key_from(key.public_key) if key is not None else None
    announce = said.append if said is not None else None

    def serve(watch: Any, client: Any) -> Any:
        inner = listening("127.0.0.1", 0, public_key=public_key, announce=announce)(watch, client)

        @asynccontextmanager
        async def keep() -> AsyncIterator[object]:
            async with inner as server:
                servers.append(server)
                yield server

        return keep()

    stop = asyncio.Event()
    clock = sandbox.clock
    task = asyncio.create_task(
        watch_with_connection(
            [load(path)],
            sandbox.connection,
            ApplyOptions(),
            options,
            stop,
            reload=file_reloader({}),
            serve=serve,
            transport=sandbox.transport,
            clock=clock,
        )
    )
    try:
        await clock.advance(0)
        while not servers or (await health(servers[0]))["rounds"] < 1:
            due = clock.next_due()
            assert due is not None and due < 60 and not task.done(), "no first round"
            await clock.advance(due - clock.now())
        yield servers[0]
    finally:
        stop.set()
        await clock.run(task)


async def health(server: WatchServer) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as answer:
        found: dict[str, Any] = await answer.json()
        return found


async def conference_sid(sandbox: SteppedSandbox) -> str:
    async with sandbox.client() as client:
        return (await client.list_conferences(friendly_name="test-bridge"))[0]["sid"]


async def reads(sandbox: SteppedSandbox) -> int:
    """The GET requests the sandbox has answered: conference and participant-list reads."""
    return int((await sandbox.health())["requests"]["GET"])


async def post(http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> int:
    async with http.post(f"{url}/c", data=body, headers={**FORM, **headers}) as answer:
        return answer.status


async def joined(
    http: aiohttp.ClientSession, server: WatchServer, sid: str, key: SigningKey | None
) -> int:
    """A conference's first participant-join callback, signed by ``key`` (unsigned: None)."""
    body = f"StatusCallbackEvent=participant-join&ConferenceSid={sid}&SequenceNumber=0".encode()
    return await post(http, server.url or "", body, key.headers(body) if key else {})


async def settled(sandbox: SteppedSandbox, before: int) -> int:
    """The GET count once a round that ``before`` preceded has run (at once: a callback wakes
    it), and a second has passed."""
    await sandbox.clock.advance(0)
    assert await reads(sandbox) > before, "no round ran"
    await sandbox.clock.advance(1.2)
    return await reads(sandbox)


@pytest.mark.parametrize("verifying", [True, False], ids=["verifying", "trusting"])
async def test_a_flood_of_callbacks_costs_at_most_one_extra_round_a_second(
    tmp_path: Path, verifying: bool
) -> None:
    key = SigningKey.generate()  # signs every callback; the server checks only if verifying
    path = conference_file(tmp_path, PEOPLE)
    said: list[str] = []
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, key if verifying else None, said) as server,
        aiohttp.ClientSession() as http,
    ):
        clock = sandbox.clock
        sid = await conference_sid(sandbox)
        join = f"StatusCallbackEvent=participant-join&ConferenceSid={sid}"
        # What one round reads, measured on a single callback.
        before = await reads(sandbox)
        first = f"{join}&SequenceNumber=0".encode()
        assert await post(http, server.url or "", first, key.headers(first)) == 200
        after = await settled(sandbox, before)
        per_round = after - before

        replayed = f"{join}&SequenceNumber=1".encode()
        replay_headers = key.headers(replayed)
        statuses = []
        started = clock.now()
        for n in range(60):  # 20 a second for 3 s: a replay and a fresh one in turn
            if n % 2:
                fresh = f"{join}&SequenceNumber={n + 1}".encode()
                statuses.append(await post(http, server.url or "", fresh, key.headers(fresh)))
            else:
                statuses.append(await post(http, server.url or "", replayed, replay_headers))
            await clock.advance(0.05)
        flood_s = clock.now() - started
        await clock.advance(1.5)  # the coalesced round still to come, if any
        spent = await reads(sandbox) - after
        seen = await health(server)
    assert statuses == [200] * 60
    # One round at once, then at most one a second, and one for the last second's callbacks.
    rounds = int(flood_s) + 2
    assert per_round <= spent <= rounds * per_round, (spent, per_round, flood_s)
    # Without a key nothing tells a replay from a new callback: the spacing alone holds.
    replayed = 29 if verifying else 0
    assert (seen["callbacks"], seen.get("replayed"), seen["rejected"]) == (61, replayed, 0)
    [banner] = said
    if verifying:
        assert banner.endswith("; verifying signatures")
    else:
        assert "without TELNYX_PUBLIC_KEY it trusts anyone who can reach it" in banner


async def test_a_replayed_callback_is_answered_200_and_wakes_nothing(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = conference_file(tmp_path, PEOPLE)
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, key) as server,
        aiohttp.ClientSession() as http,
    ):
        sid = await conference_sid(sandbox)
        body = f"StatusCallbackEvent=participant-leave&ConferenceSid={sid}".encode()
        headers = key.headers(body)
        before = await reads(sandbox)
        assert await post(http, server.url or "", body, headers) == 200
        woken = await settled(sandbox, before)  # the first one wakes a round; a second passes
        for _ in range(3):
            assert await post(http, server.url or "", body, headers) == 200
        await sandbox.clock.advance(1.2)  # a wake would have been honoured by now
        assert await reads(sandbox) == woken
        assert (await health(server)).get("replayed") == 3


async def test_a_body_is_read_only_once_signed_and_never_answered_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = SigningKey.generate()
    deep = b"[" * 100_000 + b"]" * 100_000
    not_utf8 = b"StatusCallbackEvent=participant-leave&ConferenceSid=\xff\xfe"
    json_body = {"Content-Type": "application/json"}
    path = conference_file(tmp_path, PEOPLE)
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, key) as server,
        aiohttp.ClientSession() as http,
    ):
        url = f"{server.url}/c"
        statuses = []
        for body, headers in (
            (deep, json_body),  # unsigned: refused on its bytes, never parsed
            (deep, {**json_body, **key.headers(deep)}),
            (not_utf8, {**FORM, **key.headers(not_utf8)}),
        ):
            async with http.post(url, data=body, headers=headers) as answer:
                statuses.append((answer.status, (await answer.json())["error"]))
        seen = await health(server)
    assert statuses == [
        (401, "signature rejected: no telnyx-signature-ed25519 and telnyx-timestamp headers"),
        (400, "unreadable callback: the JSON body is nested too deeply"),
        (400, "unreadable callback: the body is not UTF-8"),
    ]
    assert (seen["callbacks"], seen["rejected"]) == (3, 3)
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


# A round every two seconds while polling, whether or not anything changes.
EVERY_2S = WatchOptions(interval_s=2.0, idle_max_factor=1.0)


async def metrics(server: WatchServer) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/metrics") as answer:
        return await answer.text()


async def test_verified_callbacks_let_polling_rest_to_a_safety_net_and_metrics_say_so(
    tmp_path: Path,
) -> None:
    key = SigningKey.generate()
    path = conference_file(tmp_path, PEOPLE)
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, key, options=EVERY_2S) as server,
        aiohttp.ClientSession() as http,
    ):
        clock = sandbox.clock
        sid = await conference_sid(sandbox)
        await clock.advance(4)  # the rounds that settled everyone are over
        before = await reads(sandbox)
        await clock.advance(20)
        polled = await reads(sandbox) - before
        assert (await health(server))["modes"] == {"test-bridge": "polling"}

        assert await joined(http, server, sid, key) == 200
        woken = await settled(sandbox, await reads(sandbox))
        before_metrics = await metrics(server)
        await clock.advance(120)
        rested = await reads(sandbox) - woken
        seen = await health(server)
        after_metrics = await metrics(server)
    assert polled >= 2 * 9  # a round (two reads) every two seconds
    assert 2 <= rested <= 2 * 3  # two minutes: a safety-net round a minute (and one at its edge)
    assert seen["modes"] == {"test-bridge": "callbacks"}
    assert 'orchestrator_watch_mode{conference="test-bridge",mode="callbacks"} 1.0' in after_metrics
    assert 'orchestrator_watch_mode{conference="test-bridge",mode="polling"} 0.0' in after_metrics
    # The reads of the conference, counted by the watch, are the ones the sandbox answered.
    assert conference_reads(after_metrics) - conference_reads(before_metrics) == rested


def conference_reads(text: str) -> float:
    prefix = 'orchestrator_conference_reads_total{conference="test-bridge"} '
    [line] = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


async def test_callbacks_nobody_verified_wake_rounds_but_never_let_polling_rest(
    tmp_path: Path,
) -> None:
    path = conference_file(tmp_path, PEOPLE)
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, None, options=EVERY_2S) as server,
        aiohttp.ClientSession() as http,
    ):
        clock = sandbox.clock
        sid = await conference_sid(sandbox)
        before = await reads(sandbox)
        assert await joined(http, server, sid, None) == 200
        woken = await settled(sandbox, before)  # a wake, as from anyone
        await clock.advance(20)
        polled = await reads(sandbox) - woken
        seen = await health(server)
    assert seen["modes"] == {"test-bridge": "polling"}
    assert polled >= 2 * 9  # still a round every two seconds


async def test_a_gap_in_the_sequence_looks_at_once_and_a_repeat_does_not(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = conference_file(tmp_path, PEOPLE)
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, key, options=EVERY_2S) as server,
        aiohttp.ClientSession() as http,
    ):
        clock = sandbox.clock
        sid = await conference_sid(sandbox)
        url = server.url or ""
        join = f"StatusCallbackEvent=participant-join&ConferenceSid={sid}"

        def signed(sequence: int, extra: str = "") -> tuple[bytes, dict[str, str]]:
            body = f"{join}&SequenceNumber={sequence}{extra}".encode()
            return body, key.headers(body)

        assert await post(http, url, *signed(0)) == 200
        woken = await settled(sandbox, await reads(sandbox))
        await clock.advance(2)
        assert await post(http, url, *signed(0, "&Muted=false")) == 200  # delivered again
        await clock.advance(1.2)
        assert await reads(sandbox) == woken  # said before: nothing to look at
        assert await post(http, url, *signed(1)) == 200  # the next one: a look
        after_next = await settled(sandbox, woken)
        assert await post(http, url, *signed(4)) == 200  # two and three were lost: a look
        after_gap = await settled(sandbox, after_next)
        await clock.advance(30)  # and no more until the safety net
        assert await reads(sandbox) == after_gap
        text = await metrics(server)
    assert 'orchestrator_callback_gaps_total{conference="test-bridge"} 1.0' in text


async def test_a_change_no_callback_announced_puts_the_conference_back_to_polling(
    tmp_path: Path,
) -> None:
    key = SigningKey.generate()
    path = conference_file(tmp_path, PEOPLE)
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, key, options=EVERY_2S) as server,
        aiohttp.ClientSession() as http,
    ):
        clock = sandbox.clock
        sid = await conference_sid(sandbox)
        assert await joined(http, server, sid, key) == 200
        await settled(sandbox, await reads(sandbox))
        async with sandbox.client() as client:
            await client.delete_participant(sid, "bob")  # no callback says so
        await clock.advance(55)
        assert (await health(server))["modes"] == {"test-bridge": "callbacks"}
        await clock.advance(6)  # the safety-net round finds bob gone
        assert (await health(server))["modes"] == {"test-bridge": "polling"}
        before = await reads(sandbox)
        await clock.advance(20)
        assert await reads(sandbox) - before >= 2 * 9  # polled every interval again


async def test_an_edit_starts_a_round_within_a_second_while_polling_rests(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = conference_file(tmp_path, PEOPLE)
    async with (
        stepped_sandbox() as sandbox,
        watched(sandbox, path, key, options=EVERY_2S) as server,
        aiohttp.ClientSession() as http,
    ):
        clock = sandbox.clock
        sid = await conference_sid(sandbox)
        assert await joined(http, server, sid, key) == 200
        await settled(sandbox, await reads(sandbox))
        await clock.advance(10)
        conference_file(tmp_path, [*PEOPLE, {"name": "carol", "to": "+12065550102"}])
        edited_at = clock.now()
        while not any(d["label"] == "carol" for d in await sandbox.dials()):
            due = clock.next_due()
            assert due is not None and due - edited_at <= 1.0, "the edit waited for the net"
            await clock.advance(due - clock.now())
        assert (await health(server))["modes"] == {"test-bridge": "callbacks"}
