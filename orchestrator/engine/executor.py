"""Carrying out a plan: concurrent, paced, idempotent dialing, then waiting for legs to settle.

Idempotency rests on the Label: every participant is dialed with its name as
Label. A dial that fails ambiguously (5xx, reset, timeout after sending, an
answer that cannot be read) is never blindly repeated: the participant is first
looked up by Label and the call found is adopted; only a definite "not there"
is dialed again. A 422 saying the Label is already live (another apply of the
same file got there first) is answered the same way: look it up, adopt it.

What the API may do that a run survives without a false verdict:
- 429 on a dial: the pacer pauses and slows (see ``engine.pacer``); the dial
  is sent again, having placed nothing.
- 404 on dialing into a friendly name: the conference is created the
  documented way, by a call that runs ``<Dial><Conference>`` (InitiateTexmlCall),
  and everyone else is dialed into its SID; later conferences of the run go
  straight that way.
- connections refused: nothing was sent, so the dial is tried again until the
  API has not answered anything for ``give_up_s``; then no new dial is sent,
  and who was never dialed is reported ``not-dialed``.
- stop (Ctrl-C, SIGTERM, SIGHUP): no request that has not left is sent; what is
  on the wire is finished, and the summary says how many dials were.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orchestrator.engine.dial_request import dial_fields, initiate_call_fields
from orchestrator.engine.pacer import DialPacer, PacerStopped, PauseHook
from orchestrator.engine.planner import (
    Action,
    LiveState,
    Plan,
    Stray,
    find_conference,
    make_plan,
    read_live_state,
)
from orchestrator.engine.results import (
    CONNECTED,
    CONNECTING,
    NOT_DIALED,
    UNKNOWN,
    ConferenceResult,
    ParticipantOutcome,
    ended,
    exit_code,
)
from orchestrator.engine.state import ConferenceState, Recorded, StateStore, fingerprint
from orchestrator.engine.watcher import (
    UNANSWERED,
    LegState,
    LegWatcher,
    ListBudget,
    PollSchedule,
    ended_state,
    is_connected,
)
from orchestrator.errors import (
    ApiUnreachable,
    AuthenticationError,
    DialUnconfirmed,
    NotFoundError,
    NotSent,
    OrchestratorError,
    RateLimitedError,
    RequestRejected,
)
from orchestrator.spec.model import ConferenceSpec, Participant
from orchestrator.texml import contract
from orchestrator.texml.client import DialAnswer, RequestValue, TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.contract import InitiateCallResult

T = TypeVar("T")

# Rows for live participants the file no longer names: hung up by --prune, or left alone.
ABSENT = "absent"
UNMANAGED = "unmanaged"

# (conference name, participant name, what happened) -> None; for progress displays and logs.
ProgressHook = Callable[[str, str, str], None]


@dataclass(frozen=True)
class ApplyOptions:
    concurrency: int = 50
    dials_per_second: float = 30.0
    dial_window_s: float = 5.0
    settle_timeout_s: float = 150.0  # longest wait for one leg to connect or end after its dial
    wait: bool = True  # False: report legs as dialed without waiting for them to settle
    poll: PollSchedule = field(default_factory=PollSchedule)
    prune: bool = False  # hang up live participants this file dialed before but no longer names
    redial_changed: bool = False  # hang up and redial legs whose dial-time settings changed
    state: StateStore | None = None  # where to keep the record of what was dialed; None: nowhere
    # Participant-list rounds per second across every conference of the run (0: no budget).
    list_rounds_per_second: float = 5.0
    # After this long without any answer from the API, no new dial is sent.
    give_up_s: float = 30.0
    lock_timeout_s: float = 600.0  # longest wait for another apply of the same conference
    on_pause: PauseHook | None = None  # told when dialing pauses, and why
    notice: Callable[[str], None] | None = None  # one-line notices (lock waits, creation mode)


class _Aborted(Exception):
    """The run was asked to stop (or gave up on the API) before this participant was dialed."""


class _Retry(Exception):
    """Nothing was placed; go round and dial again."""


@dataclass(frozen=True)
class _Ended:
    """How a conference-creating call ended before it made the conference."""

    state: LegState


@dataclass
class Account:
    """What one run learns about the account and shares among its conferences."""

    client: TexmlClient
    pacer: DialPacer
    options: ApplyOptions
    stop: asyncio.Event  # the user's: Ctrl-C, SIGTERM, SIGHUP
    halt: asyncio.Event  # stop, or the API gone: no new dials
    budget: ListBudget
    create_by_call: bool = False  # dialing into a friendly name was refused: create by a call
    gone: str | None = None  # why the run gave up on the API

    def give_up_if_gone(self) -> None:
        if self.client.unreachable_for() >= self.options.give_up_s and self.gone is None:
            self.gone = (
                f"the API has not answered for {self.options.give_up_s:g}s; "
                "no new dials were sent after that"
            )
            self.halt.set()


def _is_duplicate_label(error: RequestRejected) -> bool:
    """A 422 saying a participant with this Label is already in the conference."""
    text = f"{error.pointer or ''} {error.detail or ''}".lower()
    return error.status == 422 and "label" in text and "already" in text


def stray_outcome(stray: Stray, to: str) -> ParticipantOutcome:
    """The summary row of a live participant the file no longer names: hung up (--prune) or left."""
    if stray.hang_up:
        outcome = ParticipantOutcome(
            stray.label, "-", to, desired=ABSENT, observed=CONNECTED, call_sid=stray.call_sid
        )
        outcome.notes.append("not in file; hung up (--prune)")
        return outcome
    outcome = ParticipantOutcome(
        stray.label, "-", to, desired=UNMANAGED, observed=UNMANAGED, call_sid=stray.call_sid
    )
    outcome.notes.append("live, not in file; apply --prune hangs it up")
    return outcome


class ConferenceRun:
    """Applies one plan; holds the state shared by that conference's participant tasks."""

    def __init__(
        self,
        plan: Plan,
        account: Account,
        progress: ProgressHook | None = None,
    ) -> None:
        self.plan = plan
        self.spec = plan.spec
        self.account = account
        self.client = account.client
        self.pacer = account.pacer
        self.options = account.options
        self.stop = account.halt  # no new dial once halted, for whatever reason
        self._progress = progress
        self.sid: str | None = plan.conference_sid
        self._creator_busy = False
        self._creator_done = plan.creator is None
        self._sid_changed = asyncio.Event()
        self._watcher: LegWatcher | None = None
        # Call SID of each participant once it is settled connected (or dialed, with --no-wait);
        # None once it is known it never will be.
        self._call_sids: dict[str, asyncio.Future[str | None]] = {}
        desired = CONNECTED if self.options.wait else CONNECTING
        self.outcomes = {
            p.name: ParticipantOutcome(name=p.name, role=p.role, to=p.to[0], desired=desired)
            for p in self.spec.participants
        }
        self.dials = 0
        self.rate_limited = 0  # this conference's dials the API answered 429
        self.on_wire = 0  # dial requests sent whose answer has not arrived
        self.in_flight_at_stop: int | None = None
        self.fatal: OrchestratorError | None = None
        self.strays = self.stray_outcomes()

    def _say(self, participant: str, what: str) -> None:
        if self._progress is not None:
            self._progress(self.spec.conference.name, participant, what)

    def _call_sid_future(self, name: str) -> asyncio.Future[str | None]:
        future = self._call_sids.get(name)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._call_sids[name] = future
        return future

    def _publish_call_sid(self, name: str, call_sid: str | None) -> None:
        future = self._call_sid_future(name)
        if not future.done():
            future.set_result(call_sid)

    # Conference SID -------------------------------------------------------

    def _announce_sid_change(self) -> None:
        changed, self._sid_changed = self._sid_changed, asyncio.Event()
        changed.set()

    async def _conference_target(self, participant: Participant) -> tuple[str, bool]:
        """Where to dial: (conference SID, False), or (friendly name, True) for the one dial that creates it."""
        while True:
            if self.sid is not None:
                return self.sid, False
            if self.stop.is_set():
                raise _Aborted
            may_create = self._creator_done or participant.name == self.plan.creator
            if may_create and not self._creator_busy:
                self._creator_busy = True
                return self.spec.conference.name, True
            await _wait_either(self._sid_changed, self.stop)

    def _creation_finished(self, sid: str | None) -> None:
        self._creator_busy = False
        self._creator_done = True
        if sid is not None and self.sid is None:
            self.sid = sid
        self._announce_sid_change()

    # Dialing -----------------------------------------------------------------

    async def _place(
        self, participant: Participant, destination: str, coach_sid: str | None
    ) -> str | _Ended:
        """One placed call for ``participant`` (a new dial, or one adopted), by its call SID;
        or how a creating call ended when it never made the conference."""
        refused_connections = 0
        while True:
            self.account.give_up_if_gone()
            if self.stop.is_set():
                raise _Aborted
            target, creates = await self._conference_target(participant)
            try:
                if creates and self.account.create_by_call:
                    return await self._create_by_call(participant, destination)
                return await self._dial(participant, destination, coach_sid, target, creates)
            except _Retry:
                continue
            except ApiUnreachable as error:
                if creates:
                    self._creation_finished(None)
                if error.request_sent:
                    raise
                # Nothing left this machine: wait and try again, until the API counts as gone.
                refused_connections += 1
                await _sleep_unless(min(0.5 * 2 ** (refused_connections - 1), 4.0), self.stop)
                if self.client.unreachable_for() >= self.options.give_up_s:
                    self.account.give_up_if_gone()
                    raise
            except BaseException:
                if creates:
                    self._creation_finished(None)
                raise
            finally:
                if creates and self._creator_busy and self.sid is None:
                    # Nothing was placed (a 429, a refused connection): whoever gets there
                    # first, this participant included, tries to create it again.
                    self._creator_busy = False
                    self._announce_sid_change()

    async def _dial(
        self,
        participant: Participant,
        destination: str,
        coach_sid: str | None,
        target: str,
        creates: bool,
    ) -> str | _Ended:
        outcome = self.outcomes[participant.name]
        fields = dial_fields(
            self.spec,
            participant,
            destination,
            creates_conference=creates,
            call_sid_to_coach=coach_sid,
        )
        try:
            resource = (
                await self._send_dial(
                    participant,
                    lambda clear: self.client.dial(
                        target, fields, stop=self.stop, clear_to_send=clear
                    ),
                )
            ).resource
        except NotFoundError:
            if not creates:
                raise
            # Dialing into a friendly name is refused here: create it by a TeXML call instead.
            self.account.create_by_call = True
            if self.options.notice is not None:
                self.options.notice(
                    f"{self.spec.conference.name}: the API does not create a conference by dialing "
                    "into its name; creating it with a TeXML <Dial><Conference> call instead"
                )
            return await self._create_by_call(participant, destination)
        except DialUnconfirmed as error:
            adopted = await self._adopt(participant, target, creates)
            if adopted is not None:
                outcome.notes.append(
                    f"adopted {adopted} after an unconfirmed dial ({error.status or 'no answer'})"
                )
                return adopted
            outcome.attempts -= 1  # definitely not placed
            raise _Retry from error
        except RequestRejected as error:
            if not _is_duplicate_label(error):
                raise
            adopted = await self._adopt(participant, target, creates)
            if adopted is None:
                raise _Retry from error  # it left meanwhile: dial it
            outcome.notes.append("already live (dialed by another apply); adopted")
            return adopted
        if creates:
            self._creation_finished(str(resource["conference_sid"]))
        self._say(participant.name, f"dialed {destination}")
        return str(resource["call_sid"])

    async def _send_dial(
        self,
        participant: Participant,
        send: Callable[[Callable[[], bool]], Awaitable[DialAnswer[T]]],
    ) -> DialAnswer[T]:
        """Send one dial through the pacer; a 429 (or a dial held back by a pause that began while
        it waited for its place) is turned into _Retry, a stop into _Aborted.

        ``send`` gets the check the client makes just before the request leaves; from that
        moment the dial counts as on the wire.
        """
        outcome = self.outcomes[participant.name]
        try:
            async with self.pacer.slot(self.stop) as ticket:
                sent = False

                def clear_to_send() -> bool:
                    nonlocal sent
                    if not self.pacer.clear_to_send(ticket):
                        return False
                    sent = True
                    self.on_wire += 1
                    return True

                self.dials += 1
                outcome.attempts += 1
                try:
                    answer = await send(clear_to_send)
                except RateLimitedError as error:
                    self.rate_limited += 1
                    general = error.code == contract.CODE_TOO_MANY_REQUESTS
                    self.pacer.refused(ticket, error.rate, cut=not general)
                    raise
                except NotSent:
                    self.pacer.held_back(ticket)
                    raise
                except ApiUnreachable as error:
                    if not error.request_sent:
                        self.pacer.held_back(ticket)  # nothing reached the server
                    raise
                finally:
                    if sent:
                        self.on_wire -= 1
                self.pacer.accepted(ticket, answer.rate)
                return answer
        except RateLimitedError as error:
            outcome.attempts -= 1  # nothing was placed; the pacer has slowed down
            raise _Retry from error
        except (RequestRejected, NotFoundError, AuthenticationError):
            outcome.attempts -= 1  # a definite refusal placed nothing
            raise
        except NotSent as error:
            outcome.attempts -= 1
            self.dials -= 1
            if error.held_back:
                raise _Retry from error
            raise _Aborted from error
        except ApiUnreachable as error:
            if not error.request_sent:
                outcome.attempts -= 1
                self.dials -= 1
            raise
        except PacerStopped as stopped:
            raise _Aborted from stopped

    async def _create_by_call(self, participant: Participant, destination: str) -> str | _Ended:
        """Create the conference by a call running <Dial><Conference>, and wait until it exists.

        Returns the creating call's SID (the conference's SID is published by then), or how the
        call ended without making the conference.
        """
        outcome = self.outcomes[participant.name]
        fields = initiate_call_fields(self.spec, participant, destination)
        answer: InitiateCallResult
        try:
            answer = (
                await self._send_dial(
                    participant,
                    lambda clear: self.client.initiate_call(
                        fields, stop=self.stop, clear_to_send=clear
                    ),
                )
            ).resource
        except DialUnconfirmed:
            answer = {}  # it may have been placed: the conference will tell
        except BaseException:
            self._creation_finished(None)
            raise
        named = answer.get("call_sid") or answer.get("sid")
        call_sid = named if isinstance(named, str) and named else None
        self._say(participant.name, f"dialed {destination}")
        ring_s = participant.settings.timeout or contract.DEFAULT_TIMEOUT_S
        deadline = time.monotonic() + ring_s + self.options.settle_timeout_s
        delay = self.options.poll.first_s
        conference_sid: str | None = None
        try:
            while time.monotonic() < deadline and not self.stop.is_set():
                if conference_sid is None:
                    found = await find_conference(self.client, self.spec)
                    conference_sid = found["sid"] if found is not None else None
                    if conference_sid is not None:
                        self._creation_finished(conference_sid)
                if conference_sid is not None:
                    call_sid = call_sid or await self._find_creator_call(
                        conference_sid, destination
                    )
                    if call_sid:
                        return str(call_sid)
                elif call_sid:
                    status = await self._call_status(str(call_sid))
                    state = ended_state(status)
                    if state is not None:
                        outcome.call_sid = str(call_sid)
                        return _Ended(state)
                await _sleep_unless(delay, self.stop)
                delay = min(delay * self.options.poll.factor, self.options.poll.max_s)
        finally:
            if conference_sid is None:
                self._creation_finished(None)
        outcome.call_sid = str(call_sid) if call_sid else None
        if conference_sid is None:
            outcome.notes.append("the creating call never made the conference")
        else:
            outcome.notes.append("created the conference; its call could not be identified")
        return _Ended("unknown")

    async def _find_creator_call(self, conference_sid: str, destination: str) -> str | None:
        """The creating call's SID, when InitiateTexmlCall's answer named none: the live leg to
        its destination that no other participant of the run holds."""
        held = {o.call_sid for o in self.outcomes.values() if o.call_sid}
        for leg in await self.client.list_participants(conference_sid):
            call_sid = leg.get("call_sid")
            if not isinstance(call_sid, str) or call_sid in held:
                continue
            with contextlib.suppress(NotFoundError):
                if (await self.client.get_call(call_sid)).get("to") == destination:
                    return call_sid
        return None

    async def _call_status(self, call_sid: str) -> str | None:
        try:
            status = (await self.client.get_call(call_sid)).get("status")
        except NotFoundError:
            return None
        return status if isinstance(status, str) else None

    async def _adopt(self, participant: Participant, target: str, creates: bool) -> str | None:
        """After an unconfirmed or refused dial: the call SID of the leg carrying this Label, if any."""
        conference_sid: str | None = target
        if creates:
            conference = await find_conference(self.client, self.spec)
            conference_sid = conference["sid"] if conference is not None else None
            self._creation_finished(conference_sid)
            if conference_sid is None:
                return None
        assert conference_sid is not None
        found = await self.client.find_participant(conference_sid, participant.name)
        call_sid = found.get("call_sid") if isinstance(found, dict) else None
        return call_sid if isinstance(call_sid, str) and call_sid else None

    def _new_watcher(self) -> LegWatcher:
        assert self.sid is not None
        return LegWatcher(self.client, self.sid, self.options.poll, self.account.budget)

    async def _settle(self, call_sid: str) -> LegState | None:
        """How the leg settled; None if it was still ringing when waiting stopped."""
        if self._watcher is None:
            assert self.sid is not None
            self._watcher = self._new_watcher()
        leg = self._watcher.watch(call_sid)
        stopped = asyncio.ensure_future(self.stop.wait())
        waiters: set[asyncio.Future[Any]] = {leg, stopped}
        try:
            done, _ = await asyncio.wait(
                waiters,
                timeout=self.options.settle_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopped.cancel()
        if leg in done:
            return leg.result()
        return None

    async def _run_dial(self, action: Action) -> None:
        participant = action.participant
        outcome = self.outcomes[participant.name]
        coach_sid: str | None = None
        if participant.coach is not None:
            self._say(participant.name, f"waiting for {participant.coach}")
            coach_sid = await _wait_for_future(self._call_sid_future(participant.coach), self.stop)
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
                    await _sleep_unless(retry.interval_s, self.stop)
                if self.stop.is_set():
                    raise _Aborted
                if index > 0 and attempt == 0:
                    outcome.notes.append(f"fallback to number {index + 1} after {last}")
                outcome.to = destination
                placed = await self._place(participant, destination, coach_sid)
                if isinstance(placed, _Ended):
                    last = placed.state  # a creating call that ended before it made the conference
                    self._say(participant.name, last)
                    outcome.observed = ended(last) if last != "unknown" else UNKNOWN
                    if last not in UNANSWERED:
                        outcome.error = "the call meant to create the conference did not join it"
                        return
                    continue
                call_sid = placed
                outcome.call_sid = call_sid
                outcome.observed = CONNECTING
                if not self.options.wait:
                    self._publish_call_sid(participant.name, call_sid)
                    return
                last = await self._settle(call_sid)
                if last is None:
                    outcome.observed = CONNECTING
                    if self.account.gone is not None:
                        outcome.error = f"dialed, not confirmed: {self.account.gone}"
                        return
                    if self.stop.is_set():
                        return
                    trouble = self._watcher.last_error if self._watcher is not None else None
                    if trouble is not None:
                        outcome.observed = UNKNOWN
                        outcome.error = f"could not confirm the leg: {trouble}"
                    else:
                        outcome.error = (
                            f"not connected after {self.options.settle_timeout_s:g}s "
                            "(still ringing, or not listed yet)"
                        )
                    return
                self._say(participant.name, last)
                if last == "connected":
                    outcome.observed = CONNECTED
                    await self._after_connect(participant, call_sid)
                    return
                outcome.observed = ended(last)
                if last not in UNANSWERED:
                    return
        outcome.error = f"no answer on any number (last: {last})"

    async def _after_connect(self, participant: Participant, call_sid: str) -> None:
        if participant.settings.hold:
            assert self.sid is not None
            await self.client.update_participant(self.sid, call_sid, {"Hold": True})
        self._publish_call_sid(participant.name, call_sid)

    async def _run_update(self, action: Action) -> None:
        participant = action.participant
        outcome = self.outcomes[participant.name]
        live = action.live
        assert live is not None and self.sid is not None
        outcome.call_sid = live["call_sid"]
        outcome.observed = CONNECTED if is_connected(live.get("status")) else CONNECTING
        fields: dict[str, RequestValue] = {}
        for change in action.changes:
            if change.field == "muted":
                fields["Muted"] = bool(change.desired)
            elif change.field == "hold":
                fields["Hold"] = bool(change.desired)
            elif change.field == "coach":
                if change.desired is None:
                    fields["Coaching"] = False
                else:
                    target_sid = await _wait_for_future(
                        self._call_sid_future(str(change.desired)), self.stop
                    )
                    if target_sid is None:
                        outcome.error = f"cannot coach {change.desired}: it is not connected"
                        continue
                    fields["Coaching"] = True
                    fields["CallSidToCoach"] = target_sid
        if fields:
            await self.client.update_participant(self.sid, participant.name, fields)
            outcome.notes.append("updated " + ", ".join(c.field for c in action.changes))
            self._say(participant.name, "updated")
        self._publish_call_sid(participant.name, live["call_sid"])

    async def _run_participant(self, action: Action) -> None:
        participant = action.participant
        outcome = self.outcomes[participant.name]
        try:
            if action.kind == "noop":
                assert action.live is not None
                outcome.call_sid = action.live["call_sid"]
                outcome.observed = (
                    CONNECTED if is_connected(action.live.get("status")) else CONNECTING
                )
                outcome.notes.append("already in the conference")
                self._publish_call_sid(participant.name, action.live["call_sid"])
            elif action.kind == "update":
                await self._run_update(action)
            elif action.kind == "redial":
                if await self._hang_up_and_wait(participant.name):
                    changed = ", ".join(action.needs_redial)
                    outcome.notes.append(f"redialed: {changed} changed")
                    await self._run_dial(action)
                else:
                    outcome.call_sid = action.live["call_sid"] if action.live else None
                    outcome.observed = UNKNOWN
                    outcome.error = (
                        "hung up for a redial, but still listed after --settle-timeout; "
                        "not dialed again"
                    )
            else:
                await self._run_dial(action)
            if action.needs_redial and action.kind != "redial":
                outcome.notes.append(
                    "needs redial: "
                    + ", ".join(action.needs_redial)
                    + " changed (apply --redial-changed)"
                )
        except _Aborted:
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
                outcome.observed = NOT_DIALED
            elif outcome.observed == NOT_DIALED:
                outcome.observed = UNKNOWN
        except Exception as error:  # a fault of ours: this participant's row says so, others go on
            outcome.error = f"internal error: {type(error).__name__}: {error}"
            if outcome.attempts > 0 and outcome.observed == NOT_DIALED:
                outcome.observed = UNKNOWN
        finally:
            if (
                participant.name not in self._call_sids
                or not self._call_sids[participant.name].done()
            ):
                self._publish_call_sid(participant.name, None)

    async def _hang_up_and_wait(self, label: str) -> bool:
        """Remove the leg carrying ``label``; whether the API stopped returning it in time."""
        assert self.sid is not None
        with contextlib.suppress(NotFoundError):
            await self.client.delete_participant(self.sid, label)
        # A new dial with the same Label is refused while the old leg is still listed.
        deadline = time.monotonic() + self.options.settle_timeout_s
        delay = self.options.poll.first_s
        while await self.client.find_participant(self.sid, label) is not None:
            if self.stop.is_set():
                raise _Aborted
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * self.options.poll.factor, self.options.poll.max_s)
        return True

    async def _run_stray(self, stray: Stray, outcome: ParticipantOutcome) -> None:
        if not stray.hang_up:
            return
        assert self.sid is not None
        try:
            with contextlib.suppress(NotFoundError):  # already gone is what was asked
                await self.client.delete_participant(self.sid, stray.label)
        except OrchestratorError as error:
            outcome.error = f"could not hang up: {error}"
            return
        outcome.observed = ABSENT
        self._say(stray.label, "hung up")

    def stray_outcomes(self) -> dict[str, ParticipantOutcome]:
        destinations = self.plan.destinations
        return {s.label: stray_outcome(s, destinations.get(s.label, "-")) for s in self.plan.strays}

    async def reconcile(self) -> str | None:
        """One last look at every leg the run holds, so the summary says what is true now."""
        if self.sid is None:
            return None
        status: str | None = None
        try:
            conference = await self.client.get_conference(self.sid)
            status = conference["status"]
            if self._watcher is None:
                self._watcher = self._new_watcher()
            held = [
                o.call_sid
                for o in self.outcomes.values()
                if o.call_sid and o.observed in (CONNECTED, CONNECTING)
            ]
            states = await self._watcher.current_states(held)
        except OrchestratorError:
            return status
        for outcome in self.outcomes.values():
            if outcome.call_sid in states:
                state = states[outcome.call_sid]
                if state is None:
                    continue  # no news: still ringing, or not listed or known yet
                if state == "connected":
                    outcome.observed = CONNECTED
                else:
                    outcome.observed = ended(state)
        return status

    async def _note_in_flight_at_stop(self) -> None:
        await self.account.stop.wait()
        self.in_flight_at_stop = self.on_wire

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


async def apply_conference(
    spec: ConferenceSpec, account: Account, progress: ProgressHook | None = None
) -> ConferenceResult:
    started = time.monotonic()
    result = ConferenceResult(
        path=spec.path,
        name=spec.conference.name,
        sid=spec.conference.sid,
        status=None,
        participants=[],
    )
    client, options = account.client, account.options
    account_sid = spec.account_sid or client.connection.account_sid
    store = options.state
    try:
        async with _record_lock(store, spec, account_sid, options):
            await _apply_locked(spec, account, progress, result)
    except OrchestratorError as error:  # the lock could not be had: nothing was sent
        _fail_before_dialing(result, spec, error)
    result.exit_code = exit_code(result)
    result.duration_s = time.monotonic() - started
    return result


def _fail_before_dialing(
    result: ConferenceResult, spec: ConferenceSpec, error: OrchestratorError
) -> None:
    result.error = str(error)
    result.participants = [
        ParticipantOutcome(p.name, p.role, p.to[0], error="not dialed (see the conference error)")
        for p in spec.participants
    ]


def _record_lock(
    store: StateStore | None, spec: ConferenceSpec, account_sid: str, options: ApplyOptions
) -> contextlib.AbstractAsyncContextManager[object]:
    """Two applies of one conference with one local record take turns, as Terraform's do."""
    if store is None:
        return contextlib.nullcontext()
    return store.locked(
        spec.path,
        account_sid,
        spec.conference.name,
        on_wait=options.notice,
        timeout_s=options.lock_timeout_s,
    )


async def _apply_locked(
    spec: ConferenceSpec,
    account: Account,
    progress: ProgressHook | None,
    result: ConferenceResult,
) -> None:
    client, options = account.client, account.options
    account_sid = spec.account_sid or client.connection.account_sid
    store = options.state
    recorded = (
        store.load(spec.path, account_sid, spec.conference.name) if store is not None else None
    )
    try:
        state = await read_live_state(client, spec, recorded)
        plan = make_plan(spec, state, prune=options.prune, redial_changed=options.redial_changed)
        if plan.conference_sid is None and not spec.conference.application_sid:
            raise _NeedsApplication(spec)
    except OrchestratorError as error:
        _fail_before_dialing(result, spec, error)
        return

    run = ConferenceRun(plan, account, progress)
    try:
        await run.execute()
        result.status = await run.reconcile()
    finally:
        # Whatever happened, the calls placed are told and recorded.
        result.sid = run.sid
        result.participants = [run.outcomes[p.name] for p in spec.participants]
        result.participants += list(run.strays.values())
        for action in plan.actions:
            outcome = run.outcomes[action.participant.name]
            if action.kind in ("noop", "update"):
                outcome.to = plan.destinations.get(action.participant.name, outcome.to)
        if store is not None and recorded is not None and run.sid is not None:
            store.save(spec.path, _record(recorded, plan, state, run))
        result.dials = run.dials
        result.rate_limited = run.rate_limited
        result.interrupted = account.stop.is_set()
        result.in_flight_at_stop = run.in_flight_at_stop
        if run.fatal is not None:
            result.error = str(run.fatal)
        elif account.gone is not None:
            result.error = account.gone


def _record(
    recorded: ConferenceState, plan: Plan, state: LiveState, run: ConferenceRun
) -> ConferenceState:
    """What is live now and was dialed from this file (or adopted by it)."""
    assert run.sid is not None
    updated = ConferenceState(recorded.account_sid, recorded.conference)
    for stray in plan.strays:
        kept = recorded.participants.get(stray.label)
        if kept is not None and run.strays[stray.label].observed != ABSENT:
            updated.participants[stray.label] = kept
    for action in plan.actions:
        name = action.participant.name
        outcome = run.outcomes[name]
        if outcome.call_sid is None or outcome.observed not in (CONNECTED, CONNECTING):
            continue
        previous = recorded.participants.get(name)
        settings = state.fingerprints.get(name)
        if action.kind in ("noop", "update") and previous is not None and settings is not None:
            # Still the call dialed before, with the settings it was dialed with.
            updated.participants[name] = previous
            continue
        updated.participants[name] = Recorded(
            call_sid=outcome.call_sid,
            conference_sid=run.sid,
            to=outcome.to,
            fingerprint=fingerprint(action.participant),
        )
    return updated


class _NeedsApplication(OrchestratorError):
    def __init__(self, spec: ConferenceSpec) -> None:
        super().__init__(
            f"{spec.path}: conference {spec.conference.name!r} does not exist yet and "
            "conference.application_sid is not set; set it to your TeXML application's SID so the "
            "first dial can create the conference"
        )


async def apply_all(
    specs: list[ConferenceSpec],
    client: TexmlClient,
    options: ApplyOptions,
    stop: asyncio.Event,
    progress: ProgressHook | None = None,
    pacer: DialPacer | None = None,
) -> list[ConferenceResult]:
    """Apply several conferences concurrently; the dial limit is the account's, so one pacer serves all."""
    pacer = pacer or DialPacer(
        options.dials_per_second, options.dial_window_s, on_pause=options.on_pause
    )
    halt = asyncio.Event()
    account = Account(
        client, pacer, options, stop, halt, ListBudget(options.list_rounds_per_second)
    )

    async def watch() -> None:
        """Halt on stop, or once the API has not answered for give_up_s."""
        while not stop.is_set():
            account.give_up_if_gone()
            if halt.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        halt.set()

    watcher = asyncio.create_task(watch(), name="halt watch")
    try:
        return list(
            await asyncio.gather(*(apply_conference(spec, account, progress) for spec in specs))
        )
    finally:
        watcher.cancel()
        account.budget.close()
        pacer.close()


async def _wait_either(event: asyncio.Event, stop: asyncio.Event) -> None:
    waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _wait_for_future(future: asyncio.Future[str | None], stop: asyncio.Event) -> str | None:
    stopped = asyncio.ensure_future(stop.wait())
    waiters: set[asyncio.Future[Any]] = {future, stopped}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if future.done():
        return future.result()
    raise _Aborted


async def _sleep_unless(seconds: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def apply_with_connection(
    specs: list[ConferenceSpec],
    connection: Connection,
    options: ApplyOptions,
    stop: asyncio.Event,
    progress: ProgressHook | None = None,
) -> list[ConferenceResult]:
    """Open one client for the account and apply every spec through it."""
    async with TexmlClient(connection, concurrency=options.concurrency) as client:
        return await apply_all(specs, client, options, stop, progress)
