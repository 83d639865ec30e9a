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
from typing import Any

from orchestrator.engine import events as ev
from orchestrator.engine.account import Account
from orchestrator.engine.creating import CreatorEnded
from orchestrator.engine.creation import Creation
from orchestrator.engine.detection import Screening
from orchestrator.engine.dialing import Dialer
from orchestrator.engine.ledger import Unconfirmed
from orchestrator.engine.planner import CONFERENCE, Action, Plan, Stray
from orchestrator.engine.results import LegState, State
from orchestrator.engine.sending import Capped
from orchestrator.engine.settling import UNANSWERED, LegWatcher
from orchestrator.engine.verdicts import FEWEST_CONCURRENT_CALLS, Tried, Verdict, exhausted, failed
from orchestrator.engine.waiting import Stopped, poll, result_unless, sleep_unless, within
from orchestrator.errors import AuthenticationError, NotFoundError, OrchestratorError
from orchestrator.spec.model import Participant
from orchestrator.spec.settings_table import BY_KEY
from orchestrator.texml.client import RequestValue


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
        self.clock = account.clock
        self.options = account.options
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self.creation = Creation(plan.conference_sid, plan.creator)
        self.dialer = Dialer(self.spec, account, self.creation, self._held_calls)
        self.screening = Screening(
            self.client,
            self.options.poll,
            self.stop,
            self.options.settle_timeout_s,
            lambda kind, participant, **fields: self.publish(kind, participant, **fields),
        )
        self._watcher: LegWatcher | None = None
        # The account's limit each participant's last call met, when it is taken to have.
        self._limits: dict[str, ev.AccountLimit] = {}
        account.unplaced.update(
            (self.file, a.participant.name)
            for a in plan.actions
            if a.kind in ("dial", "redial")
            and (dial_only is None or a.participant.name in dial_only)
        )
        # Each participant's call SID once it is connected (or dialed, with --no-wait);
        # None once it is known it never will be. Coaches wait on these.
        self._call_sids: dict[str, asyncio.Future[str | None]] = {}
        self.fatal: OrchestratorError | None = None
        self._sent = False  # a dial, an update or a hang-up was asked for

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
        except Capped as capped:  # not dialed (again): the run sends no dial after a cap
            verdict = Verdict(limit=capped.limit)
        except Stopped:
            verdict = self._stopped(name)
        except AuthenticationError as error:
            self.fatal = error
            verdict = Verdict(str(error))
        except OrchestratorError as error:  # the API's answers, or none: said on the row
            verdict = failed(self._now(name), str(error))
        except Exception as error:  # a fault of ours: this participant's row says so, others go on
            verdict = failed(self._now(name), f"internal error: {type(error).__name__}: {error}")
        finally:
            self.account.unplaced.discard((self.file, name))
            self._publish_call_sid(name, None)  # no-op if it was published
            verdict = verdict or Verdict()
            self.publish(
                ev.Finished,
                name,
                error=verdict.error,
                observed=verdict.observed,
                note=verdict.note,
                limit=verdict.limit,
            )

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
        coach_sid: str | None = None
        if participant.coach is not None:
            coach_sid = await self._coached_sid(action)
            if coach_sid is None:
                return Verdict(
                    f"not dialed: {participant.coach}, whom it coaches, is not connected"
                )
        self._limits.pop(participant.name, None)
        tried = Tried(None)
        for index, destination in enumerate(participant.to):
            tried = await self._dial_number(participant, index, destination, coach_sid, tried)
            if tried.final:
                return tried.verdict
        limit = self._limits.pop(participant.name, None)
        if limit is not None:  # the last call met the account's limit: the model says so
            return Verdict(limit=limit)
        return exhausted(participant, tried)

    async def _dial_number(
        self,
        participant: Participant,
        index: int,
        destination: str,
        coach_sid: str | None,
        tried: Tried,
    ) -> Tried:
        """This number's tries (``retry``): until one settles it, or detection moves on."""
        retry = participant.settings.retry
        for attempt in range(1 + (retry.attempts if retry is not None else 0)):
            if attempt > 0 and retry is not None and retry.interval_s > 0:
                await sleep_unless(retry.interval_s, self.stop, self.account.clock)
            if self.stop.is_set():
                raise Stopped
            if tried.last is not None:
                self._say_why_again(participant, index, attempt, tried)
            tried = await self._try(participant, destination, coach_sid)
            if tried.final or tried.last == "machine":
                break
        return tried

    def _say_why_again(
        self, participant: Participant, index: int, attempt: int, tried: Tried
    ) -> None:
        name = participant.name
        if index > 0 and attempt == 0:
            after = tried.heard if tried.last == "machine" and tried.heard else tried.last
            self.publish(ev.Fallback, name, number=index + 1, after=after)
        elif attempt > 0:
            self.publish(ev.Retrying, name, after=tried.last)

    async def _try(
        self, participant: Participant, destination: str, coach_sid: str | None
    ) -> Tried:
        """One call: placed (or adopted), then followed until it settles."""
        name = participant.name
        self._sent = True
        placed = await self.dialer.place(participant, destination, coach_sid)
        self.account.unplaced.discard((self.file, name))
        if isinstance(placed, CreatorEnded):
            # A creating call that ended before it made the conference.
            self.publish(ev.LegEnded, name, state=placed.state, call_sid=placed.call_sid)
            if placed.note is not None:
                self.publish(ev.Noted, name, text=placed.note)
            if placed.state not in UNANSWERED:
                never = Verdict("the call meant to create the conference did not join it")
                return Tried(placed.state, final=True, verdict=never)
            return Tried(placed.state)
        last, heard, failed = await self._follow(participant, placed)
        if failed is not None or last is None:
            return Tried(last, final=True, verdict=failed)
        # Connected, or hung up: nothing more to try; unanswered or a machine: the next try.
        return Tried(last, heard, final=last not in (*UNANSWERED, "machine"))

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
        last = await self._settle(call_sid, participant.settings.timeout)
        if last is None:
            return None, None, self._unsettled()
        if last != "connected":
            live = self.model.live_calls(besides=call_sid) if last == "failed" else 0
            self._limits.pop(name, None)
            if live >= FEWEST_CONCURRENT_CALLS:
                # A call fails at once over the account's concurrent-call limit (SIP 403), and
                # the API does not say why: with this many up, that is the likely reason. The
                # next number is dialed all the same: a number failing for its own reason must
                # not cost the person their other phone.
                self._limits[name] = "concurrent-calls"
                self.publish(
                    ev.LegEnded,
                    name,
                    state=last,
                    call_sid=call_sid,
                    source="poll",
                    limit="concurrent-calls",
                    live=live,
                )
                return last, None, None
            self.publish(ev.LegEnded, name, state=last, call_sid=call_sid, source="poll")
            return last, None, None
        assert self.sid is not None
        screened = await self.screening.screen(self.sid, participant, call_sid)
        if screened.state == "connected":
            if participant.settings.hold:
                await self.client.update_participant(self.sid, call_sid, {"Hold": True})
            self._publish_call_sid(name, call_sid)
        failed = Verdict(screened.error) if screened.error else None
        return screened.state, screened.heard, failed

    def _unsettled(self) -> Verdict:
        """Why a leg's wait ended without news: the API gone, the run stopped, a failing
        poll, or the settle timeout."""
        if self.account.gone is not None:
            return Verdict(f"dialed, not confirmed: {self.account.gone}")
        if self.stop.is_set():
            raise Stopped
        trouble = self._watcher.last_error if self._watcher is not None else None
        if trouble is not None:
            return Verdict(f"could not confirm the leg: {trouble}", State.UNKNOWN)
        waited = self.options.settle_timeout_s
        return Verdict(f"not connected after {waited:g}s (still ringing, or not listed yet)")

    async def _settle(self, call_sid: str, ring_s: int | None) -> LegState | None:
        """How the leg settled (``ring_s``: how long it may ring); None if it had not when
        waiting stopped or timed out."""
        if self._watcher is None:
            self._watcher = self._new_watcher()
        return await within(
            self._watcher.watch(call_sid, ring_s),
            self.stop,
            self.options.settle_timeout_s,
            self.account.clock,
        )

    def _new_watcher(self) -> LegWatcher:
        assert self.sid is not None
        return LegWatcher(
            self.client,
            self.sid,
            self.options.poll,
            more_coming=lambda: bool(self.account.unplaced),
        )

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
            self._sent = True
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
        sid = self.sid
        assert sid is not None
        self._sent = True
        with contextlib.suppress(NotFoundError):
            await self.client.delete_participant(sid, call_sid)

        # A new dial with the same Label is refused while the old leg is still listed.
        async def gone() -> bool | None:
            return True if await self.client.find_participant(sid, call_sid) is None else None

        clock = self.account.clock
        until = clock.now() + self.options.settle_timeout_s
        return await poll(gone, self.stop, self.options.poll, clock, until=until) is not None

    async def _run_stray(self, stray: Stray) -> None:
        if not stray.hang_up:
            return
        assert self.sid is not None
        self._sent = True
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

    @property
    def sent_anything(self) -> bool:
        """Whether this round asked the API to change anything (a dial, an update, a hang-up):
        if not, the round's own read of the live conference is what is true now."""
        return self._sent

    async def reconcile(self) -> None:
        """One last look at every leg the run holds, so the summary says what is true now;
        none when the round changed nothing (its live read is that look)."""
        if self.sid is None or not self._sent:
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
        planned = {a.participant.name for a in self.plan.actions}  # once, not once a leg
        return {
            p.call_sid: p.name
            for p in list(conference.participants.values())
            if p.call_sid and p.observed.live and p.name in planned
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
