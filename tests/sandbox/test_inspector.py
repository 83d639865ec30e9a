"""The sandbox's inspector over real HTTP: behind the sandbox's key (in the URL once, then a
cookie, or the header), every request with its fields and secrets masked, every callback with
each attempt's signature and the receiver's answer, bounded memory, never counted as the API."""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import threading
from typing import Any

import aiohttp

from orchestrator.sandbox import introspection, parse_scenario, sandbox_in_thread
from orchestrator.sandbox.inspector import REQUESTS_KEPT, inspector_url
from orchestrator.texml import contract
from tests.browser import launched
from tests.sandbox.hooks import receiving
from tests.sandbox.support import APP, Api, eventually, open_api, sandbox_api
from tests.sdk import uses_sdk, verify_webhook_signature

PATHS = ("", "state.json", "static/inspector.js", "static/page.css", "elsewhere")


def root(api: Api) -> str:
    return api.info.base_url.removesuffix("/v2") + "/_sandbox/"


async def state(api: Api) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {api.info.api_key}"}
        async with http.get(root(api) + "state.json", headers=headers) as answer:
            assert answer.status == 200
            text = await answer.text()
    assert api.info.api_key not in text  # never, whatever the page shows
    found: dict[str, Any] = json.loads(text)
    return found


async def test_the_inspector_needs_the_sandboxs_key_on_every_path() -> None:
    async with sandbox_api() as api, aiohttp.ClientSession() as http:
        url = root(api)
        assert inspector_url(api.info.base_url, api.info.api_key) == f"{url}?key={api.info.api_key}"
        for path in PATHS:
            async with http.get(url + path) as answer:
                assert answer.status == 401, path
            wrong = {"Cookie": "orchestrator_sandbox_1=KEYWRONG"}
            async with http.get(url + path, headers=wrong) as answer:
                assert answer.status == 401, path
        async with http.get(url + "?key=KEYWRONG", allow_redirects=False) as answer:
            assert answer.status == 401
        async with http.get(f"{url}?key={api.info.api_key}", allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"] == "/_sandbox/"
            cookie = answer.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        bearer = {"Authorization": f"Bearer {api.info.api_key}"}
        async with http.get(url, headers=bearer) as answer:
            assert answer.status == 200
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert "inspector.js" in await answer.text()
        before = (await api.request("GET", introspection.HEALTH_PATH)).body["requests"]
        for _ in range(5):
            async with http.get(url + "state.json", headers=bearer) as answer:
                assert answer.status == 200
        after = (await api.request("GET", introspection.HEALTH_PATH)).body["requests"]
    assert after == before  # the inspector's own requests are not the API's


async def test_requests_are_shown_with_their_fields_and_no_secret() -> None:
    async with sandbox_api() as api:
        await api.dial_ok(
            "room",
            To="+12065550100",
            ApplicationSid=APP,
            SipAuthUsername="alice",
            SipAuthPassword="hunter2-the-password",
            StatusCallback="https://user:pw@hooks.example.com/calls?token=abc",
        )
        async with aiohttp.ClientSession() as http:
            wrong = {"Authorization": "Bearer KEYNOTTHEONE"}
            path = api.info.base_url + api.path(contract.CONFERENCES_PATH)
            async with http.get(path, headers=wrong) as answer:
                assert answer.status == 401
        shown = await state(api)
    text = json.dumps(shown)
    assert "hunter2" not in text and "KEYNOTTHEONE" not in text and "abc" not in text
    refused, dial = shown["requests"][0], shown["requests"][1]  # newest first
    assert (dial["method"], dial["status"], dial["key"]) == ("POST", 200, "the sandbox's key")
    assert dial["path"].endswith("/Conferences/room/Participants")
    assert dial["fields"]["SipAuthUsername"] == "alice"
    assert dial["fields"]["SipAuthPassword"] == "***"
    assert dial["fields"]["StatusCallback"] == "https://***@hooks.example.com/calls?***"
    assert (refused["status"], refused["key"]) == (401, "Bearer *** (not the sandbox's key)")
    [conference] = shown["conferences"]
    assert conference["friendly_name"] == "room" and conference["legs"][0]["to"] == "+12065550100"
    assert shown["scenario"]["time_scale"] == 0.01
    assert {limit["name"] for limit in shown["limits"]} == {
        "dials (and placed calls)",
        "reads (GET)",
    }
    dials = next(limit for limit in shown["limits"] if limit["name"].startswith("dials"))
    assert dials["used"] == 1 and dials["limit"] > 1


@uses_sdk
async def test_every_callback_is_shown_with_each_attempts_signature_and_answer() -> None:
    async with receiving() as receiver, sandbox_api() as api:
        receiver.failing["/flaky"] = 1  # refused once with a 500, then taken
        await api.dial_ok(
            "hooked",
            To="+12065550100",
            ApplicationSid=APP,
            StatusCallback=receiver.url("/flaky"),
            StatusCallbackEvent="initiated",
        )
        arrivals = await receiver.received("/flaky", 2, within=8)

        async def delivered() -> dict[str, Any] | None:
            shown = await state(api)
            found = shown["callbacks"]
            return shown if found and len(found[0]["attempts"]) == 2 else None

        shown = await eventually(delivered, within=5)
    [callback] = shown["callbacks"]
    assert callback["url"] == receiver.url("/flaky") and callback["method"] == "POST"
    assert callback["fields"]["EventId"] == arrivals[0].event_id
    first, second = callback["attempts"]
    assert (first["status"], second["status"], second["answer"]) == (500, 200, "ok")
    for attempt, arrival in zip(callback["attempts"], arrivals, strict=True):
        signature = attempt["signature"]
        assert signature["telnyx-signature-ed25519"] == arrival.headers["telnyx-signature-ed25519"]
        # What the page shows verifies the body the receiver got, as Telnyx's own SDK checks.
        verify_webhook_signature(arrival.payload, signature, api.info.public_key)
    assert shown["deliveries"]["sent"] == 1 and shown["deliveries"]["failed"] == 1


async def test_what_is_kept_is_bounded() -> None:
    async with sandbox_api() as api:
        for _ in range(REQUESTS_KEPT + 20):
            await api.conferences()
        shown = await state(api)
    numbers = [r["number"] for r in shown["requests"]]
    assert len(numbers) == REQUESTS_KEPT
    assert (
        numbers == sorted(numbers, reverse=True) and numbers[0] - numbers[-1] == REQUESTS_KEPT - 1
    )


class _Taking(http.server.BaseHTTPRequestHandler):
    """A receiver that takes every callback (in a thread of its own)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"taken")

    def log_message(self, *args: Any) -> None:
        pass


def test_the_inspector_page_shows_a_delivered_callback_with_its_signature() -> None:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Taking)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/calls"
    try:
        with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 2})) as info:

            async def dial() -> None:
                async with open_api(info) as api:
                    await api.dial_ok("shown", To="+12065550100", ApplicationSid=APP,
                                      StatusCallback=hook, StatusCallbackEvent="initiated")  # fmt: skip

            asyncio.run(dial())
            # The browser after the dial: its loop holds this thread while it runs.
            with launched() as browser:
                looked = {}
                errors: list[str] = []
                for width in (1280, 390):
                    page = browser.new_page(viewport={"width": width, "height": 900})
                    page.on(
                        "console", lambda m: errors.append(m.text) if m.type == "error" else None
                    )
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    page.goto(inspector_url(info.base_url, info.api_key))
                    page.wait_for_selector(".callback .attempt .signature dd")
                    page.wait_for_selector("#requests tr.request")
                    looked[width] = (
                        page.inner_text(".callback .attempt"),
                        page.evaluate("document.documentElement.scrollWidth"),
                        page.url,
                    )
                    page.close()
    finally:
        receiver.shutdown()
    assert errors == []
    for width, (attempt, scroll_width, url) in looked.items():
        assert "HTTP 200" in attempt and "taken" in attempt
        assert "telnyx-signature-ed25519" in attempt and "telnyx-timestamp" in attempt
        signature = attempt.split("telnyx-signature-ed25519")[1].split()[0]
        assert len(base64.b64decode(signature)) == 64  # an Ed25519 signature, shown whole
        assert scroll_width <= width and "key=" not in url
