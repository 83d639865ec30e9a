"""Webhook payloads: the form fields of call, conference, recording and AMD callbacks.

The lifecycle says what happened; this module says which subscriptions asked
for it and what each callback carries (Twilio-style names, as Telnyx's TeXML
sends them), then hands it to the sender in ``callbacks``. A payload is built
only when some subscription wants the event.

What every callback carries, as Telnyx's callback reference shows it, so that a
receiver can de-duplicate and order what arrives at least once and in any
order (``callbacks``). There is no event id: Telnyx sends none, so a receiver
tells a duplicate by documented fields (a call's ``CallSid`` and
``CallStatus``, a conference's ``ConferenceSid``, ``StatusCallbackEvent`` and
``SequenceNumber``, a recording's ``RecordingSid`` and ``RecordingStatus``):

- ``Timestamp``: when the event happened, ISO 8601 in UTC to the second
  (``2024-01-15T10:30:00Z``).
- ``SequenceNumber``: the event's place, from 0, among its record's
  callbacks: per call for call-progress events, per conference for conference
  events, per recording for recording events; an AMD result is a call's only
  one (0), as is an ``absent`` recording's.
- ``ConnectionId``: the TeXML connection (application) the call runs under;
  the sandbox has one per run, a number drawn from the seed, since it does not
  keep which application a call was placed for.
- On call-progress events, ``CallInitiatedAt``: when the call was placed,
  ISO 8601 in UTC to the millisecond (``2024-01-15T10:30:26.028Z``).

The ``completed`` call-progress callback also says how the call ended:
``HangupCause`` (normal_clearing, user_busy, no_answer, call_rejected,
originator_cancel, time_limit), ``HangupSource`` (caller: this side, through
the API or its conference; callee: the called party; unknown: the network, as
for a ring that timed out), ``AnsweredTime`` (ISO 8601, as ``Timestamp``; empty when
never answered) and ``CallQualityStats``: for an answered call a JSON object with
``inbound`` and ``outbound``, each with ``mos``, ``jitter_max_variance`` (ms),
``jitter_packet_count``, ``packet_count`` and ``skip_packet_count`` (lost), as
strings like Telnyx's call quality report, for 50 packets a second (20 ms
frames) and seeded values of a good line; empty when never answered.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from orchestrator.sandbox.callbacks import Webhook
from orchestrator.sandbox.clock import SimulatedClock
from orchestrator.sandbox.ids import Identities
from orchestrator.sandbox.model import Account, Conference, Leg, Recording, Subscription
from orchestrator.sandbox.resources import (
    API_VERSION,
    call_duration,
    media_url,
    shown_call_status,
)
from orchestrator.texml.contract import (
    AmdAnsweredBy,
    CallbackCallStatus,
    CallbackEvent,
    CallStatusEvent,
    ConferenceStatusEvent,
    RecordingStatusEvent,
)

PACKETS_PER_SECOND: Final = 50

# A conference event as subscribed to, and as its callback's StatusCallbackEvent names it.
_CONFERENCE_EVENT_NAMES: Final[dict[ConferenceStatusEvent, str]] = {
    "start": "conference-start",
    "end": "conference-end",
    "join": "participant-join",
    "leave": "participant-leave",
}


def _wants(subscription: Subscription, event: CallbackEvent) -> bool:
    return event in subscription.events


class Events:
    def __init__(
        self,
        account: Account,
        clock: SimulatedClock,
        notify: Callable[[Webhook], None],
        *,
        ids: Identities,
        seed: int = 0,
    ) -> None:
        self._account = account
        self._clock = clock
        self._notify = notify
        # Nothing is drawn from ``ids`` any more (a callback has no id of its own); the
        # parameter stays while the simulation passes it.
        self._ids = ids
        self._quality = random.Random(f"{seed}:quality")
        # A TeXML connection id is a long number, as Telnyx's application ids are.
        self.connection_id = str(random.Random(f"{seed}:connection").randrange(10**18, 10**19))

    def _send(self, subscription: Subscription, fields: dict[str, str], what: str) -> None:
        if self._clock.closed:
            return
        self._notify(Webhook(subscription.url, subscription.method, fields, what))

    def _stamped(self, fields: dict[str, str]) -> dict[str, str]:
        """``fields`` with the event's Timestamp and the connection's id."""
        fields["Timestamp"] = iso8601(datetime.now(UTC))
        fields["ConnectionId"] = self.connection_id
        return fields

    def _call_fields(self, leg: Leg) -> dict[str, str]:
        fields = {
            "AccountSid": self._account.sid,
            "CallSid": leg.sid,
            "CallSidLegacy": leg.legacy_sid,
            "To": leg.to,
            "From": leg.from_ or "",
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
        }
        if leg.conference is not None:  # a placed call joins its conference only when answered
            fields["ConferenceSid"] = leg.conference.sid
        return fields

    def call(self, leg: Leg, event: CallStatusEvent) -> None:
        """A call-progress event (initiated, ringing, answered, completed) of one leg, which
        says the leg's status (initiated for the first)."""
        subscription = leg.status_subscription
        if subscription is None or not _wants(subscription, event):
            return
        call_status: CallbackCallStatus = (
            "initiated" if event == "initiated" else shown_call_status(leg)
        )
        leg.callback_sequence += 1
        fields = self._call_fields(leg)
        fields.update(
            {
                "CallStatus": call_status,
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(leg.callback_sequence - 1),
                "CallInitiatedAt": iso8601(leg.created, milliseconds=True),
            }
        )
        if leg.amd_result is not None:  # once detection is done, as Telnyx's synchronous AMD
            fields["AnsweredBy"] = leg.amd_result
        if event == "completed":
            fields.update(
                {
                    "CallDuration": str(call_duration(self._clock, leg)),
                    "HangupCause": leg.hangup_cause,
                    "HangupSource": leg.hangup_source,
                    "AnsweredTime": iso8601(leg.answered) if leg.answered else "",
                    "CallQualityStats": self._quality_stats(leg),
                }
            )
        self._send(subscription, self._stamped(fields), f"{event} of call {leg.sid}")

    def amd(self, leg: Leg, answered_by: AmdAnsweredBy, duration_ms: int) -> None:
        """The result of answering-machine detection, to the call's AmdStatusCallback."""
        detection = leg.detection
        if detection is None or detection.subscription is None:
            return
        # The fields of Telnyx's AMD callback example, and no others.
        fields = {
            "AccountSid": self._account.sid,
            "CallSid": leg.sid,
            "CallSidLegacy": leg.legacy_sid,
            "ConnectionId": self.connection_id,
            "AnsweredBy": answered_by,
            "MachineDetectionDuration": str(duration_ms),
        }
        self._send(detection.subscription, fields, f"AMD result of call {leg.sid}")

    def conference(
        self, conference: Conference, event: ConferenceStatusEvent, leg: Leg | None
    ) -> None:
        """A conference event, about ``leg`` if any."""
        wanted = [s for s in conference.subscriptions if _wants(s, event)]
        if not wanted:
            return
        name = _CONFERENCE_EVENT_NAMES[event]
        conference.callback_sequence += 1
        fields = {
            "AccountSid": self._account.sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": name,
            "SequenceNumber": str(conference.callback_sequence - 1),
        }
        if leg is not None:
            fields.update(
                {
                    "CallSid": leg.sid,
                    "Muted": _flag(leg.muted),
                    "Hold": _flag(leg.hold),
                    "Coaching": _flag(leg.coaching),
                    "EndConferenceOnExit": _flag(leg.end_conference_on_exit),
                    "StartConferenceOnEnter": _flag(leg.start_conference_on_enter),
                }
            )
            if leg.label is not None:
                fields["ParticipantLabel"] = leg.label
        if event == "end":
            fields["ReasonConferenceEnded"] = conference.reason_ended or ""
            fields["CallSidEndingConference"] = conference.call_sid_ending or ""
        self._stamped(fields)
        for subscription in wanted:
            self._send(subscription, dict(fields), f"{name} of conference {conference.sid}")

    def recording(self, recording: Recording, status: RecordingStatusEvent) -> None:
        subscription = recording.subscription
        if subscription is None or not _wants(subscription, status):
            return
        # The fields of Telnyx's recording callback examples (no Timestamp, no sequence, no
        # start time); ConferenceSid names the conference a conference's recording is of.
        fields = {
            "AccountSid": self._account.sid,
            "ConferenceSid": recording.conference.sid,
            "RecordingSid": recording.sid,
            "RecordingStatus": status,
            "RecordingSource": recording.source,
            "RecordingChannels": str(recording.channels),
            "ConnectionId": self.connection_id,
        }
        if recording.call_sid is not None:
            fields["CallSid"] = fields["CallSidLegacy"] = recording.call_sid
        url = media_url(self._account, recording)
        if url is not None:
            fields["RecordingUrl"] = url
            fields["RecordingDuration"] = str(recording.duration or 0)
        self._send(subscription, fields, f"{status} of recording {recording.sid}")

    def recording_absent(
        self, subscription: Subscription, conference: Conference | None, call_sid: str | None
    ) -> None:
        """A recording was asked for but nothing was recorded (the leg never connected)."""
        status: RecordingStatusEvent = "absent"
        if not _wants(subscription, status):
            return
        fields = {
            "AccountSid": self._account.sid,
            "RecordingStatus": status,
            "ConnectionId": self.connection_id,
        }
        if conference is not None:
            fields["ConferenceSid"] = conference.sid
        if call_sid is not None:
            fields["CallSid"] = fields["CallSidLegacy"] = call_sid
        what = call_sid or (conference.sid if conference is not None else "a call")
        self._send(subscription, fields, f"{status} recording of {what}")

    def _quality_stats(self, leg: Leg) -> str:
        """The completed callback's CallQualityStats: a JSON string, empty if never answered."""
        if leg.answered_at is None:
            return ""
        packets = max(1, call_duration(self._clock, leg)) * PACKETS_PER_SECOND
        draw = self._quality

        def direction() -> dict[str, str]:
            return {
                "mos": f"{draw.uniform(4.1, 4.5):.2f}",
                "jitter_max_variance": f"{draw.uniform(0.5, 12.0):.2f}",
                "jitter_packet_count": str(int(packets * draw.uniform(0.0, 0.01))),
                "packet_count": str(packets),
                "skip_packet_count": str(int(packets * draw.uniform(0.0, 0.005))),
            }

        return json.dumps({"inbound": direction(), "outbound": direction()}, sort_keys=True)


def iso8601(moment: datetime, *, milliseconds: bool = False) -> str:
    """``moment`` in UTC as Telnyx's callbacks write it: ``2024-01-15T10:30:00Z``, or with
    ``milliseconds`` ``2024-01-15T10:30:26.028Z``."""
    utc = moment.astimezone(UTC)
    if milliseconds:
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    return f"{utc:%Y-%m-%dT%H:%M:%S}Z"


def _flag(value: bool) -> str:
    return "true" if value else "false"
