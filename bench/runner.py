"""Shared plumbing: running processes with wall time and peak RSS, tables, the machine's identity."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
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
    cpu_s: float = 0.0  # user + system time of the process (and any children it waited for)
    stopped: str = ""  # "interrupted" or "killed" when the deadline passed; "" when it ended alone


class RunningCommand:
    """A process started now, reaped by a thread of its own so its exit time and rusage are exact.

    Several can run at once (started together, each timed from its own spawn).
    Signals go through os.kill, never Popen.poll, so nothing but the reaper waits for it.
    """

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path = REPO) -> None:
        self.argv = tuple(argv)
        # The output files live as long as the process, past this call; _close shuts them.
        self._out = tempfile.TemporaryFile()  # noqa: SIM115
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self._done = threading.Event()
        self._status = 0
        self._cpu_s = 0.0
        self._peak_rss_mb = 0.0
        self._stopped = ""
        self.started = time.perf_counter()
        try:
            self._process = subprocess.Popen(
                list(argv), stdout=self._out, stderr=self._err, env=dict(env), cwd=cwd
            )
        except BaseException:
            self._close()
            raise
        self.ended = self.started
        self.pid = self._process.pid
        threading.Thread(target=self._reap, name=f"reap-{self.pid}", daemon=True).start()

    def _reap(self) -> None:
        _, status, usage = os.wait4(self.pid, 0)
        self.ended = time.perf_counter()
        self._status = os.waitstatus_to_exitcode(status)
        self._process.returncode = self._status  # so Popen never waits for it again
        self._cpu_s = usage.ru_utime + usage.ru_stime
        self._peak_rss_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
        self._done.set()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def elapsed_s(self) -> float:
        return (time.perf_counter() if self.running else self.ended) - self.started

    def signal(self, number: int) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, number)

    def wait(self, timeout_s: float | None) -> bool:
        """True once the process has exited; False if it is still running after ``timeout_s``."""
        return self._done.wait(timeout_s)

    def finish(self, timeout_s: float, *, grace_s: float = 0.0) -> CommandRun:
        """Wait up to ``timeout_s``; then Ctrl-C it (given ``grace_s`` to exit), then kill it."""
        if not self.wait(max(timeout_s, 0.0)):
            if grace_s > 0:
                self._stopped = "interrupted"
                self.signal(signal.SIGINT)
            if grace_s <= 0 or not self.wait(grace_s):
                self._stopped = "killed"
                self.signal(signal.SIGKILL)
                self.wait(None)
        return self._result()

    def kill(self) -> None:
        """Stop it now, whatever it is doing (used when the benchmark itself fails)."""
        if self.running:
            self._stopped = "killed"
            self.signal(signal.SIGKILL)
            self.wait(None)
        self._close()

    def _result(self) -> CommandRun:
        self._out.seek(0)
        self._err.seek(0)
        run = CommandRun(
            argv=self.argv,
            wall_s=self.ended - self.started,
            returncode=self._status,
            peak_rss_mb=self._peak_rss_mb,
            stdout=self._out.read().decode("utf-8", "replace"),
            stderr=self._err.read().decode("utf-8", "replace"),
            cpu_s=self._cpu_s,
            stopped=self._stopped,
        )
        self._close()
        return run

    def _close(self) -> None:
        self._out.close()
        self._err.close()


def run_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = REPO,
    timeout_s: float = COMMAND_TIMEOUT_S,
) -> CommandRun:
    """Run to completion; peak RSS and CPU come from wait4, so they are this process tree's own."""
    return RunningCommand(argv, env=env, cwd=cwd).finish(timeout_s)


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


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The sandbox's dial limit and latency, as every paced benchmark takes them."""
    parser.add_argument(
        "--dials-per-second", type=float, default=30.0, help="the account's limit (30)"
    )
    parser.add_argument("--dial-window", type=float, default=5.0, help="its window, s (5)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="sandbox latency (50)")
