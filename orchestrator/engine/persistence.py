"""What an apply keeps in the local record (``engine.state``), and the lock it holds meanwhile."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.planner import LiveState, Plan
from orchestrator.engine.results import ParticipantOutcome, State
from orchestrator.engine.state import ConferenceState, Recorded, StateStore, fingerprint
from orchestrator.spec.model import ConferenceSpec


def record_lock(
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
        if (
            action.kind in ("noop", "update")
            and previous is not None
            and name in state.fingerprints
        ):
            # Still the call dialed before, with the settings it was dialed with.
            updated.participants[name] = previous
            continue
        updated.participants[name] = Recorded(
            call_sid=outcome.call_sid,
            conference_sid=conference_sid,
            to=outcome.to,
            fingerprint=fingerprint(action.participant),
        )
    return updated
