"""How numbers and URLs are shown wherever output leaves the process: never whole.

Reports end up in CI logs and chat. A number keeps its country and area code
and its last four digits; a URL keeps where it points but not who it logs in
as nor its query string, which often carries a token.
"""

from __future__ import annotations

import re

from yarl import URL

MASK = "\u2022\u2022\u2022"  # •••
HIDDEN = "***"


def mask_destination(destination: str) -> str:
    """+12065550100 -> +1206•••0100; sip:carol@host -> sip:c•••@host."""
    if destination.startswith(("sip:", "sips:")):
        scheme, _, rest = destination.partition(":")
        user, at, host = rest.partition("@")
        if not at:
            return destination
        return f"{scheme}:{user[:1]}{MASK}@{host}"
    digits = re.sub(r"\D", "", destination)
    if len(digits) <= 6:
        return destination
    keep_head = 5 if destination.startswith("+") else 4
    return destination[:keep_head] + MASK + destination[-4:]


def shown_url(url: str) -> str:
    """https://user:pw@host/path?token=x -> https://***@host/path?***; not a URL: unchanged."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return url
    if not parsed.is_absolute() or parsed.scheme not in ("http", "https"):
        return url
    shown = str(parsed.with_user(None).with_query(None).with_fragment(None))
    if parsed.user is not None or parsed.password is not None:
        shown = shown.replace("://", f"://{HIDDEN}@", 1)
    if parsed.query_string or parsed.fragment:
        shown += f"?{HIDDEN}"
    return shown
