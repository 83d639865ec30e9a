"""The board against the sandbox over real HTTP: what it shows is the run model's own at every
event, pages cost no API reads, a drop and its redial arrive as they happen, a refused edit
points at its line and column, and one port serves the board with --listen."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from orchestrator.engine import events as ev
from orchestrator.engine.results import State
from orchestrator.engine.run_model import RunModel, label
from orchestrator.engine.watch import WatchOptions, file_reloader, watch_with_connection
from orchestrator.report.summary import render_text
from orchestrator.report.words import state_counts
from orchestrator.sandbox import SandboxInfo
from orchestrator.web.address import Address
from orchestrator.web.board import Board
from orchestrator.web.face import Face
from tests.engine.support import (
    TEST_OPTIONS,
    conference_file,
    connection_for,
    fast_sandbox,
    load,
    sandbox_health,
)

DROPPING = "+12065550190"  # its first call hangs up a second after it answers; later ones stay
PEOPLE = [
    {"name": "lead", "to": "+12065550100", "role": "host"},
    {"name": "sre", "to": DROPPING, "reconnect": {"attempts": 1, "backoff_s": 1}},
    {"name": "mentor", "to": "+12065550102", "role": "coach", "coach": "lead"},
]
QUICK = WatchOptions(interval_s=0.2, idle_max_factor=1.0)
SLOW = WatchOptions(interval_s=30)  # after the first round, nothing is read for half a minute


def dropping_sandbox() -> Any:
    return fast_sandbox(numbers={DROPPING: {"hangup_after": 100, "then": "answer"}})


@dataclass
class Run:
    model: RunModel
    stop: asyncio.Event
    said: list[str]
    task: asyncio.Task[Any] | None = None
    events: list[ev.Event] = field(default_factory=list)

    @property
    def url(self) -> str:
        [line] = [line for line in self.said if line.startswith("board: ")]
        found = re.search(r"(http://\S+)\?token=(\S+)", line)
        assert found is not None, line
        return found[1]

    @property
    def token(self) -> str:
        [line] = [line for line in self.said if line.startswith("board: ")]
        return line.split("?token=")[1].split()[0]

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def until(self, check: Callable[[], bool], timeout_s: float = 15.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline and not (self.task and self.task.done()), [
                e.kind for e in self.events
            ]
            await asyncio.sleep(0.02)


@asynccontextmanager
async def boarded(
    info: SandboxInfo, path: Path, watch: WatchOptions, *, listen: bool = False
) -> AsyncIterator[Run]:
    """A watch of ``path`` and its board (and --listen on the board's port), as apply runs them."""
    run = Run(RunModel(watching=True), asyncio.Event(), [])
    run.model.subscribe(run.events.append)
    address = Address("127.0.0.1", 0)
    face = Face(board=address, listen=address if listen else None)
    async with face.running(run.model, public_key=None, say=run.said.append, heard=None) as serve:
        run.task = asyncio.create_task(
            watch_with_connection(
                [load(path)], connection_for(info), TEST_OPTIONS, watch, run.stop,
                reload=file_reloader({}), model=run.model, notice=run.said.append, serve=serve,
            )
        )  # fmt: skip
        try:
            yield run
        finally:
            run.stop.set()
            await asyncio.wait_for(run.task, 30)


async def read_messages(
    http: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    until: Callable[[list[Any]], bool],
) -> list[tuple[str, Any]]:
    """Messages of the board's stream, (event, data), until ``until`` says enough."""
    found: list[tuple[str, Any]] = []
    async with http.get(url + "events", headers=headers) as answer:
        assert answer.status == 200
        kind, data = "", ""
        async for raw in answer.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and kind:
                found.append((kind, json.loads(data)))
                kind = ""
                if until(found):
                    break
    return found


def check_against_the_model(board: Board, model: RunModel) -> dict[str, Any]:
    """The board's snapshot, taken now, asserted to say what the model says now."""
    shown = board.snapshot()
    tally, results = model.tally(), model.results()
    run = shown["run"]
    assert run["labels"] == tally.labels
    assert (run["total"], run["settled"]) == (tally.total, tally.settled)
    assert [c["text"] for c in run["counts"]] == [t for t, _ in state_counts(tally.labels)]
    assert [c["file"] for c in shown["conferences"]] == [r.path for r in results]
    for conference, result in zip(shown["conferences"], results, strict=True):
        assert conference["labels"] == dict(Counter(label(p) for p in result.participants))
        assert conference["converged"] == result.totals()["converged"]
        rows = {r["name"]: r for r in conference["participants"]}
        for outcome in result.participants:
            row = rows[outcome.name]
            assert (row["observed"], row["attempts"]) == (label(outcome), outcome.attempts)
            assert row["desired"] == str(outcome.desired) and row["converged"] == outcome.converged
    return shown


@pytest.mark.long
async def test_the_board_says_what_the_model_says_after_every_event(tmp_path: Path) -> None:
    path = conference_file(tmp_path, PEOPLE)
    model = RunModel(watching=True)
    board = Board(model, token="t")
    seen: list[str] = []  # sre's observed word on the board, as it changes

    def check(event: ev.Event) -> None:
        shown = check_against_the_model(board, model)
        for conference in shown["conferences"]:
            for row in conference["participants"]:
                if row["name"] == "sre" and (not seen or seen[-1] != row["observed"]):
                    seen.append(row["observed"])

    model.subscribe(check)
    stop = asyncio.Event()
    async with dropping_sandbox() as info:
        task = asyncio.create_task(
            watch_with_connection(
                [load(path)], connection_for(info), TEST_OPTIONS, QUICK, stop,
                reload=file_reloader({}), model=model,
            )
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while seen[-3:] != ["ended: hung-up", "connecting", "connected"]:
            assert time.monotonic() < deadline and not task.done(), seen
            await asyncio.sleep(0.02)
        stop.set()
        [result] = await asyncio.wait_for(task, 30)
    last = check_against_the_model(board, model)
    # The summary printed at the end says the same counts in the same words.
    summary = render_text([result], exit_code=0)
    assert "3 participants: 3 connected; all converged." in summary
    assert [c["text"] for c in last["run"]["counts"]] == ["3 connected"]
    sre = {r["name"]: r for r in last["conferences"][0]["participants"]}["sre"]
    assert sre["attempts"] == 2 and "redialed 1 time after dropping" in sre["notes"]
    assert sre["last"]["text"] == "connected"
    assert sre["to"] == "+1206•••0190"  # masked: the board was not asked for --full
    assert last["conferences"][0]["timeline"]["wide"].startswith("<svg")
    assert 'class="mark drop"' in last["conferences"][0]["timeline"]["wide"]


async def test_pages_cost_no_api_reads_and_are_told_when_the_run_ends(tmp_path: Path) -> None:
    path = conference_file(tmp_path, PEOPLE[:1] + PEOPLE[2:])
    opened: list[int] = []  # a page's first snapshot arrived

    def until_the_end(found: list[Any]) -> bool:
        if found[-1][0] == "board" and sum(kind == "board" for kind, _ in found) == 1:
            opened.append(1)
        return bool(found[-1][0] == "end")

    async with fast_sandbox() as info, aiohttp.ClientSession() as http:
        async with boarded(info, path, SLOW) as run:
            await run.until(lambda: run.model.tally().settled == 2)
            await asyncio.sleep(0.3)  # the first round's last reads are answered
            before = (await sandbox_health(info))["requests"]
            pages: list[asyncio.Task[Any]] = []
            for _ in range(10):
                for path_ in ("", "state.json", "static/board.js", "static/page.css"):
                    async with http.get(run.url + path_, headers=run.bearer) as answer:
                        assert answer.status == 200, path_
                pages.append(
                    asyncio.create_task(read_messages(http, run.url, run.bearer, until_the_end))
                )
            await run.until(lambda: len(opened) == 10)
            after = (await sandbox_health(info))["requests"]
        # Leaving the block ends the run: every page is told, and its stream closes.
        streams = await asyncio.wait_for(asyncio.gather(*pages), 30)
    assert after == before  # ten pages, forty requests and ten streams: not one read
    for messages in streams:
        kinds = [kind for kind, _ in messages]
        assert kinds[0] == "reset" and "board" in kinds and kinds[-1] == "end"
        assert messages[-1][1]["exit_code"] == 0
        board = [data for kind, data in messages if kind == "board"][-1]
        assert board["run"]["labels"] == {"connected": 2}


def redialed_and_connected(found: list[tuple[str, Any]]) -> bool:
    """sre's redial has connected: the last message is sre connected, after a redial."""
    kind, data = found[-1]
    if kind != "event" or (data["participant"], data["text"]) != ("sre", "connected"):
        return False
    return any(k == "event" and d["text"] == "redial 1 of 1" for k, d in found)


@pytest.mark.long
async def test_a_drop_and_its_redial_reach_a_page_as_they_happen(tmp_path: Path) -> None:
    path = conference_file(tmp_path, PEOPLE)
    async with dropping_sandbox() as info, boarded(info, path, QUICK) as run:
        async with aiohttp.ClientSession() as http:
            messages = await asyncio.wait_for(
                read_messages(
                    http,
                    run.url,
                    run.bearer,
                    redialed_and_connected,
                ),
                30,
            )  # fmt: skip
        # Resumed from the last id seen: only what came since, no reset.
        last_id = len([m for m in messages if m[0] == "event"])
        headers = {**run.bearer, "Last-Event-ID": str(last_id)}
        async with aiohttp.ClientSession() as http:
            resumed = await asyncio.wait_for(
                read_messages(http, run.url, headers, lambda f: f[-1][0] == "board"), 10
            )
    lines = [d["text"] for k, d in messages if k == "event" and d["participant"] == "sre"]
    dropped = next(i for i, text in enumerate(lines) if text.startswith("dropped; redial 1 of 1"))
    redial = lines.index("redial 1 of 1")
    assert lines.index("connected") < dropped < redial < len(lines) - 1
    assert lines[-1] == "connected" and lines[redial + 1].startswith("dialed +1206•••0190")
    assert "reset" not in [k for k, _ in resumed]


async def test_a_refused_edit_points_at_its_line_and_column(tmp_path: Path) -> None:
    path = conference_file(tmp_path, PEOPLE[:1])
    async with fast_sandbox() as info, boarded(info, path, QUICK) as run:
        await run.until(lambda: run.model.tally().settled == 1)
        document = yaml.safe_load(path.read_text())
        document["participants"][0]["muted"] = "maybe"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        await run.until(lambda: any(isinstance(e, ev.EditRefused) for e in run.events))
        async with (
            aiohttp.ClientSession() as http,
            http.get(run.url + "state.json", headers=run.bearer) as answer,
        ):
            shown = await answer.json()
    typo = next(n for n, line in enumerate(path.read_text().splitlines(), 1) if "maybe" in line)
    edit = shown["conferences"][0]["edit"]
    [finding] = edit["findings"]
    assert finding["where"].startswith(f"{path}:{typo}:")
    assert "participants[0].muted" in finding["message"] and edit["applied_at"] is None
    # The watch's notice says the same, in the same place.
    assert any(line.startswith(finding["where"]) for line in run.said)


async def test_one_port_serves_the_board_callbacks_health_and_metrics(tmp_path: Path) -> None:
    path = conference_file(tmp_path, PEOPLE[:1], status_callback={"url": "http://127.0.0.1:9/x"})
    async with fast_sandbox() as info, boarded(info, path, SLOW, listen=True) as run:
        await run.until(lambda: run.model.tally().settled == 1)
        root = run.url.removesuffix("/board/")
        async with aiohttp.ClientSession() as http:
            async with http.get(root + "/healthz") as answer:
                health = await answer.json()
            async with http.get(root + "/metrics") as answer:
                metrics = await answer.text()
            async with http.get(run.url + "state.json") as answer:
                refused = answer.status
            async with http.get(run.url + "anything") as answer:
                refused_elsewhere = answer.status
            rounds = health["rounds"]
            async with http.post(
                root + "/callbacks",
                data={"FriendlyName": "test-bridge", "StatusCallbackEvent": "participant-leave"},
            ) as answer:
                assert answer.status == 200
            await run.until(
                lambda: sum(isinstance(e, ev.ConferencePlanned) for e in run.events) > rounds
            )
            async with http.get(root + "/healthz") as answer:
                woken = await answer.json()
    assert health["status"] == "ok" and health["watching"] == ["test-bridge"]
    assert 'orchestrator_participants{conference="test-bridge",state="connected"} 1.0' in metrics
    assert refused == refused_elsewhere == 401  # the board's paths are its own, not callbacks
    assert woken["callbacks"] == 1 and woken["rounds"] > rounds
    [board_line] = [line for line in run.said if run.token in line]
    assert board_line.startswith("board: http://127.0.0.1:")
    assert any("(callbacks, /healthz, /metrics, the board)" in line for line in run.said)


def test_numbers_are_masked_unless_the_operator_asked_for_full() -> None:
    for full in (False, True):
        model = RunModel(watching=True)
        board = Board(model, token="t", full=full)
        where = {"file": "f.yaml", "conference": "c"}
        row = ev.PlannedRow(
            name="sre", role="participant", to=DROPPING, desired=State.CONNECTED, action="dial"
        )
        model.publish(ev.ConferencePlanned(**where, sid=None, status=None, rows=(row,)))
        model.publish(
            ev.CallPlaced(**where, participant="sre", destination=DROPPING, call_sid="CA1")
        )
        typo = ev.Finding(path="f.yaml", line=3, col=9, message="'+12065550199' is not one")
        model.publish(ev.EditRefused(**where, findings=(typo,)))
        shown = json.dumps(board.snapshot(), ensure_ascii=False)
        assert (DROPPING in shown, "+12065550199" in shown) == (full, full)
        assert ("+1206•••0190" in shown, "+1206•••0199" in shown) == (not full, not full)


def test_why_nothing_moves_is_said_from_the_tally() -> None:
    model = RunModel(watching=False)
    board = Board(model, token="t")
    where = {"file": "f.yaml", "conference": "c"}
    rows = tuple(
        ev.PlannedRow(name=name, role=role, to=to, desired=State.CONNECTED, action="dial")
        for name, role, to in (
            ("lead", "host", "+12065550100"),
            ("mentor", "coach", "+12065550101"),
        )
    )
    model.publish(ev.ConferencePlanned(**where, sid=None, status=None, rows=rows))
    model.publish(ev.Creating(**where, participant="lead"))
    model.publish(ev.Waiting(**where, participant="mentor", whom="lead"))
    model.publish(ev.DialPaused(**where, seconds=12.0, why="the API answered 429; retry in 12s"))
    shown = check_against_the_model(board, model)
    tally = model.tally()
    assert shown["run"]["paused_until"] == tally.paused_until > time.time() + 10
    assert shown["run"]["pause_why"] == "the API answered 429; retry in 12s"
    assert shown["conferences"][0]["waits"] == [
        "waiting for lead's dial to create the conference",
        "mentor: waiting for lead to connect",
    ]
    assert [c["text"] for c in shown["run"]["counts"]] == ["2 waiting"]
    model.publish(
        ev.CallPlaced(**where, participant="lead", destination="+12065550100", call_sid="A")
    )
    assert check_against_the_model(board, model)["conferences"][0]["waits"] == [
        "mentor: waiting for lead to connect"
    ]
