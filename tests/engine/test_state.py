"""The local record: any file in its place is a warning, never a crash; one apply at a time holds it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.clock import SteppedClock
from orchestrator.engine.lock import StateLocked
from orchestrator.engine.state import (
    MAX_RECORD_BYTES,
    STATE_VERSION,
    ConferenceState,
    Recorded,
    StateStore,
)
from orchestrator.errors import ConfigError
from tests.folders import ReadOnly

ACCOUNT = "acct-1"
NAME = "bridge"


class Warnings(list[str]):
    def __call__(self, message: str) -> None:
        self.append(message)


def store_in(directory: Path) -> tuple[StateStore, Warnings]:
    warnings = Warnings()
    return StateStore(directory, warn=warnings), warnings


def spec_path(directory: Path) -> str:
    return str(directory / "bridge.yaml")


def sample_state() -> ConferenceState:
    state = ConferenceState(ACCOUNT, NAME)
    state.participants["alice"] = Recorded(
        call_sid="v3:abc",
        conference_sid="conf-1",
        to="+12065550100",
        fingerprint={
            "to": ["+12065550100"],
            "record": None,
            "timeout": 30,
            "preferred_codecs": ["PCMU"],
        },
    )
    state.participants["bob.2"] = Recorded(
        call_sid="v3:def",
        conference_sid="conf-1",
        to="sip:bob@example.com",
        fingerprint={"recording": {"status_callback": {"events": ["completed"]}}},
    )
    return state


def valid_document() -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "account_sid": ACCOUNT,
        "conference": NAME,
        "participants": {
            "alice": {
                "call_sid": "v3:abc",
                "conference_sid": "conf-1",
                "to": "+12065550100",
                "fingerprint": {"to": ["+12065550100"], "timeout": 30},
            }
        },
    }


def test_a_record_round_trips_and_lives_next_to_its_gitignore(tmp_path: Path) -> None:
    store, warnings = store_in(tmp_path / "state")
    store.save(spec_path(tmp_path), sample_state())
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == sample_state()
    assert (tmp_path / "state" / ".gitignore").read_text() == "*\n"
    assert warnings == []


def test_no_record_is_an_empty_one_without_a_warning(tmp_path: Path) -> None:
    store, warnings = store_in(tmp_path / "missing")
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == ConferenceState(ACCOUNT, NAME)
    assert warnings == []


def _with(**changes: Any) -> str:
    return json.dumps(valid_document() | changes)


def _with_entry(**changes: Any) -> str:
    document = valid_document()
    document["participants"]["alice"] |= changes
    return json.dumps(document)


CORRUPT: dict[str, str | bytes] = {
    "deeply nested list": "[" * 100_000,
    "deeply nested object": '{"a":' * 100_000,
    "valid but deep JSON": "[" * 5_000 + "]" * 5_000,
    "deep fingerprint": _with_entry(fingerprint={"x": json.loads("[" * 200 + "]" * 200)}),
    "a list": "[1, 2, 3]",
    "a number": "42",
    "a string": '"participants"',
    "null": "null",
    "empty file": "",
    "truncated": json.dumps(valid_document())[:40],
    "not UTF-8": b'{"version": 1, "\xff\xfe": 1}',
    "NaN": _with(version=float("nan")),
    "an integer too long": '{"version": ' + "9" * 5_000 + "}",
    "version true": _with(version=True),
    "version missing": json.dumps({k: v for k, v in valid_document().items() if k != "version"}),
    "a newer version": _with(version=STATE_VERSION + 1),
    "another account": _with(account_sid="acct-2"),
    "account as a number": _with(account_sid=1),
    "participants as a list": _with(participants=[{"call_sid": "v3:abc"}]),
    "participants as a string": _with(participants="alice"),
    "entry as a list": _with(participants={"alice": ["v3:abc", "conf-1"]}),
    "call_sid as a number": _with_entry(call_sid=123),
    "call_sid empty": _with_entry(call_sid=""),
    "call_sid missing": json.dumps(
        valid_document()
        | {
            "participants": {
                "alice": {"conference_sid": "c", "to": "+12065550100", "fingerprint": {}}
            }
        }
    ),
    "to as a list": _with_entry(to=["+12065550100"]),
    "to not a destination": _with_entry(to="../../etc/passwd"),
    "to with a lone surrogate": _with_entry(to="sip:\ud800@example.com"),
    "to with a control character": _with_entry(to="+1206555\n0100"),
    "fingerprint as a list": _with_entry(fingerprint=[1, 2]),
    "fingerprint as null": _with_entry(fingerprint=None),
    "label not a name": _with(participants={"al ice": valid_document()["participants"]["alice"]}),
    "label with a newline": _with(
        participants={"alice\n": valid_document()["participants"]["alice"]}
    ),
}


@pytest.mark.parametrize("content", CORRUPT.values(), ids=CORRUPT.keys())
def test_a_corrupt_record_is_one_warning_and_no_record(
    tmp_path: Path, content: str | bytes
) -> None:
    store, warnings = store_in(tmp_path / "state")
    path = store.path_for(spec_path(tmp_path), ACCOUNT, NAME)
    path.parent.mkdir()
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    for _ in range(2):
        assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == ConferenceState(ACCOUNT, NAME)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"warning: {path}: cannot read the local record")
    assert warnings[0].endswith("going by the live conference alone")
    assert "\n" not in warnings[0]


def test_a_folder_in_place_of_the_record_is_a_warning(tmp_path: Path) -> None:
    store, warnings = store_in(tmp_path / "state")
    store.path_for(spec_path(tmp_path), ACCOUNT, NAME).mkdir(parents=True)
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == ConferenceState(ACCOUNT, NAME)
    assert len(warnings) == 1 and "(a folder, not a file)" in warnings[0]


def test_a_fifo_in_place_of_the_record_does_not_hang(tmp_path: Path) -> None:
    store, warnings = store_in(tmp_path / "state")
    path = store.path_for(spec_path(tmp_path), ACCOUNT, NAME)
    path.parent.mkdir()
    os.mkfifo(path)
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == ConferenceState(ACCOUNT, NAME)
    assert len(warnings) == 1 and "not a regular file" in warnings[0]


def test_a_huge_record_is_refused_without_being_parsed(tmp_path: Path) -> None:
    store, warnings = store_in(tmp_path / "state")
    path = store.path_for(spec_path(tmp_path), ACCOUNT, NAME)
    path.parent.mkdir()
    with path.open("w") as handle:  # a sparse file: big without filling the disk
        handle.write("{")
        handle.truncate(MAX_RECORD_BYTES + 10)
    started = time.monotonic()
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == ConferenceState(ACCOUNT, NAME)
    assert time.monotonic() - started < 2
    assert len(warnings) == 1 and "MB" in warnings[0]


def test_a_record_below_a_file_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store, warnings = store_in(tmp_path / "file" / "state")
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == ConferenceState(ACCOUNT, NAME)
    assert len(warnings) == 1 and "Not a directory" in warnings[0]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([ACCOUNT, NAME, "alice", "+12065550100", "v3:abc", STATE_VERSION]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)

# Paths into a valid record where a random value replaces what is there.
PLACES: list[tuple[str, ...]] = [
    (),
    ("version",),
    ("account_sid",),
    ("conference",),
    ("participants",),
    ("participants", "alice"),
    ("participants", "alice", "call_sid"),
    ("participants", "alice", "conference_sid"),
    ("participants", "alice", "to"),
    ("participants", "alice", "fingerprint"),
    ("participants", "alice", "fingerprint", "to"),
    ("participants", "bob"),
]


def _replace(document: Any, place: tuple[str, ...], value: Any) -> Any:
    if not place:
        return value
    return {**document, place[0]: _replace(document.get(place[0], {}), place[1:], value)}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(place=st.sampled_from(PLACES), value=json_values)
@pytest.mark.long
def test_any_json_in_the_record_loads_or_warns_and_what_loads_writes_back(
    tmp_path: Path, place: tuple[str, ...], value: Any
) -> None:
    store, warnings = store_in(tmp_path / "state")
    path = store.path_for(spec_path(tmp_path), ACCOUNT, NAME)
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(_replace(valid_document(), place, value)), encoding="utf-8")
    loaded = store.load(spec_path(tmp_path), ACCOUNT, NAME)
    if warnings:
        assert loaded == ConferenceState(ACCOUNT, NAME)
        return
    # Whatever was accepted can be written back and reads the same.
    store.save(spec_path(tmp_path), loaded)
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == loaded
    assert warnings == []


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_in_the_record_load_or_warn(tmp_path: Path, content: bytes) -> None:
    store, warnings = store_in(tmp_path / "state")
    path = store.path_for(spec_path(tmp_path), ACCOUNT, NAME)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(content)
    assert store.load(spec_path(tmp_path), ACCOUNT, NAME) == ConferenceState(ACCOUNT, NAME)
    assert len(warnings) == 1


# The lock ------------------------------------------------------------------


async def test_a_second_holder_waits_says_who_holds_it_and_gives_up_after_the_timeout(
    tmp_path: Path,
) -> None:
    first, _ = store_in(tmp_path / "state")
    second, _ = store_in(tmp_path / "state")
    waits: list[str] = []
    lock = first.lock_path_for(spec_path(tmp_path), ACCOUNT, NAME)
    assert lock == first.path_for(spec_path(tmp_path), ACCOUNT, NAME).with_suffix(".json.lock")
    clock = SteppedClock()

    async def enter_second() -> None:
        async with second.locked(
            spec_path(tmp_path), ACCOUNT, NAME, on_wait=waits.append, timeout_s=30, clock=clock
        ):
            pytest.fail("entered a lock held by another")

    async with first.locked(spec_path(tmp_path), ACCOUNT, NAME):
        holder = json.loads(lock.read_text())
        assert holder["pid"] == os.getpid()
        waiting = asyncio.create_task(enter_second())
        await clock.advance(29.9)
        assert not waiting.done()  # still waiting, and said so once
        assert len(waits) == 1
        await clock.advance(0.1)
        assert waiting.done()
        with pytest.raises(StateLocked) as raised:
            await waiting
    assert isinstance(raised.value, ConfigError)
    message = str(raised.value)
    assert str(lock) in message and f"pid {os.getpid()}" in message
    assert "let it finish or stop it, then run again" in message
    assert len(waits) == 1
    assert waits[0].startswith(f"waiting for the lock on {lock} (held by pid {os.getpid()}")
    assert waits[0].endswith("another apply of this conference)")
    assert lock.read_text() == ""  # released: no holder named


async def test_a_waiter_gets_the_lock_once_released_and_the_loop_keeps_running(
    tmp_path: Path,
) -> None:
    first, _ = store_in(tmp_path / "state")
    second, _ = store_in(tmp_path / "state")
    clock = SteppedClock()
    order: list[str] = []
    ticks = 0

    async def hold() -> None:
        async with first.locked(spec_path(tmp_path), ACCOUNT, NAME, clock=clock):
            order.append("first in")
            await clock.sleep(5.0)
            order.append("first out")

    async def wait() -> None:
        await clock.sleep(0.5)
        async with second.locked(
            spec_path(tmp_path),
            ACCOUNT,
            NAME,
            on_wait=lambda m: order.append("waiting"),
            clock=clock,
        ):
            order.append("second in")

    async def tick() -> None:
        nonlocal ticks
        while True:
            await clock.sleep(0.1)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await clock.run(asyncio.gather(hold(), wait()))
    ticker.cancel()
    assert order == ["first in", "waiting", "first out", "second in"]
    assert ticks >= 45  # the event loop ran while the second one waited


async def test_the_lock_is_released_when_the_holder_is_cancelled_or_fails(tmp_path: Path) -> None:
    store, _ = store_in(tmp_path / "state")
    other, _ = store_in(tmp_path / "state")
    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with store.locked(spec_path(tmp_path), ACCOUNT, NAME):
            entered.set()
            await asyncio.sleep(3600)

    holder = asyncio.create_task(hold_forever())
    await entered.wait()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    waits: list[str] = []
    with pytest.raises(RuntimeError):
        async with other.locked(spec_path(tmp_path), ACCOUNT, NAME, on_wait=waits.append):
            raise RuntimeError("boom")
    async with store.locked(spec_path(tmp_path), ACCOUNT, NAME, on_wait=waits.append):
        pass
    assert waits == []


async def test_a_cancelled_waiter_leaves_the_lock_to_others(tmp_path: Path) -> None:
    first, _ = store_in(tmp_path / "state")
    second, _ = store_in(tmp_path / "state")
    third, _ = store_in(tmp_path / "state")
    async with first.locked(spec_path(tmp_path), ACCOUNT, NAME):
        waiting = asyncio.Event()

        async def wait() -> None:
            async with second.locked(
                spec_path(tmp_path), ACCOUNT, NAME, on_wait=lambda m: waiting.set()
            ):
                pytest.fail("entered a lock held by another")

        waiter = asyncio.create_task(wait())
        await waiting.wait()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    waits: list[str] = []
    async with third.locked(spec_path(tmp_path), ACCOUNT, NAME, on_wait=waits.append):
        assert waits == []


async def test_other_conferences_do_not_wait(tmp_path: Path) -> None:
    first, _ = store_in(tmp_path / "state")
    second, _ = store_in(tmp_path / "state")
    waits: list[str] = []
    async with (
        first.locked(spec_path(tmp_path), ACCOUNT, NAME),
        second.locked(spec_path(tmp_path), ACCOUNT, "other", on_wait=waits.append),
        second.locked(spec_path(tmp_path), "acct-2", NAME, on_wait=waits.append),
    ):
        assert waits == []


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from orchestrator.engine.state import StateStore

    async def main() -> None:
        async with StateStore(sys.argv[1]).locked(sys.argv[2], "acct-1", "bridge"):
            print("held", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())
    """
)


def _holding_process(tmp_path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "state"), spec_path(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "held\n"
    return process


@pytest.mark.long
async def test_another_process_holding_the_lock_is_waited_for_by_pid(tmp_path: Path) -> None:
    process = _holding_process(tmp_path)
    store, _ = store_in(tmp_path / "state")
    waits: list[str] = []

    async def release_soon() -> None:
        await asyncio.sleep(0.3)
        assert process.stdin is not None
        process.stdin.close()

    releaser = asyncio.create_task(release_soon())
    async with store.locked(spec_path(tmp_path), ACCOUNT, NAME, on_wait=waits.append, timeout_s=10):
        assert process.wait(timeout=5) == 0
    await releaser
    assert len(waits) == 1 and f"held by pid {process.pid} since " in waits[0]


async def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    process = _holding_process(tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=5)
    store, _ = store_in(tmp_path / "state")
    waits: list[str] = []
    async with store.locked(spec_path(tmp_path), ACCOUNT, NAME, on_wait=waits.append, timeout_s=2):
        pass
    assert waits == []
    assert process.stdin is not None
    process.stdin.close()
    assert process.stdout is not None
    process.stdout.close()


async def test_a_lock_that_cannot_be_created_warns_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    store, warnings = store_in(tmp_path / "file" / "state")  # no folder can be made there
    entered = False
    for _ in range(2):
        async with store.locked(spec_path(tmp_path), ACCOUNT, NAME):
            entered = True
    assert entered
    assert len(warnings) == 1
    assert "cannot lock the local record" in warnings[0] and "--state-dir" in warnings[0]


async def test_a_read_only_folder_warns_and_goes_on(
    tmp_path: Path, read_only_folder: ReadOnly
) -> None:
    store, warnings = store_in(read_only_folder.folder)
    async with store.locked(spec_path(tmp_path), ACCOUNT, NAME):
        pass
    assert len(warnings) == 1 and read_only_folder.reason in warnings[0]
