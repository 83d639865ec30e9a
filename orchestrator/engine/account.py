"""What one run shares across the conferences of an account: the client (whose read
throttle is the account's read budget), the dial pacer, the stop signals, the run model, and what it learned about the API on the
way."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from orchestrator.clock import Clock
from orchestrator.engine.events import AccountLimit
from orchestrator.engine.options import ApplyOptions
from orchestrator.engine.run_model import RunModel
from orchestrator.pacing.dials import DialPacer
from orchestrator.texml.client import TexmlClient


@dataclass
class Account:
    client: TexmlClient
    pacer: DialPacer
    options: ApplyOptions
    stop: asyncio.Event  # the user's: Ctrl-C, SIGTERM, SIGHUP
    halt: asyncio.Event  # stop, or the API gone: no new dials
    model: RunModel  # where every step of the run is published
    create_by_call: bool = False  # dialing into a friendly name was refused: create by a call
    gone: str | None = None  # why the run gave up on the API
    # A dial cap refused a dial: no dial goes until the moment (of the clock) it said a place
    # frees (an apply is over long before; apply --watch tries again then).
    cap: AccountLimit | None = None
    cap_until: float = 0.0
    # (file, participant) still to have a first call placed, across the run's conferences:
    # while any is, the run's end is not near, and settling need not look densely.
    unplaced: set[tuple[str, str]] = field(default_factory=set)

    @property
    def clock(self) -> Clock:
        """The time the run reads: the client's, which its pacing and retries read too."""
        return self.client.clock

    def give_up_if_gone(self) -> None:
        """Halt new dials once the API has answered nothing for ``give_up_s``."""
        if self.gone is None and self.client.unreachable_for() >= self.options.give_up_s:
            self.gone = (
                f"the API has not answered for {self.options.give_up_s:g}s; "
                "no new dials were sent after that"
            )
            self.halt.set()

    @property
    def capped(self) -> AccountLimit | None:
        """The dial cap in force now, if any."""
        if self.cap is not None and self.clock.now() >= self.cap_until:
            self.cap = None
        return self.cap

    def notice(self, line: str) -> None:
        if self.options.notice is not None:
            self.options.notice(line)
