"""Every participant setting, declared once: what a dial carries and what a live call can take.

Each entry names a setting by its YAML key and says:

- its fields on the dial request (the TeXML dial's PascalCase fields), and how
  the typed model fills them;
- its fields on the call that creates a conference where dialing into a
  friendly name is refused: InitiateTexmlCall's own fields (``call``), or
  attributes of the TeXML ``<Conference>`` noun that call runs (``noun``);
- its live policy: ``update`` (UpdateTexmlConferenceParticipant changes it on
  the live leg), ``redial`` (the live leg keeps what it was dialed with until it
  is dialed again) or ``next_dial`` (it means nothing to a connected leg);
- the value the local record keeps and plan compares (never a secret), and the
  participant resource's key where the API shows the live value.

Derived from it: the typed settings (``build_settings``), the dial request and
the creating call (engine.dial_request), the record's fingerprint, plan's
changes (engine.planner), what apply takes into the record
(engine.persistence) and its update in place (engine.executor).

A new setting takes an entry here, its key in schemas/conference.schema.json
(under defaults, roles and participants) and its line in
docs/conference-files.md. The typed model (``ParticipantSettings``,
spec/model.py) names it too, because the code that acts on a setting reads it
typed; tests hold the schema and the model to this table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from orchestrator.masking import mask_destination
from orchestrator.spec import convert
from orchestrator.spec import setting_fields as parts
from orchestrator.spec.model import Conference, Participant, ParticipantSettings
from orchestrator.spec.setting_fields import DialInput, DialValue, Json, Pairs
from orchestrator.texml import contract

Policy = Literal["update", "redial", "next_dial"]
POLICIES: Final[tuple[Policy, ...]] = get_args(Policy)
# How plan learns the live leg's value: from the participant resource or the record (value),
# from the destination it was dialed at (to), or from whom it coaches live (coach).
Compare = Literal["value", "destination", "coaching"]


@dataclass(frozen=True, kw_only=True)
class Setting:
    key: str  # in the file, the record and every output
    policy: Policy
    value: Callable[[Participant, Conference], Json]  # kept in the record, compared by plan
    dial: tuple[str, ...] = ()  # the dial request's fields it sets
    fields: Callable[[DialInput], Pairs] = parts.no_fields  # their values (None: not sent)
    call: Mapping[str, str] = field(default_factory=dict)  # dial field -> InitiateTexmlCall's
    noun: Mapping[str, str] = field(default_factory=dict)  # dial field -> <Conference> attribute
    attribute: str | None = None  # its field in ParticipantSettings
    build: Callable[[Any], object] = convert.text  # the checked YAML value -> the model's
    default: Json = None  # what the API does when it is not set, for comparisons
    live: str | None = None  # the participant resource's key that shows it
    # UpdateTexmlConferenceParticipant's fields for a wanted value; None: the update cannot say it.
    update: Callable[[Json], dict[str, contract.FieldValue] | None] | None = None
    # The part of the value an update changes; a change elsewhere only counts for the next dial.
    in_place: Callable[[Json], Json] | None = None
    update_names_coachee: bool = False  # the update also carries CallSidToCoach
    compare: Compare = "value"
    # The value as reports print it (URLs lose their credentials and query anyway).
    shown: Callable[[Json], Json] = lambda value: value

    def normal(self, value: Json) -> Json:
        return self.default if value is None else value

    def policy_for(self, was: Json, wanted: Json) -> Policy | None:
        """What it takes to bring a leg from ``was`` to ``wanted``; None when they agree."""
        was, wanted = self.normal(was), self.normal(wanted)
        if was == wanted:
            return None
        if self.policy != "update":
            return self.policy
        if self.in_place is not None and self.in_place(was) == self.in_place(wanted):
            return "next_dial"
        if self.update is None or self.update(wanted) is None:
            return "redial"
        return "update"

    def update_fields(self, wanted: Json) -> dict[str, contract.FieldValue]:
        """The update request's fields for ``wanted`` (empty when an update cannot say it)."""
        if self.update is None:
            return {}
        return self.update(self.normal(wanted)) or {}


def _own(attribute: str) -> Callable[[Participant, Conference], Json]:
    return lambda participant, _: getattr(participant.settings, attribute)


def _plain(
    key: str,
    name: str,
    policy: Policy,
    *,
    build: Callable[[Any], object],
    call: bool = False,
    noun: str | None = None,
    **more: Any,
) -> Setting:
    """A setting that is one value of the model sent as one dial field."""
    return Setting(
        key=key,
        policy=policy,
        value=_own(key),
        dial=(name,),
        fields=lambda d: ((name, getattr(d.settings, key)),),
        call={name: name} if call else {},
        noun={name: noun} if noun else {},
        attribute=key,
        build=build,
        **more,
    )


def _beep_on_exit(value: Json) -> Json:
    return None if value is None else value in ("true", "onExit")


def _beep_update(value: Json) -> dict[str, contract.FieldValue] | None:
    on_exit = _beep_on_exit(value)
    return None if on_exit is None else {"BeepOnExit": on_exit}


def _flag_update(name: str) -> Callable[[Json], dict[str, contract.FieldValue] | None]:
    return lambda value: {name: bool(value)}


def _wait_url(participant: Participant, conference: Conference) -> Json:
    return participant.settings.wait_url or conference.wait_url


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        key="to",
        policy="redial",
        value=lambda participant, _: list(participant.to),
        dial=("To",),
        fields=lambda d: (("To", d.destination),),
        call={"To": "To"},
        compare="destination",  # a leg at any of the numbers listed is where the file wants it
        shown=lambda value: mask_destination(value) if isinstance(value, str) else value,
    ),
    Setting(
        key="from",
        policy="redial",  # the callee sees the number the call came from
        value=lambda participant, conference: participant.settings.from_ or conference.from_,
        dial=("From",),
        fields=lambda d: (("From", d.settings.from_ or d.conference.from_),),
        call={"From": "From"},
        attribute="from_",
        build=convert.text_or_none,
    ),
    _plain("caller_id", "CallerId", "redial", build=convert.text_or_none, call=True),
    # Ring time: once answered, it is over.
    _plain(
        "timeout",
        "Timeout",
        "next_dial",
        build=convert.integer,
        call=True,
        default=contract.DEFAULT_TIMEOUT_S,
    ),
    # The live call ends when the limit it was dialed with runs out.
    _plain("time_limit", "TimeLimit", "redial", build=convert.integer, call=True),
    # Audio before answering; InitiateTexmlCall has no such field.
    _plain("early_media", "EarlyMedia", "next_dial", build=convert.flag, default=False),
    Setting(
        key="preferred_codecs",
        policy="redial",  # the live call keeps the codec negotiated when it was set up
        value=lambda participant, _: list(participant.settings.preferred_codecs),
        dial=("PreferredCodecs",),
        fields=lambda d: (("PreferredCodecs", ",".join(d.settings.preferred_codecs) or None),),
        call={"PreferredCodecs": "PreferredCodecs"},
        attribute="preferred_codecs",
        build=convert.codecs,
    ),
    Setting(
        key="sip_auth",
        # Credentials answer the SIP challenge of call set-up; a connected call does not use
        # them again, so new ones matter from the next dial on.
        policy="next_dial",
        value=lambda participant, _: (
            participant.settings.sip_auth.username if participant.settings.sip_auth else None
        ),
        dial=("SipAuthUsername", "SipAuthPassword"),
        fields=parts.sip_auth_fields,
        call=parts.same(("SipAuthUsername", "SipAuthPassword")),
        attribute="sip_auth",
        build=convert.sip_auth,
    ),
    Setting(
        key="custom_headers",
        # Sent once, in the call's INVITE: the far end acted on the old ones (routing, tagging).
        policy="redial",
        value=lambda participant, _: [list(pair) for pair in participant.settings.custom_headers],
        dial=("CustomHeaders",),
        fields=parts.headers_fields,
        call={"CustomHeaders": "CustomHeaders"},
        attribute="custom_headers",
        build=convert.headers,
        shown=lambda value: [pair[0] for pair in value] if isinstance(value, list) else value,
    ),
    # BeepOnExit updates the beep on leaving; the beep on entering is heard once, when it joined.
    _plain(
        "beep",
        "Beep",
        "update",
        build=convert.beep,
        noun="beep",
        update=_beep_update,
        in_place=_beep_on_exit,
    ),
    _plain(
        "muted",
        "Muted",
        "update",
        build=convert.flag,
        noun="muted",
        default=False,
        live="muted",
        update=_flag_update("Muted"),
    ),
    # Whether entering starts the conference: a leg that entered (while it waits too) keeps
    # what it entered with, and UpdateTexmlConferenceParticipant has no such field.
    _plain(
        "start_conference_on_enter",
        "StartConferenceOnEnter",
        "redial",
        build=convert.flag,
        noun="startConferenceOnEnter",
        default=True,
    ),
    _plain(
        "end_conference_on_exit",
        "EndConferenceOnExit",
        "update",
        build=convert.flag,
        noun="endConferenceOnExit",
        default=False,
        live="end_conference_on_exit",
        update=_flag_update("EndConferenceOnExit"),
    ),
    Setting(
        key="wait_url",
        policy="update",  # WaitUrl; an unset one cannot be sent, so it waits for a redial
        value=_wait_url,
        dial=("WaitUrl",),
        fields=lambda d: (("WaitUrl", _wait_url(d.participant, d.conference)),),
        noun={"WaitUrl": "waitUrl"},
        attribute="wait_url",
        build=convert.text_or_none,
        update=lambda value: {"WaitUrl": value} if value else None,
    ),
    Setting(
        key="coach",
        policy="update",  # Coaching and CallSidToCoach; the creator of a conference is no coach
        value=lambda participant, _: participant.coach,
        dial=("Coaching", "CallSidToCoach"),
        fields=parts.coach_fields,
        update=lambda value: {"Coaching": value is not None},
        update_names_coachee=True,
        compare="coaching",
    ),
    Setting(
        key="status_callback",
        policy="redial",  # the live call reports to where it was dialed to report
        value=lambda participant, _: parts.callback_json(participant.settings.status_callback),
        dial=parts.callback_names("StatusCallback"),
        fields=lambda d: parts.callback_fields("StatusCallback", d.settings.status_callback),
        call=parts.same(parts.callback_names("StatusCallback")),
        attribute="status_callback",
        build=convert.callback,
    ),
    Setting(
        key="machine_detection",
        policy="next_dial",  # detection runs when a call is answered
        value=parts.detection_json,
        dial=parts.DETECTION_FIELDS,
        fields=parts.detection_fields,
        call=parts.DETECTION_CALL,
        attribute="machine_detection",
        build=convert.machine_detection,
    ),
    # A leg's recording starts with the call, or not at all.
    _plain("record", "Record", "redial", build=convert.flag, call=True, default=False),
    Setting(
        key="recording",
        policy="redial",
        value=parts.recording_json,
        dial=parts.RECORDING_FIELDS,
        fields=parts.recording_fields,
        call=parts.same(parts.RECORDING_FIELDS),
        attribute="recording",
        build=convert.leg_recording,
    ),
    # No dial field: apply puts a connected leg on hold with an update.
    Setting(
        key="hold",
        policy="update",
        value=_own("hold"),
        attribute="hold",
        build=convert.flag,
        default=False,
        live="hold",
        update=_flag_update("Hold"),
    ),
    # What apply does when a call is not answered, or drops: nothing is sent for them.
    Setting(
        key="retry",
        policy="next_dial",
        value=lambda participant, _: (
            dict(vars(participant.settings.retry)) if participant.settings.retry else None
        ),
        attribute="retry",
        build=convert.retry,
    ),
    Setting(
        key="reconnect",
        policy="next_dial",
        value=lambda participant, _: (
            dict(vars(participant.settings.reconnect)) if participant.settings.reconnect else None
        ),
        attribute="reconnect",
        build=convert.reconnect,
    ),
)

BY_KEY: Final[Mapping[str, Setting]] = {s.key: s for s in SETTINGS}


def build_settings(values: Mapping[str, Any]) -> ParticipantSettings:
    """The typed settings from a participant's merged, checked values."""
    typed: dict[str, Any] = {
        s.attribute: s.build(values.get(s.key)) for s in SETTINGS if s.attribute is not None
    }
    return ParticipantSettings(**typed)


def dial_pairs(dial: DialInput) -> dict[str, DialValue]:
    """Every setting's dial fields, in the table's order (unset ones left out)."""
    fields: dict[str, DialValue] = {}
    for setting in SETTINGS:
        for name, value in setting.fields(dial):
            if value is not None:
                fields[name] = value
    return fields


def fingerprint(participant: Participant, conference: Conference) -> dict[str, Json]:
    """Every setting's value as the record keeps it (a SIP password never).

    A setting whose value names an unset variable (plan and status run without what only
    a dial needs) is unknown, so it is left out rather than taken for a change.
    """
    unknown = {u.setting for u in participant.unset if u.setting}
    return {s.key: s.value(participant, conference) for s in SETTINGS if s.key not in unknown}


# Keys a record written before settings were named by their YAML key uses.
_RENAMED: Final = {"codecs": "preferred_codecs", "headers": "custom_headers"}


def upgrade_fingerprint(recorded: Mapping[str, Json]) -> dict[str, Json]:
    """A recorded fingerprint under today's keys; an older record's keys are read too."""
    if not any(old in recorded for old in _RENAMED):
        return dict(recorded)
    upgraded = {_RENAMED.get(k, k): v for k, v in recorded.items()}
    # Such a record kept the participant's own from only; the call may have been dialed
    # with the conference's, so its from is not known.
    if upgraded.get("from") is None:
        upgraded.pop("from", None)
    return upgraded
