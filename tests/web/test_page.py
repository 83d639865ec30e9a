"""The page machinery over real HTTP: a key in the URL once, then a cookie of the page's own,
401 for everything else on every path, strict headers on every answer; a stream of events that
a reconnecting page resumes from its last id, told to start over when it was away too long."""

from __future__ import annotations

import asyncio
import fnmatch
import time
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from orchestrator.serving import serving
from orchestrator.web.page import (
    CSP,
    Gate,
    add_page_routes,
    html_response,
    json_response,
    shell,
    static_file,
    static_names,
)
from orchestrator.web.stream import EventStream

KEY = "k3y-for-the-test"
PATHS = ("/p/", "/p/state.json", "/p/events", "/p/static/page.js", "/p/static/page.css", "/p/x")


@asynccontextmanager
async def served(stream: EventStream | None = None) -> AsyncIterator[str]:
    gate = Gate(KEY, cookie="test_cookie", path="/p/", query="token")
    stream = stream or EventStream()

    async def page(request: web.Request) -> web.StreamResponse:
        return html_response(
            shell("t", styles=("/p/static/page.css",), scripts=(), body="<p>hi</p>")
        )

    async def state(request: web.Request) -> web.StreamResponse:
        return json_response({"ok": True})

    async def events(request: web.Request) -> web.StreamResponse:
        return await stream.serve(request, lambda: [("now", {"fresh": True})])

    app = web.Application()
    add_page_routes(app.router, gate, page=page, routes={"state.json": state, "events": events})
    async with serving(app, "127.0.0.1", 0) as port:
        yield f"http://127.0.0.1:{port}"


async def test_every_path_is_refused_without_the_key_and_with_a_wrong_one() -> None:
    async with served() as url, aiohttp.ClientSession() as http:
        for path in PATHS:
            async with http.get(url + path) as answer:
                assert answer.status == 401, path
                assert answer.headers["Content-Security-Policy"] == CSP
            async with http.get(url + path, headers={"Cookie": "test_cookie=wrong"}) as answer:
                assert answer.status == 401, path
            async with http.get(url + path, headers={"Authorization": "Bearer wrong"}) as answer:
                assert answer.status == 401, path
        async with http.get(url + "/p/?token=wrong", allow_redirects=False) as answer:
            assert answer.status == 401 and "Set-Cookie" not in answer.headers


async def test_the_key_in_the_url_becomes_a_strict_cookie_and_leaves_the_url() -> None:
    # A jar that keeps cookies of an IP address, as a browser does (aiohttp's does not).
    jar = aiohttp.CookieJar(unsafe=True)
    async with served() as url, aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{url}/p/?token={KEY}", allow_redirects=False) as answer:
            assert answer.status == 303 and answer.headers["Location"] == "/p/"
            cookie = answer.headers["Set-Cookie"]
        assert cookie.startswith(f"test_cookie={KEY};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/p/" in cookie
        async with http.get(url + "/p/") as answer:  # the session keeps the cookie
            page = await answer.text()
            headers = answer.headers
        assert answer.status == 200 and KEY not in page
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert (
            headers["Cache-Control"] == "no-store" and headers["Referrer-Policy"] == "no-referrer"
        )
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "<script>" not in page and "style=" not in page  # nothing inline
        async with http.get(url + "/p/static/page.js") as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/javascript")
            assert "window.Page" in await answer.text()
        async with http.get(url + "/p/static/nothing.js") as answer:
            assert answer.status == 404
        async with aiohttp.ClientSession() as script:  # no cookie: the header instead
            bearer = {"Authorization": f"Bearer {KEY}"}
            async with script.get(url + "/p/state.json", headers=bearer) as answer:
                assert answer.status == 200 and await answer.json() == {"ok": True}


async def read_stream(url: str, last: int | None, count: int) -> list[tuple[str, str, str]]:
    """The first ``count`` messages of the stream as (id, event, data)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    if last is not None:
        headers["Last-Event-ID"] = str(last)
    found: list[tuple[str, str, str]] = []
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/p/events", headers=headers) as answer,
    ):
        assert answer.headers["Content-Type"] == "text/event-stream"
        fields: dict[str, str] = {}
        async for raw in answer.content:
            line = raw.decode().rstrip("\n")
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if "event" in fields:
                found.append((fields["id"], fields["event"], fields["data"]))
                if len(found) == count:
                    break
            fields = {}
    return found


async def test_a_viewer_resumes_from_its_last_id_and_one_away_too_long_starts_over() -> None:
    stream = EventStream(keep=5, replay=3)
    for number in range(1, 9):
        stream.append("event", {"n": number})  # ids 1..8; 4..8 kept
    async with served(stream) as url:
        resumed = await read_stream(url, 6, 3)
        assert [(i, e) for i, e, _ in resumed] == [("7", "event"), ("8", "event"), ("8", "now")]
        away = await read_stream(url, 2, 5)  # 3 is no longer kept: start over
        assert [e for _, e, _ in away] == ["reset", "event", "event", "event", "now"]
        assert [d for _, _, d in away[1:4]] == ['{"n":6}', '{"n":7}', '{"n":8}']
        fresh = await read_stream(url, None, 1)
        assert fresh[0][1] == "reset"

        taken = stream.served
        live: asyncio.Task[Any] = asyncio.create_task(read_stream(url, 8, 3))
        deadline = time.monotonic() + 10
        while stream.served == taken:  # once taken, it is a viewer: nothing is missed
            assert time.monotonic() < deadline and not live.done()
            await asyncio.sleep(0.01)
        stream.append("event", {"n": 9})
        stream.close("end", {"done": True})
        assert [(i, e) for i, e, _ in await asyncio.wait_for(live, 10)] == [
            ("8", "now"),
            ("9", "event"),
            ("9", "end"),
        ]
        assert stream.viewers == 0
        # A page that comes once it has ended is told at once, and its stream ends.
        late = await asyncio.wait_for(read_stream(url, 9, 2), 10)
        assert [e for _, e, _ in late] == ["now", "end"]


def test_the_pages_files_are_package_data_that_the_wheel_ships() -> None:
    names = static_names()
    assert {"page.css", "page.js", "board.js", "inspector.js"} <= names
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["orchestrator"]
    for name in names:
        where = f"orchestrator/web/static/{name}"
        assert any(fnmatch.fnmatch(where, pattern) for pattern in wheel["artifacts"]), name
        assert static_file(name).strip()
