"""Call legs and conferences moving through their states in simulated time, over HTTP: on a
stepped clock the test moves (a simulated second is one of its seconds), but for the tests
on the shared fast-running sandbox."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from orchestrator.sandbox import SandboxInfo
from tests.sandbox.support import APP, Api, open_api, stepped_api

NUMBERS = {
    "+15550000001": {"answer": "no-answer"},
    "+15550000002": {"answer": "busy"},
    "+15550000003": {"answer": "fail"},
    "+15550000004": {"answer": "after", "seconds": 5},
    "+15550000005": {"hangup_after": 10},
    "+15550000006": {"answer": "after", "seconds": 8},
}


async def _status_becomes(api: Api, call_sid: str, wanted: str) -> str:
    async def probe() -> str | None:
        status = await api.call_status(call_sid)
        return status if status == wanted else None

    return await api.eventually(probe)


async def _conference_status(api: Api, sid: str, wanted: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        conference = await api.conference(sid)
        return conference if conference["status"] == wanted else None

    return await api.eventually(probe)


async def test_answered_leg_connects_and_starts_the_conference(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        dialed = await api.dial_ok("standup", To="+12065550100", ApplicationSid=APP, Label="host")
        assert dialed["status"] == "connecting"
        assert dialed["call_sid"].startswith("v3:")
        sid = dialed["conference_sid"]
        assert (await api.conference(sid))["status"] == "init"
        assert await api.call_status(dialed["call_sid"]) == "ringing"

        await _status_becomes(api, dialed["call_sid"], "in-progress")
        participant = (await api.participant(sid, "host")).body
        assert participant["status"] == "connected"
        assert "label" not in participant
        conference = await api.conference(sid)
        assert conference["status"] == "in-progress"
        assert conference["reason_conference_ended"] is None
        assert conference["friendly_name"] == "standup"


async def test_unanswered_legs_end_with_their_reason_and_leave_the_list() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        host = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP)
        sid = host["conference_sid"]
        outcomes = {}
        for to in ("+15550000001", "+15550000002", "+15550000003"):
            leg = await api.dial_ok(sid, To=to, Timeout=5)
            outcomes[leg["call_sid"]] = to
        expected = {"+15550000001": "no-answer", "+15550000002": "busy", "+15550000003": "failed"}
        for call_sid, to in outcomes.items():
            await _status_becomes(api, call_sid, expected[to])
            assert (await api.participant(sid, call_sid)).status == 404
        listed = (await api.participants(sid)).body["participants"]
        assert [p["call_sid"] for p in listed] == [host["call_sid"]]
        assert (await api.conference(sid))["status"] == "in-progress"


async def test_no_answer_takes_the_dial_timeout() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        short = await api.dial_ok("room", To="+15550000001", ApplicationSid=APP, Timeout=5)
        long = await api.dial_ok(short["conference_sid"], To="+15550000001", Timeout=120)
        await _status_becomes(api, short["call_sid"], "no-answer")
        assert api.stepped.now() == 5.0  # the short one's Timeout
        assert await api.call_status(long["call_sid"]) == "ringing"
        await api.advance(114.0)
        assert await api.call_status(long["call_sid"]) == "ringing"
        await api.advance(1.0)
        assert await api.call_status(long["call_sid"]) == "no-answer"


async def test_answer_after_seconds_and_slower_than_timeout() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        later = await api.dial_ok("room", To="+15550000004", ApplicationSid=APP, Timeout=30)
        too_slow = await api.dial_ok(later["conference_sid"], To="+15550000006", Timeout=5)
        await _status_becomes(api, later["call_sid"], "in-progress")
        await _status_becomes(api, too_slow["call_sid"], "no-answer")


async def test_last_participant_hanging_up_completes_the_conference() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok("room", To="+15550000005", ApplicationSid=APP)
        await _status_becomes(api, leg["call_sid"], "in-progress")
        await _status_becomes(api, leg["call_sid"], "completed")
        conference = await _conference_status(api, leg["conference_sid"], "completed")
        assert conference["reason_conference_ended"] == "last-participant-left"
        assert conference["call_sid_ending_conference"] == leg["call_sid"]
        call = await api.call(leg["call_sid"])
        assert call["end_time"] is not None and call["duration"] is not None


async def test_an_ended_call_keeps_the_duration_from_answer_to_end() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        leg = await api.dial_ok("room", To="+15550000005", ApplicationSid=APP)
        await _status_becomes(api, leg["call_sid"], "completed")
        ended = await api.call(leg["call_sid"])
        await api.advance(10)
        again = await api.call(leg["call_sid"])
    assert int(ended["duration"]) == 10  # hung up ten simulated seconds after answering
    assert again["duration"] == ended["duration"]


async def test_end_conference_on_exit_ends_it_for_everyone() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        host = await api.dial_ok(
            "room", To="+15550000005", ApplicationSid=APP, EndConferenceOnExit=True
        )
        sid = host["conference_sid"]
        guest = await api.dial_ok(sid, To="+12065550101")
        ringing = await api.dial_ok(sid, To="+15550000001")
        conference = await _conference_status(api, sid, "completed")
        assert (
            conference["reason_conference_ended"] == "participant-with-end-conference-on-exit-left"
        )
        assert conference["call_sid_ending_conference"] == host["call_sid"]
        assert await api.call_status(guest["call_sid"]) == "completed"
        assert await api.call_status(ringing["call_sid"]) == "canceled"
        assert (await api.participants(sid)).body["participants"] == []


async def test_ending_via_api_hangs_up_everyone() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        first = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP)
        sid = first["conference_sid"]
        await _status_becomes(api, first["call_sid"], "in-progress")
        second = await api.dial_ok(sid, To="+15550000001", Timeout=120)
        answer = await api.update_conference(sid, Status="completed")
        assert answer.status == 200
        assert answer.body["status"] == "completed"
        assert answer.body["reason_conference_ended"] == "conference-ended-via-api"
        assert answer.body["call_sid_ending_conference"] is None
        assert await api.call_status(first["call_sid"]) == "completed"
        assert await api.call_status(second["call_sid"]) == "canceled"
        # Ending it again is harmless; dialing into it is not allowed.
        assert (await api.update_conference(sid, Status="completed")).status == 200
        late = await api.dial(sid, To="+12065550102")
        assert late.status == 422
        assert "ended" in late.error["detail"]
        listed = (await api.conferences(Status="completed")).body["conferences"]
        assert [c["sid"] for c in listed] == [sid]


async def test_a_name_after_its_conference_ended_creates_a_new_one(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        first = await api.dial_ok("weekly", To="+12065550100", ApplicationSid=APP)
        await api.update_conference(first["conference_sid"], Status="completed")
        second = await api.dial_ok("weekly", To="+12065550100", ApplicationSid=APP)
        assert second["conference_sid"] != first["conference_sid"]
        joined = await api.dial_ok("weekly", To="+12065550101", ApplicationSid=APP)
        assert joined["conference_sid"] == second["conference_sid"]


async def test_start_conference_on_enter_false_waits_for_a_starter(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        waiting = await api.dial_ok(
            "room", To="+12065550100", ApplicationSid=APP, StartConferenceOnEnter=False
        )
        sid = waiting["conference_sid"]
        await _status_becomes(api, waiting["call_sid"], "in-progress")
        assert (await api.conference(sid))["status"] == "init"
        starter = await api.dial_ok(sid, To="+12065550101")
        await _status_becomes(api, starter["call_sid"], "in-progress")
        assert (await api.conference(sid))["status"] == "in-progress"


async def test_delete_hangs_up_and_frees_the_label() -> None:
    async with stepped_api(numbers=NUMBERS) as api:
        host = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP, Label="host")
        sid = host["conference_sid"]
        bob = await api.dial_ok(sid, To="+15550000001", Label="bob", Timeout=120)
        duplicate = await api.dial(sid, To="+12065550102", Label="bob")
        assert duplicate.status == 422
        assert duplicate.error["source"] == {"pointer": "/Label"}

        deleted = await api.delete_participant(sid, "bob")
        assert (deleted.status, deleted.body) == (204, None)
        assert await api.call_status(bob["call_sid"]) == "canceled"  # it was still ringing
        assert (await api.participant(sid, "bob")).status == 404
        assert (await api.delete_participant(sid, "bob")).status == 404

        again = await api.dial_ok(sid, To="+12065550103", Label="bob")
        assert again["call_sid"] != bob["call_sid"]
        assert (await api.participant(sid, "bob")).body["call_sid"] == again["call_sid"]


async def test_time_limit_hangs_up_after_answer(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        leg = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP, TimeLimit=30)
        await _status_becomes(api, leg["call_sid"], "in-progress")
        await _status_becomes(api, leg["call_sid"], "completed")


async def test_update_mute_hold_and_coaching(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        agent = await api.dial_ok("room", To="+12065550100", ApplicationSid=APP, Label="agent")
        sid = agent["conference_sid"]
        customer = await api.dial_ok(sid, To="+12065550101", Label="customer")

        missing = await api.dial(sid, To="+12065550102", Coaching=True)
        assert missing.status == 422
        assert missing.error["source"] == {"pointer": "/CallSidToCoach"}
        assert missing.error["code"] == "10004"
        stranger = await api.dial(sid, To="+12065550102", Coaching=True, CallSidToCoach="v3:nobody")
        assert stranger.status == 422
        assert stranger.error["source"] == {"pointer": "/CallSidToCoach"}

        coach = await api.dial_ok(
            sid, To="+12065550102", Label="coach", Coaching=True, CallSidToCoach=agent["call_sid"]
        )
        assert (coach["coaching"], coach["coaching_call_sid"]) == (True, agent["call_sid"])

        updated = await api.update_participant(
            sid, "coach", CallSidToCoach=customer["call_sid"], Muted=True, Hold=True
        )
        assert updated.status == 200
        body = updated.body
        assert (body["coaching_call_sid"], body["muted"], body["hold"]) == (
            customer["call_sid"],
            True,
            True,
        )
        self_coaching = await api.update_participant(sid, "coach", CallSidToCoach=coach["call_sid"])
        assert self_coaching.status == 422
        stopped = await api.update_participant(sid, "coach", Coaching=False, Hold="false")
        assert (
            stopped.body["coaching"],
            stopped.body["coaching_call_sid"],
            stopped.body["hold"],
        ) == (
            False,
            None,
            False,
        )
        bad = await api.update_participant(sid, "coach", Muted="maybe")
        assert bad.status == 422
        assert bad.error["source"] == {"pointer": "/Muted"}
        assert (await api.participant(sid, "coach")).body["muted"] is True  # nothing half-applied


async def test_update_end_conference_on_exit_beep_on_exit_wait_and_hold_urls(
    sandbox: SandboxInfo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.sandbox")
    async with open_api(sandbox) as api:
        host = await api.dial_ok("ending", To="+12065550100", ApplicationSid=APP, Label="host")
        sid = host["conference_sid"]
        guest = await api.dial_ok(sid, To="+12065550101", Label="guest")
        assert guest["end_conference_on_exit"] is False
        await _status_becomes(api, guest["call_sid"], "in-progress")

        updated = await api.update_participant(
            sid,
            "guest",
            EndConferenceOnExit=True,
            BeepOnExit=False,
            WaitUrl="https://music.example/wait.mp3",
            HoldUrl="https://user:pw@music.example/hold.mp3?token=1",
        )
        assert updated.status == 200, updated.body
        assert updated.body["end_conference_on_exit"] is True
        shown = (await api.participant(sid, "guest")).body
        assert shown["end_conference_on_exit"] is True
        assert "label" not in shown and "wait_url" not in shown  # the API shows neither
        guest_sid = guest["call_sid"]
        assert f"call {guest_sid}: WaitUrl now https://music.example/wait.mp3" in caplog.text
        assert (
            f"call {guest_sid}: HoldUrl now https://***@music.example/hold.mp3?***" in caplog.text
        )
        assert "beep_on_exit=False" in caplog.text and "pw@" not in caplog.text
        bad = await api.update_participant(sid, "guest", WaitUrl="music.mp3")
        assert bad.status == 422 and bad.error["source"] == {"pointer": "/WaitUrl"}

        # The update counts: the guest leaving now ends the conference for everyone.
        assert (await api.delete_participant(sid, "guest")).status == 204
        ended = await _conference_status(api, sid, "completed")
        assert ended["reason_conference_ended"] == "participant-with-end-conference-on-exit-left"


async def test_max_participants_from_the_creating_dial() -> None:
    async with stepped_api() as api:
        first = await api.dial_ok("small", To="+12065550100", ApplicationSid=APP, MaxParticipants=2)
        sid = first["conference_sid"]
        await api.dial_ok(sid, To="+12065550101", MaxParticipants=800)
        full = await api.dial(sid, To="+12065550102")
        assert full.status == 422
        assert full.error["code"] == "10015"
        assert full.error["source"] == {"pointer": "/MaxParticipants"}
        assert len(await api.dials()) == 2


async def test_conference_references_that_do_not_resolve(sandbox: SandboxInfo) -> None:
    async with open_api(sandbox) as api:
        by_name = await api.dial("no-such-room", To="+12065550100")
        assert by_name.status == 404
        assert "ApplicationSid" in by_name.error["detail"]
        unknown = await api.dial(
            "0b8e6c3e-0000-4000-8000-000000000000", To="+12065550100", ApplicationSid=APP
        )
        assert (unknown.status, unknown.error["code"]) == (404, "10005")
        assert (await api.participants("0b8e6c3e-0000-4000-8000-000000000000")).status == 404
        assert (
            await api.request("GET", api.path("/texml/Accounts/{account_sid}/Calls/v3:nope"))
        ).status == 404
        assert await api.dials() == []


# A number called again (then:) ---------------------------------------------------------

REDIALED = {
    "+15550000020": {"hangup_after": 5, "then": "answer"},
    "+15550000021": {"hangup_after": 5, "then": "no-answer"},
    "+15550000022": {"hangup_after": 5, "then": "busy"},
    "+15550000023": {"answer": "busy", "then": "answer", "answered_by": "machine"},
}


async def test_then_answer_the_first_call_hangs_up_every_later_one_stays() -> None:
    async with stepped_api(numbers=REDIALED) as api:
        first = await api.dial_ok("again", To="+15550000020", ApplicationSid=APP)
        await _status_becomes(api, first["call_sid"], "completed")
        second = await api.dial_ok("again", To="+15550000020", ApplicationSid=APP)
        await _status_becomes(api, second["call_sid"], "in-progress")
        await api.advance(15)  # past the five seconds after which the first call hung up
        assert await api.call_status(second["call_sid"]) == "in-progress"
        # Counted over the sandbox's life, not per conference: a third call elsewhere stays too.
        third = await api.dial_ok("elsewhere", To="+15550000020", ApplicationSid=APP)
        await _status_becomes(api, third["call_sid"], "in-progress")
        await api.advance(10)
        assert await api.call_status(third["call_sid"]) == "in-progress"
        ended = await api.call(first["call_sid"])
    assert int(ended["duration"]) == 5  # the first hung up five simulated seconds in


async def test_then_no_answer_and_busy_after_a_first_call_that_answered() -> None:
    async with stepped_api(numbers=REDIALED) as api:
        for number, later in (("+15550000021", "no-answer"), ("+15550000022", "busy")):
            first = await api.dial_ok("again", To=number, ApplicationSid=APP, Timeout=5)
            await _status_becomes(api, first["call_sid"], "in-progress")
            await _status_becomes(api, first["call_sid"], "completed")
            second = await api.dial_ok("again", To=number, ApplicationSid=APP, Timeout=5)
            await _status_becomes(api, second["call_sid"], later)
            call = await api.call(second["call_sid"])
            assert call["start_time"] is None  # never answered


async def test_then_answer_after_a_busy_first_call_and_who_answers_stays() -> None:
    async with stepped_api(numbers=REDIALED) as api:
        first = await api.dial_ok("busy-first", To="+15550000023", ApplicationSid=APP)
        await _status_becomes(api, first["call_sid"], "busy")
        second = await api.dial_ok(
            "busy-first", To="+15550000023", ApplicationSid=APP, MachineDetection="Enable"
        )
        await _status_becomes(api, second["call_sid"], "in-progress")

        async def detected() -> str | None:
            answered_by = (await api.call(second["call_sid"]))["answered_by"]
            return str(answered_by) if answered_by else None

        assert await api.eventually(detected) == "machine"
