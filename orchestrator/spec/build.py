"""The typed model built from a file's checked values.

Runs only on files without errors, so shapes are those the schema allows; a
value still naming an unset variable (allowed when the environment is not
strict, or when only dials use it) reads as "not set" where text is not
expected, and the participants whose dial request carries it name it
(``Participant.unset``).
"""

from __future__ import annotations

from typing import Any

from orchestrator.secret import Secret
from orchestrator.spec.context import FileCheck
from orchestrator.spec.model import (
    BeepDetection,
    Callback,
    Conference,
    ConferenceRecording,
    ConferenceSpec,
    JsonPath,
    LegRecording,
    MachineAction,
    MachineDetection,
    Participant,
    ParticipantSettings,
    Reconnect,
    Retry,
    SipAuth,
    UnsetVariable,
)
from orchestrator.spec.paths import format_path
from orchestrator.spec.rules import participant_entries
from orchestrator.spec.settings import DEFAULT_ROLE, PARTICIPANT_ONLY_KEYS, MergedSettings


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _text_or_none(value: Any) -> str | None:
    """Text, with an empty value (``${VAR:-}`` and VAR unset) meaning not set."""
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _callback(value: Any) -> Callback | None:
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        return None
    events = value.get("events")
    return Callback(
        url=value["url"],
        method=_text(value.get("method")),
        events=tuple(e for e in events if isinstance(e, str)) if isinstance(events, list) else (),
    )


def _beep(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


def _conference_record(value: Any) -> str | None:
    if value is True or value == "true":
        return "record-from-start"
    if value is False or value == "false":
        return "do-not-record"
    return _text(value)


def _leg_recording(value: Any) -> LegRecording | None:
    if not isinstance(value, dict):
        return None
    return LegRecording(
        channels=_text(value.get("channels")),
        track=_text(value.get("track")),
        trim=_text(value.get("trim")),
        status_callback=_callback(value.get("status_callback")),
    )


def _machine_detection(value: Any) -> MachineDetection | None:
    if not isinstance(value, dict) or not isinstance(value.get("mode"), str):
        return None
    return MachineDetection(
        mode=value["mode"],
        timeout_ms=_int(value.get("timeout_ms")),
        speech_threshold_ms=_int(value.get("speech_threshold_ms")),
        speech_end_threshold_ms=_int(value.get("speech_end_threshold_ms")),
        silence_timeout_ms=_int(value.get("silence_timeout_ms")),
        cancel_playback_on_machine_detection=_bool(
            value.get("cancel_playback_on_machine_detection")
        ),
        cancel_playback_on_detect_message_end=_bool(
            value.get("cancel_playback_on_detect_message_end")
        ),
        status_callback=_callback(value.get("status_callback")),
        on_machine=_action(value.get("on_machine")),
        on_not_sure=_action(value.get("on_not_sure")),
        beep=_beep_detection(value),
    )


def _action(value: Any) -> MachineAction:
    return value if value in ("hangup", "next") else "accept"


def _beep_detection(value: dict[str, Any]) -> BeepDetection | None:
    beep = BeepDetection(
        min_frequency_hz=_int(value.get("beep_min_frequency_hz")),
        max_frequency_hz=_int(value.get("beep_max_frequency_hz")),
        min_tone_duration_ms=_int(value.get("beep_min_tone_duration_ms")),
        profile=value.get("beep_profile") if isinstance(value.get("beep_profile"), str) else None,
        spectral_confirmation=_bool(value.get("beep_spectral_confirmation")),
        spectral_min_purity=_float(value.get("beep_spectral_min_purity")),
        spectral_reject_fax_cng=_bool(value.get("beep_spectral_reject_fax_cng")),
        spectral_window_ms=_int(value.get("beep_spectral_window_ms")),
    )
    return None if beep == BeepDetection() else beep


def _reconnect(value: Any) -> Reconnect | None:
    if not isinstance(value, dict):
        return None
    attempts = _int(value.get("attempts"))
    backoff = _float(value.get("backoff_s"))
    window = _float(value.get("window_s"))
    return Reconnect(
        attempts=attempts if attempts is not None else 0,
        backoff_s=backoff if backoff is not None else Reconnect.backoff_s,
        window_s=window if window is not None else Reconnect.window_s,
    )


def _sip_auth(value: Any) -> SipAuth | None:
    """SIP credentials; an empty password (``${VAR:-}`` with VAR unset) means dial without them."""
    if not isinstance(value, dict):
        return None
    username, password = value.get("username"), value.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not password:
        return None
    return SipAuth(username=username, password=Secret(password))


def _retry(value: Any) -> Retry | None:
    if not isinstance(value, dict):
        return None
    return Retry(
        attempts=_int(value.get("attempts")) or 0,
        interval_s=_float(value.get("interval_s")) or 0.0,
    )


def _settings(values: dict[str, Any]) -> ParticipantSettings:
    codecs = values.get("preferred_codecs")
    headers = _mapping(values.get("custom_headers"))
    return ParticipantSettings(
        from_=_text_or_none(values.get("from")),
        caller_id=_text_or_none(values.get("caller_id")),
        timeout=_int(values.get("timeout")),
        time_limit=_int(values.get("time_limit")),
        muted=_bool(values.get("muted")),
        hold=_bool(values.get("hold")),
        beep=_beep(values.get("beep")),
        start_conference_on_enter=_bool(values.get("start_conference_on_enter")),
        end_conference_on_exit=_bool(values.get("end_conference_on_exit")),
        early_media=_bool(values.get("early_media")),
        wait_url=_text_or_none(values.get("wait_url")),
        record=_bool(values.get("record")),
        recording=_leg_recording(values.get("recording")),
        machine_detection=_machine_detection(values.get("machine_detection")),
        status_callback=_callback(values.get("status_callback")),
        sip_auth=_sip_auth(values.get("sip_auth")),
        preferred_codecs=(
            tuple(c for c in codecs if isinstance(c, str)) if isinstance(codecs, list) else ()
        ),
        custom_headers=tuple((k, v) for k, v in headers.items() if isinstance(v, str)),
        retry=_retry(values.get("retry")),
        reconnect=_reconnect(values.get("reconnect")),
    )


def _conference(value: dict[str, Any]) -> Conference:
    recording = value.get("recording")
    return Conference(
        name=str(value.get("name", "")),
        sid=_text_or_none(value.get("sid")),
        application_sid=_text_or_none(value.get("application_sid")),
        from_=_text_or_none(value.get("from")),
        max_participants=_int(value.get("max_participants")),
        wait_url=_text_or_none(value.get("wait_url")),
        status_callback=_callback(value.get("status_callback")),
        record=_conference_record(value.get("record")),
        recording=(
            ConferenceRecording(
                trim=_text(recording.get("trim")),
                timeout=_int(recording.get("timeout")),
                status_callback=_callback(recording.get("status_callback")),
            )
            if isinstance(recording, dict)
            else None
        ),
        allow_duplicate_numbers=value.get("allow_duplicate_numbers") is True,
    )


def _unset_for(check: FileCheck, index: int, merged: MergedSettings) -> tuple[UnsetVariable, ...]:
    """The unset variables of the values ``participants[index]``'s dial request carries: its
    own entry's, those of the settings it takes from defaults or a role, the conference's."""
    if not check.unset:
        return ()
    own: JsonPath = ("participants", index)
    inherited = [origin for origin in merged.origins.values() if origin[:2] != own]
    found: list[UnsetVariable] = []
    for path, names in check.unset.items():
        if (
            path[0] in ("account_sid", "conference")
            or path[:2] == own
            or any(path[: len(origin)] == origin for origin in inherited)
        ):
            location, where, setting = check.location(path), format_path(path), _setting_of(path)
            found.extend(UnsetVariable(name, location, where, setting) for name in names)
    return tuple(found)


def _setting_of(path: JsonPath) -> str | None:
    match path:
        case ("defaults", str(key), *_) | ("roles", str(), str(key), *_):
            return key
        case ("participants", int(), str(key), *_) if key not in PARTICIPANT_ONLY_KEYS:
            return key
    return None


def build_spec(check: FileCheck, merged: dict[int, MergedSettings]) -> ConferenceSpec:
    data = check.data
    participants: list[Participant] = []
    for index, entry in participant_entries(data):
        values = merged[index].values
        to = entry.get("to")
        destinations = (to,) if isinstance(to, str) else tuple(str(item) for item in to or ())
        role = entry.get("role", DEFAULT_ROLE)
        participants.append(
            Participant(
                name=str(entry.get("name", "")),
                role=role if isinstance(role, str) else DEFAULT_ROLE,
                to=destinations,
                coach=_text(values.get("coach")),
                settings=_settings(values),
                location=check.location(("participants", index)),
                unset=_unset_for(check, index, merged[index]),
            )
        )
    account_sid = data.get("account_sid")
    return ConferenceSpec(
        path=check.path,
        account_sid=(None if check.is_unresolved(("account_sid",)) else _text_or_none(account_sid)),
        conference=_conference(_mapping(data.get("conference"))),
        participants=tuple(participants),
        locations=dict(check.document.locations),
        key_locations=dict(check.document.key_locations),
    )
