"""How apply runs: every knob with its default, in one place (the CLI's options read these)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from orchestrator.engine.lock import DEFAULT_LOCK_TIMEOUT_S
from orchestrator.engine.state import StateStore
from orchestrator.engine.waiting import PollSchedule
from orchestrator.pacing.dials import PauseHook
from orchestrator.texml import contract

CONCURRENCY = 50  # requests in flight at once
DIALS_PER_SECOND = float(contract.DEFAULT_DIALS_PER_SECOND)
DIAL_WINDOW_S = float(contract.DEFAULT_DIAL_WINDOW_S)
SETTLE_TIMEOUT_S = 150.0  # longest wait for one leg to connect or end after its dial


@dataclass(frozen=True, kw_only=True)
class ApplyOptions:
    concurrency: int = CONCURRENCY
    dials_per_second: float = DIALS_PER_SECOND
    dial_window_s: float = DIAL_WINDOW_S
    settle_timeout_s: float = SETTLE_TIMEOUT_S
    wait: bool = True  # False: report legs as dialed without waiting for them to settle
    poll: PollSchedule = field(default_factory=PollSchedule)
    prune: bool = False  # hang up live participants this file dialed before but no longer names
    redial_changed: bool = False  # hang up and redial legs whose dial-time settings changed
    state: StateStore | None = None  # where to keep the record of what was dialed; None: nowhere
    # After this long without any answer from the API, no new dial is sent.
    give_up_s: float = 30.0
    # How long after a dial whose answer was lost its call is looked for (by Label, in GET
    # Calls) before the API's "no such call" is believed: how late Calls may list a new call.
    lost_answer_grace_s: float = 5.0
    lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S  # longest wait for another apply of it
    on_pause: PauseHook | None = None  # told when dialing pauses, and why
    notice: Callable[[str], None] | None = None  # one-line notices (lock waits, creation mode)
