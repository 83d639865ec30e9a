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
callback is a hint to look, never a command. Every dial goes through the same
pacer, Labels and adoption as apply, so a second watcher, or an apply
meanwhile, dials nobody twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.engine.account import Account
from orchestrator.engine.apply import Round, open_account, run_round
from orchestrator.engine.events import EventKind, ProgressEvent, ProgressHook
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.persistence import record_lock
from orchestrator.engine.planner import ConferenceEnded
from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, State
from orchestrator.engine.state import ConferenceState
from orchestrator.errors import AuthenticationError, OrchestratorError
from orchestrator.spec.model import ConferenceSpec, Participant, Reconnect
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection

# A callback wakes a conference's round at most this often, whatever arrives: a flood of
# callbacks (replayed, or from anyone who can reach the port) must not multiply API reads.
WAKE_SPACING_S = 1.0

# (path) -> the file's new spec, or the lines that say why it is not valid.
Reload = Callable[[str], "ConferenceSpec | list[str]"]


@dataclass(frozen=True, kw_only=True)
class WatchOptions:
    interval_s: float = 2.0
    idle_factor: float = 1.5  # the interval grows by this while nothing changes
    idle_max_factor: float = 4.0  # ... up to this many intervals


@dataclass
class _Reconnects:
    """One participant's drops and redials."""

    redials: deque[float] = field(default_factory=deque)  # when each redial was started
    dropped_at: float | None = None
    due_at: float | None = None
    announced: bool = False


@dataclass(eq=False)
class Watched:
    """One conference file under watch."""

    spec: ConferenceSpec
    digest: bytes
    memory: ConferenceState | None = None
    result: ConferenceResult | None = None
    seen: set[str] = field(default_factory=set)  # participants handled at least once
    reconnects: dict[str, _Reconnects] = field(default_factory=dict)
    ended: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    woken_at: float = float("-inf")  # when a wake last started a round (monotonic)
    due_at: float = 0.0
    idle_s: float = 0.0
    dials: int = 0  # over every round
    rate_limited: int = 0
    attempts: dict[str, int] = field(default_factory=dict)  # per participant, over every round
    notes: dict[str, list[str]] = field(default_factory=dict)  # what happened, once each


def digest_of(path: str) -> bytes:
    try:
        return hashlib.sha256(Path(path).read_bytes()).digest()
    except OSError:
        return b""


class Watch:
    def __init__(
        self,
        specs: list[ConferenceSpec],
        account: Account,
        options: WatchOptions,
        *,
        reload: Reload,
        progress: ProgressHook | None = None,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.account = account
        self.options = options
        self._reload = reload
        self._progress = progress
        self._notice = notice or (lambda line: None)
        self.watched = [Watched(spec, digest_of(spec.path)) for spec in specs]
        self.started = time.monotonic()
        self.rounds = 0
        self.redials = 0
        self.last_round_at: float | None = None

    def by_conference(self, name_or_sid: str) -> Watched | None:
        for watched in self.watched:
            result = watched.result
            if watched.spec.conference.name == name_or_sid or (
                result is not None and result.sid == name_or_sid
            ):
                return watched
        return None

    async def run(self) -> list[ConferenceResult]:
        """Rounds until stopped, or until every conference has ended; the last results."""
        await asyncio.gather(*(self._round(w) for w in self.watched))
        stop = self.account.halt
        while not stop.is_set() and not all(w.ended for w in self.watched):
            now = time.monotonic()
            due = [w for w in self.watched if not w.ended and (w.due_at <= now or _woken(w, now))]
            if due:
                await asyncio.gather(*(self._round(w) for w in due))
                continue
            await self._sleep_until_due()
        return [self._final(w) for w in self.watched]

    async def _sleep_until_due(self) -> None:
        live = [w for w in self.watched if not w.ended]
        # A wake that came too soon after the last one is honoured once its spacing is over.
        wakes = [w.woken_at + WAKE_SPACING_S for w in live if w.wake.is_set()]
        delay = max(0.0, min([w.due_at for w in live] + wakes) - time.monotonic())
        waiters = [asyncio.ensure_future(w.wake.wait()) for w in live if not w.wake.is_set()]
        waiters.append(asyncio.ensure_future(self.account.halt.wait()))
        try:
            await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _final(self, watched: Watched) -> ConferenceResult:
        """The last round's rows, with what every round did."""
        assert watched.result is not None
        result = watched.result
        result.dials = watched.dials
        result.rate_limited = watched.rate_limited
        result.duration_s = time.monotonic() - self.started
        for outcome in result.participants:
            outcome.attempts = watched.attempts.get(outcome.name, outcome.attempts)
            notes = list(watched.notes.get(outcome.name, outcome.notes))
            redials = (
                len(watched.reconnects[outcome.name].redials)
                if outcome.name in watched.reconnects
                else 0
            )
            if redials:
                notes.append(f"redialed {redials} time{'s' if redials > 1 else ''} after dropping")
            outcome.notes = notes
        return result

    # One round ---------------------------------------------------------------

    async def _round(self, watched: Watched) -> None:
        watched.wake.clear()
        changed = self._follow_the_file(watched)
        now = time.monotonic()
        spec = watched.spec
        names = {p.name for p in spec.participants}
        new = names - watched.seen
        due = {
            name
            for name, state in watched.reconnects.items()
            if state.due_at is not None and state.due_at <= now and name in names
        }
        for name in due:
            state = watched.reconnects[name]
            state.redials.append(now)
            state.due_at = None
            state.announced = False
            self.redials += 1
        previous = {p.name: p for p in watched.result.participants} if watched.result else {}
        done = await self._apply(
            watched,
            dial_only=None if watched.result is None else new | due,
            look_up=None if watched.result is None else new,
            carried=previous,
        )
        self.rounds += 1
        self.last_round_at = time.time()
        watched.dials += done.result.dials
        watched.rate_limited += done.result.rate_limited
        for outcome in done.result.participants:
            watched.attempts[outcome.name] = (
                watched.attempts.get(outcome.name, 0) + outcome.attempts
            )
            kept = watched.notes.setdefault(outcome.name, [])
            kept.extend(n for n in outcome.notes if n not in kept and n not in _ROUTINE_NOTES)
        before = watched.result
        watched.result = done.result
        if done.record is not None:
            watched.memory = done.record
        watched.seen |= names
        if isinstance(done.stopped_by, AuthenticationError) or self.account.gone is not None:
            self.account.halt.set()  # no later round can mend these
            return
        if isinstance(done.stopped_by, ConferenceEnded) or done.result.status == "completed":
            watched.ended = True
            if before is not None:
                watched.result = before  # the last rows of the conference, not "not dialed"
            self._notice(f"{spec.conference.name}: the conference has ended; no longer watched")
            return
        moved = self._drops(watched, done.result) or changed or bool(due) or bool(new)
        moved = moved or _states(before) != _states(done.result)
        interval = self.options.interval_s
        watched.idle_s = (
            interval
            if moved or not watched.idle_s
            else min(
                watched.idle_s * self.options.idle_factor, interval * self.options.idle_max_factor
            )
        )
        next_redial = min(
            (s.due_at for s in watched.reconnects.values() if s.due_at is not None),
            default=None,
        )
        watched.due_at = time.monotonic() + watched.idle_s
        if next_redial is not None:
            watched.due_at = min(watched.due_at, next_redial)

    async def _apply(
        self,
        watched: Watched,
        *,
        dial_only: set[str] | None,
        look_up: set[str] | None,
        carried: Mapping[str, ParticipantOutcome],
    ) -> Round:
        spec = watched.spec
        known = watched.result.sid if watched.result is not None else None
        if known is not None and spec.conference.sid is None:
            # The conference is this one now: once it ends, the watch must not start another.
            spec = dataclasses.replace(
                spec, conference=dataclasses.replace(spec.conference, sid=known)
            )
        store = self.account.options.state
        account_sid = spec.account_sid or self.account.client.connection.account_sid
        memory = watched.memory
        try:
            # Per round, so that an apply meanwhile (or another watcher) can take its turn.
            async with record_lock(store, spec, account_sid, self.account.options):
                if memory is None:
                    memory = (
                        store.load(spec.path, account_sid, spec.conference.name)
                        if store is not None
                        else ConferenceState(account_sid, spec.conference.name)
                    )
                done = await run_round(
                    spec,
                    self.account,
                    self._progress,
                    recorded=memory,
                    look_up=look_up,
                    dial_only=dial_only,
                    carried=carried,
                )
                if store is not None and done.record is not None:
                    store.save(spec.path, done.record)
                return done
        except OrchestratorError as error:
            failed = ConferenceResult(
                path=spec.path,
                name=spec.conference.name,
                sid=watched.result.sid if watched.result else None,
                status=None,
                participants=list(carried.values()) if carried else [],
                error=str(error),
            )
            return Round(failed, None, error)

    def _follow_the_file(self, watched: Watched) -> bool:
        """Read the file again if its content changed; whether a new version took over."""
        digest = digest_of(watched.spec.path)
        if digest == watched.digest or not digest:
            return False
        watched.digest = digest
        loaded = self._reload(watched.spec.path)
        if isinstance(loaded, list):
            for line in loaded:
                self._notice(line)
            self._notice(
                f"{watched.spec.path}: not applied (invalid); the last valid version stays in force"
            )
            return False
        watched.spec = loaded
        self._notice(f"{loaded.path}: changed; applying the new version")
        return True

    def _drops(self, watched: Watched, result: ConferenceResult) -> bool:
        """Note who left since the last round and when each may be dialed again."""
        now = time.monotonic()
        moved = False
        participants = {p.name: p for p in watched.spec.participants}
        for outcome in result.participants:
            participant = participants.get(outcome.name)
            if participant is None:
                continue
            state = watched.reconnects.setdefault(outcome.name, _Reconnects())
            if outcome.observed == State.CONNECTED:
                state.dropped_at = None
                continue
            if outcome.observed != State.HUNG_UP or state.dropped_at is not None:
                continue
            moved = True
            state.dropped_at = now
            self._schedule(watched, participant, state, now)
        return moved

    def _schedule(
        self, watched: Watched, participant: Participant, state: _Reconnects, now: float
    ) -> None:
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
        self._say(watched, participant.name, f"dropped; {why}")

    def _say(self, watched: Watched, participant: str, reason: str) -> None:
        if self._progress is not None:
            self._progress(
                ProgressEvent(
                    conference=watched.spec.conference.name,
                    participant=participant,
                    kind=EventKind.DROPPED,
                    reason=reason,
                )
            )


def _woken(watched: Watched, now: float) -> bool:
    """Whether a wake starts the round now: one came, and the last one honoured is a spacing
    ago (the others meanwhile are folded into this round)."""
    if not watched.wake.is_set() or now < watched.woken_at + WAKE_SPACING_S:
        return False
    watched.woken_at = now
    return True


# Notes every round repeats; the summary of a watch leaves them out.
_ROUTINE_NOTES = frozenset({"already in the conference"})


def _states(result: ConferenceResult | None) -> dict[str, str]:
    return {} if result is None else {p.name: str(p.observed) for p in result.participants}


def file_reloader(env: Mapping[str, str]) -> Reload:
    """Reload a file as apply loads it: fully validated, every ${VAR} set; the findings if not."""
    from orchestrator.spec import load_specs

    def reload(path: str) -> ConferenceSpec | list[str]:
        result = load_specs([path], env=env, strict_env=True)
        if result.errors or not result.specs:
            return [str(d) for d in result.diagnostics if d.severity == "error"]
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
    progress: ProgressHook | None = None,
    notice: Callable[[str], None] | None = None,
    serve: Serve | None = None,
) -> list[ConferenceResult]:
    """One client and account for the files of one account, watched until ``stop``."""
    async with (
        TexmlClient(connection, concurrency=options.concurrency) as client,
        open_account(client, options, stop) as account,
    ):
        watch = Watch(
            specs, account, watch_options, reload=reload, progress=progress, notice=notice
        )
        async with serve(watch, client) if serve is not None else contextlib.nullcontext():
            return await watch.run()
