"""(3) Scale: K conferences x N participants in one apply, no dial limit: time and peak RSS.

Two runs against one sandbox, each into its own K conferences: the whole
``orchestrator apply F1..FK --no-wait -q`` command (wall time, and peak RSS of
the process from wait4), and the engine in a fresh process (time to the last
dial response, and that process's peak RSS). Every participant of every
conference must be dialed exactly once.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bench.dialing import SideRun, run_cli, run_ours
from bench.runner import Report, seconds, verdict
from bench.sandbox import sandbox_process
from bench.specs import write_conference

PEAK_RSS_GOAL_MB = 150.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conferences", type=int, default=10, help="conference files (10)")
    parser.add_argument("--participants", type=int, default=800, help="per conference (800)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (50)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency (50)")
    parser.add_argument("--seed", type=int, default=3, help="sandbox seed (3)")


def run(args: argparse.Namespace, workdir: Path) -> Report:
    k, n, concurrency = args.conferences, args.participants, args.concurrency
    total = k * n
    ideal = math.ceil(total / concurrency) * args.latency_ms / 1000
    report = Report(
        "scale",
        f"(3) Scale: {k} conferences x {n} participants in one apply, latency "
        f"{args.latency_ms:g} ms, concurrency {concurrency}, no dial limit",
    )
    # No dial limit; legs answer 20 ms after their dial (ring 2 s x 0.01).
    scenario = {
        "seed": args.seed,
        "latency_ms": args.latency_ms,
        "dials_per_second": 0,
        "time_scale": 0.01,
    }
    with sandbox_process(scenario, workdir / "sandbox") as sandbox:
        cli_files = [write_conference(workdir, f"scale-cli-{i}", n, block=i) for i in range(k)]
        ours_files = [write_conference(workdir, f"scale-ours-{i}", n, block=i) for i in range(k)]
        cli = run_cli(sandbox, cli_files, concurrency=concurrency)
        ours = run_ours(sandbox, ours_files, concurrency=concurrency)

    for side_run in (cli, ours):
        report.invalid += side_run.exactly_once_problems()
    cli_rss = cli.result["peak_rss_mb"]
    report.row("ideal: ceil(K x N / C) x latency", seconds(ideal))
    report.row(
        "orchestrator apply --no-wait -q: whole command, spawn to exit",
        seconds(cli.result["wall_s"]),
    )
    report.row(
        "orchestrator apply: peak RSS of the process",
        f"{cli_rss:.0f} MB",
        f"<= {PEAK_RSS_GOAL_MB:.0f} MB",
        verdict(cli_rss <= PEAK_RSS_GOAL_MB),
    )
    report.row(
        "engine in a fresh process: time to all dialed", seconds(ours.result.get("all_dialed_s"))
    )
    report.row(
        "engine in a fresh process: peak RSS", f"{ours.result['process_peak_rss_mb']:.0f} MB"
    )
    report.row("dials / lost / duplicated (both runs)", _counts([cli, ours]))
    report.raw = {
        "conferences": k,
        "participants": n,
        "concurrency": concurrency,
        "latency_ms": args.latency_ms,
        "ideal_s": ideal,
        "cli_wall_s": cli.result["wall_s"],
        "cli_peak_rss_mb": cli_rss,
        "ours_all_dialed_s": ours.result.get("all_dialed_s"),
        "ours_peak_rss_mb": ours.result["process_peak_rss_mb"],
        "runs": {"cli": cli.result, "ours": ours.result},
    }
    return report


def _counts(side_runs: list[SideRun]) -> str:
    dials = sum(r.dials for r in side_runs)
    return f"{dials} / {sum(r.lost for r in side_runs)} / {sum(r.extra_dials for r in side_runs)}"
