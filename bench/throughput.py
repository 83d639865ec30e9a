"""(1) Unpaced throughput: N participants into one conference, against (2 + ceil((N-1)/C)) x latency.

The sandbox answers every request after ``latency_ms`` and has no dial limit.
The protocol puts two round trips in series before any concurrency: a lookup
for a running conference of that name, then the dial that creates it (the
conference SID the other dials join comes from its answer). The other N-1
dials, C in flight, take ceil((N-1)/C) more: that sum is the ideal no client
can beat. Side by side, in the same sandbox, each in a fresh process and its
own conference: orchestrator's engine (timed from the call to its last dial
response), the official SDK with asyncio.gather and a semaphore of C (timed
from creating the client to its last dial response), the whole
``orchestrator apply --no-wait -q`` command (spawn to exit), and a floor: bare
aiohttp POSTs under the same semaphore, the least any client on this machine
must spend, which shows how much of the gap to the ideal is the engine's.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.dialing import SideRun, run_cli, run_floor, run_ours, run_sdk
from bench.runner import Report, median, ratio, run_worker, seconds, verdict
from bench.sandbox import Sandbox, bare_server_process, child_environment, sandbox_process
from bench.specs import write_conference

# No dial limit; legs answer 20 ms after their dial (ring 2 s x 0.01), inside the run that placed them.
SCENARIO = {"dials_per_second": 0, "time_scale": 0.01}
IDEAL_RATIO_GOAL = 0.85
SDK_RATIO_GOAL = 1.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--participants", type=int, default=800, help="participants (default 800)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (50)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency (50)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each client (3); medians")
    parser.add_argument("--seed", type=int, default=1, help="sandbox seed (1)")


def run(args: argparse.Namespace, workdir: Path) -> Report:
    n, concurrency = args.participants, args.concurrency
    latency_s = args.latency_ms / 1000
    ideal = ideal_seconds(n, concurrency, latency_s)
    report = Report(
        "throughput",
        f"(1) Unpaced throughput: {n} participants, one conference, "
        f"latency {args.latency_ms:g} ms, concurrency {concurrency}, no dial limit",
    )
    scenario = {**SCENARIO, "seed": args.seed, "latency_ms": args.latency_ms}
    clients: dict[str, Callable[[Sandbox, Path], SideRun]] = {
        "ours": lambda sandbox, file: run_ours(sandbox, [file], concurrency=concurrency),
        "sdk": lambda sandbox, file: run_sdk(sandbox, file, concurrency=concurrency),
        "floor": lambda sandbox, file: run_floor(sandbox, file, concurrency=concurrency),
        "cli": lambda sandbox, file: run_cli(sandbox, [file], concurrency=concurrency),
    }
    runs: dict[str, list[SideRun]] = {side: [] for side in clients}
    order = list(clients)
    with sandbox_process(scenario, workdir / "sandbox") as sandbox:
        for index in range(args.repeat):
            # A different client goes first each time, so drift does not favour one.
            for side in order[index % len(order) :] + order[: index % len(order)]:
                file = write_conference(workdir, f"throughput-{side}-{index}", n)
                runs[side].append(clients[side](sandbox, file))
    bare = _bare_runs(args, workdir)

    for side in ("ours", "cli", "floor"):
        for side_run in runs[side]:
            report.invalid += side_run.exactly_once_problems()
            if side_run.rate_limited:
                report.invalid.append(f"{side}: {side_run.rate_limited} 429s with no dial limit")
    for result in bare:
        if result["failures"] or result["dial_responses"] != n:
            report.invalid.append(f"bare server: {result['failures']}")
    for side_run in runs["sdk"]:
        if side_run.dials == 0:
            report.invalid.append(f"sdk: dialed nobody ({side_run.result.get('failures')})")

    ours = median([_all_dialed(r) for r in runs["ours"]])
    sdk = median([_all_dialed(r) for r in runs["sdk"]])
    cli = median([r.result["wall_s"] for r in runs["cli"]])
    sdk_process = median([r.result["process_wall_s"] for r in runs["sdk"]])
    ideal_ratio = ideal / ours if ours else None
    sdk_ratio = sdk / ours if ours else None
    report.row(
        "ideal: (2 + ceil((N-1)/C)) x latency (lookup, creating dial, then rounds of C dials)",
        seconds(ideal),
    )
    report.row(
        "orchestrator: time to all dialed (engine, in process)",
        _spread(runs["ours"]),
    )
    report.row(
        "orchestrator: first dial answered (conference lookup + the dial that creates it;"
        " ideal 2 x latency)",
        seconds(_median_of(runs["ours"], "first_dialed_s")),
    )
    report.row(
        "ideal / measured",
        ratio(ideal_ratio),
        f">= {IDEAL_RATIO_GOAL}",
        verdict(ideal_ratio is not None and ideal_ratio >= IDEAL_RATIO_GOAL),
    )
    floor = median([_all_dialed(r) for r in runs["floor"]])
    report.row("floor: bare aiohttp POSTs, same concurrency", _spread(runs["floor"]))
    report.row("floor / orchestrator", ratio(floor / ours if ours else None))
    machine = median([r["all_dialed_s"] for r in bare])
    report.row(
        "machine floor: bare aiohttp POSTs to a bare aiohttp route that only waits the latency",
        f"{seconds(machine)} (runs: {', '.join(seconds(r['all_dialed_s']) for r in bare)})",
    )
    rounds_only = math.ceil(n / concurrency) * latency_s
    report.row(
        "machine floor: ceil(N/C) x latency / measured (no lookup, no creating dial)",
        ratio(rounds_only / machine if machine else None),
    )
    report.row("official SDK: time to all dialed (gather + semaphore)", _spread(runs["sdk"]))
    report.row(
        "SDK / orchestrator",
        ratio(sdk_ratio),
        f">= {SDK_RATIO_GOAL}",
        verdict(sdk_ratio is not None and sdk_ratio >= SDK_RATIO_GOAL),
    )
    report.row("orchestrator apply --no-wait -q: whole command, spawn to exit", seconds(cli))
    report.row("SDK script: whole process, spawn to exit", seconds(sdk_process))
    report.row(
        "client CPU during the run (orchestrator / floor / SDK)",
        " / ".join(
            seconds(_median_of(runs[side], "client_cpu_s")) for side in ("ours", "floor", "sdk")
        ),
    )
    report.row(
        "sandbox CPU during the run (orchestrator / floor / SDK)",
        " / ".join(
            seconds(_median_of(runs[side], "sandbox_cpu_s")) for side in ("ours", "floor", "sdk")
        ),
    )
    report.row("orchestrator: dials / lost / duplicated", _counts(runs["ours"] + runs["cli"]))
    report.row("SDK: dials / lost / duplicated", _counts(runs["sdk"]))
    report.row(
        "429s (orchestrator / SDK)",
        f"{sum(r.rate_limited for r in runs['ours'] + runs['cli'])} / "
        f"{sum(r.rate_limited for r in runs['sdk'])}",
    )
    report.notes.append(
        f"Times are medians of {args.repeat} run(s) per client, each in a fresh process and "
        "its own conference in the same sandbox process; in-process clocks start after imports."
    )
    report.raw = {
        "participants": n,
        "concurrency": concurrency,
        "latency_ms": args.latency_ms,
        "ideal_s": ideal,
        "ours_all_dialed_s": ours,
        "sdk_all_dialed_s": sdk,
        "cli_wall_s": cli,
        "floor_all_dialed_s": floor,
        "machine_floor_all_dialed_s": machine,
        "ideal_over_measured": ideal_ratio,
        "sdk_over_ours": sdk_ratio,
        "runs": {side: [r.result for r in side_runs] for side, side_runs in runs.items()},
        "bare_runs": bare,
    }
    return report


def _bare_runs(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    """The floor client against the bare server, ``repeat`` times: the machine's own floor."""
    file = write_conference(workdir, "throughput-bare", args.participants)
    argv = ["floor", str(file), "--concurrency", str(args.concurrency)]
    with bare_server_process(args.latency_ms, workdir / "bare") as base_url:
        env = child_environment(
            {
                "TELNYX_BASE_URL": base_url,
                "TELNYX_API_KEY": "unused",
                "TELNYX_ACCOUNT_SID": "unused",
            }
        )
        return [run_worker(argv, env=env) for _ in range(args.repeat)]


def ideal_seconds(participants: int, concurrency: int, latency_s: float) -> float:
    """The least time the protocol allows: the lookup and the creating dial in series, then
    the other dials in rounds of ``concurrency``."""
    rounds = math.ceil(max(participants - 1, 0) / concurrency)
    return (2 + rounds) * latency_s


def _all_dialed(side_run: SideRun) -> float:
    value = side_run.result.get("all_dialed_s")
    return float(value) if value is not None else float("inf")


def _median_of(side_runs: list[SideRun], key: str) -> float | None:
    values = [r.result[key] for r in side_runs if r.result.get(key) is not None]
    return median(values) if values else None


def _spread(side_runs: list[SideRun]) -> str:
    values = [_all_dialed(r) for r in side_runs]
    if len(values) == 1:
        return seconds(values[0])
    each = ", ".join(seconds(v) for v in values)
    return f"{seconds(median(values))} (runs: {each})"


def _counts(side_runs: list[SideRun]) -> str:
    dials = sum(r.dials for r in side_runs)
    return f"{dials} / {sum(r.lost for r in side_runs)} / {sum(r.extra_dials for r in side_runs)}"
