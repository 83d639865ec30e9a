"""Call SIDs in paths: our client sends ``v3:...`` raw, as the official SDK does, and the sandbox
answers the raw and the percent-encoded spelling alike, over HTTP."""

from __future__ import annotations

import aiohttp
from yarl import URL

from orchestrator.texml import contract
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.http import AiohttpTransport, HttpRequest, HttpResponse
from tests.engine.support import connection_for, fast_sandbox

APP = "1846572522338780702"


class Recording(AiohttpTransport):
    """The network transport, keeping the URL of every request it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.urls.append(request.url)
        return await super().send(request)


async def test_the_client_sends_call_sids_raw_and_labels_encoded() -> None:
    http = Recording()
    async with fast_sandbox() as info:
        async with TexmlClient(connection_for(info), transport=http) as client:
            dialed = await client.dial(
                "raw-sids",
                {"To": "+12065550100", "From": "+12065550200", "ApplicationSid": APP},
            )
            call_sid = dialed.resource["call_sid"]
            conference_sid = dialed.resource["conference_sid"]
            assert call_sid.startswith("v3:")
            call = await client.get_call(call_sid)
            participant = await client.get_participant(conference_sid, call_sid)
            missing = await client.find_participant(conference_sid, "a label/with space")
        await http.aclose()
    assert call["sid"] == participant["call_sid"] == call_sid and missing is None
    by_sid = [url for url in http.urls if call_sid.removeprefix("v3:") in url]
    assert len(by_sid) == 2
    # As the SDK sends it: the colon as it is, not %3A, in what the client hands over and on
    # the request line.
    for url in by_sid:
        assert url.endswith(f"/{call_sid}") and URL(url, encoded=True).raw_path.endswith(call_sid)
    # What else a Label may hold is still encoded, so it stays one path segment.
    assert http.urls[-1].endswith("/a%20label%2Fwith%20space")


async def test_the_sandbox_answers_a_call_sid_raw_or_percent_encoded() -> None:
    async with fast_sandbox() as info:
        headers = {"Authorization": f"Bearer {info.api_key}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            path = contract.PARTICIPANTS_PATH.format(
                account_sid=info.account_sid, conference_sid="both-spellings"
            )
            async with http.post(
                info.base_url + path, json={"To": "+12065550100", "ApplicationSid": APP}
            ) as answer:
                dialed = await answer.json()
            call_sid, conference_sid = dialed["call_sid"], dialed["conference_sid"]
            encoded_sid = call_sid.replace(":", "%3A")
            base = info.base_url + contract.ACCOUNT_PATH.format(account_sid=info.account_sid)
            seen: dict[str, list[tuple[int, str]]] = {}
            for spelling in (call_sid, encoded_sid):
                urls = (
                    f"{base}/Calls/{spelling}",
                    f"{base}/Calls/{spelling}.json",
                    f"{base}/Conferences/{conference_sid}/Participants/{spelling}",
                )
                for url in urls:
                    # encoded=True: sent byte for byte, so %3A reaches the server as %3A.
                    target = URL(url, encoded=True)
                    assert ("%3A" in target.raw_path) == (spelling == encoded_sid)
                    async with http.get(target) as answer:
                        body = await answer.json()
                    seen.setdefault(spelling, []).append(
                        (answer.status, body.get("sid") or body.get("call_sid"))
                    )
    assert seen[call_sid] == seen[encoded_sid] == [(200, call_sid)] * 3
