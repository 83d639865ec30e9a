"""(6) Contention: two applies share one account's dial limit; and a re-apply right after a Ctrl-C.

One sandbox with the account's dial limit (30 dials/s over a rolling 5 s
window, L = 150). Two ``orchestrator apply`` processes, started together, each
dial their own N-participant conference and wait for everyone to connect,
with the default pacing flags and one ``--state-dir``, as two applies from one
checkout would. Neither knows of the other; the account's limit is shared.
One pacer holding all 2N dials would finish no sooner than the combined
bound: latency + floor((2N-1)/L) x W (the first L at once, then L a window),
plus the last leg's ring. Each process should finish within 2x of it, with
every participant of both files dialed exactly once and connected.

Then the re-apply: one apply of a third file is sent SIGINT about a second
after it starts (once it has dials accepted), and as soon as it has exited
the same file is applied again. Its remaining participants cannot all be
dialed sooner than the window allows: the dials of the interrupted run still
fill it, so their bound counts them.
"""

from __future__ import annotations

import argparse
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.applies import (
    GRACE_S,
    Apply,
    Delivery,
    delivery,
    killed_on_failure,
    pacing_flags,
    start_apply,
)
from bench.dialing import wait_for_quiet_window
from bench.paced import SETTLE_ALLOWANCE_S, bound_after_s, limited_scenario, settled_bound_s
from bench.runner import Report, add_limit_arguments, ratio, seconds, verdict
from bench.sandbox import Counters, Sandbox, count_or_na, sandbox_process
from bench.specs import write_conference

WITHIN_FACTOR = 2.0  # each process within 2x of the bound
# A process still running at DEADLINE_FACTOR x its bound (plus --slack) is stopped.
DEADLINE_FACTOR = 4.0
POLL_S = 0.02


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--participants", type=int, default=300, help="per file (300)")
    add_limit_arguments(parser)
    parser.add_argument(
        "--interrupt-after",
        type=float,
        default=1.0,
        help="seconds from spawn to the Ctrl-C, once a dial is accepted (1)",
    )
    parser.add_argument(
        "--slack",
        type=float,
        default=30.0,
        help="seconds past 4x its bound before an apply still running is stopped (30)",
    )
    parser.add_argument("--seed", type=int, default=6, help="sandbox seed (6)")


@dataclass
class Together:
    applies: list[Apply]
    deliveries: list[Delivery]  # one per apply
    counters: Counters  # the sandbox's counts over the run
    dial_429s: int  # dial answers 429 (code 90103), from the sandbox's counters


@dataclass
class Reapply:
    first: Apply
    second: Apply
    interrupted_at_s: float | None  # from the first's spawn; None if it ended before the Ctrl-C
    dialed_before: int  # participants the first run got accepted
    bound_s: float  # for the rest, with the window as the first run left it
    delivery: Delivery
    counters: Counters
    dial_429s: int


@dataclass(frozen=True)
class Setup:
    """One benchmark's sandbox, account limit and folders, shared by both parts."""

    sandbox: Sandbox
    workdir: Path
    participants: int
    limit: int  # dials per window
    window_s: float
    latency_s: float
    pacing: list[str]  # apply's pacing flags ([] at the account's default limit)
    slack_s: float

    @property
    def state_dir(self) -> Path:
        # One record folder for every apply, as applies from one checkout share .orchestrator/.
        return self.workdir / "state"

    def deadline_s(self, bound: float) -> float:
        return DEADLINE_FACTOR * bound + self.slack_s

    @property
    def grace_s(self) -> float:
        return min(GRACE_S, self.slack_s)

    def file(self, name: str, block: int) -> Path:
        return write_conference(self.workdir / "files", name, self.participants, block=block)

    def start(self, name: str, path: Path) -> Apply:
        return start_apply(
            self.sandbox, name, [path], self.workdir, state_dir=self.state_dir, pacing=self.pacing
        )


def run(args: argparse.Namespace, workdir: Path) -> Report:
    n, rate, window = args.participants, args.dials_per_second, args.dial_window
    limit = max(1, math.floor(rate * window + 1e-9))
    latency_s = args.latency_ms / 1000
    combined = settled_bound_s(2 * n, limit, window, latency_s)
    report = Report(
        "contention",
        f"(6) Contention: two applies of {n} participants each, started together, one account "
        f"limit of {rate:g} dials/s over {window:g} s ({limit} per window), latency "
        f"{args.latency_ms:g} ms",
    )
    with sandbox_process(limited_scenario(args), workdir / "sandbox") as sandbox:
        setup = Setup(
            sandbox,
            workdir,
            n,
            limit,
            window,
            latency_s,
            pacing_flags(rate, window),
            args.slack,
        )
        together = _together(setup, combined)
        wait_for_quiet_window(sandbox, window)
        again = _reapply(setup, args.interrupt_after)

    _together_rows(report, together, combined)
    _reapply_rows(report, again)
    report.notes.append(
        "Wall times are whole processes, spawn to exit. Bounds count from the first dial's "
        f"latency to the last leg's ring ({seconds(SETTLE_ALLOWANCE_S)}); 429s seen are each "
        "apply's own count (its --report totals), 429s answered come from the sandbox."
    )
    report.raw = {
        "participants": n,
        "limit_per_window": limit,
        "window_s": window,
        "latency_ms": args.latency_ms,
        "combined_bound_s": combined,
        "together": [
            {**apply.summary(), **_delivered(delivered)}
            for apply, delivered in zip(together.applies, together.deliveries, strict=True)
        ],
        "together_dial_429s": together.dial_429s,
        "together_rate_limited_by_code": together.counters.rate_limited,
        "reapply": {
            "interrupted_at_s": again.interrupted_at_s,
            "first": again.first.summary(),
            "dialed_before": again.dialed_before,
            "remaining": n - again.dialed_before,
            "bound_s": again.bound_s,
            "second": again.second.summary(),
            "dial_429s": again.dial_429s,
            "rate_limited_by_code": again.counters.rate_limited,
            **_delivered(again.delivery),
        },
    }
    for apply, delivered in zip(together.applies, together.deliveries, strict=True):
        if apply.returncode != 0:
            report.invalid.append(f"{apply.name}: {_ended(apply)}")
        report.invalid += [f"{apply.name}: {problem}" for problem in delivered.problems()]
    if again.first.returncode not in (0, 130):
        report.invalid.append(f"interrupted apply: {_ended(again.first)}, not 130")
    if again.second.returncode != 0:
        report.invalid.append(f"re-apply: {_ended(again.second)}")
    report.invalid += [f"re-apply: {problem}" for problem in again.delivery.problems()]
    return report


def _together(setup: Setup, bound: float) -> Together:
    sandbox = setup.sandbox
    files = [setup.file(f"contention-{side}", block) for block, side in enumerate("ab")]
    counters_before = sandbox.counters()
    answers_before = sandbox.dial_answers()
    applies: list[Apply] = []
    with killed_on_failure(applies):
        for side, path in zip("ab", files, strict=True):
            applies.append(setup.start(f"apply-{side}", path))
        stop_at = time.monotonic() + setup.deadline_s(bound)
        for apply in applies:
            apply.finish(stop_at - time.monotonic(), grace_s=setup.grace_s)
    answers = sandbox.dial_answers()
    answers.subtract(answers_before)
    return Together(
        applies=applies,
        deliveries=[delivery(sandbox, [path]) for path in files],
        counters=sandbox.counters().since(counters_before),
        dial_429s=answers["429"],
    )


def _reapply(setup: Setup, interrupt_after_s: float) -> Reapply:
    sandbox = setup.sandbox
    path = setup.file("contention-again", 2)
    counters_before = sandbox.counters()
    answers_before = sandbox.dial_answers()
    dials_before = _accepted_dials(sandbox)
    applies: list[Apply] = []
    with killed_on_failure(applies):
        first = setup.start("interrupted", path)
        applies.append(first)
        interrupted_at = _interrupt_when_dialing(
            sandbox, first, dials_before, interrupt_after_s, setup.deadline_s(0.0)
        )
        # A Ctrl-C stops new dials and lets the requests in flight finish.
        first.finish(setup.grace_s, grace_s=setup.grace_s)
        # The second starts now: the window holds whatever the sandbox accepted so far.
        now_s = sandbox.uptime_s()
        dials = sandbox.dials()
        sids = set(sandbox.conference_sids(path.stem))
        dialed = {dial["label"] for dial in dials if dial.get("conference_sid") in sids}
        earlier = [float(dial["time"]) for dial in dials]
        remaining = setup.participants - len(dialed)
        bound = SETTLE_ALLOWANCE_S + bound_after_s(
            remaining, setup.limit, setup.window_s, setup.latency_s, earlier=earlier, start_s=now_s
        )
        second = setup.start("reapply", path)
        applies.append(second)
        second.finish(setup.deadline_s(bound), grace_s=setup.grace_s)
    answers = sandbox.dial_answers()
    answers.subtract(answers_before)
    return Reapply(
        first=first,
        second=second,
        interrupted_at_s=interrupted_at,
        dialed_before=len(dialed),
        bound_s=bound,
        delivery=delivery(sandbox, [path]),
        counters=sandbox.counters().since(counters_before),
        dial_429s=answers["429"],
    )


def _accepted_dials(sandbox: Sandbox) -> int:
    count = sandbox.health().get("dials")
    return count if isinstance(count, int) else len(sandbox.dials())


def _interrupt_when_dialing(
    sandbox: Sandbox, apply: Apply, dials_before: int, after_s: float, timeout_s: float
) -> float | None:
    """Ctrl-C once ``after_s`` has passed and the sandbox has accepted one of its dials.

    Waiting for a dial makes the Ctrl-C land while dialing, however slowly the process
    starts. Returns when it was sent (from spawn), or None if the process ended first.
    """
    process = apply.process
    limit = time.monotonic() + timeout_s
    while process.running and time.monotonic() < limit:
        if process.elapsed_s() >= after_s and _accepted_dials(sandbox) > dials_before:
            sent = process.elapsed_s()
            process.signal(signal.SIGINT)
            return sent
        process.wait(POLL_S)
    return None


def _together_rows(report: Report, together: Together, bound: float) -> None:
    limit_s = WITHIN_FACTOR * bound
    report.row(
        "combined bound: one pacer for all dials, latency + floor((2N-1)/L) x W + ring",
        seconds(bound),
    )
    within = True
    for apply, delivered in zip(together.applies, together.deliveries, strict=True):
        run = apply.run
        wall = None if run is None else run.wall_s
        ok = wall is not None and apply.returncode == 0 and wall <= limit_s
        within = within and ok
        stopped = f" ({run.stopped} at the deadline)" if run is not None and run.stopped else ""
        report.row(
            f"{apply.name}: wall time, spawn to exit{stopped}",
            seconds(wall),
            f"<= {seconds(limit_s)}",
            verdict(ok),
        )
        report.row(
            f"{apply.name}: exit code / dials sent (report) / accepted / 429s seen (report)",
            f"{apply.returncode} / {count_or_na(apply.dials_sent)} / {delivered.dials} / "
            f"{count_or_na(apply.rate_limited)}",
        )
    lost = sum(d.lost for d in together.deliveries)
    doubled = sum(d.doubled for d in together.deliveries)
    unconnected = sum(len(d.unconnected) for d in together.deliveries)
    report.row(
        "both: participants lost / dialed twice / not connected",
        f"{lost} / {doubled} / {unconnected}",
        "0 / 0 / 0",
        verdict(not (lost or doubled or unconnected)),
    )
    report.row(
        "429s answered: dials / by code 90103, 10011 (sandbox counters)",
        f"{together.dial_429s} / {_by_code(together.counters)}",
    )
    passed = within and not (lost or doubled or unconnected)
    report.row(
        "contention: each apply within 2x the combined bound, nobody lost or doubled",
        "PASS" if passed else "FAIL",
        "PASS",
        verdict(passed),
    )


def _reapply_rows(report: Report, again: Reapply) -> None:
    first, second = again.first, again.second
    when = (
        seconds(again.interrupted_at_s)
        if again.interrupted_at_s is not None
        else "never: it ended first"
    )
    report.row("re-apply: Ctrl-C sent to the first apply, from its spawn", when)
    report.row(
        "re-apply: first apply's exit code / participants it got dialed",
        f"{first.returncode} / {again.dialed_before}",
    )
    report.row(
        "re-apply: bound for the rest (the window still holds the first apply's dials)",
        seconds(again.bound_s),
    )
    wall = None if second.run is None else second.run.wall_s
    ok = wall is not None and second.returncode == 0 and wall <= WITHIN_FACTOR * again.bound_s
    report.row(
        "re-apply: second apply's wall time, spawn to exit",
        seconds(wall),
        f"<= {seconds(WITHIN_FACTOR * again.bound_s)}",
        verdict(ok),
    )
    report.row("re-apply: bound / measured", ratio(again.bound_s / wall if wall else None))
    report.row(
        "re-apply: second apply's exit code / 429s seen (report) / 429s answered (sandbox counters)",
        f"{second.returncode} / {count_or_na(second.rate_limited)} / {again.dial_429s}",
    )
    delivered = again.delivery
    report.row(
        "re-apply, after both: participants lost / dialed twice / not connected",
        f"{delivered.lost} / {delivered.doubled} / {len(delivered.unconnected)}",
        "0 / 0 / 0",
        verdict(not (delivered.lost or delivered.doubled or delivered.unconnected)),
    )


def _by_code(counters: Counters) -> str:
    return f"{count_or_na(counters.limited('90103'))}, {count_or_na(counters.limited('10011'))}"


def _delivered(delivered: Delivery) -> dict[str, Any]:
    return {
        "accepted": delivered.dials,
        "lost": delivered.lost,
        "doubled": delivered.doubled,
        "not_connected": len(delivered.unconnected),
        "problems": delivered.problems(),
    }


def _ended(apply: Apply) -> str:
    run = apply.run
    if run is None:
        return "did not run"
    stopped = f" ({run.stopped} at the deadline)" if run.stopped else ""
    last = (run.stderr.strip().splitlines() or [""])[-1]
    return f"exited with {run.returncode}{stopped}" + (f": {last}" if last else "")
