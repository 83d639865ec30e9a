"""One client's run against a running sandbox, and what the sandbox saw of it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.checks import DialCount, count_dials
from bench.runner import orchestrator_command, run_command, run_worker
from bench.sandbox import Sandbox


def expected_numbers(path: Path) -> dict[str, str]:
    """label -> number, from the conference file (each participant has one number here)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {person["name"]: person["to"] for person in document["participants"]}


@dataclass
class SideRun:
    client: str  # ours (engine in-process), cli (the whole command), sdk (the official SDK)
    result: dict[str, Any]
    counts: list[DialCount]  # one per conference file
    answers: Counter[str]  # the sandbox's answers to this run's dial requests, by status

    @property
    def rate_limited(self) -> int:
        return self.answers["429"]

    @property
    def lost(self) -> int:
        return sum(count.lost for count in self.counts)

    @property
    def extra_dials(self) -> int:
        return sum(count.extra_dials for count in self.counts)

    @property
    def dials(self) -> int:
        return sum(count.dials for count in self.counts)

    def exactly_once_problems(self) -> list[str]:
        """Everything that keeps this from being "every participant dialed exactly once, no error"."""
        problems = [
            f"{self.client}: {problem}"
            for count in self.counts
            for problem in count.problems(conferences_expected=1)
        ]
        codes = self.result.get("exit_codes") or [self.result.get("returncode", 0)]
        if any(code != 0 for code in codes):
            problems.append(
                f"{self.client}: exit code(s) {codes}; errors: {self.result.get('errors')}"
            )
        return problems


def measure(
    sandbox: Sandbox, client: str, files: Sequence[Path], run: Callable[[], dict[str, Any]]
) -> SideRun:
    before = sandbox.dial_answers()
    cpu_before = sandbox.cpu_seconds()
    result = run()
    cpu_after = sandbox.cpu_seconds()
    if cpu_before is not None and cpu_after is not None:
        result["sandbox_cpu_s"] = cpu_after - cpu_before
    answers = sandbox.dial_answers()
    answers.subtract(before)
    dials = sandbox.dials()
    counts = [
        count_dials(dials, sandbox.conference_sids(path.stem), expected_numbers(path))
        for path in files
    ]
    return SideRun(client, result, counts, +answers)


def run_ours(
    sandbox: Sandbox,
    files: Sequence[Path],
    *,
    concurrency: int,
    dials_per_second: float = 0.0,
    dial_window_s: float = 5.0,
) -> SideRun:
    args = [
        "ours",
        *map(str, files),
        "--concurrency",
        str(concurrency),
        "--dials-per-second",
        str(dials_per_second),
        "--dial-window",
        str(dial_window_s),
    ]
    env = sandbox.client_environment()
    return measure(sandbox, "ours", files, lambda: run_worker(args, env=env))


def run_sdk(sandbox: Sandbox, file: Path, *, concurrency: int) -> SideRun:
    args = ["sdk", str(file), "--concurrency", str(concurrency)]
    env = sandbox.client_environment()
    return measure(sandbox, "sdk", [file], lambda: run_worker(args, env=env))


def run_floor(sandbox: Sandbox, file: Path, *, concurrency: int) -> SideRun:
    args = ["floor", str(file), "--concurrency", str(concurrency)]
    env = sandbox.client_environment()
    return measure(sandbox, "floor", [file], lambda: run_worker(args, env=env))


def run_cli(
    sandbox: Sandbox, files: Sequence[Path], *, concurrency: int, dials_per_second: float = 0.0
) -> SideRun:
    """``orchestrator apply FILES --no-wait -q`` against the sandbox, timed from spawn to exit."""
    argv = orchestrator_command(
        "apply",
        *map(str, files),
        "--no-wait",
        "-q",
        "--concurrency",
        str(concurrency),
        "--dials-per-second",
        f"{dials_per_second:g}",
    )

    def run() -> dict[str, Any]:
        command = run_command(argv, env=sandbox.client_environment())
        last = (command.stderr.strip().splitlines() or [""])[-1]
        return {
            "client": "cli",
            "wall_s": command.wall_s,
            "returncode": command.returncode,
            "peak_rss_mb": command.peak_rss_mb,
            "errors": [last] if command.returncode else [],
        }

    return measure(sandbox, "cli", files, run)


def wait_for_quiet_window(sandbox: Sandbox, window_s: float) -> None:
    """Sleep until the last accepted dial is older than the dial window, so runs do not share it."""
    dials = sandbox.dials()
    if not dials:
        return
    remaining = dials[-1]["time"] + window_s - sandbox.uptime_s()
    if remaining > 0:
        time.sleep(remaining + 0.05)
