"""What an apply keeps in the local record (``engine.state``), and the lock it holds meanwhile."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping

from orchestrator.clock import Clock
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.planner import Action, LiveState, Plan
from orchestrator.engine.results import ParticipantOutcome, State
from orchestrator.engine.state import ConferenceState, Fingerprint, Recorded, StateStore
from orchestrator.spec.model import ConferenceSpec
from orchestrator.spec.settings_table import SETTINGS, fingerprint


def record_lock(
    store: StateStore | None,
    spec: ConferenceSpec,
    account_sid: str,
    options: ApplyOptions,
    clock: Clock,
) -> contextlib.AbstractAsyncContextManager[object]:
    """Two applies of one conference with one local record take turns, as Terraform's do
    (waiting on ``clock``)."""
    if store is None:
        return contextlib.nullcontext()
    return store.locked(
        spec.path,
        account_sid,
        spec.conference.name,
        on_wait=options.notice,
        timeout_s=options.lock_timeout_s,
        clock=clock,
    )


def record_after_run(
    recorded: ConferenceState,
    plan: Plan,
    state: LiveState,
    conference_sid: str,
    rows: Mapping[str, ParticipantOutcome],
) -> ConferenceState:
    """What is live now and was dialed from this file (or adopted by it); ``rows``: the run
    model's, by name (the file's participants and the strays)."""
    updated = ConferenceState(recorded.account_sid, recorded.conference)
    for stray in plan.strays:
        kept = recorded.participants.get(stray.label)
        row = rows.get(stray.label)
        if kept is not None and (row is None or row.observed != State.ABSENT):
            updated.participants[stray.label] = kept
    for action in plan.actions:
        name = action.participant.name
        outcome = rows[name]
        if outcome.call_sid is None or not outcome.observed.live:
            continue
        previous = recorded.participants.get(name)
        desired = fingerprint(action.participant, plan.spec.conference)
        if (
            action.kind in ("noop", "update")
            and previous is not None
            and name in state.fingerprints
        ):
            # Still the call dialed before: what it was dialed with, and what it took since.
            taken = _taken_in(previous.fingerprint, desired, action, outcome)
            updated.participants[name] = dataclasses.replace(previous, fingerprint=taken)
            continue
        updated.participants[name] = Recorded(
            call_sid=outcome.call_sid,
            conference_sid=conference_sid,
            to=outcome.to,
            fingerprint=desired,
        )
    return updated


def _taken_in(
    recorded: Fingerprint, desired: Fingerprint, action: Action, outcome: ParticipantOutcome
) -> Fingerprint:
    """A kept call's record: settings for the next dial as the file has them now, settings an
    update went through for as sent; the rest (waiting for a redial) as dialed. A setting an
    older record does not know stays unknown, unless it only counts for the next dial."""
    sent = action.kind == "update" and outcome.error is None
    changed = {c.field: c.policy for c in action.changes}
    kept = dict(recorded)
    for setting in SETTINGS:
        if setting.compare != "value" or setting.key not in desired:
            # to: the number dialed is kept beside; coach: read from the live call; a value
            # naming an unset variable: not known, so what the record says stays
            continue
        policy = changed.get(setting.key)
        if setting.policy == "next_dial" or policy == "next_dial" or (policy == "update" and sent):
            kept[setting.key] = desired[setting.key]
    return kept
