"""The official telnyx SDK, sync and async, cannot tell the sandbox from the real API."""

from __future__ import annotations

import asyncio
import time

import pytest

from orchestrator.sandbox import SandboxInfo
from tests.sandbox.support import APP
from tests.sdk import USES_SDK, telnyx

NO_ANSWER = "+15550000001"


pytestmark = USES_SDK


def _client(info: SandboxInfo, api_key: str | None = None) -> telnyx.Telnyx:
    return telnyx.Telnyx(api_key=api_key or info.api_key, base_url=info.base_url, max_retries=0)


def _async_client(info: SandboxInfo, api_key: str | None = None) -> telnyx.AsyncTelnyx:
    return telnyx.AsyncTelnyx(
        api_key=api_key or info.api_key, base_url=info.base_url, max_retries=0
    )


def test_sync_sdk_round_trip(sandbox_thread: SandboxInfo) -> None:
    account = sandbox_thread.account_sid
    with _client(sandbox_thread) as client:
        participants = client.texml.accounts.conferences.participants
        dialed = participants.participants(
            "sdk-room",
            account_sid=account,
            to="+12065550100",
            from_="+12065550199",
            application_sid=APP,
            label="host",
            timeout_seconds=30,
            muted=False,
            custom_headers=[{"name": "X-Team", "value": "ops"}],
        )
        assert dialed.status == "connecting"
        assert dialed.call_sid and dialed.call_sid.startswith("v3:")
        sid = dialed.conference_sid
        assert sid is not None

        by_label = participants.retrieve("host", account_sid=account, conference_sid=sid)
        assert by_label.call_sid == dialed.call_sid

        updated = participants.update(
            "host", account_sid=account, conference_sid=sid, muted=True, hold=True
        )
        assert (updated.muted, updated.hold) == (True, True)
        by_sid = participants.retrieve(dialed.call_sid, account_sid=account, conference_sid=sid)
        assert (by_sid.muted, by_sid.hold, by_sid.call_sid) == (True, True, dialed.call_sid)

        for i in range(4):
            participants.participants(
                sid, account_sid=account, to=f"+1206555{i:04d}", label=f"p{i}"
            )
        page = participants.retrieve_participants(
            sid, account_sid=account, extra_query={"PageSize": 2}
        )
        assert page.page_size == 2 and page.next_page_uri
        assert page.participants and len(page.participants) == 2
        collected = [p.call_sid for p in page.participants]
        while page.next_page_uri:
            page_number = page.page
            assert page_number is not None
            token = page.next_page_uri.split("PageToken=")[1]
            page = participants.retrieve_participants(
                sid,
                account_sid=account,
                extra_query={"Page": page_number + 1, "PageSize": 2, "PageToken": token},
            )
            collected += [p.call_sid for p in page.participants or []]
        assert len(collected) == 5 and collected[0] == dialed.call_sid

        conferences = client.texml.accounts.conferences.retrieve_conferences(
            account, friendly_name="sdk-room", page_size=1
        )
        assert [c.sid for c in conferences.conferences or []] == [sid]
        assert conferences.next_page_uri is None

        raw = participants.with_raw_response.delete("p0", account_sid=account, conference_sid=sid)
        assert raw.status_code == 204
        with pytest.raises(telnyx.NotFoundError):
            participants.retrieve("p0", account_sid=account, conference_sid=sid)

        call = client.texml.accounts.calls.retrieve(dialed.call_sid, account_sid=account)
        assert call.sid == dialed.call_sid and call.to == "+12065550100"
        assert call.from_ == "+12065550199"

        with pytest.raises(telnyx.UnprocessableEntityError) as rejected:
            participants.participants(
                sid, account_sid=account, to="+12065550109", timeout_seconds=3
            )
        assert rejected.value.status_code == 422
        assert "Timeout" in str(rejected.value.body)

        ended = client.texml.accounts.conferences.update(
            sid, account_sid=account, status="completed"
        )
        assert (ended.status, ended.reason_conference_ended) == (
            "completed",
            "conference-ended-via-api",
        )
        recordings = client.texml.accounts.conferences.retrieve_recordings(sid, account_sid=account)
        assert recordings.recordings == []

        calls = client.texml.accounts.calls
        to_host = calls.retrieve_calls(account, to="+12065550100", start_time_gt="2000-01-01")
        assert [c.sid for c in to_host.calls or []] == [dialed.call_sid]
        ended_today = calls.retrieve_calls(account, status="completed", end_time_lt="2000-01-01")
        assert ended_today.calls == []


def test_sync_sdk_errors(sandbox_thread: SandboxInfo) -> None:
    account = sandbox_thread.account_sid
    with (
        _client(sandbox_thread, api_key="KEYnot-this-one") as client,
        pytest.raises(telnyx.AuthenticationError),
    ):
        client.texml.accounts.conferences.retrieve_conferences(account)
    with _client(sandbox_thread) as client:
        with pytest.raises(telnyx.NotFoundError):
            client.texml.accounts.conferences.retrieve(
                "6f0f1c2e-1111-4111-8111-111111111111", account_sid=account
            )
        with pytest.raises(telnyx.NotFoundError):
            client.texml.accounts.calls.retrieve("v3:unknown", account_sid=account)


async def test_async_sdk_round_trip(sandbox: SandboxInfo) -> None:
    account = sandbox.account_sid
    async with _async_client(sandbox) as client:
        participants = client.texml.accounts.conferences.participants
        dialed = await participants.participants(
            "async-room", account_sid=account, to="+12065550100", application_sid=APP, label="host"
        )
        sid = dialed.conference_sid
        assert sid is not None and dialed.call_sid is not None
        by_label = await participants.retrieve("host", account_sid=account, conference_sid=sid)
        assert by_label.call_sid == dialed.call_sid

        deadline = time.monotonic() + 5
        while by_label.status != "connected" and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            by_label = await participants.retrieve("host", account_sid=account, conference_sid=sid)
        assert by_label.status == "connected"
        conference = await client.texml.accounts.conferences.retrieve(sid, account_sid=account)
        assert conference.status == "in-progress"

        updated = await participants.update(
            "host", account_sid=account, conference_sid=sid, muted=True, hold=False
        )
        assert (updated.muted, updated.hold) == (True, False)

        await participants.participants(sid, account_sid=account, to="+12065550101", label="b")
        page = await participants.retrieve_participants(
            sid, account_sid=account, extra_query={"PageSize": 1}
        )
        assert page.participants and len(page.participants) == 1 and page.next_page_uri

        raw = await participants.with_raw_response.delete(
            "b", account_sid=account, conference_sid=sid
        )
        assert raw.status_code == 204
        with pytest.raises(telnyx.NotFoundError):
            await participants.retrieve("b", account_sid=account, conference_sid=sid)
        with pytest.raises(telnyx.UnprocessableEntityError):
            await participants.participants(
                sid, account_sid=account, to="+12065550102", timeout_seconds=3
            )
        call = await client.texml.accounts.calls.retrieve(dialed.call_sid, account_sid=account)
        assert call.status == "in-progress"

    async with _async_client(sandbox, api_key="KEYwrong") as wrong:
        with pytest.raises(telnyx.AuthenticationError):
            await wrong.texml.accounts.conferences.retrieve(sid, account_sid=account)
