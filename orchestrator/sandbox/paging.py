"""List answers: pages of resources with the API's envelope, PageToken cursors, and the
date filters of the Conferences and Calls lists.

A PageToken carries the position of the last item served (its sequence number),
so following next_page_uri neither skips nor repeats items when earlier ones leave.
"""

from __future__ import annotations

import base64
import binascii
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Protocol, TypeVar
from urllib.parse import urlencode

from orchestrator.sandbox.fields import invalid
from orchestrator.sandbox.model import Conference, Leg
from orchestrator.sandbox.scenario import DEFAULT_MAX_PAGE_SIZE

# Telnyx's TeXML lists default to 20 items a page; a page holds at most 1000 like Twilio's,
# unless the scenario's api.max_page_size says fewer.
DEFAULT_PAGE_SIZE: Final = 20


class Sequenced(Protocol):
    @property
    def seq(self) -> int: ...


S = TypeVar("S", bound=Sequenced)


@dataclass(frozen=True)
class Page:
    items: Sequence[Any]
    envelope: dict[str, Any]


def page(
    query: Mapping[str, str],
    path_qs: str,
    items: Sequence[S],
    base: str,
    filters: Mapping[str, str],
    *,
    max_size: int = DEFAULT_MAX_PAGE_SIZE,
) -> Page:
    """One page of ``items`` (in creation order) with the list envelope the API sends.

    ``query`` and ``path_qs`` are the request's; ``base`` is the list's path and
    ``filters`` the query keys its other pages keep. A PageSize above ``max_size``
    is a 422 pointing at /PageSize.
    """
    number = _query_int(query, "Page", 0, minimum=0)
    default = min(DEFAULT_PAGE_SIZE, max_size)
    size = _query_int(query, "PageSize", default, minimum=1, maximum=max_size)
    token = query.get("PageToken")
    if token:
        after = _decode_token(token)
        index = next((i for i, item in enumerate(items) if item.seq > after), len(items))
    else:
        index = number * size
    chunk = items[index : index + size]
    start = number * size
    end = start + len(chunk) - 1 if chunk else start
    first = f"{base}.json?{urlencode({**filters, 'Page': 0, 'PageSize': size})}"
    next_uri = None
    if index + size < len(items) and chunk:
        next_query = {
            **filters,
            "Page": number + 1,
            "PageSize": size,
            "PageToken": _encode_token(chunk[-1].seq),
        }
        next_uri = f"{base}.json?{urlencode(next_query)}"
    envelope = {
        "page": number,
        "page_size": size,
        "start": start,
        "end": end,
        "uri": path_qs,
        "first_page_uri": first,
        "next_page_uri": next_uri,
    }
    return Page(chunk, envelope)


def _query_int(
    query: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int | None = None
) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\d{1,9}", raw.strip()):
        raise invalid(name, f"{name} must be a whole number, got {raw!r}")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = (
            f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        )
        raise invalid(name, f"{name} must be {bounds}, got {value}")
    return value


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode("ascii").rstrip("=")


def _decode_token(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        prefix, _, number = text.partition(":")
        if prefix != "after":
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeError):
        raise invalid(
            "PageToken", "PageToken is not one this server gave out; start again from Page=0"
        ) from None


_DATE_OPERATORS: Final[dict[str, Callable[[date, date], bool]]] = {
    ">": operator.ge,
    "<": operator.le,
    "": operator.eq,
}


def date_filter(
    query: Mapping[str, str], field: str, items: list[Conference], filters: dict[str, str]
) -> list[Conference]:
    """DateCreated=2023-05-22, DateCreated>=2023-05-22 (sent as key 'DateCreated>') or DateCreated<=...

    Adds the keys it applied to ``filters``, so the list's other pages keep them.
    """
    for suffix in _DATE_OPERATORS:
        raw = query.get(field + suffix)
        if not raw:
            continue
        value = raw.lstrip("=<>")
        comparison = suffix or (raw[0] if raw[0] in "<>" else "")
        compare = _DATE_OPERATORS[comparison]
        try:
            wanted = date.fromisoformat(value)
        except ValueError:
            raise invalid(
                field, f"{field} must be a date such as 2023-05-22, got {raw!r}"
            ) from None
        filters[field + suffix] = raw
        attribute = "created" if field == "DateCreated" else "updated"
        items = [c for c in items if compare(getattr(c, attribute).date(), wanted)]
    return items


# The Calls list's date filters (dates only): the spec names them StartTime_gt and so on, the
# official SDK sends StartTime> (and a value "=2023-05-22" makes it "on or after").
_CALL_DATE_FIELDS: Final = {"StartTime": "created", "EndTime": "ended"}
_CALL_DATE_SUFFIXES: Final[dict[str, Callable[[date, date], bool]]] = {
    "": operator.eq,
    "_gt": operator.gt,
    ">": operator.gt,
    "_lt": operator.lt,
    "<": operator.lt,
}


def call_date_filter(
    query: Mapping[str, str], items: list[Leg], filters: dict[str, str]
) -> list[Leg]:
    """StartTime=2023-05-22, StartTime_gt=..., StartTime>=..., EndTime_lt=...: a call that has
    not ended has no end date and passes no EndTime filter."""
    for field, attribute in _CALL_DATE_FIELDS.items():
        for suffix, strictly in _CALL_DATE_SUFFIXES.items():
            key = field + suffix
            raw = query.get(key)
            if not raw:
                continue
            inclusive = raw.startswith("=") and suffix in (">", "<")
            try:
                wanted = date.fromisoformat(raw.removeprefix("=") if inclusive else raw)
            except ValueError:
                raise invalid(
                    key, f"{key} must be a date such as 2023-05-22, got {raw!r}"
                ) from None
            filters[key] = raw
            items = [
                leg
                for leg in items
                if (moment := getattr(leg, attribute)) is not None
                and (strictly(moment.date(), wanted) or (inclusive and moment.date() == wanted))
            ]
    return items
