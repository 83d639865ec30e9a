"""The account's records as the API sends them: JSON views of conferences, participants,
calls and recordings, with the dates, URIs and fields of each resource.

Views are built per answer and carry only what that answer holds: a dial's
answer is a subset of the participant resource, built as such, so no date is
formatted only to be dropped (a benchmark's dials spend the sandbox's time here).
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any, Final

from orchestrator.sandbox import introspection
from orchestrator.sandbox.clock import SimulatedClock
from orchestrator.sandbox.model import Account, Conference, Leg, Recording
from orchestrator.sandbox.scenario import ApiBehaviour
from orchestrator.texml import contract
from orchestrator.texml.contract import (
    CallResource,
    ConferenceResource,
    ParticipantResource,
    RecordingResource,
)

API_PREFIX: Final = "/v2"
API_VERSION: Final = "v2/texml"
REGION: Final = "sandbox"


def rfc2822(moment: datetime) -> str:
    """``Fri, 27 Oct 2023 07:41:58 +0000``, as the API writes dates."""
    second = moment.replace(microsecond=0)
    return _rfc2822(second, second.utcoffset())


# Every answer carries dates and most fall in the same few seconds: each second is written once.
# ``offset`` is there for the cache's key alone: one instant in two offsets compares equal but
# is written two ways.
@functools.lru_cache(maxsize=256)
def _rfc2822(second: datetime, offset: timedelta | None) -> str:
    return format_datetime(second)


def media_url(account: Account, recording: Recording) -> str | None:
    """Where a completed recording's audio is served (by the sandbox itself)."""
    if recording.status != "completed":
        return None
    path = introspection.RECORDINGS_PATH.format(recording_sid=recording.sid)
    return f"{account.public_base}{path}"


def shown_call_status(leg: Leg) -> contract.CallStatus:
    """The leg's status as the Calls resource and callbacks give it. The spec's Call status
    enum has no ``queued`` (only InitiateTexmlCall's answer says it): a placed call not yet
    ringing shows as ``ringing``, the enum's word for a call not yet answered."""
    return "ringing" if leg.call_status == "queued" else leg.call_status


def call_duration(clock: SimulatedClock, leg: Leg) -> int:
    """Simulated seconds from answer to end (to now while the leg is up); 0 if never answered."""
    return 0 if leg.answered_at is None else clock.elapsed(leg.answered_at, leg.ended_at)


class Resources:
    def __init__(self, account: Account, clock: SimulatedClock, api: ApiBehaviour) -> None:
        self._account = account
        self._clock = clock
        self._api = api

    def account_path(self, template: str, **parts: str) -> str:
        """A contract path of this account, as URIs in answers give it."""
        return API_PREFIX + template.format(account_sid=self._account.sid, **parts)

    def _participant_uri(self, leg: Leg) -> str:
        return (
            self.account_path(
                contract.PARTICIPANT_PATH, conference_sid=leg.room.sid, call_sid_or_label=leg.sid
            )
            + ".json"
        )

    def _participant_status(
        self, leg: Leg
    ) -> contract.ParticipantStatus | contract.ParticipantConnectedStatus:
        status = leg.participant_status
        return self._api.connected_status if status == "connected" else status

    def participant(self, leg: Leg) -> ParticipantResource:
        coached = leg.coach_target if leg.coaching else None
        coached_leg = self._account.calls.get(coached) if coached else None
        return {
            "account_sid": self._account.sid,
            "api_version": API_VERSION,
            "call_sid": leg.sid,
            "call_sid_legacy": leg.legacy_sid,
            "coaching": leg.coaching,
            "coaching_call_sid": coached,
            "coaching_call_sid_legacy": coached_leg.legacy_sid if coached_leg else None,
            "conference_sid": leg.room.sid,
            "date_created": rfc2822(leg.created),
            "date_updated": rfc2822(leg.updated),
            "end_conference_on_exit": leg.end_conference_on_exit,
            "hold": leg.hold,
            "muted": leg.muted,
            "status": self._participant_status(leg),
            "uri": self._participant_uri(leg),
        }

    def dial_answer(self, leg: Leg) -> dict[str, Any]:
        """The answer to a dial: the participant resource's fields that the API sends there."""
        return {
            "account_sid": self._account.sid,
            "call_sid": leg.sid,
            "coaching": leg.coaching,
            "coaching_call_sid": leg.coach_target if leg.coaching else None,
            "conference_sid": leg.room.sid,
            "end_conference_on_exit": leg.end_conference_on_exit,
            "hold": leg.hold,
            "muted": leg.muted,
            "status": self._participant_status(leg),
            "uri": self._participant_uri(leg),
        }

    def conference(self, conference: Conference) -> ConferenceResource:
        base = self.account_path(contract.CONFERENCE_PATH, conference_sid=conference.sid)
        return {
            "account_sid": self._account.sid,
            "api_version": API_VERSION,
            "call_sid_ending_conference": conference.call_sid_ending,
            "date_created": rfc2822(conference.created),
            "date_updated": rfc2822(conference.updated),
            "friendly_name": conference.friendly_name,
            "reason_conference_ended": conference.reason_ended,
            "region": REGION,
            "sid": conference.sid,
            "status": conference.status,
            "subresource_uris": {
                "participants": f"{base}/Participants.json",
                "recordings": f"{base}/Recordings.json",
            },
            "uri": f"{base}.json",
        }

    def call_uri(self, leg: Leg) -> str:
        return self.account_path(contract.CALL_PATH, call_sid=leg.sid) + ".json"

    def call(self, leg: Leg) -> dict[str, Any]:
        resource: CallResource = {
            "account_sid": self._account.sid,
            "sid": leg.sid,
            "status": shown_call_status(leg),
            "to": leg.to,
            "date_created": rfc2822(leg.created),
            "date_updated": rfc2822(leg.updated),
            "uri": self.call_uri(leg),
        }
        return {
            **resource,
            "from": leg.from_,
            "from_formatted": leg.from_,
            "to_formatted": leg.to,
            "caller_name": None,
            "direction": "outbound",
            # null until machine detection, if any, is done
            "answered_by": (
                leg.amd_result if self._api.answered_by_words == "callback" else leg.answered_by
            ),
            "start_time": rfc2822(leg.answered) if leg.answered else None,
            "end_time": rfc2822(leg.ended) if leg.ended else None,
            "duration": str(call_duration(self._clock, leg)) if leg.ended else None,
            "price": None,
            "price_unit": None,
        }

    def recording(self, recording: Recording) -> dict[str, Any]:
        resource: RecordingResource = {
            "sid": recording.sid,
            "call_sid": recording.call_sid,
            "conference_sid": recording.conference.sid,
            "channels": recording.channels,
            "duration": recording.duration,
            "status": recording.status,
            "source": recording.source,
            "media_url": media_url(self._account, recording),
            "start_time": rfc2822(recording.created),
            "error_code": None,
            "date_created": rfc2822(recording.created),
            "date_updated": rfc2822(recording.updated or recording.created),
            "uri": self.account_path(
                contract.RECORDINGS_PATH, conference_sid=recording.conference.sid
            )
            + f"/{recording.sid}.json",
        }
        return {**resource, "account_sid": self._account.sid, "subresource_uris": {}}

    def dial_record(self, leg: Leg) -> dict[str, Any]:
        """One entry of /_sandbox/dials."""
        record: introspection.DialRecord = {
            "conference_sid": leg.conference.sid if leg.conference is not None else None,
            "label": leg.label,
            "to": leg.to,
            "call_sid": leg.sid,
            "time": round(leg.dialed_at, 6),
        }
        return {
            **record,
            "from": leg.from_,
            "status": shown_call_status(leg),
            "custom_headers": leg.custom_headers,
        }
