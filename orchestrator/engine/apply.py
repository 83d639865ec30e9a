"""apply: every file's conference brought to what the file says, once (``apply --watch`` repeats
these rounds, see ``engine.watch``).

One account per connection: one client, one dial pacer (the dial limit is the
account's), one read budget, and the signals that stop it. Each conference is
one round: read the live state, plan, carry the plan out (``engine.executor``),
record what was dialed; with a local record, under its lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass

from orchestrator.engine.account import Account
from orchestrator.engine.events import ProgressHook
from orchestrator.engine.executor import ConferenceRun
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.pacer import DialPacer
from orchestrator.engine.persistence import record_after_run, record_lock
from orchestrator.engine.planner import make_plan, read_live_state
from orchestrator.engine.results import ConferenceResult, ParticipantOutcome, exit_code
from orchestrator.engine.state import ConferenceState
from orchestrator.engine.waiting import sleep_unless
from orchestrator.engine.watcher import ListBudget
from orchestrator.errors import OrchestratorError
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection


class NeedsApplication(OrchestratorError):
    def __init__(self, spec: ConferenceSpec) -> None:
        super().__init__(
            f"{spec.path}: conference {spec.conference.name!r} does not exist yet and "
            "conference.application_sid is not set; set it to your TeXML application's SID so the "
            "first dial can create the conference"
        )


@dataclass
class Round:
    """One conference brought towards its file once: the rows, and the record to keep."""

    result: ConferenceResult
    record: ConferenceState | None  # what is live now and was dialed from the file
    stopped_by: OrchestratorError | None = None  # what ended it early, if anything did


def _failed(spec: ConferenceSpec, error: OrchestratorError) -> ConferenceResult:
    """Nothing was sent: every participant not dialed, the reason said once."""
    return ConferenceResult(
        path=spec.path,
        name=spec.conference.name,
        sid=spec.conference.sid,
        status=None,
        error=str(error),
        participants=[
            ParticipantOutcome(
                name=p.name,
                role=p.role,
                to=p.to[0],
                error="not dialed (see the conference error)",
            )
            for p in spec.participants
        ],
    )


async def run_round(
    spec: ConferenceSpec,
    account: Account,
    progress: ProgressHook | None,
    *,
    recorded: ConferenceState | None,
    look_up: Collection[str] | None = None,
    dial_only: Collection[str] | None = None,
    carried: Mapping[str, ParticipantOutcome] | None = None,
) -> Round:
    """Read, plan, carry out, reconcile. ``look_up``: whom to look up by Label when the list
    does not show them (None: everyone); ``dial_only`` and ``carried`` as ConferenceRun takes."""
    started = time.monotonic()
    options = account.options
    try:
        state = await read_live_state(account.client, spec, recorded, look_up=look_up)
        plan = make_plan(spec, state, prune=options.prune, redial_changed=options.redial_changed)
        if plan.conference_sid is None and not spec.conference.application_sid:
            raise NeedsApplication(spec)
    except OrchestratorError as error:
        result = _failed(spec, error)
        result.exit_code = exit_code(result)
        return Round(result, None, error)

    run = ConferenceRun(plan, account, progress, dial_only=dial_only, carried=carried)
    result = ConferenceResult(
        path=spec.path,
        name=spec.conference.name,
        sid=spec.conference.sid,
        status=None,
        participants=[],
    )
    record: ConferenceState | None = None
    done = Round(result, None)
    try:
        await run.execute()
        result.status = await run.reconcile()
    finally:
        # Whatever happened, the calls placed are told and recorded.
        result.sid = run.sid
        result.participants = [run.outcomes[p.name] for p in spec.participants]
        result.participants += list(run.strays.values())
        for action in plan.actions:
            if action.kind in ("noop", "update"):
                outcome = run.outcomes[action.participant.name]
                outcome.to = plan.destinations.get(action.participant.name, outcome.to)
        if recorded is not None and run.sid is not None:
            record = record_after_run(recorded, plan, state, run.sid, run.outcomes, run.strays)
        result.dials = run.dialer.counts.placed
        result.rate_limited = run.dialer.counts.rate_limited
        result.interrupted = account.stop.is_set()
        result.in_flight_at_stop = run.in_flight_at_stop
        if run.fatal is not None:
            result.error = str(run.fatal)
        elif account.gone is not None:
            result.error = account.gone
        result.exit_code = exit_code(result)
        result.duration_s = time.monotonic() - started
        done.record = record
        done.stopped_by = run.fatal
    return done


async def apply_conference(
    spec: ConferenceSpec, account: Account, progress: ProgressHook | None = None
) -> ConferenceResult:
    """One round for the file, under the lock of its local record (if it keeps one)."""
    started = time.monotonic()
    store = account.options.state
    account_sid = spec.account_sid or account.client.connection.account_sid
    try:
        async with record_lock(store, spec, account_sid, account.options):
            recorded = store.load(spec.path, account_sid, spec.conference.name) if store else None
            done = await run_round(spec, account, progress, recorded=recorded)
            if store is not None and done.record is not None:
                store.save(spec.path, done.record)
    except OrchestratorError as error:  # the lock could not be had: nothing was sent
        result = _failed(spec, error)
        result.exit_code = exit_code(result)
        return result
    done.result.duration_s = time.monotonic() - started
    return done.result


@contextlib.asynccontextmanager
async def open_account(
    client: TexmlClient,
    options: ApplyOptions,
    stop: asyncio.Event,
    pacer: DialPacer | None = None,
) -> AsyncIterator[Account]:
    """The account's shared pieces for one run, halted on ``stop`` or when the API is gone."""
    pacer = pacer or DialPacer(
        options.dials_per_second, options.dial_window_s, on_pause=options.on_pause
    )
    halt = asyncio.Event()
    account = Account(
        client, pacer, options, stop, halt, ListBudget(options.list_rounds_per_second)
    )

    async def halt_when_due() -> None:
        """Halt on stop, or once the API has not answered for give_up_s."""
        while not stop.is_set():
            account.give_up_if_gone()
            if halt.is_set():
                return
            await sleep_unless(1.0, stop)
        halt.set()

    watcher = asyncio.create_task(halt_when_due(), name="halt watch")
    try:
        yield account
    finally:
        watcher.cancel()
        account.budget.close()
        pacer.close()


async def apply_all(
    specs: list[ConferenceSpec],
    client: TexmlClient,
    options: ApplyOptions,
    stop: asyncio.Event,
    progress: ProgressHook | None = None,
    pacer: DialPacer | None = None,
) -> list[ConferenceResult]:
    """Apply several conferences concurrently through one account."""
    async with open_account(client, options, stop, pacer) as account:
        return list(
            await asyncio.gather(*(apply_conference(spec, account, progress) for spec in specs))
        )


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
