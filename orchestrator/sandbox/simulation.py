"""The simulated account as request handlers see it: dials, placed calls and updates,
checked against the account's state and carried out.

Everything here is synchronous and runs on the event loop's thread: handlers
call in after reading the body, and nothing awaits between looking a
conference up and inserting a new one, so concurrent dials to one new name
create exactly one conference. A request that fails a check raises
``ApiFailure`` before changing anything.

Randomness (SIDs, fault draws) comes from generators seeded by the scenario,
so the same scenario and the same sequence of requests give the same SIDs.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.masking import shown_url
from orchestrator.sandbox.callbacks import Webhook
from orchestrator.sandbox.clock import SimulatedClock
from orchestrator.sandbox.dial_fields import (
    INITIATE_LEG_FIELDS,
    check_caller_id,
    custom_headers,
    destination,
    detection,
    initiate_call_texml,
    subscription,
)
from orchestrator.sandbox.documents import parse_conference_dial
from orchestrator.sandbox.events import Events
from orchestrator.sandbox.fields import ApiFailure, flag_of, int_of, invalid, not_found, text_of
from orchestrator.sandbox.ids import Identities
from orchestrator.sandbox.lifecycle import ENDED_VIA_API, Lifecycle
from orchestrator.sandbox.model import NO_VALUES, Account, Conference, Departed, Leg, is_uuid
from orchestrator.sandbox.resources import API_PREFIX, Resources
from orchestrator.sandbox.scenario import Scenario
from orchestrator.texml import contract
from orchestrator.texml.contract import FieldValue

log = logging.getLogger("orchestrator.sandbox")


class Simulation:
    """The account's state and the rules by which requests change it."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        account_sid: str,
        notify: Callable[[Webhook], None],
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self.scenario = scenario
        # The public base is replaced by the absolute base URL once listening.
        self.account = Account(sid=account_sid, public_base=API_PREFIX)
        self.clock = SimulatedClock(scenario.time_scale, clock)
        self.resources = Resources(self.account, self.clock, scenario.api)
        self._ids = Identities(scenario.seed)
        self._faults = random.Random(f"{scenario.seed}:faults")
        self._fault_counts: Counter[str] = Counter()
        self.lifecycle = Lifecycle(
            scenario,
            self.account,
            clock=self.clock,
            ids=self._ids,
            events=Events(self.account, self.clock, notify, ids=self._ids, seed=scenario.seed),
        )

    def draw_fault(self) -> float:
        return self._faults.random()

    def fault_draws(self, key: str) -> Callable[[], float]:
        """The fault draws of one request: the same for the n-th request with this ``key``
        (its method, path and whom it dials) under a seed, whatever else arrived in between,
        so a seed gives each participant the same faults however requests interleave."""
        occurrence = self._fault_counts[key]
        self._fault_counts[key] += 1
        return random.Random(f"{self.scenario.seed}:faults:{key}:{occurrence}").random

    def close(self) -> None:
        """Stop simulated time: no timer fires and no webhook is sent after this."""
        self.clock.close()

    # Dialing ----------------------------------------------------------------

    def dial(self, conference_ref: str, values: dict[str, FieldValue]) -> Leg:
        """Check a dial against the state and carry it out; raises ApiFailure without side effects."""
        to = destination(values)
        from_ = text_of(values, "From")
        check_caller_id(values)
        label = text_of(values, "Label")
        conference = self._conference_for_dial(conference_ref, values)
        if conference is None and self.scenario.api.create_by_name == "app-texml":
            return self._app_texml_call(values, to=to, from_=from_, label=label)
        if conference is not None:
            self._check_room(conference, values, label)
        elif flag_of(values, "Coaching", False):
            self._coach_target(None, values, None)  # nobody to coach in a conference not yet there

        if conference is None:
            conference = self.lifecycle.create_conference(conference_ref, values)
        leg = self._create_leg(values, to=to, from_=from_, label=label)
        self.lifecycle.enter(conference, leg, values)
        self.lifecycle.start(leg)
        return leg

    def initiate_call(self, values: dict[str, FieldValue]) -> Leg:
        """Place a call running the inline TeXML in ``values`` (InitiateTexmlCall).

        The call joins the document's conference only once answered. Raises
        ApiFailure without side effects.
        """
        to = destination(values)
        document = parse_conference_dial(initiate_call_texml(values))
        call_fields = {k: v for k, v in values.items() if k in INITIATE_LEG_FIELDS}
        leg = self._create_leg(
            {**call_fields, **document.values},
            to=to,
            from_=text_of(values, "From"),
            label=None,  # TeXML's <Conference> noun has no label attribute
            join_name=document.name,
        )
        leg.detection = detection(values, placed=True)
        self.lifecycle.start(leg)
        return leg

    def _conference_for_dial(self, ref: str, values: dict[str, FieldValue]) -> Conference | None:
        """The conference a dial joins, or None when it is to create one named ``ref``."""
        # SIDs are kept in canonical form: a SID as given is found without parsing it.
        conference = self.account.conferences.get(ref)
        if conference is None and is_uuid(ref):
            conference = self.account.conferences.get(ref.lower())
            if conference is None:
                raise not_found(f"no conference {ref} in this account")
        if conference is not None:
            if conference.status == "completed":
                raise ApiFailure(
                    422,
                    contract.CODE_BAD_REQUEST,
                    "Conference has ended",
                    f"conference {ref} has ended; dial into a new one by name with an ApplicationSid",
                )
            return conference
        mode = self.scenario.api.create_by_name
        if mode == "refuse-422":
            raise invalid(
                "ApplicationSid",
                f"no conference {ref}: a participant is dialed into an existing conference by"
                " its SID; a TeXML <Dial><Conference> call (POST .../Calls) creates one",
            )
        if mode == "refuse-404":
            raise not_found(
                f"no conference {ref}: a friendly name does not name or create a conference here;"
                " a TeXML <Dial><Conference> executed for a call (POST .../Calls,"
                " InitiateTexmlCall) creates one, then dial into its conference SID",
            )
        if text_of(values, "ApplicationSid") is None:
            raise not_found(
                f"no conference {ref}; to create one by name, give an ApplicationSid",
            )
        return self.account.running_conference(ref)

    def _app_texml_call(
        self, values: dict[str, FieldValue], *, to: str, from_: str | None, label: str | None
    ) -> Leg:
        """``api.create_by_name: app-texml``: the dial places a call that runs the application's
        own TeXML, which joins no conference: it rings and answers as its number does, and
        stays up until it hangs up or is hung up (POST Calls/{sid} Status=completed). The
        answer names a conference SID that no conference has."""
        if text_of(values, "ApplicationSid") is None:
            raise not_found("no conference by that name; to create one, give an ApplicationSid")
        leg = self._create_leg(values, to=to, from_=from_, label=label)
        leg.app_conference_sid = self._ids.new_uuid()
        leg.call_status = "ringing"
        log.info("call %s dialed to %s runs the application's TeXML, in no conference", leg.sid, to)
        self.lifecycle.start(leg)
        return leg

    def _check_room(
        self, conference: Conference, values: dict[str, FieldValue], label: str | None
    ) -> None:
        if (
            label is not None
            and label in conference.live_by_label
            and self.scenario.api.duplicate_labels == "reject"
        ):
            raise invalid("Label", f"a participant labelled {label!r} is already in the conference")
        if conference.full:
            raise invalid(
                "MaxParticipants",
                f"the conference is full ({conference.max_participants} participants, its MaxParticipants)",
            )
        if flag_of(values, "Coaching", False):
            self._coach_target(conference, values, None)

    def _coach_target(
        self, conference: Conference | None, values: dict[str, FieldValue], current: Leg | None
    ) -> str:
        target = text_of(values, "CallSidToCoach")
        if target is None and current is not None:
            target = current.coach_target
        if target is None:
            raise invalid(
                "CallSidToCoach",
                "Coaching=true needs CallSidToCoach: the call SID of the participant to coach",
                code=contract.CODE_MISSING_PARAMETER,
            )
        coached = None if conference is None else conference.live_leg(target)
        if coached is None or coached.sid != target:
            raise invalid(
                "CallSidToCoach",
                f"CallSidToCoach {target} is not a live participant of this conference",
            )
        if current is not None and coached is current:
            raise invalid("CallSidToCoach", "a participant cannot coach itself")
        return target

    def _create_leg(
        self,
        values: dict[str, FieldValue],
        *,
        to: str,
        from_: str | None,
        label: str | None,
        join_name: str | None = None,
    ) -> Leg:
        """A new leg, known to Calls and /_sandbox/dials, in no conference yet."""
        sid, legacy = self._ids.new_call_sid()
        now = datetime.now(UTC)
        leg = Leg(
            sid=sid,
            legacy_sid=legacy,
            seq=self._ids.next_seq(),
            conference=None,
            label=label,
            to=to,
            from_=from_,
            created=now,
            updated=now,
            dialed_at=self.clock.uptime(),
            muted=flag_of(values, "Muted", False),
            hold=False,
            coaching=flag_of(values, "Coaching", False),
            coach_target=text_of(values, "CallSidToCoach"),
            start_conference_on_enter=flag_of(values, "StartConferenceOnEnter", True),
            end_conference_on_exit=flag_of(values, "EndConferenceOnExit", False),
            beep_on_exit=values.get("Beep") in ("true", "onExit"),
            wait_url=text_of(values, "WaitUrl"),
            hold_url=None,
            timeout_s=int_of(values, "Timeout") or contract.DEFAULT_TIMEOUT_S,
            time_limit_s=int_of(values, "TimeLimit"),
            status_subscription=subscription(
                values, "StatusCallback", default_events=("completed",)
            ),
            record=flag_of(values, "Record", False),
            recording_channels=2 if values.get("RecordingChannels") == "dual" else 1,
            recording_subscription=subscription(
                values, "RecordingStatusCallback", default_events=("completed",)
            ),
            join_name=join_name,
            join_values=dict(values) if join_name is not None else NO_VALUES,
            custom_headers=custom_headers(values),
            known_at=self.clock.now() + self.clock.real_seconds(self.scenario.api.calls_lag_s),
            call_status="queued" if join_name is not None else "ringing",
            detection=detection(values, placed=False),
        )
        self.account.calls[sid] = leg
        self.account.dials.append(leg)
        return leg

    # Updates ----------------------------------------------------------------

    def hang_up(self, leg: Leg) -> None:
        """Hang up a participant through the API (DELETE). With api.hangup_lag_s, the
        participant endpoints go on returning it, as it was, for that long."""
        lag = self.scenario.api.hangup_lag_s
        conference = leg.conference
        view = self.resources.participant(leg) if lag > 0 and conference is not None else None
        self.lifecycle.hang_up(leg)
        if view is not None and conference is not None:
            conference.departed[leg.sid] = Departed(
                seq=leg.seq,
                call_sid=leg.sid,
                label=leg.label,
                until=self.clock.now() + self.clock.real_seconds(lag),
                view=view,
            )

    def update_participant(self, leg: Leg, values: dict[str, FieldValue]) -> None:
        """UpdateTexmlConferenceParticipant: each field given changes the live leg (Muted, Hold,
        HoldUrl, WaitUrl, BeepOnExit, EndConferenceOnExit, Coaching, CallSidToCoach)."""
        conference = leg.room
        coaching = values.get("Coaching")
        target = leg.coach_target
        if coaching is False:
            target = None
        elif coaching is True or "CallSidToCoach" in values:
            target = self._coach_target(conference, values, leg)
        if isinstance(coaching, bool):
            leg.coaching = coaching
        leg.coach_target = target
        for name, attribute in (
            ("Muted", "muted"),
            ("Hold", "hold"),
            ("EndConferenceOnExit", "end_conference_on_exit"),
            ("BeepOnExit", "beep_on_exit"),
        ):
            value = values.get(name)
            if isinstance(value, bool):
                setattr(leg, attribute, value)
        for name, attribute in (("WaitUrl", "wait_url"), ("HoldUrl", "hold_url")):
            url = text_of(values, name)
            if url is not None:
                setattr(leg, attribute, url)
                log.info("call %s: %s now %s", leg.sid, name, shown_url(url))
        if text_of(values, "AnnounceUrl"):
            log.info("call %s: announcement played", leg.sid)
        leg.updated = datetime.now(UTC)
        log.info(
            "call %s updated (muted=%s hold=%s coaching=%s end_conference_on_exit=%s "
            "beep_on_exit=%s)",
            leg.sid,
            leg.muted,
            leg.hold,
            leg.coaching,
            leg.end_conference_on_exit,
            leg.beep_on_exit,
        )

    def update_conference(self, conference: Conference, values: dict[str, FieldValue]) -> None:
        if text_of(values, "AnnounceUrl") and conference.status != "completed":
            log.info("conference %s: announcement played", conference.sid)
            conference.updated = datetime.now(UTC)
        if "Status" in values:  # completed, the only Status an update takes
            self.lifecycle.end_conference(conference, ENDED_VIA_API, ending_call_sid=None)
