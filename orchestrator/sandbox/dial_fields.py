"""What a dial or a placed call must carry beyond each field's type, read into what it means.

``fields.check_fields`` types each field on its own; the checks here span a
request (To and CallerId in their formats, InitiateTexmlCall's required
fields and inline TeXML) and raise the same 422 ``ApiFailure``. None of them
looks at the account's state: the simulation checks a dial against that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from orchestrator.sandbox.fields import ApiFailure, events_of, flag_of, int_of, invalid, text_of
from orchestrator.sandbox.model import Detection, Subscription
from orchestrator.texml import contract
from orchestrator.texml.contract import FieldValue

T = TypeVar("T")

# The InitiateTexmlCall fields that shape the placed leg itself (the conference side comes
# from its <Conference> noun).
INITIATE_LEG_FIELDS: Final = frozenset(
    {
        "Timeout",
        "TimeLimit",
        "CustomHeaders",
        "StatusCallback",
        "StatusCallbackMethod",
        "StatusCallbackEvent",
        "Record",
        "RecordingChannels",
        "RecordingStatusCallback",
        "RecordingStatusCallbackMethod",
        "RecordingStatusCallbackEvent",
    }
)


def destination(values: Mapping[str, FieldValue]) -> str:
    """The checked ``To``: an E.164 number or a SIP URI."""
    to = text_of(values, "To")
    if to is None:
        raise invalid(
            "To",
            "To is required: the number or SIP URI to dial",
            code=contract.CODE_MISSING_PARAMETER,
        )
    raw_to, to = to, to.strip()
    if not contract.DESTINATION_PATTERN.match(to):
        # In a form body an unescaped + arrives as a space.
        hint = (
            " (in a form body send + as %2B)" if to[:1].isdigit() and raw_to.startswith(" ") else ""
        )
        raise invalid(
            "To",
            f"To must be an E.164 number (+ and country code) or a sip: URI, got {to!r}{hint}",
        )
    return to


def check_caller_id(values: Mapping[str, FieldValue]) -> None:
    caller_id = text_of(values, "CallerId")
    if caller_id is not None and not contract.CALLER_ID_PATTERN.match(caller_id):
        raise invalid(
            "CallerId",
            f"CallerId may hold at most {contract.CALLER_ID_MAX_LENGTH} letters, digits, spaces and -_~!.+",
        )


def initiate_call_texml(values: Mapping[str, FieldValue]) -> str:
    """The inline TeXML of an InitiateTexmlCall, once its required fields are there."""
    for name, what in (
        ("From", "the caller's number"),
        ("ApplicationSid", "the TeXML application that handles the call"),
    ):
        if text_of(values, name) is None:
            raise invalid(name, f"{name} is required: {what}", code=contract.CODE_MISSING_PARAMETER)
    check_caller_id(values)
    texml = text_of(values, "Texml")
    if texml is not None:
        return texml
    if text_of(values, "Url") is not None:
        raise invalid(
            "Url",
            "the sandbox runs inline TeXML only and fetches nothing from Url:"
            " give the document itself as Texml",
        )
    raise invalid(
        "Texml",
        "Texml is required: the sandbox runs inline TeXML only (it fetches nothing"
        " from Url or from the application)",
        code=contract.CODE_MISSING_PARAMETER,
    )


def subscription(
    values: Mapping[str, FieldValue],
    name: str,
    *,
    default_events: tuple[contract.CallbackEvent, ...],
) -> Subscription | None:
    """The callback ``name`` (e.g. StatusCallback) with its Method and Event fields, if given."""
    url = text_of(values, name)
    if url is None:
        return None
    method = values.get(f"{name}Method")
    return Subscription(
        url=url,
        method=method if isinstance(method, str) else "POST",
        events=events_of(values, f"{name}Event", default_events),
    )


def detection(values: Mapping[str, FieldValue], *, placed: bool) -> Detection | None:
    """The machine detection a dial (or, ``placed``, an InitiateTexmlCall) asked for, if any.

    A placed call's detection is synchronous unless AsyncAmd is true; its result goes to
    AsyncAmdStatusCallback (a dial's to AmdStatusCallback)."""
    mode = text_of(values, "MachineDetection")
    if mode is None or mode == "Disable":
        return None
    timeout = int_of(values, "MachineDetectionTimeout")
    callback = subscription(
        values, "AsyncAmdStatusCallback" if placed else "AmdStatusCallback", default_events=()
    )
    return Detection(
        mode=mode,
        timeout_ms=contract.DEFAULT_MACHINE_DETECTION_TIMEOUT_MS if timeout is None else timeout,
        subscription=callback,
        blocking=placed and not flag_of(values, "AsyncAmd", False),
    )


def custom_headers(values: Mapping[str, FieldValue]) -> tuple[dict[str, str], ...]:
    headers = values.get("CustomHeaders")
    if not isinstance(headers, list):
        return ()
    return tuple(dict(pair) for pair in headers if isinstance(pair, dict))


def named_as_documented(raw: Mapping[str, Any], act: Callable[[], T]) -> T:
    """``act()``; a missing field that the body has under another spelling says so.

    SDK 4.189's InitiateTexmlCall sends its body's keys as given, so ``to`` or
    ``from_`` arrive as such while the API reads only PascalCase names.
    """
    try:
        return act()
    except ApiFailure as failure:
        name = (failure.pointer or "/")[1:]
        if failure.code == contract.CODE_MISSING_PARAMETER and name:
            spelled = [k for k in raw if k != name and _plain(k) == _plain(name)]
            if spelled:
                failure.detail += f" (the body has {spelled[0]!r}: field names are PascalCase)"
        raise


def _plain(name: str) -> str:
    return name.replace("_", "").lower()
