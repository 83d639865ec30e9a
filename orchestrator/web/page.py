"""What every page orchestrator serves shares: the shell, the headers, the key, the files.

The board of ``apply --board`` and the sandbox's inspector are plain HTML, a stylesheet and a
small script, all shipped in the package (``orchestrator/web/static``) and served by the
process itself: nothing is fetched from elsewhere and nothing is built. Every answer carries a
strict Content-Security-Policy (scripts and styles from the page's own origin only, no inline
script), ``nosniff``, ``no-referrer`` (a URL holding a key must not leak to another site) and
``no-store``.

A page is opened with its key in the URL once (``?token=`` or ``?key=``): the key is checked,
handed back as an HttpOnly, SameSite=Strict cookie scoped to the page's path, and the browser
is sent on to the same path without it, so it leaves the address bar and the history. A script
may send ``Authorization: Bearer KEY`` instead. Anything else, a wrong cookie included, is
answered 401, on every path.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from functools import cache
from html import escape
from importlib import resources
from typing import Any, Final

from aiohttp import web

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_TYPES: Final = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def secured(response: web.StreamResponse) -> web.StreamResponse:
    """``response`` with the headers every answer of a page carries."""
    response.headers.update(HEADERS)
    return response


@cache
def static_file(name: str) -> bytes:
    """A file of the package's ``static`` folder (read once)."""
    return resources.files("orchestrator.web").joinpath("static", name).read_bytes()


def static_names() -> frozenset[str]:
    folder = resources.files("orchestrator.web").joinpath("static")
    return frozenset(
        entry.name for entry in folder.iterdir() if entry.name.endswith((".css", ".js"))
    )


def shell(title: str, *, styles: tuple[str, ...], scripts: tuple[str, ...], body: str) -> str:
    """The page: a head naming its stylesheets and scripts (URLs on the same origin), and a
    body the script fills in."""
    links = "".join(f'<link rel="stylesheet" href="{escape(href)}">' for href in styles)
    code = "".join(f'<script src="{escape(src)}" defer></script>' for src in scripts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{links}{code}</head><body>{body}</body></html>\n"
    )


def html_response(text: str) -> web.StreamResponse:
    return secured(web.Response(text=text, content_type="text/html", charset="utf-8"))


def json_response(document: Any) -> web.StreamResponse:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return secured(web.Response(text=body, content_type="application/json", charset="utf-8"))


class Gate:
    """One page's key: in its URL once, then a cookie of its own, or a Bearer header.

    ``cookie`` names the cookie (a port's number in it keeps two servers on one host apart:
    cookies do not tell ports apart); ``path`` is where the page lives (``/board/``)."""

    def __init__(self, key: str, *, cookie: str, path: str, query: str) -> None:
        self._key = key.encode("utf-8")
        self.cookie = cookie
        self.path = path
        self.query = query

    def _matches(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode("utf-8"), self._key)

    def allows(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token:
            return self._matches(token.strip())
        cookie = request.cookies.get(self.cookie)
        return cookie is not None and self._matches(cookie)

    def entered(self, request: web.Request) -> web.StreamResponse | None:
        """With the key in the query: the cookie, and the way on to the page without it (303);
        a wrong key in the query: 401. None when the query holds no key."""
        offered = request.query.get(self.query)
        if offered is None:
            return None
        if not self._matches(offered):
            return refused()
        moved = secured(web.Response(status=303, headers={"Location": self.path}))
        moved.set_cookie(self.cookie, offered, path=self.path, httponly=True, samesite="Strict")
        return moved

    def guard(self, handler: Handler) -> Handler:
        """``handler`` behind the key (401 without it), its answer secured."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self.allows(request):
                return refused()
            return secured(await handler(request))

        return guarded


def refused() -> web.StreamResponse:
    return secured(
        web.Response(
            status=401,
            text="401: this page needs its key: open the URL printed at start, with its key\n",
            content_type="text/plain",
        )
    )


def add_page_routes(
    router: web.UrlDispatcher,
    gate: Gate,
    *,
    page: Handler,
    routes: dict[str, Handler],
) -> None:
    """The page at ``gate.path`` (entered with its key), its own routes below it (by the
    rest of their path), its static files, and a 401 or 404 for any other path below it."""
    base = gate.path

    async def front(request: web.Request) -> web.StreamResponse:
        entered = gate.entered(request)
        if entered is not None:
            return entered
        if not gate.allows(request):
            return refused()
        return secured(await page(request))

    names = static_names()

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in names:
            return not_found()
        suffix = name[name.rindex(".") :]
        return web.Response(body=static_file(name), headers={"Content-Type": _TYPES[suffix]})

    async def elsewhere(request: web.Request) -> web.StreamResponse:
        return not_found()

    router.add_get(base, front)
    for rest, handler in routes.items():
        router.add_get(base + rest, gate.guard(handler))
    router.add_get(base + "static/{name}", gate.guard(static))
    router.add_route("*", base + "{rest:.*}", gate.guard(elsewhere))


def not_found() -> web.StreamResponse:
    return secured(web.Response(status=404, text="404: no such page\n", content_type="text/plain"))
