"""(7) Paced scale: K conferences x N participants in one apply, under the account's dial limit.

One ``orchestrator apply F1..FK`` with the default pacing flags against the
sandbox's default limit (30 dials/s over 5 s, L = 150), waiting for everyone
to connect. All K x N dials share the one limit, so the apply cannot finish
before latency + floor((KN-1)/L) x W plus the last leg's ring: the paced
benchmark's bound for KN participants. Also measured: the process's CPU time
and peak RSS (from wait4), and what it asked of the API while it waited for
legs to connect (participant-list GETs and all GETs, from the sandbox's
counters). Every participant of every file must be dialed exactly once and
connected.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bench.applies import Apply, delivery, killed_on_failure, pacing_flags, start_apply
from bench.paced import SETTLE_ALLOWANCE_S, limited_scenario, settled_bound_s
from bench.runner import Report, add_limit_arguments, ratio, seconds, verdict
from bench.sandbox import count_or_na, sandbox_process
from bench.specs import write_conference

BOUND_RATIO_GOAL = 0.97
CPU_GOAL_S = 15.0
# An apply still running at DEADLINE_FACTOR x its bound (plus --slack) is stopped.
DEADLINE_FACTOR = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conferences", type=int, default=10, help="conference files (10)")
    parser.add_argument("--participants", type=int, default=800, help="per conference (800)")
    add_limit_arguments(parser)
    parser.add_argument(
        "--slack",
        type=float,
        default=60.0,
        help="seconds past 2x the bound before an apply still running is stopped (60)",
    )
    parser.add_argument("--seed", type=int, default=7, help="sandbox seed (7)")


def run(args: argparse.Namespace, workdir: Path) -> Report:
    k, n, rate, window = (
        args.conferences,
        args.participants,
        args.dials_per_second,
        args.dial_window,
    )
    total = k * n
    limit = max(1, math.floor(rate * window + 1e-9))
    bound = settled_bound_s(total, limit, window, args.latency_ms / 1000)
    report = Report(
        "paced-scale",
        f"(7) Paced scale: {k} conferences x {n} participants in one apply, account limit "
        f"{rate:g} dials/s over {window:g} s ({limit} per window), latency {args.latency_ms:g} ms",
    )
    with sandbox_process(limited_scenario(args), workdir / "sandbox") as sandbox:
        files = [
            write_conference(workdir / "files", f"paced-scale-{i}", n, block=i) for i in range(k)
        ]
        counters_before = sandbox.counters()
        answers_before = sandbox.dial_answers()
        cpu_before = sandbox.cpu_seconds()
        applies: list[Apply] = []
        with killed_on_failure(applies):
            apply = start_apply(
                sandbox,
                "apply",
                files,
                workdir,
                state_dir=workdir / "state",
                pacing=pacing_flags(rate, window),
            )
            applies.append(apply)
            finished = apply.finish(
                DEADLINE_FACTOR * bound + args.slack, grace_s=min(15.0, args.slack)
            )
        cpu_after = sandbox.cpu_seconds()
        counters = sandbox.counters().since(counters_before)
        answers = sandbox.dial_answers()
        answers.subtract(answers_before)
        delivered = delivery(sandbox, files)

    measured = finished.wall_s
    bound_ratio = bound / measured if measured else None
    sandbox_cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    gets, lists = counters.method("GET"), counters.participant_lists
    report.row(
        "bound: latency + floor((K x N - 1)/L) x W + ring (one window's burst, then L a window)",
        seconds(bound),
    )
    stopped = f" ({finished.stopped} at the deadline)" if finished.stopped else ""
    report.row(f"orchestrator apply: wall time, spawn to exit{stopped}", seconds(measured))
    report.row(
        "bound / measured",
        ratio(bound_ratio),
        f">= {BOUND_RATIO_GOAL}",
        verdict(bound_ratio is not None and bound_ratio >= BOUND_RATIO_GOAL),
    )
    report.row(
        "orchestrator apply: CPU time (user + system)",
        seconds(finished.cpu_s),
        f"< {seconds(CPU_GOAL_S)}",
        verdict(finished.cpu_s < CPU_GOAL_S),
    )
    report.row("orchestrator apply: peak RSS", f"{finished.peak_rss_mb:.0f} MB")
    report.row(
        "GETs: participant lists / all (sandbox counters)",
        f"{count_or_na(lists)} / {count_or_na(gets)}",
    )
    report.row(
        "GETs per participant (all)", "n/a" if gets is None else f"{gets / max(total, 1):.2f}"
    )
    report.row(
        "429s: seen by apply (report) / answered by code 90103, 10011 (sandbox counters)",
        f"{count_or_na(apply.rate_limited)} / "
        f"{count_or_na(counters.limited('90103'))}, {count_or_na(counters.limited('10011'))}",
    )
    report.row(
        "exit code / dials sent (report) / accepted",
        f"{finished.returncode} / {count_or_na(apply.dials_sent)} / {delivered.dials}",
    )
    report.row(
        "participants lost / dialed twice / not connected",
        f"{delivered.lost} / {delivered.doubled} / {len(delivered.unconnected)}",
        "0 / 0 / 0",
        verdict(not (delivered.lost or delivered.doubled or delivered.unconnected)),
    )
    report.row("sandbox CPU during the run", seconds(sandbox_cpu))
    smoothed = max(total - limit, 0) / rate if rate else 0.0
    report.notes.append(
        f"The bound counts the last leg's ring ({seconds(SETTLE_ALLOWANCE_S)}). The window "
        "admits dials in bursts of L, so the last burst cannot start before "
        f"floor((K x N - 1)/L) x W; the smoothed (K x N - L)/R ({seconds(smoothed)} here) "
        "understates that when K x N - 1 is not a multiple of L. GET counts are n/a where "
        "the sandbox does not report them."
    )
    report.raw = {
        "conferences": k,
        "participants": n,
        "limit_per_window": limit,
        "window_s": window,
        "latency_ms": args.latency_ms,
        "bound_s": bound,
        "wall_s": measured,
        "bound_over_measured": bound_ratio,
        "cpu_s": finished.cpu_s,
        "peak_rss_mb": finished.peak_rss_mb,
        "participant_list_gets": lists,
        "gets": gets,
        "requests": counters.requests,
        "rate_limited_by_code": counters.rate_limited,
        "dial_429s": answers["429"],
        "sandbox_cpu_s": sandbox_cpu,
        "apply": apply.summary(),
        "accepted": delivered.dials,
        "lost": delivered.lost,
        "doubled": delivered.doubled,
        "not_connected": len(delivered.unconnected),
    }
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or [""])[-1]
        report.invalid.append(f"apply exited with {finished.returncode}{stopped}: {last}")
    report.invalid += delivered.problems()
    return report
