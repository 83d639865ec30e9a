"""Webhook payloads: the form fields of call, conference and recording status callbacks.

The lifecycle says what happened; this module says which subscriptions asked
for it and what each callback carries (Twilio-style names, as Telnyx's TeXML
sends them), then hands it to the sender in ``callbacks``. A payload is built
only when some subscription wants the event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from orchestrator.sandbox.callbacks import Webhook
from orchestrator.sandbox.clock import SimulatedClock
from orchestrator.sandbox.model import Account, Conference, Leg, Recording, Subscription
from orchestrator.sandbox.resources import API_VERSION, call_duration, media_url, rfc2822


class Events:
    def __init__(
        self, account: Account, clock: SimulatedClock, notify: Callable[[Webhook], None]
    ) -> None:
        self._account = account
        self._clock = clock
        self._notify = notify

    def _send(self, subscription: Subscription, fields: dict[str, str], what: str) -> None:
        if self._clock.closed:
            return
        self._notify(Webhook(subscription.url, subscription.method, fields, what))

    def call(self, leg: Leg, event: str, call_status: str) -> None:
        """A call-progress event (initiated, ringing, answered, completed) of one leg."""
        subscription = leg.status_subscription
        if subscription is None or event not in subscription.events:
            return
        leg.callback_sequence += 1
        fields = {
            "AccountSid": self._account.sid,
            "CallSid": leg.sid,
            "CallSidLegacy": leg.legacy_sid,
            "CallStatus": call_status,
            "To": leg.to,
            "From": leg.from_ or "",
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(leg.callback_sequence - 1),
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        if leg.conference is not None:  # a placed call joins its conference only when answered
            fields["ConferenceSid"] = leg.conference.sid
        if event == "completed":
            fields["CallDuration"] = str(call_duration(self._clock, leg))
        self._send(subscription, fields, f"{event} of call {leg.sid}")

    def conference(self, conference: Conference, event: str, name: str, leg: Leg | None) -> None:
        """A conference event (``event`` as subscribed, ``name`` as sent), about ``leg`` if any."""
        wanted = [s for s in conference.subscriptions if event in s.events]
        if not wanted:
            return
        conference.callback_sequence += 1
        fields = {
            "AccountSid": self._account.sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": name,
            "SequenceNumber": str(conference.callback_sequence - 1),
            "Timestamp": rfc2822(datetime.now(UTC)),
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
        for subscription in wanted:
            self._send(subscription, dict(fields), f"{name} of conference {conference.sid}")

    def recording(self, recording: Recording, status: str) -> None:
        subscription = recording.subscription
        if subscription is None or status not in subscription.events:
            return
        fields = {
            "AccountSid": self._account.sid,
            "ConferenceSid": recording.conference.sid,
            "RecordingSid": recording.sid,
            "RecordingStatus": status,
            "RecordingSource": recording.source,
            "RecordingChannels": str(recording.channels),
            "RecordingStartTime": rfc2822(recording.created),
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        if recording.call_sid is not None:
            fields["CallSid"] = recording.call_sid
        url = media_url(self._account, recording)
        if url is not None:
            fields["RecordingUrl"] = url
            fields["RecordingDuration"] = str(recording.duration or 0)
        self._send(subscription, fields, f"{status} of recording {recording.sid}")

    def recording_absent(
        self, subscription: Subscription, conference: Conference | None, call_sid: str | None
    ) -> None:
        """A recording was asked for but nothing was recorded (the leg never connected)."""
        if "absent" not in subscription.events:
            return
        fields = {
            "AccountSid": self._account.sid,
            "RecordingStatus": "absent",
            "Timestamp": rfc2822(datetime.now(UTC)),
        }
        if conference is not None:
            fields["ConferenceSid"] = conference.sid
        if call_sid is not None:
            fields["CallSid"] = call_sid
        what = call_sid or (conference.sid if conference is not None else "a call")
        self._send(subscription, fields, f"absent recording of {what}")


def _flag(value: bool) -> str:
    return "true" if value else "false"
