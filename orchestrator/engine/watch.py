"""apply --watch: keep each conference as its file says, until stopped or every call has ended.

After the first round (an ordinary apply) each conference is looked at again
every interval, backing off while nothing changes (and reading no more than
the API's general limit allows: the client's read throttle holds every read
after a 10011). A round is the apply of the file's current version with two
differences:

- Someone who was connected and left is dialed again only as its
  ``reconnect`` setting allows: at most ``attempts`` redials within
  ``window_s``, the first ``backoff_s`` after the drop, doubling. By default
  nobody is called back: hanging up on purpose is respected.
- The file is read again when its content changed. A valid new version is
  applied as a plan (new participants dialed, muted/hold/coaching updated in
  place, removed ones hung up only with --prune, redials only with
  --redial-changed); an invalid one is reported and ignored, and the last
  good version stays in force.

Between rounds the watch remembers the calls it holds (an in-memory local
record), so a round costs one conference GET and one participant-list round,
whatever the size of the call. A callback (``--listen``) wakes the round at
once, but no more than once a second per conference however many arrive: a
callback is a hint to look, never a command. Once verified callbacks arrive
for a conference, its polling relaxes to a safety net (``watch_signals``).
An edit of a file starts its round within ``file_check_s``, whatever the
mode. Every dial goes through the same pacer, Labels and adoption as apply,
so a second watcher, or an apply meanwhile, dials nobody twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.clock import REAL_CLOCK, Clock, wait_first
from orchestrator.engine.account import Account
from orchestrator.engine.apply import Round, open_account, run_round
from orchestrator.engine.events import (
    ConferenceFailed,
    Dropped,
    EditApplied,
    EditRefused,
    Finding,
    ParticipantEvent,
    Redialing,
    RedialUnanswered,
)
from orchestrator.engine.live import ConferenceEnded
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.persistence import record_lock
from orchestrator.engine.results import ConferenceResult, State
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.state import ConferenceState
from orchestrator.engine.watch_signals import (
    CALLBACKS,
    POLLING,
    CountingReads,
    FileCheck,
    Signals,
    digest_of,
)
from orchestrator.errors import AuthenticationError, OrchestratorError
from orchestrator.spec.model import ConferenceSpec, Diagnostic, Participant, Reconnect
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.http import AiohttpTransport, HttpTransport

# A callback wakes a conference's round at most this often, whatever arrives: a flood of
# callbacks (replayed, or from anyone who can reach the port) must not multiply API reads.
WAKE_SPACING_S = 1.0

# Seconds between looks at a conference while something moves (longer while nothing does).
DEFAULT_INTERVAL_S = 2.0

# (path) -> the file's new spec, or the findings that say why it is not valid.
Reload = Callable[[str], "ConferenceSpec | list[Diagnostic]"]


@dataclass(frozen=True, kw_only=True)
class WatchOptions:
    interval_s: float = DEFAULT_INTERVAL_S
    idle_factor: float = 1.5  # the interval grows by this while nothing changes
    idle_max_factor: float = 4.0  # ... up to this many intervals
    # Between rounds of a conference whose verified callbacks arrive: polling as a safety net.
    safety_net_s: float = 60.0
    file_check_s: float = 0.5  # how often the files are read for edits between rounds


@dataclass
class _Reconnects:
    """One participant's drops and redials."""

    redials: deque[float] = field(default_factory=deque)  # when each redial was started
    dropped_at: float | None = None
    due_at: float | None = None
    redialing: bool = False  # a redial was placed and has not connected yet


@dataclass(eq=False)
class Watched:
    """One conference file under watch."""

    spec: ConferenceSpec
    digest: bytes
    memory: ConferenceState | None = None
    sid: str | None = None  # the conference, once a round has found or made it
    rounds: int = 0
    seen: set[str] = field(default_factory=set)  # participants of the file handled already
    reconnects: dict[str, _Reconnects] = field(default_factory=dict)
    ended: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    woken_at: float = float("-inf")  # when a wake last started a round (the run's clock)
    due_at: float = 0.0
    idle_s: float = 0.0
    signals: Signals = field(default_factory=Signals)  # its mode, what its callbacks said
    file: FileCheck = field(default_factory=FileCheck)  # looked at for edits between rounds


class Watch:
    def __init__(
        self,
        specs: list[ConferenceSpec],
        account: Account,
        options: WatchOptions,
        *,
        reload: Reload,
        notice: Callable[[str], None] | None = None,
        reads: CountingReads | None = None,
    ) -> None:
        self.account = account
        self._reads = reads
        self.model = account.model
        self.options = options
        self._reload = reload
        self._notice = notice or (lambda line: None)
        self.watched = [Watched(spec, digest_of(spec.path)) for spec in specs]
        self.clock = account.clock
        self.started = self.clock.now()
        self.rounds = 0
        self.redials = 0
        self.last_round_at: float | None = None
        self._woken = asyncio.Event()  # set with any conference's wake

    def by_conference(self, name_or_sid: str) -> Watched | None:
        for watched in self.watched:
            if name_or_sid in (watched.spec.conference.name, watched.sid):
                return watched
        return None

    def heard(self, watched: Watched, fields: Mapping[str, Any], *, verified: bool) -> None:
        """A callback about ``watched`` (its signature checked if ``verified``): a hint to
        look, and, verified, the sign that its polling may rest."""
        if watched.signals.heard(fields, verified=verified, now=self.clock.now()):
            watched.wake.set()
            self._woken.set()

    def reads_of(self, watched: Watched) -> int:
        """The GETs about this conference so far (0 when they are not counted)."""
        if self._reads is None or watched.sid is None:
            return 0
        return self._reads.by_conference[watched.sid]

    async def run(self) -> list[ConferenceResult]:
        """Rounds until stopped, or until every conference has ended; the last results."""
        await asyncio.gather(*(self._round(w) for w in self.watched))
        stop = self.account.halt
        while not stop.is_set() and not all(w.ended for w in self.watched):
            now = self.clock.now()
            due = [
                w
                for w in self.watched
                if not w.ended
                and (w.due_at <= now or _woken(w, now) or w.file.edited(w.spec.path, w.digest))
            ]
            if due:
                await asyncio.gather(*(self._round(w) for w in due))
                continue
            await self._sleep_until_due()
        return [self.model.result(w.spec.path) for w in self.watched]

    async def _sleep_until_due(self) -> None:
        live = [w for w in self.watched if not w.ended]
        # A wake that came too soon after the last one is honoured once its spacing is over.
        self._woken.clear()  # those pending are in ``wakes``; a new one ends the sleep
        wakes = [w.woken_at + WAKE_SPACING_S for w in live if w.wake.is_set()]
        now = self.clock.now()
        delay = max(0.0, min([w.due_at for w in live] + wakes) - now)
        delay = min(delay, self.options.file_check_s)  # an edit is seen within it
        # Two waiters, whatever the number of conferences: this sleep ends twice a second.
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._woken, self.account.halt)]
        try:
            await wait_first(waiters, delay, self.clock)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # One round ---------------------------------------------------------------

    async def _round(self, watched: Watched) -> None:
        watched.wake.clear()
        announced = watched.signals.heard_since_round  # a callback said to look
        watched.signals.heard_since_round = False
        changed = self._follow_the_file(watched)
        names = {p.name for p in watched.spec.participants}
        new = names - watched.seen
        due = self._redials_due(watched, names)
        before = self._states(watched)
        first = watched.rounds == 0
        done = await self._apply(
            watched,
            dial_only=None if first else new | due,
            look_up=None if first else new,
        )
        self._after(watched, done, names)
        if isinstance(done.stopped_by, AuthenticationError) or self.account.gone is not None:
            self.account.halt.set()  # no later round can mend these
            return
        if isinstance(done.stopped_by, ConferenceEnded) or done.status == "completed":
            watched.ended = True
            name = watched.spec.conference.name
            self._notice(f"{name}: the conference has ended; no longer watched")
            return
        found = self._drops(watched) or before != self._states(watched)
        if found and not (announced or changed or due or new or first):
            # A change no callback announced: they do not tell everything; poll again.
            watched.signals.switch(POLLING, self.clock.now())
        self._schedule_next(watched, found or changed or bool(due) or bool(new))

    def _redials_due(self, watched: Watched, names: set[str]) -> set[str]:
        """Who is due a redial now; each is announced (``redial 1 of 2``) and counted."""
        now = self.clock.now()
        due = {
            name
            for name, state in watched.reconnects.items()
            if state.due_at is not None and state.due_at <= now and name in names
        }
        policies = {p.name: p.settings.reconnect or Reconnect() for p in watched.spec.participants}
        for name in sorted(due):
            state = watched.reconnects[name]
            state.redials.append(now)
            state.due_at = None
            state.redialing = True
            self.redials += 1
            self._publish(
                Redialing, watched, name, number=len(state.redials), of=policies[name].attempts
            )
        return due

    def _after(self, watched: Watched, done: Round, names: set[str]) -> None:
        """What a round leaves for the next: the conference, the record, who is handled."""
        watched.rounds += 1
        self.rounds += 1
        self.last_round_at = time.time()
        known = self.model.conferences.get(watched.spec.path)
        if known is not None and known.sid is not None:
            watched.sid = known.sid
        if done.record is not None:
            watched.memory = done.record
        # Who is handled follows the file: someone removed (and pruned) and later added back
        # is new again, dialed like any other added participant.
        watched.seen = names
        for gone in watched.reconnects.keys() - names:
            del watched.reconnects[gone]

    def _schedule_next(self, watched: Watched, moved: bool) -> None:
        """The next round: an interval on, longer while nothing moves; sooner for a redial."""
        interval = self.options.interval_s
        if moved or not watched.idle_s:
            watched.idle_s = interval
        else:
            longest = interval * self.options.idle_max_factor
            watched.idle_s = min(watched.idle_s * self.options.idle_factor, longest)
        next_redial = min(
            (s.due_at for s in watched.reconnects.values() if s.due_at is not None),
            default=None,
        )
        watched.due_at = self.clock.now() + watched.idle_s
        if watched.signals.mode == CALLBACKS:
            watched.due_at = self.clock.now() + self.options.safety_net_s
        if next_redial is not None:
            watched.due_at = min(watched.due_at, next_redial)

    def _states(self, watched: Watched) -> dict[str, State]:
        known = self.model.conferences.get(watched.spec.path)
        if known is None:
            return {}
        return {p.name: p.observed for p in list(known.participants.values())}

    async def _apply(
        self,
        watched: Watched,
        *,
        dial_only: set[str] | None,
        look_up: set[str] | None,
    ) -> Round:
        spec = watched.spec
        if watched.sid is not None and spec.conference.sid is None:
            # The conference is this one now: once it ends, the watch must not start another.
            spec = dataclasses.replace(
                spec, conference=dataclasses.replace(spec.conference, sid=watched.sid)
            )
        store = self.account.options.state
        account_sid = spec.account_sid or self.account.client.connection.account_sid
        memory = watched.memory
        try:
            # Per round, so that an apply meanwhile (or another watcher) can take its turn.
            async with record_lock(store, spec, account_sid, self.account.options, self.clock):
                if memory is None:
                    memory = (
                        store.load(spec.path, account_sid, spec.conference.name)
                        if store is not None
                        else ConferenceState(account_sid, spec.conference.name)
                    )
                done = await run_round(
                    spec,
                    self.account,
                    recorded=memory,
                    look_up=look_up,
                    dial_only=dial_only,
                )
                if store is not None and done.record is not None:
                    store.save(spec.path, done.record)
                return done
        except OrchestratorError as error:
            self.model.publish(
                ConferenceFailed(file=spec.path, conference=spec.conference.name, error=str(error))
            )
            return Round(None, error)

    def _follow_the_file(self, watched: Watched) -> bool:
        """Read the file again if its content changed; whether a new version took over."""
        digest = digest_of(watched.spec.path)
        if digest == watched.digest or not digest:
            return False
        watched.digest = digest
        loaded = self._reload(watched.spec.path)
        path, name = watched.spec.path, watched.spec.conference.name
        if isinstance(loaded, list):
            for finding in loaded:
                self._notice(str(finding))
            self._notice(
                f"{watched.spec.path}: not applied (invalid); the last valid version stays in force"
            )
            self.model.publish(
                EditRefused(file=path, conference=name, findings=tuple(map(_finding, loaded)))
            )
            return False
        watched.spec = loaded
        self._notice(f"{loaded.path}: changed; applying the new version")
        self.model.publish(EditApplied(file=path, conference=name))
        return True

    def _drops(self, watched: Watched) -> bool:
        """Note who left since the last round, and whose redial did not connect, and when
        each may be dialed again."""
        now = self.clock.now()
        moved = False
        known = self.model.conferences.get(watched.spec.path)
        if known is None:
            return False
        observed = {p.name: p.observed for p in list(known.participants.values())}
        for participant in watched.spec.participants:
            state = watched.reconnects.setdefault(participant.name, _Reconnects())
            seen = observed.get(participant.name)
            if seen == State.CONNECTED:
                state.dropped_at = None
                state.redialing = False
                continue
            if state.redialing and seen is not None and not seen.live:
                # A redial that was not answered spends its attempt; the next one follows.
                state.redialing = False
                moved = True
                self._schedule(watched, participant, state, now, after=str(seen))
                continue
            if seen != State.HUNG_UP or state.dropped_at is not None:
                continue
            moved = True
            state.dropped_at = now
            self._schedule(watched, participant, state, now)
        return moved

    def _schedule(
        self,
        watched: Watched,
        participant: Participant,
        state: _Reconnects,
        now: float,
        *,
        after: str | None = None,
    ) -> None:
        """When the participant may be dialed again, said as ``dropped; redial 1 of 2 in 10s``
        (or, after a redial that was not answered, ``redial 1 of 2 not answered (...)``)."""
        policy = participant.settings.reconnect or Reconnect()
        while state.redials and state.redials[0] < now - policy.window_s:
            state.redials.popleft()
        used = len(state.redials)
        if policy.attempts <= 0:
            why = "not dialed again (reconnect.attempts is 0)"
        elif used >= policy.attempts:
            why = f"not dialed again ({used} redials within {policy.window_s:g}s used)"
        else:
            delay = policy.backoff_s * 2**used
            state.due_at = now + delay
            why = f"redial {used + 1} of {policy.attempts} in {delay:g}s"
        if after is None:
            self._publish(Dropped, watched, participant.name, next=why)
        else:
            self._publish(
                RedialUnanswered,
                watched,
                participant.name,
                number=used,
                of=policy.attempts,
                after=after,
                next=why,
            )

    def _publish(
        self, kind: type[ParticipantEvent], watched: Watched, participant: str, **fields: Any
    ) -> None:
        self.model.publish(
            kind(
                file=watched.spec.path,
                conference=watched.spec.conference.name,
                participant=participant,
                **fields,
            )
        )


def _woken(watched: Watched, now: float) -> bool:
    """Whether a wake starts the round now: one came, and the last one honoured is a spacing
    ago (the others meanwhile are folded into this round)."""
    if not watched.wake.is_set() or now < watched.woken_at + WAKE_SPACING_S:
        return False
    watched.woken_at = now
    return True


def _finding(diagnostic: Diagnostic) -> Finding:
    where = diagnostic.location
    return Finding(path=where.file, line=where.line, col=where.col, message=diagnostic.message)


def file_reloader(env: Mapping[str, str]) -> Reload:
    """Reload a file as apply loads it: fully validated, every ${VAR} set; the findings if not."""
    from orchestrator.spec import load_specs

    def reload(path: str) -> ConferenceSpec | list[Diagnostic]:
        result = load_specs([path], env=env, strict_env=True)
        if result.errors or not result.specs:
            return [d for d in result.diagnostics if d.severity == "error"]
        return result.specs[0]

    return reload


# Starts whatever serves the watch from outside (the --listen server) for the watch's length.
Serve = Callable[[Watch, TexmlClient], contextlib.AbstractAsyncContextManager[object]]


async def watch_with_connection(
    specs: list[ConferenceSpec],
    connection: Connection,
    options: ApplyOptions,
    watch_options: WatchOptions,
    stop: asyncio.Event,
    *,
    reload: Reload,
    model: RunModel | None = None,
    notice: Callable[[str], None] | None = None,
    serve: Serve | None = None,
    transport: HttpTransport | None = None,
    clock: Clock = REAL_CLOCK,
) -> list[ConferenceResult]:
    """One client and account for the files of one account, watched until ``stop`` (over
    ``transport``, on ``clock``: the network and real time unless given others)."""
    model = model or RunModel(watching=True)
    # The reads are counted per conference on their way out, for /metrics.
    reads = CountingReads(transport or AiohttpTransport(concurrency=options.concurrency))
    try:
        async with (
            TexmlClient(
                connection, transport=reads, clock=clock, concurrency=options.concurrency
            ) as client,
            open_account(client, options, stop, model) as account,
        ):
            watch = Watch(specs, account, watch_options, reload=reload, notice=notice, reads=reads)
            async with serve(watch, client) if serve is not None else contextlib.nullcontext():
                return await watch.run()
    finally:
        if transport is None:  # ours to close; one given is its giver's
            await reads.aclose()
