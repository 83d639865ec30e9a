"""Inline TeXML documents given to InitiateTexmlCall: the one shape the sandbox runs.

The sandbox executes exactly ``<Response><Dial><Conference ...>NAME</Conference>
</Dial></Response>``, the documented way to create or join a conference. The
<Conference> noun's attributes come back as the dial-participant fields they
stand for, so the simulation treats a leg that joins through TeXML like a
dialed one. Anything else is a 422 that says what is supported, rather than a
document silently half-run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final

from orchestrator.sandbox.fields import URL_FIELDS, ApiFailure, convert, invalid
from orchestrator.texml import contract
from orchestrator.texml.contract import Field, FieldValue

# A <Dial><Conference> document is a few hundred characters; the cap keeps parsing cheap.
MAX_TEXML_CHARS: Final = 16 * 1024
SUPPORTED: Final = (
    "the sandbox runs one TeXML shape: "
    "<Response><Dial><Conference attributes>NAME</Conference></Dial></Response>"
)

# Each <Conference> attribute, checked as the dial field it stands for (named as written).
_ATTRIBUTE_FIELDS: Final[dict[str, tuple[str, Field]]] = {
    "startConferenceOnEnter": ("StartConferenceOnEnter", Field("startConferenceOnEnter", "bool")),
    "endConferenceOnExit": ("EndConferenceOnExit", Field("endConferenceOnExit", "bool")),
    "muted": ("Muted", Field("muted", "bool")),
    "beep": ("Beep", Field("beep", "enum", contract.BEEP_VALUES)),
    "maxParticipants": (
        "MaxParticipants",
        Field(
            "maxParticipants",
            "int",
            minimum=contract.NOUN_MAX_PARTICIPANTS_RANGE[0],
            maximum=contract.NOUN_MAX_PARTICIPANTS_RANGE[1],
        ),
    ),
    "record": ("ConferenceRecord", Field("record", "enum", ("record-from-start", "do-not-record"))),
    "trim": ("ConferenceTrim", Field("trim", "enum", contract.TRIM_VALUES)),
    "waitUrl": ("WaitUrl", Field("waitUrl", "str")),
    "statusCallback": ("ConferenceStatusCallback", Field("statusCallback", "str")),
    "statusCallbackEvent": (
        "ConferenceStatusCallbackEvent",
        Field("statusCallbackEvent", "events", contract.CONFERENCE_STATUS_EVENTS),
    ),
    "statusCallbackMethod": (
        "ConferenceStatusCallbackMethod",
        Field("statusCallbackMethod", "enum", contract.HTTP_METHODS),
    ),
    "recordingStatusCallback": (
        "ConferenceRecordingStatusCallback",
        Field("recordingStatusCallback", "str"),
    ),
    "recordingStatusCallbackEvent": (
        "ConferenceRecordingStatusCallbackEvent",
        Field(
            "recordingStatusCallbackEvent",
            "events",
            contract.CONFERENCE_RECORDING_STATUS_EVENTS,
        ),
    ),
    "recordingStatusCallbackMethod": (
        "ConferenceRecordingStatusCallbackMethod",
        Field("recordingStatusCallbackMethod", "enum", contract.HTTP_METHODS),
    ),
}


@dataclass(frozen=True)
class ConferenceDial:
    """What a supported document does: join (or create) ``name`` with these dial fields."""

    name: str
    values: dict[str, FieldValue]


def parse_conference_dial(text: str) -> ConferenceDial:
    """The document's conference and settings; ApiFailure (422, pointer /Texml) otherwise."""
    if len(text) > MAX_TEXML_CHARS:
        raise invalid("Texml", f"Texml is longer than {MAX_TEXML_CHARS} characters")
    if "<!DOCTYPE" in text.upper():
        # No document type definitions: nothing a <Dial><Conference> needs, and entities
        # are how XML parsers are made to do unbounded work.
        raise invalid("Texml", "Texml may not declare a DOCTYPE")
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as error:
        raise invalid("Texml", f"Texml is not well-formed XML ({error})") from None
    dial = _only_child(root, "Response", "Dial")
    conference = _only_child(dial, "Dial", "Conference")
    if len(conference):
        raise invalid("Texml", f"<Conference> holds only the conference name; {SUPPORTED}")
    name = (conference.text or "").strip()
    if not contract.FRIENDLY_NAME_PATTERN.match(name):
        raise invalid(
            "Texml",
            "the <Conference> name must be 1 to 128 letters, digits, '.', '_' or '-', "
            f"got {name[:60]!r}",
        )
    return ConferenceDial(name, _attributes(conference))


def _only_child(element: ET.Element, tag: str, child_tag: str) -> ET.Element:
    """``element``, which must be a bare <tag>, holding exactly one <child_tag> and no text."""
    if element.tag != tag:
        raise invalid("Texml", f"expected <{tag}>, found <{element.tag}>; {SUPPORTED}")
    if element.attrib:
        names = ", ".join(sorted(element.attrib))
        raise invalid("Texml", f"<{tag}> attributes are not supported ({names}); {SUPPORTED}")
    children = list(element)
    if (
        len(children) != 1
        or children[0].tag != child_tag
        or (element.text or "").strip()
        or (children[0].tail or "").strip()
    ):
        found = ", ".join(f"<{c.tag}>" for c in children) or "no element"
        raise invalid(
            "Texml", f"<{tag}> must hold exactly one <{child_tag}> (found {found}); {SUPPORTED}"
        )
    return children[0]


def _attributes(conference: ET.Element) -> dict[str, FieldValue]:
    values: dict[str, FieldValue] = {}
    for attribute, raw in conference.attrib.items():
        known = _ATTRIBUTE_FIELDS.get(attribute)
        if known is None:
            raise invalid(
                "Texml",
                f"<Conference> has no attribute {attribute!r}; it takes "
                f"{', '.join(contract.CONFERENCE_NOUN_ATTRIBUTES)}",
            )
        dial_field, spec = known
        try:
            value = convert(spec, raw, url=dial_field in URL_FIELDS)
        except ApiFailure as failure:
            raise invalid("Texml", f"<Conference {attribute}>: {failure.detail}") from None
        values[dial_field] = value
    return values
