"""The parts of the settings table that take more than one line: nested settings as dial
fields and as the values the local record keeps (never a secret)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from orchestrator.secret import Secret
from orchestrator.spec.model import (
    Callback,
    Conference,
    MachineDetection,
    Participant,
    ParticipantSettings,
)
from orchestrator.texml import contract

DialValue = contract.FieldValue | Secret
Json = Any  # what json.dumps takes


@dataclass(frozen=True)
class DialInput:
    """What a dial request is made of: the participant, its conference and the number dialed."""

    participant: Participant
    conference: Conference
    destination: str
    call_sid_to_coach: str | None = None

    @property
    def settings(self) -> ParticipantSettings:
        return self.participant.settings


Pairs = Iterable[tuple[str, DialValue | None]]


def no_fields(_: DialInput) -> Pairs:
    return ()


def callback_json(callback: Callback | None) -> Json:
    if callback is None:
        return None
    return {"url": callback.url, "method": callback.method, "events": list(callback.events)}


def callback_fields(prefix: str, callback: Callback | None) -> Pairs:
    if callback is None:
        return ()
    events = " ".join(callback.events) or None
    return (
        (prefix, callback.url),
        (prefix + "Method", callback.method),
        (prefix + "Event", events),
    )


def callback_names(prefix: str) -> tuple[str, ...]:
    return (prefix, prefix + "Method", prefix + "Event")


def same(names: Iterable[str]) -> dict[str, str]:
    return {name: name for name in names}


def recording_json(participant: Participant, _: Conference) -> Json:
    recording = participant.settings.recording
    if recording is None:
        return None
    return {
        "channels": recording.channels,
        "track": recording.track,
        "trim": recording.trim,
        "status_callback": callback_json(recording.status_callback),
    }


def recording_fields(d: DialInput) -> Pairs:
    recording = d.settings.recording
    if recording is None:
        return ()
    return (
        ("RecordingChannels", recording.channels),
        ("RecordingTrack", recording.track),
        ("Trim", recording.trim),
        *callback_fields("RecordingStatusCallback", recording.status_callback),
    )


RECORDING_FIELDS: Final = (
    "RecordingChannels",
    "RecordingTrack",
    "Trim",
    *callback_names("RecordingStatusCallback"),
)


def detection_json(participant: Participant, _: Conference) -> Json:
    detection = participant.settings.machine_detection
    if detection is None:
        return None
    found: dict[str, Json] = {
        "mode": detection.mode,
        "timeout_ms": detection.timeout_ms,
        "speech_threshold_ms": detection.speech_threshold_ms,
        "speech_end_threshold_ms": detection.speech_end_threshold_ms,
        "silence_timeout_ms": detection.silence_timeout_ms,
        "cancel_playback_on_machine_detection": detection.cancel_playback_on_machine_detection,
        "cancel_playback_on_detect_message_end": detection.cancel_playback_on_detect_message_end,
    }
    # Only when set, so records written before these settings existed still match.
    if detection.beep is not None:
        found["beep"] = {k: v for k, v in vars(detection.beep).items() if v is not None}
    for name in ("on_machine", "on_not_sure"):
        if getattr(detection, name) != "accept":
            found[name] = getattr(detection, name)
    return found


def detection_fields(d: DialInput) -> Pairs:
    detection: MachineDetection | None = d.settings.machine_detection
    if detection is None:
        return ()
    beep = detection.beep
    amd = detection.status_callback
    return (
        ("MachineDetection", detection.mode),
        ("MachineDetectionTimeout", detection.timeout_ms),
        ("MachineDetectionSpeechThreshold", detection.speech_threshold_ms),
        ("MachineDetectionSpeechEndThreshold", detection.speech_end_threshold_ms),
        ("MachineDetectionSilenceTimeout", detection.silence_timeout_ms),
        ("CancelPlaybackOnMachineDetection", detection.cancel_playback_on_machine_detection),
        ("CancelPlaybackOnDetectMessageEnd", detection.cancel_playback_on_detect_message_end),
        ("AmdStatusCallback", amd.url if amd else None),
        ("AmdStatusCallbackMethod", amd.method if amd else None),
        ("MachineDetectionBeepMinFrequency", beep.min_frequency_hz if beep else None),
        ("MachineDetectionBeepMaxFrequency", beep.max_frequency_hz if beep else None),
        ("MachineDetectionBeepMinToneDuration", beep.min_tone_duration_ms if beep else None),
        ("MachineDetectionBeepProfile", beep.profile if beep else None),
        ("MachineDetectionBeepSpectralConfirmation", beep.spectral_confirmation if beep else None),
        ("MachineDetectionBeepSpectralMinPurity", beep.spectral_min_purity if beep else None),
        (
            "MachineDetectionBeepSpectralRejectFaxCng",
            beep.spectral_reject_fax_cng if beep else None,
        ),
        ("MachineDetectionBeepSpectralWindow", beep.spectral_window_ms if beep else None),
    )


DETECTION_FIELDS: Final = tuple(f.name for f in contract.MACHINE_DETECTION_FIELDS)
# A placed call names the detection's callback AsyncAmdStatusCallback (and needs AsyncAmd).
DETECTION_CALL: Final = {
    **same(n for n in DETECTION_FIELDS if not n.startswith("AmdStatusCallback")),
    "AmdStatusCallback": "AsyncAmdStatusCallback",
    "AmdStatusCallbackMethod": "AsyncAmdStatusCallbackMethod",
}


def sip_auth_fields(d: DialInput) -> Pairs:
    auth = d.settings.sip_auth
    if auth is None:
        return ()
    return (("SipAuthUsername", auth.username), ("SipAuthPassword", auth.password))


def headers_fields(d: DialInput) -> Pairs:
    pairs = d.settings.custom_headers
    return (("CustomHeaders", [{"name": k, "value": v} for k, v in pairs] if pairs else None),)


def coach_fields(d: DialInput) -> Pairs:
    if d.participant.coach is None:
        return ()
    return (("Coaching", True), ("CallSidToCoach", d.call_sid_to_coach))
