"""apply --redial-changed: the old leg is hung up and must be gone before the new dial.

A new dial with the same Label is refused while the old leg is still listed, and
a leg the API still returns may still be up: so a redial whose old leg outlasts
--settle-timeout is reported, and nobody is dialed twice. The sandbox removes a
hung-up leg at once unless its scenario's api.hangup_lag_s keeps returning it,
as an eventually consistent API may.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.apply import apply_with_connection
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.results import ConferenceResult, State
from orchestrator.sandbox import SandboxInfo
from orchestrator.texml.client import TexmlClient
from tests.engine.support import (
    TEST_OPTIONS,
    conference_file,
    connection_for,
    fast_sandbox,
    load,
    sandbox_dials,
)

PEOPLE: list[dict[str, Any]] = [
    {"name": "alice", "to": "+12065550100", "role": "host"},
    {"name": "bob", "to": "+12065550101"},
    {"name": "carol", "to": "+12065550102"},
]
NEW_NUMBER = "+12065550199"


async def _first_apply(tmp_path: Path, info: SandboxInfo) -> ConferenceResult:
    path = conference_file(tmp_path, PEOPLE)
    [first] = await apply_with_connection(
        [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
    )
    assert first.exit_code == 0, first
    changed = [*PEOPLE[:2], {**PEOPLE[2], "to": NEW_NUMBER}]
    conference_file(tmp_path, changed)  # carol's number is edited in the file
    return first


def _carol(result: ConferenceResult) -> Any:
    return next(p for p in result.participants if p.name == "carol")


async def test_redial_changed_hangs_up_the_old_leg_then_dials_the_new_number(
    tmp_path: Path,
) -> None:
    async with fast_sandbox() as info:
        first = await _first_apply(tmp_path, info)
        old = _carol(first).call_sid
        options = dataclasses.replace(TEST_OPTIONS, redial_changed=True)
        [second] = await apply_with_connection(
            [load(tmp_path / "test-bridge.yaml")], connection_for(info), options, asyncio.Event()
        )
        dials = await sandbox_dials(info)
        async with TexmlClient(connection_for(info)) as client:
            assert second.sid is not None
            old_leg = await client.find_participant(second.sid, old)
    carol = _carol(second)
    assert second.exit_code == 0, second
    assert (carol.observed, carol.to, carol.error) == (State.CONNECTED, NEW_NUMBER, None)
    assert carol.notes == ["redialed: to changed"]
    assert carol.call_sid not in (None, old)
    assert [d["to"] for d in dials[3:]] == [NEW_NUMBER]  # only carol, once
    assert old_leg is None


async def test_a_redial_whose_old_leg_is_still_listed_is_reported_not_dialed_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orchestrator.sandbox")
    # A leg hung up through the API is returned for 1000 simulated seconds (10 s here) more.
    async with fast_sandbox(api={"hangup_lag_s": 1000}) as info:
        first = await _first_apply(tmp_path, info)
        old = _carol(first).call_sid
        options: ApplyOptions = dataclasses.replace(
            TEST_OPTIONS, redial_changed=True, settle_timeout_s=0.3
        )
        [second] = await apply_with_connection(
            [load(tmp_path / "test-bridge.yaml")],
            connection_for(info),
            options,
            asyncio.Event(),
        )
        dials = await sandbox_dials(info)
        async with TexmlClient(connection_for(info)) as client:
            old_call = await client.get_call(old)
    hung_up = [
        r.getMessage().split(" -> ")[0].rsplit("/", 1)[1]
        for r in caplog.records
        if r.getMessage().startswith("DELETE ")
    ]
    carol = _carol(second)
    assert hung_up == [old]  # hung up once, by its call SID
    assert old_call["status"] == "completed"  # it is gone, only still listed
    assert len(dials) == 3  # and not dialed again: the new dial would have met the old leg
    assert carol.observed == State.UNKNOWN and carol.call_sid == old
    assert carol.error == (
        "hung up for a redial, but still listed after --settle-timeout; not dialed again"
    )
    assert second.exit_code == 3  # the others are fine; carol did not converge
    assert [p.observed for p in second.participants if p.name != "carol"] == [State.CONNECTED] * 2
