"""Carrying out a plan: every participant concurrently, then one reconciling look.

Each action of the plan runs as its own task: a dial (with the participant's
retries and fallback numbers, waiting for its leg to settle), an update of a
live call in place, a redial (hang up, then dial), or nothing. A coach waits
for the call SID of the participant it coaches (``Action.waits_for``); a dial
that must create the conference waits its turn (``engine.creation``); placing
a call is ``engine.dialing``'s business, learning how it settled is
``engine.settling``'s. Every step is published to the run model
(``engine.run_model``), which is what the rows say; each participant's task
ends with one ``Finished`` event, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from orchestrator.engine import events as ev
from orchestrator.engine.account import Account
from orchestrator.engine.creation import Creation
from orchestrator.engine.dialing import CreatorEnded, Dialer, Unconfirmed
from orchestrator.engine.planner import CONFERENCE, Action, Plan, Stray
from orchestrator.engine.results import LegState, State
from orchestrator.engine.settling import UNANSWERED, LegWatcher, ended_state
from orchestrator.engine.waiting import Stopped, result_unless, sleep_unless, within
from orchestrator.errors import AuthenticationError, NotFoundError, OrchestratorError
from orchestrator.spec.model import MachineAction, Participant
from orchestrator.spec.settings_table import BY_KEY
from orchestrator.texml import contract
from orchestrator.texml.client import RequestValue

# How long past the detection's own timeout a result may take to reach Calls/{sid}.
DETECTION_MARGIN_S = 5.0


@dataclass(frozen=True)
class Verdict:
    """How a participant's task ended, when it did not simply converge."""

    error: str | None = None
    observed: State | None = None
    note: str | None = None


class ConferenceRun:
    """Applies one plan; holds the state shared by that conference's participant tasks."""

    def __init__(
        self, plan: Plan, account: Account, *, dial_only: Collection[str] | None = None
    ) -> None:
        """``dial_only``: the participants a dial action may dial (None: all of them); the
        others keep their state (apply --watch, where a participant that left is dialed again
        only as its reconnect setting allows)."""
        self.plan = plan
        self._dial_only = dial_only
        self.spec = plan.spec
        self.file = plan.spec.path
        self.account = account
        self.model = account.model
        self.client = account.client
        self.options = account.options
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self.clock = account.clock
        self.creation = Creation(plan.conference_sid, plan.creator)
        self.dialer = Dialer(self.spec, account, self.creation, self._held_calls)
        self._watcher: LegWatcher | None = None
        # Each participant's call SID once it is connected (or dialed, with --no-wait);
        # None once it is known it never will be. Coaches wait on these.
        self._call_sids: dict[str, asyncio.Future[str | None]] = {}
        self.fatal: OrchestratorError | None = None

    @property
    def sid(self) -> str | None:
        return self.creation.sid

    def publish(self, kind: type[ev.ParticipantEvent], participant: str, **fields: Any) -> None:
        self.model.publish(
            kind(
                file=self.file,
                conference=self.spec.conference.name,
                participant=participant,
                **fields,
            )
        )

    def _now(self, name: str) -> Any:
        """The participant's state in the run model now."""
        return self.model.participant(self.file, name)

    def _held_calls(self) -> set[str]:
        conference = self.model.conferences.get(self.file)
        if conference is None:
            return set()
        return {p.call_sid for p in list(conference.participants.values()) if p.call_sid}

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
        name = participant.name
        verdict: Verdict | None = None
        try:
            if action.kind == "noop":
                assert action.live is not None
                known = self._now(name)
                if known is None or not known.attempts:  # live before this run
                    self.publish(ev.Noted, name, text="already in the conference")
                self._publish_call_sid(name, action.live["call_sid"])
            elif action.kind == "update":
                verdict = await self._run_update(action)
            elif action.kind == "redial":
                verdict = await self._run_redial(action)
            elif self._dial_only is not None and name not in self._dial_only:
                self._carry(name)
            else:
                verdict = await self._run_dial(action)
            if action.redial_pending:
                changed = ", ".join(action.needs_redial)
                self.publish(
                    ev.Noted, name, text=f"needs redial: {changed} changed (apply --redial-changed)"
                )
        except Unconfirmed as unconfirmed:
            known = self._now(name)
            unsure = unconfirmed.ledger.unconfirmed and known is not None and not known.call_sid
            verdict = Verdict(str(unconfirmed), State.UNKNOWN if unsure else None)
        except Stopped:
            verdict = self._stopped(name)
        except AuthenticationError as error:
            self.fatal = error
            verdict = Verdict(str(error))
        except OrchestratorError as error:  # the API's answers, or none: said on the row
            verdict = self._failed(name, str(error))
        except Exception as error:  # a fault of ours: this participant's row says so, others go on
            verdict = self._failed(name, f"internal error: {type(error).__name__}: {error}")
        finally:
            self._publish_call_sid(name, None)  # no-op if it was published
            verdict = verdict or Verdict()
            self.publish(
                ev.Finished,
                name,
                error=verdict.error,
                observed=verdict.observed,
                note=verdict.note,
            )

    def _failed(self, name: str, error: str) -> Verdict:
        known = self._now(name)
        if known is not None and known.attempts and known.observed == State.NOT_DIALED:
            return Verdict(error, State.UNKNOWN)  # a call may exist; its state is not known
        return Verdict(error)

    def _stopped(self, name: str) -> Verdict:
        known = self._now(name)
        ledger = self.dialer.ledgers.get(name)
        unsure = ledger is not None and ledger.unconfirmed > 0
        if self.account.gone is not None and not self.account.stop.is_set():
            return Verdict(f"not dialed: {self.account.gone}")
        if unsure and known is not None and known.observed == State.NOT_DIALED:
            assert ledger is not None
            return Verdict(ledger.unconfirmed_reason(), State.UNKNOWN, "interrupted")
        dialed = known is not None and (known.attempts or known.call_sid)
        return Verdict(note="interrupted" if dialed else "interrupted before dialing")

    def _carry(self, name: str) -> None:
        """A participant missing from the conference and not dialed this time: ended, if it was
        connected (apply --watch)."""
        known = self._now(name)
        if known is not None and known.observed.live:
            self.publish(ev.LegEnded, name, state="hung-up", source="poll")
            self.publish(ev.Noted, name, text="left the conference")

    async def _coached_sid(self, action: Action) -> str | None:
        """The call SID of whom this participant waits for (its coachee), once connected."""
        waited = [name for name in action.waits_for if name != CONFERENCE]
        if not waited:
            return None
        self.publish(ev.Waiting, action.participant.name, whom=waited[0])
        return await result_unless(self._call_sid_of(waited[0]), self.stop)

    async def _run_dial(self, action: Action) -> Verdict | None:
        participant = action.participant
        name = participant.name
        coach_sid: str | None = None
        if participant.coach is not None:
            coach_sid = await self._coached_sid(action)
            if coach_sid is None:
                return Verdict(
                    f"not dialed: {participant.coach}, whom it coaches, is not connected"
                )
        retry = participant.settings.retry
        tries_per_number = 1 + (retry.attempts if retry is not None else 0)
        last: LegState | None = None
        detected: str | None = None  # why the last number was left: a machine, or no verdict
        for index, destination in enumerate(participant.to):
            for attempt in range(tries_per_number):
                if attempt > 0 and retry is not None and retry.interval_s > 0:
                    await sleep_unless(retry.interval_s, self.stop, self.clock)
                if self.stop.is_set():
                    raise Stopped
                if last is not None and index > 0 and attempt == 0:
                    after = detected if last == "machine" and detected else last
                    self.publish(ev.Fallback, name, number=index + 1, after=after)
                elif last is not None and attempt > 0:
                    self.publish(ev.Retrying, name, after=last)
                placed = await self.dialer.place(participant, destination, coach_sid)
                if isinstance(placed, CreatorEnded):
                    # A creating call that ended before it made the conference.
                    last = placed.state
                    self.publish(ev.LegEnded, name, state=last, call_sid=placed.call_sid)
                    if placed.note is not None:
                        self.publish(ev.Noted, name, text=placed.note)
                    if last not in UNANSWERED:
                        return Verdict("the call meant to create the conference did not join it")
                    continue
                last, detected, failed = await self._follow(participant, placed)
                if failed is not None or last is None:
                    return failed
                if last == "machine":
                    break  # machine_detection says: the next number
                if last not in UNANSWERED:  # connected, hung up: nothing to retry
                    return None
        count = len(participant.to)
        if last == "machine":
            why = detected or "a machine answered"
            return Verdict(
                f"{why} on the last of {count} numbers"
                if count > 1
                else f"{why}, and there is no other number"
            )
        return Verdict(
            f"no answer on any of {count} numbers (last: {last})"
            if count > 1
            else f"no answer ({last})"
        )

    async def _follow(
        self, participant: Participant, call_sid: str
    ) -> tuple[LegState | None, str | None, Verdict | None]:
        """Wait for the placed call to settle: how it did (None when waiting ended without
        news), why detection left it (if it did), and the verdict when that ends the
        participant's tries."""
        name = participant.name
        if not self.options.wait:
            self._publish_call_sid(name, call_sid)
            return None, None, None
        last = await self._settle(call_sid)
        if last is None:
            if self.account.gone is not None:
                return None, None, Verdict(f"dialed, not confirmed: {self.account.gone}")
            if self.stop.is_set():
                raise Stopped
            trouble = self._watcher.last_error if self._watcher is not None else None
            if trouble is not None:
                return None, None, Verdict(f"could not confirm the leg: {trouble}", State.UNKNOWN)
            waited = self.options.settle_timeout_s
            return (
                None,
                None,
                Verdict(f"not connected after {waited:g}s (still ringing, or not listed yet)"),
            )
        if last != "connected":
            self.publish(ev.LegEnded, name, state=last, call_sid=call_sid, source="poll")
            return last, None, None
        last, detected, error = await self._screen(participant, call_sid)
        if last == "connected" and participant.settings.hold:
            assert self.sid is not None
            await self.client.update_participant(self.sid, call_sid, {"Hold": True})
        if last == "connected":
            self._publish_call_sid(name, call_sid)
        return last, detected, Verdict(error) if error else None

    async def _screen(
        self, participant: Participant, call_sid: str
    ) -> tuple[LegState, str | None, str | None]:
        """A connected leg, and machine detection's verdict on it when detection is on: whether
        it stays connected, is hung up for good ("hung-up", with the error), or is hung up to
        try the next number ("machine", with why).

        The result is read from ``Calls/{sid}``'s ``answered_by``, so no webhook receiver is
        needed; without a verdict in time the answer counts as not_sure. A leg detection would
        keep whatever it says is connected at once; one it may hang up, once the verdict is in.
        """
        name = participant.name
        detection = participant.settings.machine_detection
        if detection is None:
            self.publish(ev.Connected, name, call_sid=call_sid, source="poll")
            return "connected", None, None
        keeps = (detection.on_machine, detection.on_not_sure) == ("accept", "accept")
        if keeps:
            self.publish(ev.Connected, name, call_sid=call_sid, source="poll")
        waiting_s = (detection.timeout_ms or contract.DEFAULT_MACHINE_DETECTION_TIMEOUT_MS) / 1000
        answered_by, ended_as = await self._answered_by(
            call_sid, min(waiting_s + DETECTION_MARGIN_S, self.options.settle_timeout_s)
        )
        if ended_as is not None:
            self.publish(ev.LegEnded, name, state=ended_as, call_sid=call_sid, source="api")
            return ended_as, None, None
        verdict = contract.answered_by(answered_by) if answered_by else "not_sure"
        action: MachineAction = (
            "accept"
            if verdict == "human"
            else detection.on_machine
            if verdict == "machine"
            else detection.on_not_sure
        )
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
            return "connected", None, None
        assert self.sid is not None
        with contextlib.suppress(NotFoundError):  # it may have left by itself meanwhile
            await self.client.delete_participant(self.sid, call_sid)
        machine = verdict == "machine"
        self.publish(ev.HungUp, name, why="machine" if machine else "not_sure", call_sid=call_sid)
        setting = "on_machine" if machine else "on_not_sure"
        heard = "a machine answered" if machine else "detection could not tell who answered"
        if action == "hangup":
            return "hung-up", None, f"{heard} (machine_detection.{setting}: hangup)"
        return "machine", heard, None

    async def _answered_by(
        self, call_sid: str, timeout_s: float
    ) -> tuple[str | None, LegState | None]:
        """The call's answered_by once detection has run (None after ``timeout_s``), or how the
        call ended before it had."""
        deadline = self.clock.now() + timeout_s
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
            if self.clock.now() >= deadline:
                break
            await sleep_unless(delay, self.stop, self.clock)
            delay = min(delay * poll.factor, poll.max_s)
        return None, None

    async def _settle(self, call_sid: str) -> LegState | None:
        """How the leg settled; None if it had not when waiting stopped or timed out."""
        if self._watcher is None:
            self._watcher = self._new_watcher()
        return await within(
            self._watcher.watch(call_sid), self.stop, self.options.settle_timeout_s, self.clock
        )

    def _new_watcher(self) -> LegWatcher:
        assert self.sid is not None
        return LegWatcher(self.client, self.sid, self.options.poll, self.account.budget)

    async def _run_update(self, action: Action) -> Verdict | None:
        participant = action.participant
        assert action.live is not None and self.sid is not None
        call_sid = action.live["call_sid"]
        fields: dict[str, RequestValue] = {}
        error: str | None = None
        sent: list[str] = []
        for change in action.updates:  # the settings table says what an update carries
            setting = BY_KEY[change.field]
            wanted = setting.update_fields(change.desired)
            if setting.update_names_coachee and change.desired is not None:
                target_sid = await self._coached_sid(action)
                if target_sid is None:
                    error = f"cannot coach {change.desired}: it is not connected"
                    continue
                wanted["CallSidToCoach"] = target_sid
            fields.update(wanted)
            sent.append(change.field)
        if fields:
            # By call SID: a call found by its number (no Label) is updated the same way.
            await self.client.update_participant(self.sid, call_sid, fields)
            self.publish(ev.Updated, participant.name, settings=tuple(sent))
        self._publish_call_sid(participant.name, call_sid)
        return Verdict(error) if error else None

    async def _run_redial(self, action: Action) -> Verdict | None:
        name = action.participant.name
        assert action.live is not None
        call_sid = action.live["call_sid"]
        if await self._hang_up_and_wait(call_sid):
            self.publish(ev.HungUp, name, why="redial", call_sid=call_sid)
            self.publish(ev.Noted, name, text=f"redialed: {', '.join(action.needs_redial)} changed")
            return await self._run_dial(action)
        return Verdict(
            "hung up for a redial, but still listed after --settle-timeout; not dialed again",
            State.UNKNOWN,
        )

    async def _hang_up_and_wait(self, call_sid: str) -> bool:
        """Remove the leg; whether the API stopped returning it within --settle-timeout."""
        assert self.sid is not None
        with contextlib.suppress(NotFoundError):
            await self.client.delete_participant(self.sid, call_sid)
        # A new dial with the same Label is refused while the old leg is still listed.
        deadline = self.clock.now() + self.options.settle_timeout_s
        poll = self.options.poll
        delay = poll.first_s
        while await self.client.find_participant(self.sid, call_sid) is not None:
            if self.stop.is_set():
                raise Stopped
            if self.clock.now() >= deadline:
                return False
            await sleep_unless(delay, self.stop, self.clock)
            delay = min(delay * poll.factor, poll.max_s)
        return True

    async def _run_stray(self, stray: Stray) -> None:
        if not stray.hang_up:
            return
        assert self.sid is not None
        error: str | None = None
        try:
            with contextlib.suppress(NotFoundError):  # already gone is what was asked
                await self.client.delete_participant(self.sid, stray.call_sid)
        except OrchestratorError as failure:
            error = f"could not hang up: {failure}"
        else:
            self.publish(ev.HungUp, stray.label, why="prune", call_sid=stray.call_sid)
        self.publish(ev.Finished, stray.label, error=error)

    # The run -----------------------------------------------------------------

    async def reconcile(self) -> None:
        """One last look at every leg the run holds, so the summary says what is true now."""
        if self.sid is None:
            return
        try:
            conference = await self.client.get_conference(self.sid)
            self.model.publish(
                ev.ConferenceSeen(
                    file=self.file,
                    conference=self.spec.conference.name,
                    sid=self.sid,
                    status=conference.get("status"),
                    source="poll",
                )
            )
            if self._watcher is None:
                self._watcher = self._new_watcher()
            held = self._live_legs()
            states = await self._watcher.current_states(list(held))
        except OrchestratorError:
            return
        for call_sid, name in held.items():
            state = states.get(call_sid)
            known = self._now(name)
            if state is None or known is None:
                continue  # no news: still ringing, or not listed or known yet
            if state == "connected" and known.observed != State.CONNECTED:
                self.publish(ev.Connected, name, call_sid=call_sid, source="poll")
            elif state != "connected" and known.observed.live:
                self.publish(ev.LegEnded, name, state=state, call_sid=call_sid, source="poll")

    def _live_legs(self) -> dict[str, str]:
        """Call SID -> participant, for the participants whose leg is up or on its way."""
        conference = self.model.conferences.get(self.file)
        if conference is None:
            return {}
        return {
            p.call_sid: p.name
            for p in list(conference.participants.values())
            if p.call_sid
            and p.observed.live
            and p.name in {a.participant.name for a in self.plan.actions}
        }

    async def _note_in_flight_at_stop(self) -> None:
        await self.account.stop.wait()
        self.model.publish(
            ev.Stopped(
                file=self.file, conference=self.spec.conference.name, in_flight=self.dialer.on_wire
            )
        )

    async def execute(self) -> None:
        snapshot = asyncio.create_task(self._note_in_flight_at_stop())
        tasks = [
            asyncio.create_task(self._run_participant(action), name=action.participant.name)
            for action in self.plan.actions
        ]
        tasks += [asyncio.create_task(self._run_stray(stray)) for stray in self.plan.strays]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in [*tasks, snapshot]:
                task.cancel()
            if self._watcher is not None:
                await self._watcher.close()
