"""Carrying out a plan: every participant concurrently, then one reconciling look.

Each action of the plan runs as its own task: a dial (with the participant's
retries and fallback numbers, waiting for its leg to settle), an update of a
live call in place, a redial (hang up, then dial), or nothing. A coach waits
for the call SID of the participant it coaches (``Action.waits_for``); a dial
that must create the conference waits its turn (``engine.creation``); placing
a call is ``engine.dialing``'s business, learning how it settled is
``engine.watcher``'s. Whatever happens, every participant's row says what is
true at the end, and the local record is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection, Mapping

from orchestrator.engine.account import Account
from orchestrator.engine.creation import Creation
from orchestrator.engine.dialing import CreatorEnded, Dialer
from orchestrator.engine.events import EventKind, ProgressEvent, ProgressHook
from orchestrator.engine.planner import CONFERENCE, Action, Plan, Stray
from orchestrator.engine.results import (
    LegState,
    ParticipantOutcome,
    State,
    ended,
    stray_outcome,
)
from orchestrator.engine.waiting import Stopped, result_unless, sleep_unless, within
from orchestrator.engine.watcher import UNANSWERED, LegWatcher, ended_state, is_connected
from orchestrator.errors import AuthenticationError, NotFoundError, OrchestratorError
from orchestrator.spec.model import Participant
from orchestrator.spec.settings_table import BY_KEY
from orchestrator.texml import contract
from orchestrator.texml.client import RequestValue

# How long past the detection's own timeout a result may take to reach Calls/{sid}.
DETECTION_MARGIN_S = 5.0


class ConferenceRun:
    """Applies one plan; holds the state shared by that conference's participant tasks."""

    def __init__(
        self,
        plan: Plan,
        account: Account,
        progress: ProgressHook | None = None,
        *,
        dial_only: Collection[str] | None = None,
        carried: Mapping[str, ParticipantOutcome] | None = None,
    ) -> None:
        """``dial_only``: the participants a dial action may dial (None: all of them); the
        others keep their row from ``carried`` (apply --watch, where a participant that left
        is dialed again only as its reconnect setting allows)."""
        self.plan = plan
        self._dial_only = dial_only
        self._carried = carried or {}
        self.spec = plan.spec
        self.account = account
        self.client = account.client
        self.options = account.options
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self._progress = progress
        self.creation = Creation(plan.conference_sid, plan.creator)
        desired = State.CONNECTED if self.options.wait else State.CONNECTING
        self.outcomes = {
            p.name: ParticipantOutcome(name=p.name, role=p.role, to=p.to[0], desired=desired)
            for p in self.spec.participants
        }
        self.dialer = Dialer(self.spec, account, self.creation, self.outcomes, progress)
        self._watcher: LegWatcher | None = None
        # Each participant's call SID once it is connected (or dialed, with --no-wait);
        # None once it is known it never will be. Coaches wait on these.
        self._call_sids: dict[str, asyncio.Future[str | None]] = {}
        self.in_flight_at_stop: int | None = None
        self.fatal: OrchestratorError | None = None
        self.strays = {
            s.label: stray_outcome(s, plan.destinations.get(s.label, "-")) for s in plan.strays
        }

    @property
    def sid(self) -> str | None:
        return self.creation.sid

    def _say(self, participant: str, kind: EventKind, reason: str | None = None) -> None:
        if self._progress is not None:
            self._progress(
                ProgressEvent(
                    conference=self.spec.conference.name,
                    participant=participant,
                    kind=kind,
                    reason=reason,
                )
            )

    def _call_sid_of(self, name: str) -> asyncio.Future[str | None]:
        future = self._call_sids.get(name)
        if future is None:
            future = self._call_sids[name] = asyncio.get_running_loop().create_future()
        return future

    def _publish_call_sid(self, name: str, call_sid: str | None) -> None:
        future = self._call_sid_of(name)
        if not future.done():
            future.set_result(call_sid)

    # Participants ------------------------------------------------------------

    async def _run_participant(self, action: Action) -> None:
        participant = action.participant
        outcome = self.outcomes[participant.name]
        try:
            if action.kind == "noop":
                assert action.live is not None
                self._hold_live(outcome, action)
                outcome.notes.append("already in the conference")
                self._publish_call_sid(participant.name, outcome.call_sid)
            elif action.kind == "update":
                await self._run_update(action)
            elif action.kind == "redial":
                await self._run_redial(action)
            elif self._dial_only is not None and participant.name not in self._dial_only:
                self._carry(outcome)
            else:
                await self._run_dial(action)
            if action.redial_pending:
                changed = ", ".join(action.needs_redial)
                outcome.notes.append(f"needs redial: {changed} changed (apply --redial-changed)")
        except Stopped:
            if self.account.gone is not None and not self.account.stop.is_set():
                outcome.error = f"not dialed: {self.account.gone}"
            else:
                outcome.notes.append(
                    "interrupted before dialing" if outcome.attempts == 0 else "interrupted"
                )
        except AuthenticationError as error:
            self.fatal = error
            outcome.error = str(error)
        except OrchestratorError as error:  # the API's answers, or none: said on the row
            outcome.error = str(error)
            if outcome.call_sid is None and outcome.attempts == 0:
                outcome.observed = State.NOT_DIALED
            elif outcome.observed == State.NOT_DIALED:
                outcome.observed = State.UNKNOWN
        except Exception as error:  # a fault of ours: this participant's row says so, others go on
            outcome.error = f"internal error: {type(error).__name__}: {error}"
            if outcome.attempts > 0 and outcome.observed == State.NOT_DIALED:
                outcome.observed = State.UNKNOWN
        finally:
            self._publish_call_sid(participant.name, None)  # no-op if it was published

    def _carry(self, outcome: ParticipantOutcome) -> None:
        """A participant missing from the conference and not dialed this time: its last row,
        ended if it was connected."""
        previous = self._carried.get(outcome.name)
        if previous is None:
            outcome.notes.append("not dialed")
            return
        outcome.to = previous.to
        outcome.call_sid = previous.call_sid
        outcome.error = previous.error
        if previous.observed.live:
            outcome.observed = State.HUNG_UP
            outcome.notes.append("left the conference")
        else:
            outcome.observed = previous.observed

    def _hold_live(self, outcome: ParticipantOutcome, action: Action) -> None:
        """The row of a participant already in the conference."""
        assert action.live is not None
        outcome.call_sid = action.live["call_sid"]
        outcome.observed = (
            State.CONNECTED if is_connected(action.live.get("status")) else State.CONNECTING
        )

    async def _coached_sid(self, action: Action) -> str | None:
        """The call SID of whom this participant waits for (its coachee), once connected."""
        waited = [name for name in action.waits_for if name != CONFERENCE]
        if not waited:
            return None
        self._say(action.participant.name, EventKind.WAITING, waited[0])
        return await result_unless(self._call_sid_of(waited[0]), self.stop)

    async def _run_dial(self, action: Action) -> None:
        participant = action.participant
        outcome = self.outcomes[participant.name]
        coach_sid: str | None = None
        if participant.coach is not None:
            coach_sid = await self._coached_sid(action)
            if coach_sid is None:
                outcome.error = (
                    f"not dialed: {participant.coach}, whom it coaches, is not connected"
                )
                return
        retry = participant.settings.retry
        tries_per_number = 1 + (retry.attempts if retry is not None else 0)
        last: LegState | None = None
        for index, destination in enumerate(participant.to):
            for attempt in range(tries_per_number):
                if attempt > 0 and retry is not None and retry.interval_s > 0:
                    await sleep_unless(retry.interval_s, self.stop)
                if self.stop.is_set():
                    raise Stopped
                if index > 0 and attempt == 0:
                    outcome.notes.append(f"fallback to number {index + 1} after {last}")
                outcome.to = destination
                placed = await self.dialer.place(participant, destination, coach_sid)
                if isinstance(placed, CreatorEnded):
                    last = placed.state  # a creating call that ended before it made the conference
                    self._say(participant.name, EventKind.ENDED, last)
                    outcome.observed = ended(last)
                    if last not in UNANSWERED:
                        outcome.error = "the call meant to create the conference did not join it"
                        return
                    continue
                last = await self._follow(participant, outcome, placed)
                if last == "machine":
                    break  # machine_detection.on_machine (or on_not_sure) says: the next number
                if last not in UNANSWERED:  # connected, hung up, or no news: nothing to retry
                    return
        count = len(participant.to)
        if last == "machine":
            outcome.error = (
                f"a machine answered on the last of {count} numbers"
                if count > 1
                else "a machine answered, and there is no other number"
            )
            return
        outcome.error = (
            f"no answer on any of {count} numbers (last: {last})"
            if count > 1
            else f"no answer ({last})"
        )

    async def _follow(
        self, participant: Participant, outcome: ParticipantOutcome, call_sid: str
    ) -> LegState | None:
        """Wait for the placed call to settle and say how; None when waiting ended without news."""
        outcome.call_sid = call_sid
        outcome.observed = State.CONNECTING
        if not self.options.wait:
            self._publish_call_sid(participant.name, call_sid)
            return None
        last = await self._settle(call_sid)
        if last is None:
            if self.account.gone is not None:
                outcome.error = f"dialed, not confirmed: {self.account.gone}"
            elif not self.stop.is_set():
                trouble = self._watcher.last_error if self._watcher is not None else None
                if trouble is not None:
                    outcome.observed = State.UNKNOWN
                    outcome.error = f"could not confirm the leg: {trouble}"
                else:
                    outcome.error = (
                        f"not connected after {self.options.settle_timeout_s:g}s "
                        "(still ringing, or not listed yet)"
                    )
            return None
        if last == "connected":
            last = await self._screen(participant, outcome, call_sid)
            if last != "connected":
                return last
            self._say(participant.name, EventKind.CONNECTED)
            outcome.observed = State.CONNECTED
            if participant.settings.hold:
                assert self.sid is not None
                await self.client.update_participant(self.sid, call_sid, {"Hold": True})
            self._publish_call_sid(participant.name, call_sid)
        else:
            self._say(participant.name, EventKind.ENDED, last)
            outcome.observed = ended(last)
        return last

    async def _screen(
        self, participant: Participant, outcome: ParticipantOutcome, call_sid: str
    ) -> LegState:
        """A connected leg whose machine detection decides its fate: "connected" to keep it,
        "machine" once it was hung up to try the next number, "hung-up" once it was hung up
        for good (or left by itself first).

        The result is read from ``Calls/{sid}``'s ``answered_by``, so no webhook receiver is
        needed. Without a verdict in time the answer counts as not_sure.
        """
        detection = participant.settings.machine_detection
        if detection is None or (detection.on_machine, detection.on_not_sure) == (
            "accept",
            "accept",
        ):
            return "connected"
        waiting_s = (detection.timeout_ms or contract.DEFAULT_MACHINE_DETECTION_TIMEOUT_MS) / 1000
        answered_by, ended_as = await self._answered_by(
            call_sid, min(waiting_s + DETECTION_MARGIN_S, self.options.settle_timeout_s)
        )
        if ended_as is not None:
            return ended_as
        verdict = contract.answered_by(answered_by) if answered_by else None
        if verdict == "human":
            return "connected"
        machine = verdict == "machine"
        action = detection.on_machine if machine else detection.on_not_sure
        setting = "on_machine" if machine else "on_not_sure"
        heard = "a machine" if machine else "an answer detection could not classify"
        if answered_by is None:
            heard += " (no result in time)"
        if action == "accept":
            outcome.notes.append(f"answered by {heard}; accepted")
            return "connected"
        assert self.sid is not None
        with contextlib.suppress(NotFoundError):  # it may have left by itself meanwhile
            await self.client.delete_participant(self.sid, call_sid)
        self._say(participant.name, EventKind.ENDED, "machine")
        outcome.observed = State.MACHINE
        outcome.notes.append(
            f"answered by {heard}; hung up (machine_detection.{setting}: {action})"
        )
        if action == "hangup":
            outcome.error = f"answered by {heard} (machine_detection.{setting}: hangup)"
            return "hung-up"  # final: nothing more is tried
        return "machine"

    async def _answered_by(
        self, call_sid: str, timeout_s: float
    ) -> tuple[str | None, LegState | None]:
        """The call's answered_by once detection has run (None after ``timeout_s``), or how the
        call ended before it had."""
        deadline = time.monotonic() + timeout_s
        poll = self.options.poll
        delay = poll.first_s
        while not self.stop.is_set():
            with contextlib.suppress(NotFoundError):  # not known to Calls yet: keep asking
                call = await self.client.get_call(call_sid)
                answered_by = call.get("answered_by")
                if isinstance(answered_by, str) and answered_by:
                    return answered_by, None
                gone = ended_state(call.get("status"))
                if gone is not None:
                    return None, gone
            if time.monotonic() >= deadline:
                break
            await sleep_unless(delay, self.stop)
            delay = min(delay * poll.factor, poll.max_s)
        return None, None

    async def _settle(self, call_sid: str) -> LegState | None:
        """How the leg settled; None if it had not when waiting stopped or timed out."""
        if self._watcher is None:
            self._watcher = self._new_watcher()
        return await within(self._watcher.watch(call_sid), self.stop, self.options.settle_timeout_s)

    def _new_watcher(self) -> LegWatcher:
        assert self.sid is not None
        return LegWatcher(self.client, self.sid, self.options.poll, self.account.budget)

    async def _run_update(self, action: Action) -> None:
        participant = action.participant
        outcome = self.outcomes[participant.name]
        self._hold_live(outcome, action)
        assert outcome.call_sid is not None and self.sid is not None
        fields: dict[str, RequestValue] = {}
        sent: list[str] = []
        for change in action.updates:  # the settings table says what an update carries
            setting = BY_KEY[change.field]
            wanted = setting.update_fields(change.desired)
            if setting.update_names_coachee and change.desired is not None:
                target_sid = await self._coached_sid(action)
                if target_sid is None:
                    outcome.error = f"cannot coach {change.desired}: it is not connected"
                    continue
                wanted["CallSidToCoach"] = target_sid
            fields.update(wanted)
            sent.append(change.field)
        if fields:
            # By call SID: a call found by its number (no Label) is updated the same way.
            await self.client.update_participant(self.sid, outcome.call_sid, fields)
            outcome.notes.append("updated " + ", ".join(sent))
            self._say(participant.name, EventKind.UPDATED)
        self._publish_call_sid(participant.name, outcome.call_sid)

    async def _run_redial(self, action: Action) -> None:
        outcome = self.outcomes[action.participant.name]
        assert action.live is not None
        if await self._hang_up_and_wait(action.live["call_sid"]):
            outcome.notes.append(f"redialed: {', '.join(action.needs_redial)} changed")
            await self._run_dial(action)
            return
        outcome.call_sid = action.live["call_sid"]
        outcome.observed = State.UNKNOWN
        outcome.error = (
            "hung up for a redial, but still listed after --settle-timeout; not dialed again"
        )

    async def _hang_up_and_wait(self, call_sid: str) -> bool:
        """Remove the leg; whether the API stopped returning it within --settle-timeout."""
        assert self.sid is not None
        with contextlib.suppress(NotFoundError):
            await self.client.delete_participant(self.sid, call_sid)
        # A new dial with the same Label is refused while the old leg is still listed.
        deadline = time.monotonic() + self.options.settle_timeout_s
        poll = self.options.poll
        delay = poll.first_s
        while await self.client.find_participant(self.sid, call_sid) is not None:
            if self.stop.is_set():
                raise Stopped
            if time.monotonic() >= deadline:
                return False
            await sleep_unless(delay, self.stop)
            delay = min(delay * poll.factor, poll.max_s)
        return True

    async def _run_stray(self, stray: Stray, outcome: ParticipantOutcome) -> None:
        if not stray.hang_up:
            return
        assert self.sid is not None
        try:
            with contextlib.suppress(NotFoundError):  # already gone is what was asked
                await self.client.delete_participant(self.sid, stray.call_sid)
        except OrchestratorError as error:
            outcome.error = f"could not hang up: {error}"
            return
        outcome.observed = State.ABSENT
        self._say(stray.label, EventKind.HUNG_UP)

    # The run -----------------------------------------------------------------

    async def reconcile(self) -> str | None:
        """One last look at every leg the run holds, so the summary says what is true now."""
        if self.sid is None:
            return None
        status: str | None = None
        try:
            conference = await self.client.get_conference(self.sid)
            status = conference.get("status")
            if self._watcher is None:
                self._watcher = self._new_watcher()
            held = [o.call_sid for o in self.outcomes.values() if o.call_sid and o.observed.live]
            states = await self._watcher.current_states(held)
        except OrchestratorError:
            return status
        for outcome in self.outcomes.values():
            state = states.get(outcome.call_sid) if outcome.call_sid else None
            if state is None:
                continue  # not held, or no news: still ringing, or not listed or known yet
            outcome.observed = State.CONNECTED if state == "connected" else ended(state)
        return status

    async def _note_in_flight_at_stop(self) -> None:
        await self.account.stop.wait()
        self.in_flight_at_stop = self.dialer.counts.on_wire

    async def execute(self) -> None:
        snapshot = asyncio.create_task(self._note_in_flight_at_stop())
        tasks = [
            asyncio.create_task(self._run_participant(action), name=action.participant.name)
            for action in self.plan.actions
        ]
        tasks += [
            asyncio.create_task(self._run_stray(stray, self.strays[stray.label]))
            for stray in self.plan.strays
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in [*tasks, snapshot]:
                task.cancel()
            if self._watcher is not None:
                await self._watcher.close()
