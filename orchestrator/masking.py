"""How numbers, URLs and received text are shown wherever output leaves the process.

Reports end up in CI logs and chat. A number keeps its country and area code
and its last four digits; a URL keeps where it points but not who it logs in
as nor its query string, which often carries a token. Text that came from
outside (a callback's fields) is printed with its control characters escaped,
so that it can neither start a line of its own nor drive the terminal.
"""

from __future__ import annotations

import re
import unicodedata

from yarl import URL

MASK = "\u2022\u2022\u2022"  # •••
HIDDEN = "***"

# A scheme as RFC 3986 spells it, then "//": all that is shown of a URL that cannot be parsed.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


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


def read_url(url: str) -> URL | None:
    """``url`` as the HTTP client (yarl) reads it: absolute, with a scheme and a host; None
    when it cannot be read so, or when it reads ambiguously.

    A password holding an unencoded ``#``, ``/``, ``?``, ``[`` or ``]`` makes the rest of it
    look like a port, a path or a fragment. Where that still parses, an ``@`` is left after
    the host: the client then takes part of the credentials for the host
    (``https://ci:12#pw@host`` goes to host ``ci``, port 12). Such a URL is not read.
    """
    if _SCHEME.match(url) is None:
        return None
    try:
        parsed = URL(url)
    # yarl raises IndexError for some bracketed hosts ("https://u:[]@?"): unreadable all the same.
    except (ValueError, TypeError, UnicodeError, IndexError):
        return None
    if not parsed.is_absolute() or not parsed.host:
        return None
    if "@" in parsed.raw_path or "@" in parsed.raw_query_string or "@" in parsed.raw_fragment:
        return None
    return parsed


def shown_url(url: str) -> str:
    """The one way a URL is printed: https://user:pw@host/path?token=x#y ->
    https://***@host/path?***.

    What ``read_url`` cannot read is hidden whole (https://***), never printed. Text without
    a scheme is shown only when it holds none of ``:@?#`` (a path at most).
    """
    head = _SCHEME.match(url)
    if head is None and url.isprintable() and not any(c in url for c in ":@?#"):
        return url  # nothing that could be credentials, a port or a query
    parsed = read_url(url)
    if parsed is None:
        return f"{head.group(0).lower()}{HIDDEN}" if head else HIDDEN
    try:
        shown = str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError, UnicodeError):
        return f"{parsed.scheme}://{HIDDEN}"
    if parsed.user is not None or parsed.password is not None:
        shown = shown.replace("://", f"://{HIDDEN}@", 1)
    if parsed.raw_query_string or parsed.raw_fragment or "?" in url or "#" in url:
        shown += f"?{HIDDEN}"
    return shown


# Characters that must not reach a terminal or a log as they are: control characters (C0,
# DEL, C1), line and paragraph separators, and invisible format characters (bidirectional
# overrides among them, which reorder what is shown).
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str, *, limit: int | None = None) -> str:
    """``text`` safe to print within one line: control characters, line breaks and invisible
    format characters escaped (``\\n``, ``\\x1b``, ``\\u202e``), backslashes doubled (so an
    escape cannot be forged), and cut to ``limit`` characters with an ellipsis."""
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "\u2026"
    if text.isprintable() and "\\" not in text:
        return text  # the common case, at C speed
    return "".join(
        _escaped(c) if c == "\\" or unicodedata.category(c) in _UNPRINTABLE else c for c in text
    )
