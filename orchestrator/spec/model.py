"""The typed model of a conference file, after loading, schema and semantic checks.

Everything downstream (planner, executor, reports) reads these frozen objects,
never raw YAML. Participant settings are already merged
(defaults < role < participant; nested mappings merge key by key, lists replace)
and ``${VAR}`` references already expanded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.secret import Secret
from orchestrator.yamlfile import JsonPath as JsonPath
from orchestrator.yamlfile import Location as Location

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    """One finding about a file, pointing at the offending key or value."""

    location: Location
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class UnsetVariable:
    """A ``${VAR}`` with neither a value nor a default, and the value that uses it."""

    name: str
    location: Location  # of the value that names it
    where: str  # that value's path, as messages show it: participants[2].sip_auth.password
    setting: str | None = None  # the participant setting it is in (sip_auth), if in one

    def __str__(self) -> str:
        return (
            f"environment variable {self.name} is not set (used in {self.where} at {self.location})"
        )


@dataclass(frozen=True)
class Callback:
    url: str
    method: str | None = None  # GET | POST; None = the API's default
    events: tuple[str, ...] = ()  # empty = the API's default set


@dataclass(frozen=True)
class LegRecording:
    """How one participant's leg is recorded (used when ``record`` is true)."""

    channels: str | None = None  # mono | dual
    track: str | None = None  # inbound | outbound | both
    trim: str | None = None  # trim-silence | do-not-trim
    status_callback: Callback | None = None


# accept: take it as connected; hangup: end the leg (ended: machine); next: end it, dial the next number.
MachineAction = Literal["accept", "hangup", "next"]


@dataclass(frozen=True)
class MachineDetection:
    mode: str  # Enable | DetectMessageEnd
    timeout_ms: int | None = None
    speech_threshold_ms: int | None = None
    speech_end_threshold_ms: int | None = None
    silence_timeout_ms: int | None = None
    cancel_playback_on_machine_detection: bool | None = None
    cancel_playback_on_detect_message_end: bool | None = None
    status_callback: Callback | None = None
    # What apply does with a machine's answer, and with one detection could not classify.
    on_machine: MachineAction = "accept"
    on_not_sure: MachineAction = "accept"
    beep: BeepDetection | None = None


@dataclass(frozen=True)
class BeepDetection:
    """How the greeting's beep is recognised (the API's MachineDetectionBeep* fields)."""

    min_frequency_hz: int | None = None
    max_frequency_hz: int | None = None
    min_tone_duration_ms: int | None = None
    profile: str | None = None  # both | freq_only
    spectral_confirmation: bool | None = None
    spectral_min_purity: float | None = None
    spectral_reject_fax_cng: bool | None = None
    spectral_window_ms: int | None = None


@dataclass(frozen=True)
class SipAuth:
    username: str
    password: Secret


@dataclass(frozen=True)
class Retry:
    """Re-dial the same number when a leg ends unanswered."""

    attempts: int = 0  # 0..5 extra dials of the same number
    interval_s: float = 0.0


@dataclass(frozen=True)
class Reconnect:
    """With apply --watch: dial again when a connected leg ends (a dropped call)."""

    attempts: int = 0  # redials within window_s; 0: never (a hang-up on purpose is respected)
    backoff_s: float = 10.0  # before the first redial, doubling for each next one
    window_s: float = 3600.0


@dataclass(frozen=True)
class ParticipantSettings:
    """Merged settings; None means "not set anywhere", so the API default applies."""

    from_: str | None = None
    caller_id: str | None = None
    timeout: int | None = None
    time_limit: int | None = None
    muted: bool | None = None
    hold: bool | None = None  # applied by an update once the leg is connected
    beep: str | None = None  # normalised to true | false | onEnter | onExit
    start_conference_on_enter: bool | None = None
    end_conference_on_exit: bool | None = None
    early_media: bool | None = None
    wait_url: str | None = None
    record: bool | None = None
    recording: LegRecording | None = None
    machine_detection: MachineDetection | None = None
    status_callback: Callback | None = None
    sip_auth: SipAuth | None = None
    preferred_codecs: tuple[str, ...] = ()
    custom_headers: tuple[tuple[str, str], ...] = ()
    retry: Retry | None = None
    reconnect: Reconnect | None = None


@dataclass(frozen=True)
class Participant:
    name: str  # unique in the file; sent as the participant's Label
    role: str
    to: tuple[str, ...]  # primary destination, then fallbacks
    coach: str | None  # name of the participant this one coaches
    settings: ParticipantSettings
    location: Location  # of the participant's mapping in the file
    # Variables a value of its dial request names and the environment does not set: the model
    # holds those values as written, so this participant cannot be dialed (apply refuses).
    unset: tuple[UnsetVariable, ...] = ()


@dataclass(frozen=True)
class ConferenceRecording:
    trim: str | None = None
    timeout: int | None = None
    status_callback: Callback | None = None


@dataclass(frozen=True)
class Conference:
    name: str
    sid: str | None = None
    application_sid: str | None = None
    from_: str | None = None
    max_participants: int | None = None
    wait_url: str | None = None
    status_callback: Callback | None = None
    record: str | None = None  # normalised to record-from-start | do-not-record
    recording: ConferenceRecording | None = None
    allow_duplicate_numbers: bool = False


@dataclass(frozen=True)
class ConferenceSpec:
    """One validated conference file."""

    path: str
    account_sid: str | None
    conference: Conference
    participants: tuple[Participant, ...]
    # Location of every key/value in the file, by JSON path
    # (("participants", 1, "muted") -> Location), for reports that point into the file.
    locations: Mapping[JsonPath, Location] = field(default_factory=dict, compare=False, repr=False)
    # Location of every key by the JSON path of its value (an unknown or misplaced key is
    # reported at the key, a bad value at the value).
    key_locations: Mapping[JsonPath, Location] = field(
        default_factory=dict, compare=False, repr=False
    )

    def participant(self, name: str) -> Participant:
        for participant in self.participants:
            if participant.name == name:
                return participant
        raise KeyError(name)

    def location_of(self, path: JsonPath) -> Location:
        """The closest known location of ``path`` (walking up to the file's start)."""
        while path:
            found = self.locations.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.locations.get((), Location(self.path, 1, 1))
