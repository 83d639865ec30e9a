"""(8) Faults: N participants under ``profile: field`` with 5xx answers and resets, over seeds.

For each seed, one ``orchestrator apply`` of one file of N participants
against a sandbox with ``profile: field`` (every rough edge on its hard side:
list and Calls lag, in-progress for connected, creation by a TeXML call, form
bodies only...) and ``faults`` answering a share of requests 5xx (doing
nothing) and dropping the answer of a share of the calls it places. Every
fourth participant has ``retry: {attempts: 1}`` (a budget of two calls), the
others a budget of one. Valid when, for every participant, the calls the
sandbox placed (``/_sandbox/dials``, by Label, or by number for the creating
call) are within its budget, and the report's ``attempts`` equal them.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from bench.applies import killed_on_failure, start_apply
from bench.runner import Report, seconds, verdict
from bench.sandbox import sandbox_process
from bench.specs import conference_document

DEADLINE_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--participants", type=int, default=300, help="in the file (300)")
    parser.add_argument("--seeds", type=int, default=5, help="sandbox seeds, one run each (5)")
    parser.add_argument("--error-rate", type=float, default=0.10, help="5xx share (0.10)")
    parser.add_argument("--reset-rate", type=float, default=0.05, help="lost answers (0.05)")
    parser.add_argument("--time-scale", type=float, default=0.2, help="simulated time (0.2)")


def _file(workdir: Path, count: int) -> tuple[Path, dict[str, int], dict[str, str]]:
    """The file, each participant's budget, and who each number is."""
    document = conference_document("faults", count)
    budgets: dict[str, int] = {}
    for index, person in enumerate(document["participants"]):
        if index % 4 == 3:
            person["retry"] = {"attempts": 1}
        budgets[person["name"]] = 1 + person.get("retry", {}).get("attempts", 0)
    path = workdir / "faults.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path, budgets, {p["to"]: p["name"] for p in document["participants"]}


def run(args: argparse.Namespace, workdir: Path) -> Report:
    n, seeds = args.participants, args.seeds
    report = Report(
        "faults",
        f"(8) Faults: {n} participants, profile field, {args.error_rate:.0%} 5xx and "
        f"{args.reset_rate:.0%} lost answers, {seeds} seeds",
    )
    path, budgets, by_number = _file(workdir, n)
    runs: list[dict[str, Any]] = []
    for seed in range(1, seeds + 1):
        scenario = {
            "profile": "field",
            "seed": seed,
            "time_scale": args.time_scale,
            "faults": {"error_rate": args.error_rate, "reset_after_commit_rate": args.reset_rate},
        }
        with sandbox_process(scenario, workdir / f"sandbox-{seed}") as sandbox:
            applies = []
            with killed_on_failure(applies):
                apply = start_apply(
                    sandbox, f"seed-{seed}", [path], workdir, state_dir=workdir / f"state-{seed}"
                )
                applies.append(apply)
                finished = apply.finish(DEADLINE_S)
            dials = sandbox.dials()
        [document] = apply.reports or [{}]
        rows = {p["name"]: p for p in document.get("participants", [])}
        placed: Counter[str] = Counter(d["label"] or by_number.get(d["to"], d["to"]) for d in dials)
        over = sorted(name for name, count in placed.items() if count > budgets.get(name, 0))
        mismatched = sorted(
            name for name, row in rows.items() if row["attempts"] != placed.get(name, 0)
        )
        states = Counter(row["observed"] for row in rows.values())
        runs.append(
            {
                "seed": seed,
                "wall_s": finished.wall_s,
                "returncode": finished.returncode,
                "placed": sum(placed.values()),
                "over_budget": over,
                "attempts_mismatched": mismatched,
                "participants": len(rows),
                "states": dict(states),
            }
        )
        if len(rows) != n:
            report.invalid.append(f"seed {seed}: the report has {len(rows)} of {n} participants")
        if over:
            report.invalid.append(f"seed {seed}: dialed beyond the budget: {over[:5]}")
        if mismatched:
            report.invalid.append(
                f"seed {seed}: attempts differ from calls placed: {mismatched[:5]}"
            )
        states_text = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
        report.row(
            f"seed {seed}: wall time, exit code; outcomes",
            f"{seconds(finished.wall_s)}, {finished.returncode}; {states_text}",
        )
        report.row(
            f"seed {seed}: calls placed; beyond a budget; attempts = calls placed",
            f"{sum(placed.values())}; {len(over)}",
            "0 beyond",
            verdict(not over and not mismatched),
        )
    report.raw["runs"] = runs
    return report
