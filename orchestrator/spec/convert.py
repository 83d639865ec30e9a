"""Checked YAML values turned into the typed model's values.

These run only on files without errors, so shapes are those the schema allows;
a value still naming an unset variable (allowed when the environment is not
strict) reads as "not set" where text is not expected.
"""

from __future__ import annotations

from typing import Any

from orchestrator.secret import Secret
from orchestrator.spec.model import (
    BeepDetection,
    Callback,
    LegRecording,
    MachineAction,
    MachineDetection,
    Reconnect,
    Retry,
    SipAuth,
)


def text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def text_or_none(value: Any) -> str | None:
    """Text, with an empty value (``${VAR:-}`` and VAR unset) meaning not set."""
    return value if isinstance(value, str) and value else None


def integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def callback(value: Any) -> Callback | None:
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        return None
    events = value.get("events")
    return Callback(
        url=value["url"],
        method=text(value.get("method")),
        events=tuple(e for e in events if isinstance(e, str)) if isinstance(events, list) else (),
    )


def beep(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return text(value)


def conference_record(value: Any) -> str | None:
    if value is True or value == "true":
        return "record-from-start"
    if value is False or value == "false":
        return "do-not-record"
    return text(value)


def leg_recording(value: Any) -> LegRecording | None:
    if not isinstance(value, dict):
        return None
    return LegRecording(
        channels=text(value.get("channels")),
        track=text(value.get("track")),
        trim=text(value.get("trim")),
        status_callback=callback(value.get("status_callback")),
    )


def machine_detection(value: Any) -> MachineDetection | None:
    if not isinstance(value, dict) or not isinstance(value.get("mode"), str):
        return None
    return MachineDetection(
        mode=value["mode"],
        timeout_ms=integer(value.get("timeout_ms")),
        speech_threshold_ms=integer(value.get("speech_threshold_ms")),
        speech_end_threshold_ms=integer(value.get("speech_end_threshold_ms")),
        silence_timeout_ms=integer(value.get("silence_timeout_ms")),
        cancel_playback_on_machine_detection=flag(
            value.get("cancel_playback_on_machine_detection")
        ),
        cancel_playback_on_detect_message_end=flag(
            value.get("cancel_playback_on_detect_message_end")
        ),
        status_callback=callback(value.get("status_callback")),
        on_machine=_action(value.get("on_machine")),
        on_not_sure=_action(value.get("on_not_sure")),
        beep=_beep_detection(value),
    )


def _action(value: Any) -> MachineAction:
    return value if value in ("hangup", "next") else "accept"


def _beep_detection(value: dict[str, Any]) -> BeepDetection | None:
    found = BeepDetection(
        min_frequency_hz=integer(value.get("beep_min_frequency_hz")),
        max_frequency_hz=integer(value.get("beep_max_frequency_hz")),
        min_tone_duration_ms=integer(value.get("beep_min_tone_duration_ms")),
        profile=text(value.get("beep_profile")),
        spectral_confirmation=flag(value.get("beep_spectral_confirmation")),
        spectral_min_purity=number(value.get("beep_spectral_min_purity")),
        spectral_reject_fax_cng=flag(value.get("beep_spectral_reject_fax_cng")),
        spectral_window_ms=integer(value.get("beep_spectral_window_ms")),
    )
    return None if found == BeepDetection() else found


def reconnect(value: Any) -> Reconnect | None:
    if not isinstance(value, dict):
        return None
    attempts = integer(value.get("attempts"))
    backoff = number(value.get("backoff_s"))
    window = number(value.get("window_s"))
    return Reconnect(
        attempts=attempts if attempts is not None else 0,
        backoff_s=backoff if backoff is not None else Reconnect.backoff_s,
        window_s=window if window is not None else Reconnect.window_s,
    )


def sip_auth(value: Any) -> SipAuth | None:
    """SIP credentials; an empty password (``${VAR:-}`` with VAR unset) means dial without them."""
    if not isinstance(value, dict):
        return None
    username, password = value.get("username"), value.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not password:
        return None
    return SipAuth(username=username, password=Secret(password))


def retry(value: Any) -> Retry | None:
    if not isinstance(value, dict):
        return None
    return Retry(
        attempts=integer(value.get("attempts")) or 0,
        interval_s=number(value.get("interval_s")) or 0.0,
    )


def codecs(value: Any) -> tuple[str, ...]:
    return tuple(c for c in value if isinstance(c, str)) if isinstance(value, list) else ()


def headers(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in mapping(value).items() if isinstance(v, str))
