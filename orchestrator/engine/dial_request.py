"""The dial request for one participant: the model translated into the API's fields.

Secrets stay wrapped in ``Secret`` here, so whatever prints a request (dry run,
logs, reports) shows ``***``; only the client's encoder reveals them on the wire.
"""

from __future__ import annotations

from orchestrator.spec.model import Callback, Conference, ConferenceSpec, Participant
from orchestrator.spec.setting_fields import DialInput
from orchestrator.spec.settings_table import SETTINGS, dial_pairs
from orchestrator.texml import contract
from orchestrator.texml.client import RequestValue


def _put(fields: dict[str, RequestValue], name: str, value: RequestValue | None) -> None:
    if value is not None:
        fields[name] = value


def _put_callback(fields: dict[str, RequestValue], prefix: str, callback: Callback | None) -> None:
    if callback is None:
        return
    fields[prefix] = callback.url
    _put(fields, prefix + "Method", callback.method)
    if callback.events:
        fields[prefix + "Event"] = " ".join(callback.events)


def _conference_fields(conference: Conference) -> dict[str, RequestValue]:
    """The conference's own settings, which every dial carries (the one creating it uses them)."""
    fields: dict[str, RequestValue] = {}
    _put(fields, "MaxParticipants", conference.max_participants)
    _put_callback(fields, "ConferenceStatusCallback", conference.status_callback)
    _put(fields, "ConferenceRecord", conference.record)
    recording = conference.recording
    if recording is not None:
        _put(fields, "ConferenceTrim", recording.trim)
        _put(fields, "ConferenceRecordingTimeout", recording.timeout)
        _put_callback(fields, "ConferenceRecordingStatusCallback", recording.status_callback)
    return fields


# Who is called, and by whom, lead the request; the participant's other settings follow.
_LEADING = ("To", "From")


def dial_fields(
    spec: ConferenceSpec,
    participant: Participant,
    destination: str,
    *,
    creates_conference: bool,
    call_sid_to_coach: str | None = None,
) -> dict[str, RequestValue]:
    """Every field of the dial request, in a stable order: the settings table's, then the
    conference's.

    ``creates_conference``: the dial addresses the conference by friendly name and
    may create it, so it carries the ApplicationSid.
    """
    conference = spec.conference
    settings = dial_pairs(DialInput(participant, conference, destination, call_sid_to_coach))
    fields: dict[str, RequestValue] = {k: settings[k] for k in _LEADING if k in settings}
    fields["Label"] = participant.name
    if creates_conference:
        _put(fields, "ApplicationSid", conference.application_sid)
    fields.update((k, v) for k, v in settings.items() if k not in _LEADING)
    fields.update(_conference_fields(conference))
    return fields


# Dial fields that become attributes of the TeXML <Conference> noun when a call creates the
# conference (InitiateTexmlCall), because dialing into a friendly name was refused: the
# participant's, as the settings table names them, and the conference's own.
_NOUN_ATTRIBUTES: dict[str, str] = {
    **{name: attribute for s in SETTINGS for name, attribute in s.noun.items()},
    "MaxParticipants": "maxParticipants",
    "ConferenceRecord": "record",
    "ConferenceTrim": "trim",
    "ConferenceStatusCallback": "statusCallback",
    "ConferenceStatusCallbackEvent": "statusCallbackEvent",
    "ConferenceStatusCallbackMethod": "statusCallbackMethod",
    "ConferenceRecordingStatusCallback": "recordingStatusCallback",
    "ConferenceRecordingStatusCallbackEvent": "recordingStatusCallbackEvent",
    "ConferenceRecordingStatusCallbackMethod": "recordingStatusCallbackMethod",
}
# Dial fields that InitiateTexmlCall takes (the call's own settings), under its names.
_CALL_FIELDS: dict[str, str] = {name: renamed for s in SETTINGS for name, renamed in s.call.items()}


def conference_texml(name: str, fields: dict[str, RequestValue]) -> str:
    """``<Response><Dial><Conference ...>NAME</Conference></Dial></Response>`` for the fields."""
    from xml.sax.saxutils import escape, quoteattr

    attributes = []
    for field, attribute in _NOUN_ATTRIBUTES.items():
        value = fields.get(field)
        if value is None or isinstance(value, list):
            continue
        if field == "MaxParticipants" and isinstance(value, int):
            # The noun takes fewer than a dial does; the run's dials ask for the rest.
            value = min(value, contract.NOUN_MAX_PARTICIPANTS_RANGE[1])
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        attributes.append(f" {attribute}={quoteattr(text)}")
    return (
        f"<Response><Dial><Conference{''.join(attributes)}>{escape(name)}</Conference>"
        "</Dial></Response>"
    )


def initiate_call_fields(
    spec: ConferenceSpec, participant: Participant, destination: str
) -> dict[str, RequestValue]:
    """InitiateTexmlCall's fields for the participant whose call creates the conference.

    The call runs inline TeXML that joins (or creates) the conference by its friendly
    name, carrying the participant's conference settings as attributes. TeXML's
    <Conference> takes no Label, so this participant is known by its call SID.
    """
    dial = dial_fields(spec, participant, destination, creates_conference=True)
    fields: dict[str, RequestValue] = {
        renamed: dial[name] for name, renamed in _CALL_FIELDS.items() if name in dial
    }
    if "MachineDetection" in dial:
        # A dialed leg joins while detection runs; a placed call does so only with AsyncAmd.
        fields["AsyncAmd"] = True
    _put(fields, "ApplicationSid", spec.conference.application_sid)
    fields["Texml"] = conference_texml(spec.conference.name, dial)
    return fields
