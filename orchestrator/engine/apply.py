"""apply: every file's conference brought to what the file says, once (``apply --watch`` repeats
these rounds, see ``engine.watch``).

One account per connection: one client (its read throttle is the account's read
budget, as the API states it), one dial pacer (the dial limit is the account's),
and the signals that stop it. Each conference is
one round: read the live state, plan, carry the plan out (``engine.executor``),
record what was dialed; with a local record, under its lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass

from orchestrator.clock import REAL_CLOCK, Clock
from orchestrator.engine.account import Account
from orchestrator.engine.events import (
    ConferenceFailed,
    ConferencePlanned,
    ConferenceSeen,
    DialPaused,
    PlannedRow,
)
from orchestrator.engine.executor import ConferenceRun
from orchestrator.engine.live import ConferenceEnded, read_live_state
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.persistence import record_after_run, record_lock
from orchestrator.engine.planner import Plan, make_plan
from orchestrator.engine.results import ConferenceResult, State
from orchestrator.engine.run_model import RunModel
from orchestrator.engine.state import ConferenceState
from orchestrator.engine.waiting import sleep_unless
from orchestrator.errors import OrchestratorError
from orchestrator.pacing.dials import DialPacer
from orchestrator.spec.model import ConferenceSpec
from orchestrator.texml import contract
from orchestrator.texml.client import TexmlClient
from orchestrator.texml.connection import Connection
from orchestrator.texml.http import HttpTransport


class NeedsApplication(OrchestratorError):
    def __init__(self, spec: ConferenceSpec) -> None:
        super().__init__(
            f"{spec.path}: conference {spec.conference.name!r} does not exist yet and "
            "conference.application_sid is not set; set it to your TeXML application's SID so the "
            "first dial can create the conference"
        )


@dataclass
class Round:
    """One conference brought towards its file once: the record to keep, and what ended it early."""

    record: ConferenceState | None  # what is live now and was dialed from the file
    stopped_by: OrchestratorError | None = None  # what ended it early, if anything did
    status: str | None = None  # the conference's status after the round


def planned_rows(plan: Plan, *, wait: bool) -> tuple[PlannedRow, ...]:
    """The plan as the run model's rows: the file's participants, then the strays."""
    desired = State.CONNECTED if wait else State.CONNECTING
    rows = []
    for action in plan.actions:
        participant = action.participant
        live = action.live
        observed = None
        if live is not None:
            observed = (
                State.CONNECTED if contract.is_connected(live.get("status")) else State.CONNECTING
            )
        rows.append(
            PlannedRow(
                name=participant.name,
                role=participant.role,
                to=plan.destinations.get(participant.name, participant.to[0])
                if live is not None
                else participant.to[0],
                desired=desired,
                action=action.kind,
                call_sid=live["call_sid"] if live is not None else None,
                observed=observed,
                muted=bool(participant.settings.muted),
                hold=bool(participant.settings.hold),
                coaching=participant.coach,
            )
        )
    rows += [
        PlannedRow(
            name=stray.label,
            role="-",
            to=plan.destinations.get(stray.label, "-"),
            desired=State.ABSENT if stray.hang_up else State.UNMANAGED,
            action="hang up" if stray.hang_up else "leave",
            call_sid=stray.call_sid,
            observed=State.CONNECTED if stray.hang_up else State.UNMANAGED,
        )
        for stray in plan.strays
    ]
    return tuple(rows)


def _unplanned(spec: ConferenceSpec, *, wait: bool) -> tuple[PlannedRow, ...]:
    """Every participant of the file, when no plan could be made."""
    desired = State.CONNECTED if wait else State.CONNECTING
    return tuple(
        PlannedRow(name=p.name, role=p.role, to=p.to[0], desired=desired, action="none")
        for p in spec.participants
    )


def failed_before_any_request(
    account: Account, spec: ConferenceSpec, error: OrchestratorError
) -> None:
    """Nothing was sent for the conference: every participant not dialed, the reason said once."""
    model = account.model
    if spec.path not in model.conferences:
        model.publish(
            ConferencePlanned(
                file=spec.path,
                conference=spec.conference.name,
                sid=spec.conference.sid,
                status=None,
                rows=_unplanned(spec, wait=account.options.wait),
            )
        )
    model.publish(
        ConferenceFailed(
            file=spec.path,
            conference=spec.conference.name,
            error=str(error),
            before_any_request=True,
        )
    )


async def run_round(
    spec: ConferenceSpec,
    account: Account,
    *,
    recorded: ConferenceState | None,
    look_up: Collection[str] | None = None,
    dial_only: Collection[str] | None = None,
) -> Round:
    """Read, plan, carry out, reconcile: every step published to the account's run model.
    ``look_up``: whom to look up by Label when the list does not show them (None: everyone);
    ``dial_only`` as ConferenceRun takes it."""
    options = account.options
    model = account.model
    try:
        state = await read_live_state(account.client, spec, recorded, look_up=look_up)
        plan = make_plan(spec, state, prune=options.prune, redial_changed=options.redial_changed)
        if plan.conference_sid is None and not spec.conference.application_sid:
            raise NeedsApplication(spec)
    except ConferenceEnded as ended:
        known = model.conferences.get(spec.path)
        if known is None or known.sid != spec.conference.sid:
            failed_before_any_request(account, spec, ended)
            return Round(None, ended)
        # The conference this run was keeping (apply --watch) has ended: so has every leg.
        model.publish(
            ConferenceSeen(
                file=spec.path,
                conference=spec.conference.name,
                sid=known.sid,
                status="completed",
                source="poll",
            )
        )
        return Round(None, ended, "completed")
    except OrchestratorError as error:
        failed_before_any_request(account, spec, error)
        return Round(None, error)

    model.publish(
        ConferencePlanned(
            file=spec.path,
            conference=spec.conference.name,
            sid=plan.conference_sid,
            status=plan.conference_status,
            rows=planned_rows(plan, wait=options.wait),
        )
    )
    run = ConferenceRun(plan, account, dial_only=dial_only)
    done = Round(None)
    try:
        await run.execute()
        await run.reconcile()
    finally:
        # Whatever happened, the calls placed are told and recorded.
        if run.sid is not None:
            model.publish(
                ConferenceSeen(
                    file=spec.path, conference=spec.conference.name, sid=run.sid, status=None
                )
            )
        failure = str(run.fatal) if run.fatal is not None else account.gone
        if failure is not None:
            model.publish(
                ConferenceFailed(file=spec.path, conference=spec.conference.name, error=failure)
            )
        conference = model.result(spec.path)
        rows = {p.name: p for p in conference.participants}
        if recorded is not None and run.sid is not None:
            done.record = record_after_run(recorded, plan, state, run.sid, rows)
        done.stopped_by = run.fatal
        done.status = conference.status
    return done


async def apply_conference(spec: ConferenceSpec, account: Account) -> None:
    """One round for the file, under the lock of its local record (if it keeps one)."""
    store = account.options.state
    account_sid = spec.account_sid or account.client.connection.account_sid
    try:
        async with record_lock(store, spec, account_sid, account.options, account.clock):
            recorded = store.load(spec.path, account_sid, spec.conference.name) if store else None
            done = await run_round(spec, account, recorded=recorded)
            if store is not None and done.record is not None:
                store.save(spec.path, done.record)
    except OrchestratorError as error:  # the lock could not be had: nothing was sent
        failed_before_any_request(account, spec, error)


@contextlib.asynccontextmanager
async def open_account(
    client: TexmlClient,
    options: ApplyOptions,
    stop: asyncio.Event,
    model: RunModel,
    pacer: DialPacer | None = None,
) -> AsyncIterator[Account]:
    """The account's shared pieces for one run, halted on ``stop`` or when the API is gone."""

    def paused(seconds: float, why: str) -> None:
        model.publish(DialPaused(file="", conference="", seconds=seconds, why=why, source="api"))

    clock = client.clock
    pacer = pacer or DialPacer(
        options.dials_per_second, options.dial_window_s, clock=clock, on_pause=paused
    )
    halt = asyncio.Event()
    account = Account(client, pacer, options, stop, halt, model)

    async def halt_when_due() -> None:
        """Halt on stop, or once the API has not answered for give_up_s."""
        while not stop.is_set():
            account.give_up_if_gone()
            if halt.is_set():
                return
            await sleep_unless(1.0, stop, clock)
        halt.set()

    watcher = asyncio.create_task(halt_when_due(), name="halt watch")
    try:
        yield account
    finally:
        watcher.cancel()
        pacer.close()


async def apply_all(
    specs: list[ConferenceSpec],
    client: TexmlClient,
    options: ApplyOptions,
    stop: asyncio.Event,
    model: RunModel | None = None,
    pacer: DialPacer | None = None,
) -> list[ConferenceResult]:
    """Apply several conferences concurrently through one account; their results, in order."""
    model = model or RunModel()
    async with open_account(client, options, stop, model, pacer) as account:
        await asyncio.gather(*(apply_conference(spec, account) for spec in specs))
    return [model.result(spec.path) for spec in specs]


async def apply_with_connection(
    specs: list[ConferenceSpec],
    connection: Connection,
    options: ApplyOptions,
    stop: asyncio.Event,
    model: RunModel | None = None,
    *,
    transport: HttpTransport | None = None,
    clock: Clock = REAL_CLOCK,
) -> list[ConferenceResult]:
    """Open one client for the account and apply every spec through it (over ``transport``,
    on ``clock``: the network and real time unless given others)."""
    async with TexmlClient(
        connection, transport=transport, clock=clock, concurrency=options.concurrency
    ) as client:
        return await apply_all(specs, client, options, stop, model)
