"""apply --watch: drops redialed as reconnect allows, the file followed as it changes, two
watchers that dial nobody twice, callbacks that wake the watch at once.

The sandbox runs in memory on a stepped clock that the tests move on, one timer at a time,
until what they wait for has happened; the callbacks that wake a watch come over real HTTP.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from orchestrator.clock import SteppedClock
from orchestrator.engine.events import (
    CallPlaced,
    Connected,
    Dropped,
    Event,
    HungUp,
    ParticipantEvent,
    Redialing,
    RedialUnanswered,
    Updated,
)
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import ConferenceResult, State
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.watch import (
    Watch,
    WatchOptions,
    digest_of,
    file_reloader,
    watch_with_connection,
)
from orchestrator.texml.client import TexmlClient
from orchestrator.web.watch_server import WatchServer, listening
from orchestrator.webhooks.signing import SigningKey
from tests.engine.support import (
    SteppedSandbox,
    conference_file,
    load,
    stepped_sandbox,
)

# Every round two seconds apart, without backing off while nothing changes.
QUICK = WatchOptions(interval_s=2.0, idle_max_factor=1.0)
DROPPING = "+12065550190"  # every call to it hangs up ten seconds after it answers
LEAD = {"name": "lead", "to": "+12065550100", "role": "host"}


def people(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [LEAD, *extra]


class Running:
    """A watch in the background: its events (with the clock's time), its notices, and a
    way to stop it."""

    def __init__(self, clock: SteppedClock) -> None:
        self.clock = clock
        self.events: list[tuple[float, ParticipantEvent]] = []
        self.notices: list[str] = []
        self.stop = asyncio.Event()
        self.task: asyncio.Task[list[ConferenceResult]] | None = None
        self.model = RunModel(watching=True)

    def progress(self, event: Event) -> None:
        if isinstance(event, ParticipantEvent):
            self.events.append((self.clock.now(), event))

    def said(self, participant: str, kind: type[ParticipantEvent]) -> list[Any]:
        return [e for _, e in self.events if e.participant == participant and isinstance(e, kind)]

    async def until(self, check: Callable[[], bool], timeout_s: float = 300.0) -> None:
        """Move the clock on, one timer at a time, until ``check`` holds; fail if it does not
        within ``timeout_s`` of the clock's time."""
        deadline = self.clock.now() + timeout_s
        await self.clock.advance(0)
        while not check():
            due = self.clock.next_due()
            assert due is not None and due <= deadline, (
                self.notices,
                [str(e) for _, e in self.events],
            )
            await self.clock.advance(due - self.clock.now())

    async def finish(self) -> list[ConferenceResult]:
        assert self.task is not None
        self.stop.set()
        return await self.clock.run(self.task)


@asynccontextmanager
async def watching(
    sandbox: SteppedSandbox,
    path: Path,
    *,
    options: ApplyOptions | None = None,
    watch_options: WatchOptions = QUICK,
    serve: Any = None,
) -> AsyncIterator[Running]:
    running = Running(sandbox.clock)
    model = running.model
    model.subscribe(running.progress)
    running.task = asyncio.create_task(
        watch_with_connection(
            [load(path)],
            sandbox.connection,
            options or ApplyOptions(),
            watch_options,
            running.stop,
            reload=file_reloader({}),
            model=model,
            notice=running.notices.append,
            serve=serve,
            transport=sandbox.transport,
            clock=sandbox.clock,
        )
    )
    try:
        yield running
    finally:
        if not running.task.done():
            running.stop.set()
            await sandbox.clock.run(running.task)


async def dials_by_label(sandbox: SteppedSandbox) -> Counter[str | None]:
    return Counter(d["label"] for d in await sandbox.dials())


def dropping_sandbox() -> Any:
    return stepped_sandbox(numbers={DROPPING: {"hangup_after": 10}})


async def test_a_drop_is_redialed_as_often_as_reconnect_allows_and_no_more(
    tmp_path: Path,
) -> None:
    path = conference_file(
        tmp_path,
        people(
            {"name": "sre", "to": DROPPING, "reconnect": {"attempts": 2, "backoff_s": 1}},
            {"name": "quitter", "to": "+12065550191"},
        ),
    )
    async with dropping_sandbox() as sandbox, watching(sandbox, path) as run:
        await run.until(lambda: len(run.said("sre", Dropped)) == 3)
        reasons = [e.next for e in run.said("sre", Dropped)]
        assert reasons == [
            "redial 1 of 2 in 1s",
            "redial 2 of 2 in 2s",
            "not dialed again (2 redials within 3600s used)",
        ]
        await sandbox.clock.advance(60)  # a minute longer: nothing more is dialed
        dials = await dials_by_label(sandbox)
        [result] = await run.finish()
    assert dials["sre"] == 3  # the first dial and two redials
    assert dials["lead"] == 1
    rows = {p.name: p for p in result.participants}
    assert rows["sre"].observed == State.HUNG_UP and rows["sre"].attempts == 3
    assert "redialed 2 times after dropping" in rows["sre"].notes
    assert rows["lead"].observed == State.CONNECTED


async def test_a_redial_that_is_not_answered_spends_its_attempt_and_the_next_one_follows(
    tmp_path: Path,
) -> None:
    # The first call drops after a second; every later call to the number goes unanswered.
    path = conference_file(
        tmp_path,
        people({"name": "sre", "to": DROPPING, "reconnect": {"attempts": 2, "backoff_s": 1}}),
    )
    numbers = {DROPPING: {"hangup_after": 10, "then": "no-answer"}}
    async with stepped_sandbox(numbers=numbers) as sandbox, watching(sandbox, path) as run:
        await run.until(lambda: len(run.said("sre", RedialUnanswered)) == 2)
        await sandbox.clock.advance(60)  # a minute longer: nothing more is dialed
        dials = await dials_by_label(sandbox)
        [result] = await run.finish()
    assert [e.next for e in run.said("sre", Dropped)] == ["redial 1 of 2 in 1s"]
    assert [(e.number, e.of, e.after, e.next) for e in run.said("sre", RedialUnanswered)] == [
        (1, 2, "ended: no-answer", "redial 2 of 2 in 2s"),
        (2, 2, "ended: no-answer", "not dialed again (2 redials within 3600s used)"),
    ]
    assert [(e.number, e.of) for e in run.said("sre", Redialing)] == [(1, 2), (2, 2)]
    assert dials["sre"] == 3
    sre = {p.name: p for p in result.participants}["sre"]
    assert (sre.observed, sre.attempts) == (State.NO_ANSWER, 3)


async def test_a_redialed_leg_that_stays_up_ends_the_watch_connected(tmp_path: Path) -> None:
    # The first call drops after a second; every later call to the number stays up.
    path = conference_file(
        tmp_path,
        people({"name": "sre", "to": DROPPING, "reconnect": {"attempts": 3, "backoff_s": 1}}),
    )
    numbers = {DROPPING: {"hangup_after": 10, "then": "answer"}}
    async with stepped_sandbox(numbers=numbers) as sandbox, watching(sandbox, path) as run:
        await run.until(lambda: len(run.said("sre", Connected)) == 2)
        await sandbox.clock.advance(60)  # longer than the first call lasted: this one stays
        dials = await dials_by_label(sandbox)
        [result] = await run.finish()
    assert [e.next for e in run.said("sre", Dropped)] == ["redial 1 of 3 in 1s"]
    assert dials["sre"] == 2
    sre = {p.name: p for p in result.participants}["sre"]
    assert (sre.observed, sre.attempts, sre.error) == (State.CONNECTED, 2, None)
    assert "redialed 1 time after dropping" in sre.notes
    assert result.exit_code == 0


async def test_someone_without_reconnect_who_hangs_up_is_not_called_back(tmp_path: Path) -> None:
    path = conference_file(tmp_path, people({"name": "quitter", "to": DROPPING}))
    async with dropping_sandbox() as sandbox, watching(sandbox, path) as run:
        await run.until(lambda: bool(run.said("quitter", Dropped)))
        assert run.said("quitter", Dropped)[0].next == (
            "not dialed again (reconnect.attempts is 0)"
        )
        await sandbox.clock.advance(60)
        assert (await dials_by_label(sandbox))["quitter"] == 1
        [result] = await run.finish()
    assert {p.name: p.observed for p in result.participants}["quitter"] == State.HUNG_UP


def write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


async def test_the_file_is_followed_valid_edits_applied_invalid_ones_ignored(
    tmp_path: Path,
) -> None:
    path = conference_file(tmp_path, people({"name": "bob", "to": "+12065550101"}))
    document = yaml.safe_load(path.read_text())
    async with stepped_sandbox() as sandbox, watching(sandbox, path) as run:
        await run.until(lambda: bool(run.said("bob", Connected)))

        # An appended participant is dialed within two intervals of the change.
        document["participants"].append({"name": "carol", "to": "+12065550102"})
        changed = sandbox.clock.now()
        write(path, document)
        await run.until(lambda: bool(run.said("carol", CallPlaced)))
        dialed_at = next(t for t, e in run.events if e.participant == "carol")
        assert dialed_at - changed <= 2 * QUICK.interval_s

        # muted is updated on the live call, without a new dial.
        document["participants"][1]["muted"] = True
        write(path, document)
        await run.until(lambda: bool(run.said("bob", Updated)))
        async with sandbox.client() as client:
            sid = (await client.list_conferences(friendly_name="test-bridge"))[0]["sid"]
            assert (await client.get_participant(sid, "bob"))["muted"] is True

        # A typo is reported and ignored: the last good version stays in force.
        path.write_text(path.read_text().replace("to: '+12065550102'", "to: 12065550102"))
        await run.until(lambda: any("not applied (invalid)" in n for n in run.notices))
        assert any(":" in n and "error:" in n and "participants[2].to" in n for n in run.notices)
        # The model holds it as a fact, pointing at the line and column of the typo.
        refused, applied_at = run.model.edits(str(path))
        assert refused is not None and applied_at is not None and applied_at < refused.at
        [finding] = refused.findings
        typo = next(
            n for n, line in enumerate(path.read_text().splitlines(), 1) if "to: 1206" in line
        )
        assert (finding.path, finding.line) == (str(path), typo)
        assert finding.col > 1 and "participants[2].to" in finding.message
        await sandbox.clock.advance(60)
        dials = await dials_by_label(sandbox)
        [result] = await run.finish()
    assert dials == Counter({"lead": 1, "bob": 1, "carol": 1})  # bob's mute dialed nobody
    assert {p.observed for p in result.participants} == {State.CONNECTED}


async def test_a_removed_participant_is_hung_up_only_with_prune(tmp_path: Path) -> None:
    for prune in (False, True):
        folder = tmp_path / f"prune-{prune}"
        folder.mkdir()
        path = conference_file(folder, people({"name": "bob", "to": "+12065550101"}))
        document = yaml.safe_load(path.read_text())
        options = ApplyOptions(prune=prune)
        async with stepped_sandbox() as sandbox, watching(sandbox, path, options=options) as run:
            await run.until(lambda: bool(run.said("bob", Connected)))
            del document["participants"][1]
            write(path, document)
            await run.until(lambda: any("changed; applying" in n for n in run.notices))
            await sandbox.clock.advance(60)
            async with sandbox.client() as client:
                sid = (await client.list_conferences(friendly_name="test-bridge"))[0]["sid"]
                still_there = await client.find_participant(sid, "bob") is not None
            [result] = await run.finish()
        assert still_there is not prune
        rows = {p.name: p.observed for p in result.participants}
        if prune:
            assert run.said("bob", HungUp)  # and, no longer in the call, not listed
            assert rows.get("bob", State.ABSENT) == State.ABSENT
        else:
            assert not run.said("bob", HungUp)
            assert rows["bob"] == State.UNMANAGED


async def test_a_participant_pruned_then_added_back_is_dialed_again(tmp_path: Path) -> None:
    path = conference_file(tmp_path, people({"name": "bob", "to": "+12065550101"}))
    document = yaml.safe_load(path.read_text())
    bob = document["participants"].pop()
    options = ApplyOptions(prune=True)
    async with stepped_sandbox() as sandbox, watching(sandbox, path, options=options) as run:
        await run.until(lambda: bool(run.said("bob", Connected)))
        write(path, document)
        await run.until(lambda: bool(run.said("bob", HungUp)))
        document["participants"].append(bob)
        write(path, document)
        await run.until(lambda: len(run.said("bob", Connected)) == 2)
        dials = await dials_by_label(sandbox)
        [result] = await run.finish()
    assert dials["bob"] == 2
    row = {p.name: p for p in result.participants}["bob"]
    assert (row.desired, row.observed) == (State.CONNECTED, State.CONNECTED)
    assert result.exit_code == 0


async def test_two_watchers_of_one_file_dial_nobody_twice(tmp_path: Path) -> None:
    path = conference_file(
        tmp_path,
        people(
            {"name": "sre", "to": DROPPING, "reconnect": {"attempts": 1, "backoff_s": 1}},
            {"name": "bob", "to": "+12065550101"},
        ),
    )
    async with (
        dropping_sandbox() as sandbox,
        watching(sandbox, path) as first,
        watching(sandbox, path) as second,
    ):
        await first.until(lambda: bool(first.said("sre", Dropped)))
        await second.until(lambda: bool(second.said("sre", Dropped)))
        # Both see the drop, both redial: the second one to ask is told the Label is live.
        await first.until(lambda: len(first.said("sre", Dropped)) == 2)
        dials = await dials_by_label(sandbox)
    assert dials == Counter({"lead": 1, "bob": 1, "sre": 2})


async def test_a_signed_callback_wakes_the_watch_at_once_and_a_forged_one_is_refused(
    tmp_path: Path,
) -> None:
    key = SigningKey.generate()
    path = conference_file(
        tmp_path,
        people({"name": "sre", "to": "+12065550101", "reconnect": {"attempts": 1, "backoff_s": 1}}),
    )
    servers: list[WatchServer] = []

    def serve(watch: Any, client: Any) -> Any:
        inner = listening("127.0.0.1", 0, public_key=public_key)(watch, client)

        @asynccontextmanager
        async def keep() -> AsyncIterator[object]:
            async with inner as server:
                servers.append(server)
                yield server

        return keep()

    from orchestrator.webhooks.signing import public_key_from

    public_key = public_key_from(key.public_key)
    slow = WatchOptions(interval_s=30)  # without a callback the drop would wait half a minute
    async with (
        stepped_sandbox() as sandbox,
        watching(sandbox, path, watch_options=slow, serve=serve) as run,
    ):
        clock = sandbox.clock
        await run.until(lambda: bool(run.said("sre", Connected)) and bool(servers))
        url = servers[0].url
        async with sandbox.client() as client:
            conference = (await client.list_conferences(friendly_name="test-bridge"))[0]["sid"]
            await client.delete_participant(conference, "sre")
        leave = (
            f"StatusCallbackEvent=participant-leave&ConferenceSid={conference}&ParticipantLabel=sre"
        )
        body = leave.encode()
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        async with aiohttp.ClientSession() as http:
            forged = SigningKey.generate().headers(body)
            async with http.post(f"{url}/events", data=body, headers={**form, **forged}) as answer:
                assert answer.status == 401
            await clock.advance(5)
            assert not run.said("sre", Dropped)  # a forged callback woke nothing

            sent = clock.now()
            async with http.post(
                f"{url}/events", data=body, headers={**form, **key.headers(body)}
            ) as answer:
                assert answer.status == 200
            await run.until(lambda: bool(run.said("sre", Dropped)), timeout_s=1)
            seen = next(t for t, e in run.events if isinstance(e, Dropped))
            assert seen == sent  # at once: no time passed on the clock
            await run.until(lambda: len(run.said("sre", Connected)) == 2, timeout_s=10)
            redialed = [
                t for t, e in run.events if e.participant == "sre" and isinstance(e, CallPlaced)
            ][-1]
            assert redialed - sent == pytest.approx(1.0)  # after its backoff, not the interval

            async with http.get(f"{url}/healthz") as answer:
                health = await answer.json()
            async with http.get(f"{url}/metrics") as answer:
                metrics = await answer.text()
        [result] = await run.finish()
    assert health["watching"] == ["test-bridge"] and health["rejected"] == 1
    assert 'orchestrator_participants{conference="test-bridge",state="connected"}' in metrics
    assert "orchestrator_redials_total 1.0" in metrics
    assert "orchestrator_last_reconcile_timestamp_seconds" in metrics
    assert {p.name: p.observed for p in result.participants}["sre"] == State.CONNECTED


@pytest.mark.timeout(10)
def test_a_watched_file_that_became_a_named_pipe_is_not_waited_for(tmp_path: Path) -> None:
    # The watch reads its files every round: a FIFO in a file's place must not stop it.
    path = tmp_path / "conf.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    assert digest_of(str(path)) != b""
    path.unlink()
    os.mkfifo(path)
    assert digest_of(str(path)) == b""  # unreadable: the last valid version stays in force


async def test_an_idle_round_reads_the_conference_and_its_participant_list_once_each(
    tmp_path: Path,
) -> None:
    path = conference_file(tmp_path, people({"name": "bob", "to": "+12065550101"}))
    watches: list[Watch] = []

    @asynccontextmanager
    async def keep(watch: Watch, client: TexmlClient) -> AsyncIterator[object]:
        watches.append(watch)
        yield watch

    async with stepped_sandbox() as sandbox, watching(sandbox, path, serve=keep) as run:
        await run.until(lambda: len(run.said("bob", Connected)) == 1)
        await sandbox.clock.advance(10)  # the rounds that settled bob are over
        [watch] = watches
        before = (await sandbox.health())["requests"].get("GET", 0), watch.rounds
        await sandbox.clock.advance(20)
        after = (await sandbox.health())["requests"].get("GET", 0), watch.rounds
        await run.finish()
    rounds = after[1] - before[1]
    assert rounds >= 5
    # Each idle round: GET Conferences/{sid} and one participant-list page, nothing more
    # (the health reads themselves are not counted by the sandbox).
    assert after[0] - before[0] == 2 * rounds
