"""The TeXML Conferences API contract, shared by the client and the sandbox.

One place names every path, field, enum, limit, status and error code the
product relies on, so that the client (``orchestrator.texml.client``) and the
sandbox (``orchestrator.sandbox``) are two faces of the same contract and
cannot drift apart. Sources: Telnyx's API reference, its OpenAPI spec (the
TeXML Conferences and Calls part) and the official Python SDK 4.x.

Choices where the sources disagree or are silent (also in docs/api-choices.md):
- Our client sends JSON bodies with PascalCase names, as the official SDK
  does; the sandbox accepts those and the documented form encoding.
- In a form body ``CustomHeaders`` is a JSON array string
  (``[{"name": "X-A", "value": "1"}]``); JSON bodies carry the array itself.
- Validation failures answer 422 with the codes of the spec's examples: 10004
  for a missing field, 10026 for a value of the wrong type, 10032 for a value
  outside an enum; where the spec shows none (a number out of range, a URL or
  number in the wrong format, a state the account refuses) 10015, ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, TypedDict, get_args

# The rate-limit headers are named where what they say is read.
from orchestrator.pacing.headers import (
    HEADER_RATELIMIT_LIMIT as HEADER_RATELIMIT_LIMIT,
)
from orchestrator.pacing.headers import (
    HEADER_RATELIMIT_REMAINING as HEADER_RATELIMIT_REMAINING,
)
from orchestrator.pacing.headers import (
    HEADER_RATELIMIT_RESET as HEADER_RATELIMIT_RESET,
)
from orchestrator.pacing.headers import (
    HEADER_RETRY_AFTER as HEADER_RETRY_AFTER,
)

DEFAULT_BASE_URL: Final = "https://api.telnyx.com/v2"

# Paths, relative to the base URL (which ends in /v2).
ACCOUNT_PATH: Final = "/texml/Accounts/{account_sid}"
CONFERENCES_PATH: Final = ACCOUNT_PATH + "/Conferences"
CONFERENCE_PATH: Final = CONFERENCES_PATH + "/{conference_sid}"
PARTICIPANTS_PATH: Final = CONFERENCE_PATH + "/Participants"
PARTICIPANT_PATH: Final = PARTICIPANTS_PATH + "/{call_sid_or_label}"
RECORDINGS_PATH: Final = CONFERENCE_PATH + "/Recordings"
CALLS_PATH: Final = ACCOUNT_PATH + "/Calls"  # POST: InitiateTexmlCall
CALL_PATH: Final = CALLS_PATH + "/{call_sid}"

# Enumerations.
BEEP_VALUES: Final = ("true", "false", "onEnter", "onExit")
HTTP_METHODS: Final = ("GET", "POST")
# The events a callback subscribes to (its *StatusCallbackEvent field). Each set of words is a
# Literal, spelled once, and its tuple is read off it: a misspelt word where the type is declared
# is a type error, and the tuples check what a request sends.
CallStatusEvent = Literal["initiated", "ringing", "answered", "completed"]
CALL_STATUS_EVENTS: Final[tuple[CallStatusEvent, ...]] = get_args(CallStatusEvent)
ConferenceStatusEvent = Literal["start", "end", "join", "leave"]
CONFERENCE_STATUS_EVENTS: Final[tuple[ConferenceStatusEvent, ...]] = get_args(ConferenceStatusEvent)
RecordingStatusEvent = Literal["in-progress", "completed", "absent"]
RECORDING_STATUS_EVENTS: Final[tuple[RecordingStatusEvent, ...]] = get_args(RecordingStatusEvent)
ConferenceRecordingStatusEvent = Literal["in-progress", "completed", "failed", "absent"]
CONFERENCE_RECORDING_STATUS_EVENTS: Final[tuple[ConferenceRecordingStatusEvent, ...]] = get_args(
    ConferenceRecordingStatusEvent
)
# A word of any of them (the default events of a subscription given without its own).
CallbackEvent = Literal[
    CallStatusEvent, ConferenceStatusEvent, RecordingStatusEvent, ConferenceRecordingStatusEvent
]
MACHINE_DETECTION_MODES: Final = ("Enable", "DetectMessageEnd")
RECORDING_CHANNELS: Final = ("mono", "dual")
RECORDING_TRACKS: Final = ("inbound", "outbound", "both")
TRIM_VALUES: Final = ("trim-silence", "do-not-trim")
CONFERENCE_RECORD_VALUES: Final = ("true", "false", "record-from-start", "do-not-record")

# Limits, as the API reference documents them (docs/api-choices.md cites each page).
TIMEOUT_RANGE: Final = (5, 120)  # the dial's Timeout, seconds of ringing
DEFAULT_TIMEOUT_S: Final = 30
TIME_LIMIT_RANGE: Final = (30, 14_400)  # TimeLimit, seconds
MACHINE_DETECTION_TIMEOUT_RANGE: Final = (500, 60_000)  # MachineDetectionTimeout, ms
DEFAULT_MACHINE_DETECTION_TIMEOUT_MS: Final = 30_000  # MachineDetectionTimeout's default
MAX_PARTICIPANTS_RANGE: Final = (2, 800)  # the participant dial's MaxParticipants
NOUN_MAX_PARTICIPANTS_RANGE: Final = (2, 250)  # the <Conference> noun's maxParticipants
DEFAULT_MAX_PARTICIPANTS: Final = 250
CALLER_ID_MAX_LENGTH: Final = 128
CALLER_ID_PUNCTUATION: Final = " -_~!.+"  # beside ASCII letters and digits
CALLER_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9 \-_~!.+]{1,128}$")
# A conference's friendly name, and whom a participant dials: an E.164 number or a SIP URI.
FRIENDLY_NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
DESTINATION_PATTERN: Final = re.compile(r"^(\+[1-9][0-9]{1,14}|[Ss][Ii][Pp][Ss]?:[^\s@]+@[^\s@]+)$")
# Dials per second over a rolling window: at most rate * window dials in any window.
DEFAULT_DIALS_PER_SECOND: Final = 30
DEFAULT_DIAL_WINDOW_S: Final = 5

# Statuses, as Literals with their tuples read off them (as the events above).
ParticipantStatus = Literal["connecting", "connected", "completed"]
# What an answered participant may be called: the spec's enum says connected, Telnyx's own
# documentation examples show in-progress. A client takes either.
ParticipantConnectedStatus = Literal["connected", "in-progress"]
PARTICIPANT_CONNECTED_STATUSES: Final[tuple[ParticipantConnectedStatus, ...]] = get_args(
    ParticipantConnectedStatus
)


def is_connected(participant_status: object) -> bool:
    """Whether a participant resource's status says its leg is answered and in the call."""
    return participant_status in PARTICIPANT_CONNECTED_STATUSES


ConferenceStatus = Literal["init", "in-progress", "completed"]
CONFERENCE_STATUSES: Final[tuple[ConferenceStatus, ...]] = get_args(ConferenceStatus)
# The Calls resource keeps a leg after it left the conference and says why it ended.
CallLiveStatus = Literal["queued", "ringing", "in-progress"]
CALL_LIVE_STATUSES: Final[tuple[CallLiveStatus, ...]] = get_args(CallLiveStatus)
CallEndedStatus = Literal["canceled", "completed", "failed", "busy", "no-answer"]
CALL_ENDED_STATUSES: Final[tuple[CallEndedStatus, ...]] = get_args(CallEndedStatus)
CallStatus = Literal[CallLiveStatus, CallEndedStatus]
CALL_STATUSES: Final[tuple[CallStatus, ...]] = get_args(CallStatus)
# A call-progress callback's CallStatus: the call's status, or initiated before it rings.
CallbackCallStatus = Literal["initiated", CallStatus]
# A call's answered_by once detection is done: the spec's enum says human, machine or not_sure;
# the AMD callback's AnsweredBy says human, machine_start, machine_end_beep, machine_end_silence,
# machine_end_other, fax or unknown, and the resource may well use those words too. A client
# takes either.
AnsweredBy = Literal["human", "machine", "not_sure"]
ANSWERED_BY_VALUES: Final[tuple[AnsweredBy, ...]] = get_args(AnsweredBy)
AmdAnsweredBy = Literal[
    "human",
    "machine_start",
    "machine_end_beep",
    "machine_end_silence",
    "machine_end_other",
    "fax",
    "unknown",
]


def answered_by(word: str) -> AnsweredBy:
    """What an answered_by (in either vocabulary) means; anything unknown is not_sure."""
    if word == "human":
        return "human"
    if word == "machine" or word.startswith("machine_") or word == "fax":
        return "machine"
    return "not_sure"


# Media types of request bodies: the spec declares form encoding for the conference POSTs and
# JSON for InitiateTexmlCall; the official Python SDK sends JSON everywhere.
FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"
JSON_MEDIA_TYPE: Final = "application/json"
ConferenceEndReason = Literal[
    "participant-with-end-conference-on-exit-left",
    "last-participant-left",
    "conference-ended-via-api",
    "time-exceeded",
]
CONFERENCE_END_REASONS: Final[tuple[ConferenceEndReason, ...]] = get_args(ConferenceEndReason)
RecordingStatus = Literal["processing", "absent", "completed", "deleted"]

# Error codes (strings, as the API sends them).
CODE_MISSING_PARAMETER: Final = "10004"
CODE_NOT_FOUND: Final = "10005"
CODE_AUTHENTICATION_FAILED: Final = "10009"
CODE_TOO_MANY_REQUESTS: Final = "10011"
CODE_BAD_REQUEST: Final = "10015"
# The spec's examples of a 422: a value of the wrong type, and one outside an enum.
CODE_INVALID_PARAMETER_TYPE: Final = "10026"
CODE_INVALID_ENUMERATED_VALUE: Final = "10032"
CODE_DIAL_RATE_LIMITED: Final = "90103"
CODE_UNEXPECTED_ERROR: Final = "10007"  # 5xx answers
# A body in an encoding the endpoint does not take (HTTP 415). The code is ours: none is documented.
CODE_UNSUPPORTED_MEDIA_TYPE: Final = "10014"


FieldKind = Literal["str", "int", "float", "bool", "enum", "events", "headers"]


@dataclass(frozen=True)
class Field:
    """One request field: its PascalCase name, how it is typed and what it allows."""

    name: str
    kind: FieldKind
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    secret: bool = False


def _fields(*fields: Field) -> dict[str, Field]:
    return {f.name: f for f in fields}


# Every field the dial-participant request accepts (the SDK's set, which is the spec's).
# Answering-machine detection, the same on a dial and on a placed call.
MACHINE_DETECTION_FIELDS: Final = (
    Field("AmdStatusCallback", "str"),
    Field("AmdStatusCallbackMethod", "enum", HTTP_METHODS),
    Field("MachineDetection", "enum", MACHINE_DETECTION_MODES),
    Field(
        "MachineDetectionTimeout",
        "int",
        minimum=MACHINE_DETECTION_TIMEOUT_RANGE[0],
        maximum=MACHINE_DETECTION_TIMEOUT_RANGE[1],
    ),
    Field("MachineDetectionSpeechThreshold", "int", minimum=0),
    Field("MachineDetectionSpeechEndThreshold", "int", minimum=0),
    Field("MachineDetectionSilenceTimeout", "int", minimum=0),
    Field("MachineDetectionBeepMaxFrequency", "int", minimum=0),
    Field("MachineDetectionBeepMinFrequency", "int", minimum=0),
    Field("MachineDetectionBeepMinToneDuration", "int", minimum=0),
    Field("MachineDetectionBeepProfile", "enum", ("both", "freq_only")),
    Field("MachineDetectionBeepSpectralConfirmation", "bool"),
    Field("MachineDetectionBeepSpectralMinPurity", "float"),
    Field("MachineDetectionBeepSpectralRejectFaxCng", "bool"),
    Field("MachineDetectionBeepSpectralWindow", "int", minimum=0),
    Field("CancelPlaybackOnMachineDetection", "bool"),
    Field("CancelPlaybackOnDetectMessageEnd", "bool"),
)

DIAL_FIELDS: Final = _fields(
    Field("To", "str"),
    Field("From", "str"),
    Field("CallerId", "str"),
    Field("Label", "str"),
    Field("ApplicationSid", "str"),
    Field("Timeout", "int", minimum=TIMEOUT_RANGE[0], maximum=TIMEOUT_RANGE[1]),
    Field("TimeLimit", "int", minimum=TIME_LIMIT_RANGE[0], maximum=TIME_LIMIT_RANGE[1]),
    Field("EarlyMedia", "bool"),
    Field("PreferredCodecs", "str"),
    Field("SipAuthUsername", "str"),
    Field("SipAuthPassword", "str", secret=True),
    Field("CustomHeaders", "headers"),
    Field("Beep", "enum", BEEP_VALUES),
    Field("Muted", "bool"),
    Field("StartConferenceOnEnter", "bool"),
    Field("EndConferenceOnExit", "bool"),
    Field("WaitUrl", "str"),
    Field(
        "MaxParticipants",
        "int",
        minimum=MAX_PARTICIPANTS_RANGE[0],
        maximum=MAX_PARTICIPANTS_RANGE[1],
    ),
    Field("Coaching", "bool"),
    Field("CallSidToCoach", "str"),
    Field("StatusCallback", "str"),
    Field("StatusCallbackMethod", "enum", HTTP_METHODS),
    Field("StatusCallbackEvent", "events", CALL_STATUS_EVENTS),
    Field("ConferenceStatusCallback", "str"),
    Field("ConferenceStatusCallbackMethod", "enum", HTTP_METHODS),
    Field("ConferenceStatusCallbackEvent", "events", CONFERENCE_STATUS_EVENTS),
    *MACHINE_DETECTION_FIELDS,
    Field("Record", "bool"),
    Field("RecordingChannels", "enum", RECORDING_CHANNELS),
    Field("RecordingTrack", "enum", RECORDING_TRACKS),
    Field("RecordingStatusCallback", "str"),
    Field("RecordingStatusCallbackMethod", "enum", HTTP_METHODS),
    Field("RecordingStatusCallbackEvent", "events", RECORDING_STATUS_EVENTS),
    Field("Trim", "enum", TRIM_VALUES),
    Field("ConferenceRecord", "enum", CONFERENCE_RECORD_VALUES),
    Field("ConferenceTrim", "enum", TRIM_VALUES),
    Field("ConferenceRecordingStatusCallback", "str"),
    Field("ConferenceRecordingStatusCallbackMethod", "enum", HTTP_METHODS),
    Field("ConferenceRecordingStatusCallbackEvent", "events", CONFERENCE_RECORDING_STATUS_EVENTS),
    Field("ConferenceRecordingTimeout", "int", minimum=0),
)

# Fields of the participant update request.
UPDATE_PARTICIPANT_FIELDS: Final = _fields(
    Field("Muted", "bool"),
    Field("Hold", "bool"),
    Field("HoldUrl", "str"),
    Field("HoldMethod", "enum", HTTP_METHODS),
    Field("AnnounceUrl", "str"),
    Field("AnnounceMethod", "enum", HTTP_METHODS),
    Field("WaitUrl", "str"),
    Field("BeepOnExit", "bool"),
    Field("EndConferenceOnExit", "bool"),
    Field("Coaching", "bool"),
    Field("CallSidToCoach", "str"),
)

# Fields of the conference update request.
UPDATE_CONFERENCE_FIELDS: Final = _fields(
    Field("Status", "enum", ("completed",)),
    Field("AnnounceUrl", "str"),
    Field("AnnounceMethod", "enum", HTTP_METHODS),
)

# Fields of InitiateTexmlCall (POST Calls) that the product uses: a call that runs TeXML given
# inline (``Texml``) or fetched (``Url``); the creating participant's call when dialing into a
# friendly name is refused.
INITIATE_CALL_FIELDS: Final = _fields(
    Field("ApplicationSid", "str"),
    Field("To", "str"),
    Field("From", "str"),
    Field("CallerId", "str"),
    Field("Texml", "str"),
    Field("Url", "str"),
    Field("UrlMethod", "enum", HTTP_METHODS),
    Field("Timeout", "int", minimum=TIMEOUT_RANGE[0], maximum=TIMEOUT_RANGE[1]),
    Field("TimeLimit", "int", minimum=TIME_LIMIT_RANGE[0], maximum=TIME_LIMIT_RANGE[1]),
    Field("PreferredCodecs", "str"),
    Field("SipAuthUsername", "str"),
    Field("SipAuthPassword", "str", secret=True),
    Field("CustomHeaders", "headers"),
    Field("StatusCallback", "str"),
    Field("StatusCallbackMethod", "enum", HTTP_METHODS),
    Field("StatusCallbackEvent", "events", CALL_STATUS_EVENTS),
    # A placed call also takes Disable, and names its AMD callback AsyncAmdStatusCallback: the
    # SDK and the spec have no AmdStatusCallback here. AsyncAmd lets the TeXML run while
    # detection goes on (by default it waits for the result).
    *(f for f in MACHINE_DETECTION_FIELDS if not f.name.startswith("AmdStatusCallback")),
    Field("MachineDetection", "enum", (*MACHINE_DETECTION_MODES, "Disable")),
    Field("AsyncAmd", "bool"),
    Field("AsyncAmdStatusCallback", "str"),
    Field("AsyncAmdStatusCallbackMethod", "enum", HTTP_METHODS),
    Field("Record", "bool"),
    Field("RecordingChannels", "enum", RECORDING_CHANNELS),
    Field("RecordingTrack", "enum", RECORDING_TRACKS),
    Field("RecordingStatusCallback", "str"),
    Field("RecordingStatusCallbackMethod", "enum", HTTP_METHODS),
    Field("RecordingStatusCallbackEvent", "events", RECORDING_STATUS_EVENTS),
    Field("Trim", "enum", TRIM_VALUES),
)

# Attributes of the TeXML <Conference> noun that a creating call carries (the dial fields they
# stand for in brackets): startConferenceOnEnter, endConferenceOnExit, muted, beep,
# maxParticipants, record, trim, waitUrl, statusCallback, statusCallbackEvent,
# statusCallbackMethod, recordingStatusCallback, recordingStatusCallbackEvent,
# recordingStatusCallbackMethod.
CONFERENCE_NOUN_ATTRIBUTES: Final = (
    "startConferenceOnEnter",
    "endConferenceOnExit",
    "muted",
    "beep",
    "maxParticipants",
    "record",
    "trim",
    "waitUrl",
    "statusCallback",
    "statusCallbackEvent",
    "statusCallbackMethod",
    "recordingStatusCallback",
    "recordingStatusCallbackEvent",
    "recordingStatusCallbackMethod",
)


FieldValue = str | int | float | bool | list[dict[str, str]]


# Response shapes (what both faces agree the JSON looks like).
class ParticipantResource(TypedDict):
    account_sid: str
    api_version: str
    call_sid: str
    call_sid_legacy: str
    coaching: bool
    coaching_call_sid: str | None
    coaching_call_sid_legacy: str | None
    conference_sid: str
    date_created: str
    date_updated: str
    end_conference_on_exit: bool
    hold: bool
    muted: bool
    status: str
    uri: str


class ConferenceResource(TypedDict):
    account_sid: str
    api_version: str
    call_sid_ending_conference: str | None
    date_created: str
    date_updated: str
    friendly_name: str
    reason_conference_ended: str | None
    region: str
    sid: str
    status: str
    subresource_uris: dict[str, str]
    uri: str


class InitiateCallResult(TypedDict, total=False):
    """InitiateTexmlCall's answer: the spec documents from, to and status only; a call_sid may come too."""

    call_sid: str
    sid: str
    account_sid: str
    status: str
    to: str
    uri: str


class CallResource(TypedDict):
    account_sid: str
    sid: str
    status: str
    to: str
    date_created: str
    date_updated: str
    uri: str


class RecordingResource(TypedDict):
    sid: str
    call_sid: str | None
    conference_sid: str
    channels: int
    duration: int | None
    status: str
    source: str
    media_url: str | None
    start_time: str
    error_code: str | None
    date_created: str
    date_updated: str
    uri: str


class ErrorSource(TypedDict, total=False):
    pointer: str


class ErrorObject(TypedDict, total=False):
    code: str
    title: str
    detail: str
    source: ErrorSource


class ErrorBody(TypedDict):
    errors: list[ErrorObject]
