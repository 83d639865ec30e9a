"""Machine detection's verdict on a connected leg, and what apply does with it.

The result is read from ``Calls/{sid}``'s ``answered_by`` (in either of the
API's vocabularies, ``contract.answered_by``), so no webhook receiver is needed;
without a verdict within the detection's own timeout plus ``DETECTION_MARGIN_S``
the answer counts as not_sure. A leg that detection would keep whatever it says
(``accept`` for both) is connected at once; one it may hang up, once the
verdict is in. ``machine_detection.on_machine`` / ``on_not_sure`` say what is
done: ``accept`` keeps the leg, ``hangup`` ends it for good, ``next`` ends it
and dials the participant's next number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.engine import events as ev
from orchestrator.engine.results import LegState
from orchestrator.engine.settling import ended_state
from orchestrator.engine.waiting import PollSchedule, poll
from orchestrator.errors import NotFoundError
from orchestrator.spec.model import MachineAction, MachineDetection, Participant
from orchestrator.texml import contract
from orchestrator.texml.client import TexmlClient

# How long past the detection's own timeout a result may take to reach Calls/{sid}.
DETECTION_MARGIN_S = 5.0

Publish = Callable[..., None]


@dataclass(frozen=True)
class Screened:
    """What became of a connected leg: still ``connected``; ``hung-up`` for good (``error``
    says why); ``machine``: hung up so the next number is dialed (``heard`` says why); or
    how it ended by itself first."""

    state: LegState
    heard: str | None = None
    error: str | None = None


class Screening:
    def __init__(
        self,
        client: TexmlClient,
        schedule: PollSchedule,
        stop: Any,
        settle_timeout_s: float,
        publish: Publish,
    ) -> None:
        """``publish(kind, participant, **fields)``: the run's participant events."""
        self.client = client
        self.clock = client.clock
        self.schedule = schedule
        self.stop = stop
        self.settle_timeout_s = settle_timeout_s
        self.publish = publish

    async def screen(
        self, conference_sid: str, participant: Participant, call_sid: str
    ) -> Screened:
        """A connected leg, and what detection (when it is on) makes of it."""
        name = participant.name
        detection = participant.settings.machine_detection
        keeps = detection is None or (detection.on_machine, detection.on_not_sure) == (
            "accept",
            "accept",
        )
        if keeps:
            self.publish(ev.Connected, name, call_sid=call_sid, source="poll")
        if detection is None:
            return Screened("connected")
        answered_by, ended_as = await self._answered_by(call_sid, self._waiting_s(detection))
        if ended_as is not None:
            self.publish(ev.LegEnded, name, state=ended_as, call_sid=call_sid, source="api")
            return Screened(ended_as)
        verdict = contract.answered_by(answered_by) if answered_by else "not_sure"
        action = _action(detection, verdict)
        self.publish(
            ev.MachineDetected,
            name,
            answered_by=answered_by,
            verdict=verdict,
            action=action,
            source="api",
        )
        if action == "accept":
            if not keeps:
                self.publish(ev.Connected, name, call_sid=call_sid, source="poll")
            return Screened("connected")
        with contextlib.suppress(NotFoundError):  # it may have left by itself meanwhile
            await self.client.delete_participant(conference_sid, call_sid)
        machine = verdict == "machine"
        self.publish(ev.HungUp, name, why="machine" if machine else "not_sure", call_sid=call_sid)
        setting = "on_machine" if machine else "on_not_sure"
        heard = "a machine answered" if machine else "detection could not tell who answered"
        if action == "hangup":
            return Screened("hung-up", error=f"{heard} (machine_detection.{setting}: hangup)")
        return Screened("machine", heard=heard)

    def _waiting_s(self, detection: MachineDetection) -> float:
        timeout_ms = detection.timeout_ms or contract.DEFAULT_MACHINE_DETECTION_TIMEOUT_MS
        return min(timeout_ms / 1000 + DETECTION_MARGIN_S, self.settle_timeout_s)

    async def _answered_by(
        self, call_sid: str, timeout_s: float
    ) -> tuple[str | None, LegState | None]:
        """The call's answered_by once detection has run (None after ``timeout_s``), or how the
        call ended before it had."""

        async def look() -> tuple[str | None, LegState | None] | None:
            with contextlib.suppress(NotFoundError):  # not known to Calls yet: keep asking
                call = await self.client.get_call(call_sid)
                answered_by = call.get("answered_by")
                if isinstance(answered_by, str) and answered_by:
                    return answered_by, None
                gone = ended_state(call.get("status"))
                if gone is not None:
                    return None, gone
            return None

        found = await poll(
            look, self.stop, self.schedule, self.clock, until=self.clock.now() + timeout_s
        )
        return found if found is not None else (None, None)


def _action(detection: MachineDetection, verdict: contract.AnsweredBy) -> MachineAction:
    if verdict == "human":
        return "accept"
    return detection.on_machine if verdict == "machine" else detection.on_not_sure
