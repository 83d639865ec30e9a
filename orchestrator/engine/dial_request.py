"""The dial request for one participant: the model translated into the API's fields.

Secrets stay wrapped in ``Secret`` here, so whatever prints a request (dry run,
logs, reports) shows ``***``; only the client's encoder reveals them on the wire.
"""

from __future__ import annotations

from orchestrator.spec.model import Callback, ConferenceSpec, Participant
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


def dial_fields(
    spec: ConferenceSpec,
    participant: Participant,
    destination: str,
    *,
    creates_conference: bool,
    call_sid_to_coach: str | None = None,
) -> dict[str, RequestValue]:
    """Every field of the dial request, in a stable order.

    ``creates_conference``: the dial addresses the conference by friendly name and
    may create it, so it carries the ApplicationSid.
    """
    conference = spec.conference
    settings = participant.settings
    fields: dict[str, RequestValue] = {"To": destination}
    _put(fields, "From", settings.from_ or conference.from_)
    _put(fields, "Label", participant.name)
    if creates_conference:
        _put(fields, "ApplicationSid", conference.application_sid)
    _put(fields, "CallerId", settings.caller_id)
    _put(fields, "Timeout", settings.timeout)
    _put(fields, "TimeLimit", settings.time_limit)
    _put(fields, "EarlyMedia", settings.early_media)
    if settings.preferred_codecs:
        fields["PreferredCodecs"] = ",".join(settings.preferred_codecs)
    if settings.sip_auth is not None:
        fields["SipAuthUsername"] = settings.sip_auth.username
        fields["SipAuthPassword"] = settings.sip_auth.password
    if settings.custom_headers:
        fields["CustomHeaders"] = [{"name": k, "value": v} for k, v in settings.custom_headers]

    _put(fields, "Beep", settings.beep)
    _put(fields, "Muted", settings.muted)
    _put(fields, "StartConferenceOnEnter", settings.start_conference_on_enter)
    _put(fields, "EndConferenceOnExit", settings.end_conference_on_exit)
    _put(fields, "WaitUrl", settings.wait_url or conference.wait_url)
    _put(fields, "MaxParticipants", conference.max_participants)
    if participant.coach is not None:
        fields["Coaching"] = True
        _put(fields, "CallSidToCoach", call_sid_to_coach)

    _put_callback(fields, "StatusCallback", settings.status_callback)
    _put_callback(fields, "ConferenceStatusCallback", conference.status_callback)

    detection = settings.machine_detection
    if detection is not None:
        fields["MachineDetection"] = detection.mode
        _put(fields, "MachineDetectionTimeout", detection.timeout_ms)
        _put(fields, "MachineDetectionSpeechThreshold", detection.speech_threshold_ms)
        _put(fields, "MachineDetectionSpeechEndThreshold", detection.speech_end_threshold_ms)
        _put(fields, "MachineDetectionSilenceTimeout", detection.silence_timeout_ms)
        _put(
            fields,
            "CancelPlaybackOnMachineDetection",
            detection.cancel_playback_on_machine_detection,
        )
        _put(
            fields,
            "CancelPlaybackOnDetectMessageEnd",
            detection.cancel_playback_on_detect_message_end,
        )
        if detection.status_callback is not None:
            fields["AmdStatusCallback"] = detection.status_callback.url
            _put(fields, "AmdStatusCallbackMethod", detection.status_callback.method)
        beep = detection.beep
        if beep is not None:
            _put(fields, "MachineDetectionBeepMinFrequency", beep.min_frequency_hz)
            _put(fields, "MachineDetectionBeepMaxFrequency", beep.max_frequency_hz)
            _put(fields, "MachineDetectionBeepMinToneDuration", beep.min_tone_duration_ms)
            _put(fields, "MachineDetectionBeepProfile", beep.profile)
            _put(fields, "MachineDetectionBeepSpectralConfirmation", beep.spectral_confirmation)
            _put(fields, "MachineDetectionBeepSpectralMinPurity", beep.spectral_min_purity)
            _put(fields, "MachineDetectionBeepSpectralRejectFaxCng", beep.spectral_reject_fax_cng)
            _put(fields, "MachineDetectionBeepSpectralWindow", beep.spectral_window_ms)

    _put(fields, "Record", settings.record)
    recording = settings.recording
    if recording is not None:
        _put(fields, "RecordingChannels", recording.channels)
        _put(fields, "RecordingTrack", recording.track)
        _put(fields, "Trim", recording.trim)
        _put_callback(fields, "RecordingStatusCallback", recording.status_callback)

    _put(fields, "ConferenceRecord", conference.record)
    conference_recording = conference.recording
    if conference_recording is not None:
        _put(fields, "ConferenceTrim", conference_recording.trim)
        _put(fields, "ConferenceRecordingTimeout", conference_recording.timeout)
        _put_callback(
            fields, "ConferenceRecordingStatusCallback", conference_recording.status_callback
        )
    return fields


# Dial fields that become attributes of the TeXML <Conference> noun when a call creates the
# conference (InitiateTexmlCall), because dialing into a friendly name was refused.
_NOUN_ATTRIBUTES: dict[str, str] = {
    "StartConferenceOnEnter": "startConferenceOnEnter",
    "EndConferenceOnExit": "endConferenceOnExit",
    "Muted": "muted",
    "Beep": "beep",
    "MaxParticipants": "maxParticipants",
    "ConferenceRecord": "record",
    "ConferenceTrim": "trim",
    "WaitUrl": "waitUrl",
    "ConferenceStatusCallback": "statusCallback",
    "ConferenceStatusCallbackEvent": "statusCallbackEvent",
    "ConferenceStatusCallbackMethod": "statusCallbackMethod",
    "ConferenceRecordingStatusCallback": "recordingStatusCallback",
    "ConferenceRecordingStatusCallbackEvent": "recordingStatusCallbackEvent",
    "ConferenceRecordingStatusCallbackMethod": "recordingStatusCallbackMethod",
}
# Dial fields that InitiateTexmlCall takes as they are (the call's own settings).
_CALL_FIELDS: tuple[str, ...] = (
    "To",
    "From",
    "CallerId",
    "Timeout",
    "TimeLimit",
    "PreferredCodecs",
    "SipAuthUsername",
    "SipAuthPassword",
    "CustomHeaders",
    "StatusCallback",
    "StatusCallbackMethod",
    "StatusCallbackEvent",
    "MachineDetection",
    "MachineDetectionTimeout",
    "MachineDetectionSpeechThreshold",
    "MachineDetectionSpeechEndThreshold",
    "MachineDetectionSilenceTimeout",
    "MachineDetectionBeepMinFrequency",
    "MachineDetectionBeepMaxFrequency",
    "MachineDetectionBeepMinToneDuration",
    "MachineDetectionBeepProfile",
    "MachineDetectionBeepSpectralConfirmation",
    "MachineDetectionBeepSpectralMinPurity",
    "MachineDetectionBeepSpectralRejectFaxCng",
    "MachineDetectionBeepSpectralWindow",
    "CancelPlaybackOnMachineDetection",
    "CancelPlaybackOnDetectMessageEnd",
    "Record",
    "RecordingChannels",
    "RecordingTrack",
    "RecordingStatusCallback",
    "RecordingStatusCallbackMethod",
    "RecordingStatusCallbackEvent",
    "Trim",
)


def conference_texml(name: str, fields: dict[str, RequestValue]) -> str:
    """``<Response><Dial><Conference ...>NAME</Conference></Dial></Response>`` for the fields."""
    from xml.sax.saxutils import escape, quoteattr

    attributes = []
    for field, attribute in _NOUN_ATTRIBUTES.items():
        value = fields.get(field)
        if value is None or isinstance(value, list):
            continue
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
    fields: dict[str, RequestValue] = {name: dial[name] for name in _CALL_FIELDS if name in dial}
    if "MachineDetection" in dial:
        # A dialed leg joins while detection runs; a placed call does so only with AsyncAmd,
        # and it names the detection's callback AsyncAmdStatusCallback.
        fields["AsyncAmd"] = True
        for name in ("AmdStatusCallback", "AmdStatusCallbackMethod"):
            _put(fields, f"Async{name}", dial.get(name))
    _put(fields, "ApplicationSid", spec.conference.application_sid)
    fields["Texml"] = conference_texml(spec.conference.name, dial)
    return fields
