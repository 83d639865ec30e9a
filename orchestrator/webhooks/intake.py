"""Taking a callback in, for both receivers: the signature checked on the raw bytes first, then
the fields read, and nothing a sender can put in a body raising out of it.

With a public key, nothing of an unsigned or wrongly signed callback is parsed: it is refused
with 401 on its bytes alone. A body that cannot be read (deeply nested or malformed JSON,
bytes that are not UTF-8, a form whose escapes are not UTF-8, a body over the size limit) is
refused with 400 (413 for the size), with one line saying why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from orchestrator.webhooks.signing import raw_query, refusal, rejection

MAX_BODY = 1024 * 1024  # a callback is a form of a few hundred bytes


def application() -> web.Application:
    """An application whose requests' bodies are read up to MAX_BODY."""
    return web.Application(client_max_size=MAX_BODY)


class Unreadable(ValueError):
    """A callback whose fields cannot be read; the message says why, in a few words."""


def callback_fields(method: str, body: bytes, query: str, content_type: str) -> dict[str, Any]:
    """The callback's fields: from the query (GET), a form, or a JSON body; Unreadable if
    they cannot be read."""
    if method.upper() == "GET":
        return _form(query, "the query string")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("the body is not UTF-8") from None
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(text)
        except RecursionError:
            raise Unreadable("the JSON body is nested too deeply") from None
        except ValueError:
            raise Unreadable("the body is not JSON") from None
        return parsed if isinstance(parsed, dict) else {"body": parsed}
    return _form(text, "the form")


def _form(text: str, what: str) -> dict[str, Any]:
    try:
        return dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        raise Unreadable(f"{what} has escapes that are not UTF-8") from None
    except ValueError:
        raise Unreadable(f"{what} is not form-encoded") from None


@dataclass(frozen=True)
class Taken:
    """A callback whose signature holds (or that no key checks), with its fields."""

    body: bytes
    fields: dict[str, Any]


@dataclass(frozen=True)
class Refused:
    """A callback turned away: why (``rejected: ...`` or ``unreadable: ...``) and the answer."""

    verdict: str
    answer: web.Response
    size: int | None  # of the body, when it was read


async def take(request: web.Request, public_key: Ed25519PublicKey | None) -> Taken | Refused:
    """Read ``request``'s body, check its signature on the raw bytes, then read its fields."""
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        why = f"the body is over {MAX_BODY // 1024} KiB"
        return Refused(f"unreadable: {why}", _unreadable(why, 413), None)
    rejected = rejection(request, body, public_key)
    if rejected is not None:
        return Refused(f"rejected: {rejected}", refusal(rejected), len(body))
    try:
        fields = callback_fields(request.method, body, raw_query(request), request.content_type)
    except Unreadable as error:
        return Refused(f"unreadable: {error}", _unreadable(str(error), 400), len(body))
    return Taken(body, fields)


def _unreadable(why: str, status: int) -> web.Response:
    return web.json_response({"error": f"unreadable callback: {why}"}, status=status)
