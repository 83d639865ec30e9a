"""machine_detection against the sandbox's simulated detection: what apply does with the answer.

The sandbox decides who picks up (``numbers.N.answered_by``) and reports it on
``Calls/{sid}`` after its detection time; apply reads it there and accepts the
leg, hangs it up, or dials the next number, as the file says.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from orchestrator.engine.apply import apply_with_connection
from orchestrator.engine.dial_request import initiate_call_fields
from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, State
from orchestrator.texml import contract
from tests.engine.support import (
    TEST_OPTIONS,
    conference_file,
    connection_for,
    fast_sandbox,
    load,
    sandbox_dials,
)
from tests.sandbox.hooks import receiving

HUMAN = "+15550000010"
MACHINE = "+15550000011"
NOT_SURE = "+15550000012"
DESK = "+12065550150"  # answered by a person, in every scenario here
NUMBERS = {
    HUMAN: {"answered_by": "human"},
    MACHINE: {"answered_by": "machine"},
    NOT_SURE: {"answered_by": "not_sure"},
}
HOST: dict[str, Any] = {"name": "host", "to": "+12065550001", "role": "host"}


def _oncall(to: str | list[str], **detection: Any) -> dict[str, Any]:
    return {"name": "oncall", "to": to, "machine_detection": {"mode": "Enable", **detection}}


async def _apply(tmp_path: Path, people: list[dict[str, Any]], **scenario: Any) -> Any:
    path = conference_file(tmp_path, people)
    async with fast_sandbox(numbers=NUMBERS, **scenario) as info:
        [result] = await apply_with_connection(
            [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
        )
        dials = await sandbox_dials(info)
    return result, [d["to"] for d in dials if d["label"] == "oncall"]


def _oncall_outcome(result: ConferenceResult) -> ParticipantOutcome:
    return next(p for p in result.participants if p.name == "oncall")


async def test_on_machine_next_hangs_up_the_voicemail_and_dials_the_next_number(
    tmp_path: Path,
) -> None:
    result, dialed = await _apply(tmp_path, [HOST, _oncall([MACHINE, DESK], on_machine="next")])
    oncall = _oncall_outcome(result)
    assert result.exit_code == 0, result
    assert (oncall.observed, oncall.to, oncall.error) == (State.CONNECTED, DESK, None)
    assert dialed == [MACHINE, DESK]
    assert oncall.notes == [
        "a machine answered; hung up (machine_detection.on_machine: next)",
        "fallback to number 2 after a machine answered",
    ]
    assert oncall.answered_by == "human"  # the desk phone's


async def test_on_machine_next_with_no_number_left_ends_as_machine(tmp_path: Path) -> None:
    result, dialed = await _apply(tmp_path, [HOST, _oncall(MACHINE, on_machine="next")])
    oncall = _oncall_outcome(result)
    assert result.exit_code != 0
    assert oncall.observed == State.MACHINE
    assert oncall.error == "a machine answered, and there is no other number"
    assert dialed == [MACHINE]


async def test_on_machine_hangup_ends_the_leg_and_tries_nothing_more(tmp_path: Path) -> None:
    result, dialed = await _apply(tmp_path, [HOST, _oncall([MACHINE, DESK], on_machine="hangup")])
    oncall = _oncall_outcome(result)
    assert result.exit_code != 0
    assert oncall.observed == State.MACHINE
    assert oncall.error == "a machine answered (machine_detection.on_machine: hangup)"
    assert dialed == [MACHINE]


async def test_on_machine_accept_keeps_the_leg(tmp_path: Path) -> None:
    result, dialed = await _apply(
        tmp_path, [HOST, _oncall([MACHINE, DESK], on_machine="accept", on_not_sure="next")]
    )
    oncall = _oncall_outcome(result)
    assert result.exit_code == 0, result
    assert (oncall.observed, oncall.to) == (State.CONNECTED, MACHINE)
    assert oncall.notes == ["a machine answered; kept (machine_detection.on_machine: accept)"]
    assert oncall.answered_by == "machine"
    assert dialed == [MACHINE]


async def test_a_person_is_connected_whatever_on_machine_says(tmp_path: Path) -> None:
    result, dialed = await _apply(
        tmp_path, [HOST, _oncall([HUMAN, DESK], on_machine="hangup", on_not_sure="hangup")]
    )
    oncall = _oncall_outcome(result)
    assert (oncall.observed, oncall.to, oncall.notes) == (State.CONNECTED, HUMAN, [])
    assert dialed == [HUMAN]


async def test_an_answer_detection_cannot_classify_follows_on_not_sure(tmp_path: Path) -> None:
    # The sandbox says not_sure when MachineDetectionTimeout runs out: 3 simulated seconds.
    result, dialed = await _apply(
        tmp_path, [HOST, _oncall([NOT_SURE, DESK], timeout_ms=3000, on_not_sure="next")]
    )
    oncall = _oncall_outcome(result)
    assert (oncall.observed, oncall.to) == (State.CONNECTED, DESK)
    assert dialed == [NOT_SURE, DESK]
    assert oncall.notes == [
        "detection could not tell who answered; hung up (machine_detection.on_not_sure: next)",
        "fallback to number 2 after detection could not tell who answered",
    ]


async def test_an_answer_detection_cannot_classify_is_never_reported_as_a_machine(
    tmp_path: Path,
) -> None:
    result, dialed = await _apply(
        tmp_path, [HOST, _oncall([NOT_SURE, DESK], timeout_ms=3000, on_not_sure="hangup")]
    )
    oncall = _oncall_outcome(result)
    assert oncall.observed == State.HUNG_UP
    assert (
        oncall.error
        == "detection could not tell who answered (machine_detection.on_not_sure: hangup)"
    )
    assert oncall.answered_by == "not_sure"
    assert dialed == [NOT_SURE]


async def test_with_the_default_accept_a_voicemail_is_connected_and_said_so(tmp_path: Path) -> None:
    result, _ = await _apply(tmp_path, [HOST, _oncall(MACHINE)])
    oncall = _oncall_outcome(result)
    assert result.exit_code == 0, result
    assert oncall.observed == State.CONNECTED
    assert oncall.answered_by == "machine"
    assert oncall.notes == ["a machine answered; kept (machine_detection.on_machine: accept)"]


async def test_the_callbacks_words_on_the_call_resource_are_understood(tmp_path: Path) -> None:
    # The field profile's Calls resource says machine_start, not the enum's machine.
    people = [HOST, _oncall([MACHINE, DESK], on_machine="next")]
    # Creation by name as the lab has it: app-texml's wait is ten real seconds, and another
    # test's subject.
    result, dialed = await _apply(
        tmp_path, people, profile="field", api={"create_by_name": "refuse-404"}
    )
    oncall = _oncall_outcome(result)
    assert result.exit_code == 0, result
    assert (oncall.observed, oncall.to) == (State.CONNECTED, DESK)
    assert dialed == [MACHINE, DESK]


async def test_the_creating_call_sends_its_detection_to_the_async_amd_callback(
    tmp_path: Path,
) -> None:
    # Without creation by name the host's call is placed with InitiateTexmlCall, whose AMD
    # callback field is AsyncAmdStatusCallback; one named AmdStatusCallback would be ignored.
    async with receiving() as receiver:
        host = {
            **HOST,
            "to": MACHINE,
            "machine_detection": {
                "mode": "Enable",
                "status_callback": {"url": receiver.url("/amd")},
            },
        }
        path = conference_file(tmp_path, [host])
        async with fast_sandbox(numbers=NUMBERS, api={"create_by_name": False}) as info:
            [result] = await apply_with_connection(
                [load(path)], connection_for(info), TEST_OPTIONS, asyncio.Event()
            )
            [amd] = await receiver.received("/amd", 1)  # detection goes on after apply ends
    [outcome] = result.participants
    assert (outcome.observed, outcome.call_sid) == (State.CONNECTED, amd.fields["CallSid"])
    assert amd.fields["AnsweredBy"] == "machine_start"


def test_the_creating_call_detects_in_the_background(tmp_path: Path) -> None:
    host = {
        **HOST,
        "machine_detection": {
            "mode": "Enable",
            "status_callback": {"url": "https://h.example/amd", "method": "GET"},
        },
    }
    spec = load(conference_file(tmp_path, [host]))
    fields = initiate_call_fields(spec, spec.participants[0], HOST["to"])
    assert fields["AsyncAmd"] is True
    assert fields["AsyncAmdStatusCallback"] == "https://h.example/amd"
    assert fields["AsyncAmdStatusCallbackMethod"] == "GET"
    assert set(fields) <= set(contract.INITIATE_CALL_FIELDS)


@pytest.mark.parametrize(
    ("word", "meaning"),
    [
        ("human", "human"),
        ("machine", "machine"),
        ("machine_start", "machine"),
        ("machine_end_beep", "machine"),
        ("machine_end_silence", "machine"),
        ("machine_end_other", "machine"),
        ("fax", "machine"),
        ("not_sure", "not_sure"),
        ("unknown", "not_sure"),
        ("something-new", "not_sure"),
    ],
)
def test_answered_by_is_read_in_either_vocabulary(word: str, meaning: str) -> None:
    assert contract.answered_by(word) == meaning
