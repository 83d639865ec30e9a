"""(11) Watch cost: what apply --watch reads while nothing happens, and how soon apply exits.

Three parts, each run against a fresh sandbox in its own process, no dial limit:

- idle: ``apply F1..Fc --watch --listen H:P`` of C conferences of N participants; once
  every call is up and the rounds have backed off to their longest (20 s more), the
  sandbox's GETs and the apply process's CPU (user + system, from /proc) over W seconds, as
  reads per conference-hour and CPU per hour.
  Twice: without callbacks, then with every file's ``conference.status_callback`` pointed at
  the ``--listen`` port (events start, end, join, leave) and ``TELNYX_PUBLIC_KEY`` set to the
  sandbox's key, so the callbacks are verified.
- last join to exit: ``apply F -q`` of 5 and of 800 participants, every number answering
  two seconds after its dial (time_scale 1): the first byte of the summary on stdout, and
  the apply's exit, against the last answer, all on the machine's monotonic clock (the
  sandbox's answer is its dial's time plus the ring).
- waiting against --no-wait: ``apply`` of 32 x 100 and 10 x 800 at time_scale 0.01 (every
  leg answers 20 ms after its dial), waiting for everyone to connect and with --no-wait:
  the whole command's wall time, spawn to exit.

Invalid when an apply fails or does not converge, or a watch dials anyone twice.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.request import ProxyHandler, build_opener

import yaml

from bench.runner import Report, RunningCommand, median, orchestrator_command, seconds
from bench.sandbox import BenchError, Sandbox, free_port, process_cpu_seconds, sandbox_process
from bench.specs import write_conference

_OPENER = build_opener(ProxyHandler({}))
RING_S = 2.0  # the sandbox's default ring, in simulated seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conferences", type=int, default=10, help="watched files (10)")
    parser.add_argument("--participants", type=int, default=50, help="in each (50)")
    parser.add_argument("--idle-seconds", type=float, default=120.0, help="idle window (120)")
    parser.add_argument("--interval", type=float, default=2.0, help="the watch's interval (2)")
    parser.add_argument(
        "--settle-seconds", type=float, default=20.0, help="after every call is up (20)"
    )
    parser.add_argument(
        "--idle-modes", default="polling,callbacks", help="idle runs (polling,callbacks)"
    )
    parser.add_argument(
        "--exit-time-scale", type=float, default=1.0, help="of the exit runs' sandbox (1)"
    )
    parser.add_argument("--exit-sizes", default="5,800", help="participants, for exit (5,800)")
    parser.add_argument("--shapes", default="32x100,10x800", help="CxN, waiting vs --no-wait")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timed apply (3)")
    parser.add_argument("--parts", default="idle,exit,wait", help="which parts (all three)")


def _get_json(url: str) -> dict[str, Any]:
    with _OPENER.open(url, timeout=30) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


def _until(check: Any, timeout_s: float, what: str, process: RunningCommand) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if not process.running:
            raise BenchError(f"apply exited before {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"no {what} within {timeout_s:g} s")
        time.sleep(0.2)


def _idle(args: argparse.Namespace, workdir: Path, callbacks: bool) -> dict[str, Any]:
    c, n = args.conferences, args.participants
    folder = workdir / f"idle-{'callbacks' if callbacks else 'polling'}"
    port = free_port()
    files = []
    for index in range(c):
        path = write_conference(folder, f"idle-{index}", n, block=index)
        if callbacks:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            document["conference"]["status_callback"] = {
                "url": f"http://127.0.0.1:{port}/conference",
                "method": "POST",
                "events": ["start", "end", "join", "leave"],
            }
            path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        files.append(str(path))
    scenario = {"seed": 5, "dials_per_second": 0, "time_scale": 0.05}
    with sandbox_process(scenario, folder / "sandbox") as sandbox:
        env = sandbox.client_environment()
        if callbacks:
            env["TELNYX_PUBLIC_KEY"] = sandbox.public_key
        argv = orchestrator_command(
            "apply", *files, "-q", "--watch", "--dials-per-second", "0",
            "--interval", f"{args.interval:g}", "--state-dir", str(folder / "state"),
            "--listen", f"127.0.0.1:{port}",
        )  # fmt: skip
        process = RunningCommand(argv, env=env)
        try:
            _until(lambda: sandbox.health().get("live_calls") == c * n, 120, "calls up", process)
            time.sleep(args.settle_seconds)  # the rounds (and callbacks) of the joins are over
            health = f"http://127.0.0.1:{port}/healthz"
            before = (
                sandbox.health()["requests"]["GET"],
                (process_cpu_seconds(process.pid) or 0.0),
            )
            time.sleep(args.idle_seconds)
            after = (sandbox.health()["requests"]["GET"], (process_cpu_seconds(process.pid) or 0.0))
            watch = _get_json(health)
            dials = len(sandbox.dials())
        finally:
            process.signal(signal.SIGINT)
            run = process.finish(60, grace_s=30)
    if dials != c * n:
        raise BenchError(f"the watch dialed {dials} times for {c * n} participants")
    if run.returncode != 0:
        raise BenchError(f"apply --watch exited with {run.returncode}: {run.stderr[-300:]}")
    window = args.idle_seconds
    gets = after[0] - before[0]
    return {
        "callbacks": callbacks,
        "gets": gets,
        "window_s": window,
        "reads_per_conference_hour": gets / c / window * 3600,
        "reads_per_conference_minute": gets / c / window * 60,
        "cpu_s": after[1] - before[1],
        "cpu_s_per_hour": (after[1] - before[1]) / window * 3600,
        "callbacks_taken": watch.get("callbacks"),
        "modes": watch.get("modes"),
    }


def _apply(sandbox: Sandbox, files: list[str], state: Path, *flags: str) -> RunningCommand:
    argv = orchestrator_command(
        "apply", *files, "-q", "--dials-per-second", "0", "--state-dir", str(state), *flags
    )
    process = RunningCommand(argv, env=sandbox.client_environment())
    run = process.finish(600)
    if run.returncode != 0:
        raise BenchError(f"apply exited with {run.returncode}: {run.stderr[-300:]}")
    return process


def _join_to_exit(
    workdir: Path, participants: int, attempt: int, time_scale: float
) -> tuple[float, float]:
    """(last answer to the summary's first byte on stdout, last answer to the exit)."""
    folder = workdir / f"exit-{participants}-{attempt}"
    path = write_conference(folder, f"exit-{participants}", participants)
    scenario = {"seed": 5, "dials_per_second": 0, "time_scale": time_scale}
    with sandbox_process(scenario, folder / "sandbox") as sandbox:
        argv = orchestrator_command(
            "apply", str(path), "-q", "--dials-per-second", "0", "--state-dir", str(folder / "st")
        )
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=sandbox.client_environment(),
        )
        assert process.stdout is not None
        process.stdout.read(1)  # the summary (with -q the only output) has begun
        summary = time.perf_counter()
        process.stdout.read()
        code = process.wait()
        ended = time.perf_counter()
        if code != 0:
            raise BenchError(f"apply of {participants} exited with {code}")
        last_dial = max(float(d["time"]) for d in sandbox.dials())  # seconds of its uptime
        asked = time.perf_counter()
        uptime = sandbox.uptime_s()
        started = (asked + time.perf_counter()) / 2 - uptime  # its start, on our clock
    last_answer = started + last_dial + RING_S * time_scale  # both on CLOCK_MONOTONIC
    return summary - last_answer, ended - last_answer


def _shape_wall(workdir: Path, shape: str, wait: bool, attempt: int) -> float:
    c, n = (int(part) for part in shape.split("x"))
    folder = workdir / f"shape-{shape}-{'wait' if wait else 'nowait'}-{attempt}"
    files = [str(write_conference(folder, f"s-{i}", n, block=i)) for i in range(c)]
    scenario = {"seed": 5, "dials_per_second": 0, "time_scale": 0.01}
    with sandbox_process(scenario, folder / "sandbox") as sandbox:
        flags = () if wait else ("--no-wait",)
        process = _apply(sandbox, files, folder / "state", *flags)
    return process.ended - process.started


def run(args: argparse.Namespace, workdir: Path) -> Report:
    parts = set(args.parts.split(","))
    c, n = args.conferences, args.participants
    report = Report(
        "watchcost",
        f"(11) Watch cost: {c} x {n} watched idle for {args.idle_seconds:g} s; "
        "last join to exit; waiting against --no-wait",
    )
    raw: dict[str, Any] = {}
    if "idle" in parts:
        modes = args.idle_modes.split(",")
        idle = [_idle(args, workdir, mode == "callbacks") for mode in modes]
        raw["idle"] = idle
        for found in idle:
            how = "with verified callbacks" if found["callbacks"] else "without callbacks"
            report.row(
                f"idle, {how}: reads per conference-hour (per minute)",
                f"{found['reads_per_conference_hour']:.0f} "
                f"({found['reads_per_conference_minute']:.1f})",
            )
            report.row(f"idle, {how}: apply CPU per hour", f"{found['cpu_s_per_hour']:.1f} s")
            if found["callbacks"]:
                report.row("idle, with callbacks: callbacks taken, modes", _modes(found))
    if "exit" in parts:
        raw["exit"] = {}
        for size in (int(s) for s in args.exit_sizes.split(",")):
            runs = [
                _join_to_exit(workdir, size, attempt, args.exit_time_scale)
                for attempt in range(args.repeat)
            ]
            raw["exit"][str(size)] = runs
            for index, what in ((0, "the summary"), (1, "exit")):
                times = [r[index] for r in runs]
                each = ", ".join(seconds(t) for t in times)
                report.row(
                    f"last join to {what}, {size} participants (ring 2 s)",
                    f"{seconds(median(times))} (runs: {each})",
                )
    if "wait" in parts:
        raw["wait"] = {}
        for shape in args.shapes.split(","):
            walls: dict[str, list[float]] = {"wait": [], "no-wait": []}
            for attempt in range(args.repeat):  # in turn: a busy moment of the machine hits both
                for mode in walls:
                    walls[mode].append(_shape_wall(workdir, shape, mode == "wait", attempt))
            raw["wait"][shape] = walls
            waiting, not_waiting = median(walls["wait"]), median(walls["no-wait"])
            report.row(
                f"{shape}: waiting / --no-wait / waiting costs (medians of {args.repeat})",
                f"{seconds(waiting)} / {seconds(not_waiting)} / {waiting - not_waiting:+.2f} s",
            )
    report.raw = raw
    return report


def _modes(found: dict[str, Any]) -> str:
    modes = found.get("modes")
    if not isinstance(modes, dict):
        return f"{found.get('callbacks_taken')}, no modes (a watch without them)"
    counted: dict[str, int] = {}
    for mode in modes.values():
        counted[str(mode)] = counted.get(str(mode), 0) + 1
    shown = ", ".join(f"{count} {mode}" for mode, count in sorted(counted.items()))
    return f"{found.get('callbacks_taken')}, {shown}"
