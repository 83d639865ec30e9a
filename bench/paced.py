"""(2) Paced: N participants under the sandbox's dial limit (R dials/s over a W s window).

The limit admits L = R x W dials in any W seconds, counted when the server
accepts them. Since the first dial is accepted one latency after it is sent,
no client can have its last answer before latency + floor((N-1)/L) x W: the
first L at once, then L per window. Each client starts with the window empty
(the benchmark waits for it to drain between runs). orchestrator must dial
everyone exactly once with no 429; the official SDK, with its default retries
(which honour Retry-After), is measured for time, 429s and participants lost.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.dialing import SideRun, run_ours, run_sdk, wait_for_quiet_window
from bench.runner import Report, add_limit_arguments, ratio, seconds, verdict
from bench.sandbox import sandbox_process
from bench.specs import write_conference

BOUND_RATIO_GOAL = 0.95
# Legs answer 20 ms after their dial (the sandbox's 2 s ring x 0.01), inside the run that placed them.
TIME_SCALE = 0.01
RING_SECONDS = 2.0
SETTLE_ALLOWANCE_S = RING_SECONDS * TIME_SCALE


def limited_scenario(args: argparse.Namespace) -> dict[str, Any]:
    """The sandbox of every paced benchmark: fast rings, the latency and dial limit given."""
    return {
        "time_scale": TIME_SCALE,
        "seed": args.seed,
        "latency_ms": args.latency_ms,
        "dials_per_second": args.dials_per_second,
        "dial_window_seconds": args.dial_window,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--participants", type=int, default=800, help="participants (800)")
    add_limit_arguments(parser)
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (50)")
    parser.add_argument("--seed", type=int, default=2, help="sandbox seed (2)")


def bound_s(participants: int, limit: int, window_s: float, latency_s: float) -> float:
    """Earliest answer to the last dial, the window empty at the start: the first L, then L a window."""
    return latency_s + ((participants - 1) // limit) * window_s


def settled_bound_s(participants: int, limit: int, window_s: float, latency_s: float) -> float:
    """bound_s plus the ring of the last leg: the earliest everyone can be connected."""
    return bound_s(participants, limit, window_s, latency_s) + SETTLE_ALLOWANCE_S


def bound_after_s(
    participants: int,
    limit: int,
    window_s: float,
    latency_s: float,
    *,
    earlier: Sequence[float],
    start_s: float,
) -> float:
    """Like bound_s, for a start at ``start_s`` while ``earlier`` accepted dials still fill the window.

    Times are the server's. Each dial is accepted at the earliest when it is one latency past
    the start and one window past the dial ``limit`` places before it; the result is the
    last one's acceptance, counted from ``start_s``.
    """
    if participants <= 0:
        return 0.0
    accepted = sorted(t for t in earlier if t > start_s - window_s)
    last = start_s
    for _ in range(participants):
        last = start_s + latency_s
        if len(accepted) >= limit:
            last = max(last, accepted[-limit] + window_s)
        accepted.append(last)
    return last - start_s


def run(args: argparse.Namespace, workdir: Path) -> Report:
    n, window = args.participants, args.dial_window
    limit = max(1, math.floor(args.dials_per_second * window + 1e-9))
    bound = bound_s(n, limit, window, args.latency_ms / 1000)
    report = Report(
        "paced",
        f"(2) Paced: {n} participants, sandbox limit {args.dials_per_second:g} dials/s "
        f"over {window:g} s ({limit} per window), latency {args.latency_ms:g} ms, "
        f"concurrency {args.concurrency}",
    )
    with sandbox_process(limited_scenario(args), workdir / "sandbox") as sandbox:
        ours_file = write_conference(workdir, "paced-ours", n)
        sdk_file = write_conference(workdir, "paced-sdk", n)
        ours = run_ours(
            sandbox,
            [ours_file],
            concurrency=args.concurrency,
            dials_per_second=args.dials_per_second,
            dial_window_s=window,
        )
        wait_for_quiet_window(sandbox, window)
        sdk = run_sdk(sandbox, sdk_file, concurrency=args.concurrency)

    report.invalid += ours.exactly_once_problems()
    if sdk.dials == 0:
        report.invalid.append(f"sdk: dialed nobody ({sdk.result.get('failures')})")
    measured = ours.result.get("all_dialed_s")
    bound_ratio = bound / measured if measured else None
    report.row("bound: latency + floor((N-1)/L) x W", seconds(bound))
    report.row("orchestrator: time to all dialed (engine, in process)", seconds(measured))
    report.row(
        "bound / measured",
        ratio(bound_ratio),
        f">= {BOUND_RATIO_GOAL}",
        verdict(bound_ratio is not None and bound_ratio >= BOUND_RATIO_GOAL),
    )
    report.row(
        "orchestrator: 429s received", str(ours.rate_limited), "0", verdict(not ours.rate_limited)
    )
    report.row(
        "orchestrator: participants lost / dialed twice",
        f"{ours.lost} / {len(_twice(ours))}",
        "0 / 0",
        verdict(not ours.lost and not _twice(ours)),
    )
    report.row(
        "official SDK: time to its last successful dial", seconds(sdk.result.get("all_dialed_s"))
    )
    report.row("official SDK: time until gather returned", seconds(sdk.result.get("returned_s")))
    report.row("official SDK: 429s received", str(sdk.rate_limited))
    report.row(
        "official SDK: participants lost / dialed twice",
        f"{sdk.lost} / {len(_twice(sdk))}",
        "",
        f"failures: {_failures(sdk)}",
    )
    report.notes.append(
        "429s are the sandbox's own counts (/_sandbox/health: every 429 answered, retries "
        "included); "
        "lost and doubled participants from its record of accepted dials."
    )
    report.raw = {
        "participants": n,
        "limit_per_window": limit,
        "window_s": window,
        "latency_ms": args.latency_ms,
        "bound_s": bound,
        "ours_all_dialed_s": measured,
        "bound_over_measured": bound_ratio,
        "ours_429s": ours.rate_limited,
        "sdk_429s": sdk.rate_limited,
        "sdk_lost": sdk.lost,
        "sdk_duplicated": len(_twice(sdk)),
        "runs": {"ours": ours.result, "sdk": sdk.result},
    }
    return report


def _twice(side_run: SideRun) -> list[str]:
    return [name for count in side_run.counts for name in count.duplicated]


def _failures(side_run: SideRun) -> str:
    failures = side_run.result.get("failures") or {}
    return ", ".join(f"{n} x {kind}" for kind, n in sorted(failures.items())) or "none"
