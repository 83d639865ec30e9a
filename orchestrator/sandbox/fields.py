"""Request bodies: decoding form and JSON bodies and checking them against the contract.

The API documents form bodies (booleans as "true"/"false") and the official SDK
sends JSON with the same PascalCase names, so both arrive here as one mapping
of names to raw values and leave as typed values. Fields the contract does not
know are ignored, as the real API tolerates extra fields; a known field with a
wrong type or value is an ``ApiFailure`` answered with 422.

``ApiFailure`` and its usual shapes (422, 400, 404) live here because every
check raises them; routes turn them into the Telnyx error body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web
from yarl import URL

from orchestrator.texml import contract
from orchestrator.texml.contract import Field, FieldKind, FieldValue

# Fields that name a URL the sandbox will call: they must be absolute http(s) URLs.
URL_FIELDS: Final = frozenset(
    {
        "StatusCallback",
        "ConferenceStatusCallback",
        "AmdStatusCallback",
        "AsyncAmdStatusCallback",
        "RecordingStatusCallback",
        "ConferenceRecordingStatusCallback",
        "WaitUrl",
        "HoldUrl",
        "AnnounceUrl",
    }
)

_TRUE: Final = frozenset({"true"})
_FALSE: Final = frozenset({"false"})


class ApiFailure(Exception):
    """An error answer: HTTP status plus the one error object of the Telnyx error body."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.pointer = pointer
        self.headers = headers

    def body(self) -> contract.ErrorBody:
        error: contract.ErrorObject = {
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        }
        if self.pointer is not None:
            error["source"] = {"pointer": self.pointer}
        return {"errors": [error]}


# A 422's title by its code: the spec's examples' titles, and ours for 10015.
_TITLES: Final = {
    contract.CODE_MISSING_PARAMETER: "Missing required parameter",
    contract.CODE_INVALID_PARAMETER_TYPE: "Invalid parameter type",
    contract.CODE_INVALID_ENUMERATED_VALUE: "Invalid enumerated value",
}


def invalid(field: str, detail: str, *, code: str = contract.CODE_BAD_REQUEST) -> ApiFailure:
    """A 422 pointing at ``field``; ``code`` 10015 (ours) where the spec shows no code."""
    return ApiFailure(422, code, _TITLES.get(code, "Invalid value"), detail, pointer=f"/{field}")


def wrong_type(field: str, detail: str) -> ApiFailure:
    """A 422 for a value of the wrong type, as the spec's example (10026)."""
    return invalid(field, detail, code=contract.CODE_INVALID_PARAMETER_TYPE)


def not_one_of(field: str, detail: str) -> ApiFailure:
    """A 422 for a value outside the field's enum, as the spec's example (10032)."""
    return invalid(field, detail, code=contract.CODE_INVALID_ENUMERATED_VALUE)


def malformed(detail: str) -> ApiFailure:
    return ApiFailure(400, contract.CODE_BAD_REQUEST, "Bad request", detail)


def not_found(detail: str) -> ApiFailure:
    return ApiFailure(404, contract.CODE_NOT_FOUND, "Resource not found", detail)


async def read_body(request: web.Request, *, json_bodies: bool) -> dict[str, Any]:
    """The request's fields, from a JSON or a form body; {} when there is none.

    ``json_bodies=False``: only form bodies are taken, anything else is a 415.
    """
    try:
        return await _read_body(request, json_bodies=json_bodies)
    except web.HTTPRequestEntityTooLarge:
        raise ApiFailure(
            413, contract.CODE_BAD_REQUEST, "Request too large", "the request body is too large"
        ) from None


async def _read_body(request: web.Request, *, json_bodies: bool) -> dict[str, Any]:
    content_type = request.content_type
    if not request.body_exists:
        return {}
    if content_type in (contract.FORM_MEDIA_TYPE, "multipart/form-data"):
        try:
            form = await request.post()
        except ValueError:
            raise malformed("the form body could not be decoded") from None
        return {key: value for key, value in form.items() if isinstance(value, str)}
    if not json_bodies:
        if not (await request.read()).strip():
            return {}
        raise ApiFailure(
            415,
            contract.CODE_UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            f"send the body as {contract.FORM_MEDIA_TYPE}, not {content_type}; nothing was done",
        )
    if content_type == contract.JSON_MEDIA_TYPE or content_type.endswith("+json"):
        return decode_json(await request.read())
    raw = await request.read()
    if not raw.strip():
        return {}
    if raw.lstrip().startswith(b"{"):
        return decode_json(raw)
    raise malformed(
        f"send the body as application/x-www-form-urlencoded or application/json, not {content_type}"
    )


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# JSON as RFC 8259 has it: Python's parser would also take NaN and Infinity.
_JSON: Final = json.JSONDecoder(parse_constant=_not_json)


def decode_json(raw: bytes) -> dict[str, Any]:
    try:
        data = _JSON.decode(raw.decode("utf-8"))
    except RecursionError:  # a body within the size limit can nest deeper than the parser goes
        raise malformed("the JSON request body is nested too deeply") from None
    except (UnicodeDecodeError, ValueError):
        raise malformed("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise malformed("the JSON request body must be an object of PascalCase fields")
    return data


def check_fields(raw: Mapping[str, Any], fields: Mapping[str, Field]) -> dict[str, FieldValue]:
    """Typed values of the known fields in ``raw``, in the contract's order; the first bad one
    in that order raises ApiFailure (422)."""
    # A request carries a few of the many fields: look those up, then put them in order.
    order = _order_of(fields)
    given = [name for name in raw if name in order and raw[name] is not None]
    if len(given) > 1:
        given.sort(key=order.__getitem__)
    return {name: convert(fields[name], raw[name]) for name in given}


# Each contract mapping's names by their place in it (kept with the mapping, so an id is never
# taken for another's).
_ORDERS: dict[int, tuple[Mapping[str, Field], dict[str, int]]] = {}


def _order_of(fields: Mapping[str, Field]) -> dict[str, int]:
    known = _ORDERS.get(id(fields))
    if known is None or known[0] is not fields:
        known = _ORDERS[id(fields)] = (fields, {name: i for i, name in enumerate(fields)})
    return known[1]


def convert(spec: Field, value: Any, *, url: bool | None = None) -> FieldValue:
    """``value`` typed as ``spec`` says; ``url``: a string must be an http(s) URL (default:
    when the field is one of URL_FIELDS)."""
    if spec.kind == "str":
        return _text(spec, value, url=spec.name in URL_FIELDS if url is None else url)
    return _CONVERTERS[spec.kind](spec, value)


def _text(spec: Field, value: Any, *, url: bool) -> str:
    if not isinstance(value, str):
        raise wrong_type(spec.name, f"{spec.name} must be a string, got {_shown(spec, value)}")
    if url and value:
        _check_url(spec.name, value)
    return value


def _choice(spec: Field, value: Any) -> str:
    if isinstance(value, bool) and "true" in spec.choices:
        value = "true" if value else "false"
    if not isinstance(value, str) or value not in spec.choices:
        raise not_one_of(
            spec.name,
            f"{spec.name} must be one of {', '.join(spec.choices)}, got {_shown(spec, value)}",
        )
    return value


def _boolean(spec: Field, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise wrong_type(spec.name, f"{spec.name} must be true or false, got {_shown(spec, value)}")


def _integer(spec: Field, value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", value)
    ):
        number = int(value)
    if number is None:
        raise wrong_type(
            spec.name, f"{spec.name} must be a whole number, got {_shown(spec, value)}"
        )
    low, high = spec.minimum, spec.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        if low is not None and high is not None:
            bounds = f"between {low} and {high}"
        elif low is not None:
            bounds = f"at least {low}"
        else:
            bounds = f"at most {high}"
        raise invalid(spec.name, f"{spec.name} must be {bounds}, got {number}")
    return number


def _float(spec: Field, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise wrong_type(spec.name, f"{spec.name} must be a number, got {_shown(spec, value)}")


def _events(spec: Field, value: Any) -> str:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        tokens = list(value)
    elif isinstance(value, str):
        tokens = value.split()
    else:
        raise wrong_type(
            spec.name, f"{spec.name} must be space-separated events, got {_shown(spec, value)}"
        )
    for token in tokens:
        if token not in spec.choices:
            raise not_one_of(
                spec.name,
                f"{spec.name} may hold only {', '.join(spec.choices)}; {token!r} is not one of them",
            )
    return " ".join(tokens)


def _headers(spec: Field, value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = _JSON.decode(value)
        except (ValueError, RecursionError):
            raise wrong_type(
                spec.name,
                f'{spec.name} in a form body must be a JSON array such as [{{"name": "X-A", "value": "1"}}]',
            ) from None
    if not isinstance(value, list):
        raise wrong_type(spec.name, f"{spec.name} must be a list of {{name, value}} objects")
    headers: list[dict[str, str]] = []
    for item in value:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value"), str)
            or not item["name"]
        ):
            raise wrong_type(
                spec.name, f"{spec.name} entries must be objects with string name and value"
            )
        headers.append({"name": item["name"], "value": item["value"]})
    return headers


# How a field of each kind but "str" (which may be a URL) is read.
_CONVERTERS: Final[dict[FieldKind, Callable[[Field, Any], FieldValue]]] = {
    "bool": _boolean,
    "int": _integer,
    "float": _float,
    "enum": _choice,
    "events": _events,
    "headers": _headers,
}


def _check_url(name: str, value: str) -> None:
    try:
        url = URL(value)
    except (ValueError, IndexError):  # yarl's IndexError: some bracketed hosts
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise invalid(name, f"{name} must be an absolute http:// or https:// URL")


def _shown(spec: Field, value: Any) -> str:
    if spec.secret:
        return "a value of the wrong type"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def events_of(
    values: Mapping[str, FieldValue], name: str, default: tuple[str, ...]
) -> frozenset[str]:
    value = values.get(name)
    if not isinstance(value, str):
        return frozenset(default)
    return frozenset(value.split())


def text_of(values: Mapping[str, FieldValue], name: str) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) and value else None


def flag_of(values: Mapping[str, FieldValue], name: str, default: bool) -> bool:
    value = values.get(name)
    return value if isinstance(value, bool) else default


def int_of(values: Mapping[str, FieldValue], name: str) -> int | None:
    value = values.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
