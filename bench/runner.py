"""Shared plumbing: running processes with wall time and peak RSS, tables, the machine's identity."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.sandbox import BenchError

REPO = Path(__file__).resolve().parent.parent
COMMAND_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class CommandRun:
    argv: tuple[str, ...]
    wall_s: float  # from just before the process was started to its exit
    returncode: int
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = REPO,
    timeout_s: float = COMMAND_TIMEOUT_S,
) -> CommandRun:
    """Run to completion; peak RSS comes from wait4, so it is this process tree's own."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), stdout=out, stderr=err, env=dict(env), cwd=cwd)
        timer = threading.Timer(timeout_s, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return CommandRun(
            argv=tuple(argv),
            wall_s=wall,
            returncode=process.returncode,
            peak_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def run_worker(args: Sequence[str], *, env: Mapping[str, str]) -> dict[str, Any]:
    """One client run in a fresh process (bench.workers); its JSON result plus the process's wall time."""
    run = run_command([sys.executable, "-m", "bench.workers", *args], env=env)
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"worker {args[0]} exited with {run.returncode}: {last}")
    try:
        result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise BenchError(f"worker {args[0]} printed no result") from None
    result["process_wall_s"] = run.wall_s
    result["process_peak_rss_mb"] = run.peak_rss_mb
    return result


def orchestrator_command(*args: str) -> list[str]:
    """``orchestrator ...`` as a user runs it: the console script installed beside this Python.

    Resolved next to sys.executable so that a version manager's shim (pyenv's is a
    shell script) does not add its own start-up to the numbers.
    """
    return [console_script("orchestrator"), *args]


def console_script(name: str) -> str:
    script = Path(sys.executable).parent / name
    if not script.exists():
        raise BenchError(
            f"{name} is not installed beside {sys.executable}; pip install -e '.[bench]'"
        )
    return str(script)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


@dataclass
class Report:
    """One benchmark's outcome: a table to print, raw numbers to keep, and why it is invalid if it is."""

    name: str
    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # metric, value, goal, met
    raw: dict[str, Any] = field(default_factory=dict)
    invalid: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, metric: str, value: str, goal: str = "", met: str = "") -> None:
        self.rows.append((metric, value, goal, met))

    def table(self) -> str:
        header = ("metric", "value", "goal", "result")
        lines = [f"### {self.title}", "", _markdown_row(header), _markdown_row(("---",) * 4)]
        lines += [_markdown_row(row) for row in self.rows]
        lines += [f"\n{note}" for note in self.notes]
        if self.invalid:
            lines.append("\nINVALID RUN:")
            lines += [f"- {problem}" for problem in self.invalid]
        return "\n".join(lines) + "\n"


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def machine() -> dict[str, str]:
    """Date, commit, cores and Python: what a results table must say about where it came from."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # What runs is the working tree: say so when the product's code differs from the commit.
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "orchestrator", "schemas", "pyproject.toml"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if changed:
            commit += " + uncommitted changes"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpus": str(len(os.sched_getaffinity(0))),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def median_wall(
    command: Sequence[str], env: Mapping[str, str], repeat: int, report: Report
) -> float:
    """Median wall time of ``repeat`` fresh runs; a run that fails makes the report invalid."""
    walls = []
    for _ in range(repeat):
        result = run_command(command, env=env)
        if result.returncode != 0:
            report.invalid.append(f"{' '.join(command[1:])} exited with {result.returncode}")
        walls.append(result.wall_s)
    return median(walls)
