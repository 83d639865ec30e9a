"""(9) Record: how fast a run's folder grows, in bytes per participant-event, at N participants.

One ``orchestrator apply F -q --dials-per-second 0`` of N participants against the sandbox (no dial limit, legs
answering at once), waiting for everyone to connect; then ``apply --watch`` of the same file
for a few seconds, stopped with Ctrl-C, whose rounds find nothing new. Read back from the run
folders: the log's bytes and lines, the events about a participant, and what an idle round of
a watch adds. Every participant must be dialed exactly once by the first run.
"""

from __future__ import annotations

import argparse
import json
import signal
import time
from pathlib import Path
from typing import Any

from bench.runner import Report, RunningCommand, orchestrator_command, run_command, seconds
from bench.sandbox import BenchError, sandbox_process
from bench.specs import write_conference


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--participants", type=int, default=800, help="in the conference (800)")
    parser.add_argument("--watch-s", type=float, default=10.0, help="the watch's length (10)")
    parser.add_argument("--interval", type=float, default=1.0, help="the watch's interval (1)")
    parser.add_argument("--seed", type=int, default=3, help="sandbox seed (3)")


def log_figures(folder: Path) -> dict[str, Any]:
    """The run folder's files, and its log counted by kind of event."""
    log = folder / "events.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    about = [line for line, e in zip(lines, events, strict=True) if "participant" in e]
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
    return {
        "log_bytes": log.stat().st_size,
        "header_bytes": (folder / "run.json").stat().st_size,
        "lines": len(lines),
        "participant_events": len(about),
        "participant_event_bytes": sum(len(line.encode()) + 1 for line in about),
        "kinds": kinds,
        "rounds": kinds.get("planned", 0),
        "dialed": kinds.get("dialed", 0),
    }


def _runs(state: Path) -> list[Path]:
    """The run folders, in the order the runs started."""
    folders = list((state / "runs").iterdir()) if (state / "runs").is_dir() else []
    return sorted(folders, key=lambda p: json.loads((p / "run.json").read_text())["started"])


def run(args: argparse.Namespace, workdir: Path) -> Report:
    n = args.participants
    report = Report("record", f"(9) Record: the run folder's growth, {n} participants")
    scenario = {"seed": args.seed, "dials_per_second": 0, "time_scale": 0.01}
    state = workdir / "state"
    with sandbox_process(scenario, workdir / "sandbox") as sandbox:
        path = write_conference(workdir, "record", n)
        env = sandbox.client_environment()
        first = run_command(
            orchestrator_command(
                "apply", str(path), "-q", "--dials-per-second", "0", "--state-dir", str(state)
            ),
            env=env,
        )
        if first.returncode != 0:
            raise BenchError(f"apply exited with {first.returncode}: {first.stderr[-300:]}")
        watch = RunningCommand(
            orchestrator_command(
                "apply",
                str(path),
                "-q",
                "--watch",
                "--interval",
                f"{args.interval:g}",
                "--state-dir",
                str(state),
            ),
            env=env,
        )
        time.sleep(args.watch_s)
        watch.signal(signal.SIGINT)
        watched = watch.finish(60.0, grace_s=10.0)
    folders = _runs(state)
    if len(folders) != 2:
        raise BenchError(f"expected two run folders, found {len(folders)}")
    applied, kept = log_figures(folders[0]), log_figures(folders[1])
    if applied["dialed"] != n:
        report.invalid.append(f"the first apply dialed {applied['dialed']} of {n}")
    per_event = applied["participant_event_bytes"] / max(applied["participant_events"], 1)
    # The watch's first round plans with every row; the later ones say "same" and add no more
    # than what changed.
    per_round = _per_idle_round(folders[1])
    report.row("apply: whole command, spawn to exit", seconds(first.wall_s))
    report.row("apply: log size (events.jsonl)", f"{applied['log_bytes']} bytes")
    report.row("apply: header size (run.json)", f"{applied['header_bytes']} bytes")
    report.row(
        "apply: events / about a participant",
        f"{applied['lines']} / {applied['participant_events']}",
    )
    report.row("apply: bytes per participant-event", f"{per_event:.0f}")
    report.row("apply: log bytes per participant", f"{applied['log_bytes'] / n:.0f}")
    report.row(
        f"watch ({args.watch_s:g} s, interval {args.interval:g} s): rounds / log size",
        f"{kept['rounds']} / {kept['log_bytes']} bytes",
    )
    report.row(
        "watch: bytes per round after the first",
        f"{per_round:.0f}",
    )
    report.row("watch: exit code (stopped with Ctrl-C)", str(watched.returncode))
    report.raw = {
        "participants": n,
        "apply": applied,
        "watch": kept,
        "bytes_per_participant_event": per_event,
        "bytes_per_idle_round": per_round,
        "apply_wall_s": first.wall_s,
    }
    return report


def _per_idle_round(folder: Path) -> float:
    """The log's bytes after its second plan, per round from then on (rounds without news)."""
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    plans = [i for i, line in enumerate(lines) if '"kind":"planned"' in line]
    if len(plans) < 2:
        return 0.0
    tail = sum(len(line.encode()) + 1 for line in lines[plans[1] :])
    return tail / (len(plans) - 1)
