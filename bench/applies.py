"""Whole ``orchestrator apply`` processes against a sandbox, and what each left behind.

Each apply runs as a user runs it, waiting for its legs to connect, with its
record of dials in a temporary ``--state-dir`` and its JSON ``--report``
beside it. Several can run at once. What the sandbox accepted (its record of
dials) is the judge of who was dialed and whether they connected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.checks import DialCount, count_dials, not_connected, some
from bench.dialing import expected_numbers
from bench.runner import CommandRun, RunningCommand, orchestrator_command
from bench.sandbox import Sandbox

# The pacing flags apply uses when none are given; the benchmarks pass flags only when the
# account's limit differs, so at full size every apply runs with its defaults.
DEFAULT_DIALS_PER_SECOND = 30.0
DEFAULT_DIAL_WINDOW_S = 5.0
# After its deadline an apply gets this long to stop on Ctrl-C and write its report.
GRACE_S = 15.0


def pacing_flags(dials_per_second: float, dial_window_s: float) -> list[str]:
    if (dials_per_second, dial_window_s) == (DEFAULT_DIALS_PER_SECOND, DEFAULT_DIAL_WINDOW_S):
        return []
    return ["--dials-per-second", f"{dials_per_second:g}", "--dial-window", f"{dial_window_s:g}"]


@dataclass
class Apply:
    """One apply process: its files, where its report goes, and once it is over, the outcome."""

    name: str
    files: list[Path]
    report_path: Path
    process: RunningCommand
    run: CommandRun | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)

    def finish(self, timeout_s: float, *, grace_s: float = GRACE_S) -> CommandRun:
        """Wait up to ``timeout_s``; then Ctrl-C, ``grace_s`` to exit, then kill."""
        self.run = self.process.finish(timeout_s, grace_s=grace_s)
        self.reports = read_report(self.report_path)
        return self.run

    @property
    def returncode(self) -> int | None:
        return None if self.run is None else self.run.returncode

    @property
    def dials_sent(self) -> int | None:
        """Dial requests the apply says it sent (429s included), from its report."""
        values = [_total(report, "dials") for report in self.reports]
        return sum(v for v in values if v is not None) if values and None not in values else None

    @property
    def rate_limited(self) -> int | None:
        """429s the apply says it met. One pacer serves a process's files, so every file's
        report may carry the whole process's count: the largest is the process's."""
        values = [_total(report, "rate_limited") for report in self.reports]
        return max(v for v in values if v is not None) if values and None not in values else None

    def summary(self) -> dict[str, Any]:
        run = self.run
        return {
            "name": self.name,
            "files": [path.name for path in self.files],
            "wall_s": None if run is None else run.wall_s,
            "returncode": self.returncode,
            "stopped": None if run is None else run.stopped or None,
            "cpu_s": None if run is None else run.cpu_s,
            "peak_rss_mb": None if run is None else run.peak_rss_mb,
            "dials_sent": self.dials_sent,
            "rate_limited": self.rate_limited,
            "last_error_line": _last_line(run.stderr) if run and run.returncode else None,
        }


def start_apply(
    sandbox: Sandbox,
    name: str,
    files: Sequence[Path],
    workdir: Path,
    *,
    state_dir: Path,
    pacing: Sequence[str] = (),
) -> Apply:
    """Spawn ``orchestrator apply FILES -q --state-dir DIR --report FILE`` against the sandbox."""
    state_dir.mkdir(parents=True, exist_ok=True)
    report_path = workdir / f"{name}.report.json"
    report_path.unlink(missing_ok=True)
    argv = orchestrator_command(
        "apply",
        *map(str, files),
        "-q",
        "--state-dir",
        str(state_dir),
        "--report",
        str(report_path),
        *pacing,
    )
    process = RunningCommand(argv, env=sandbox.client_environment())
    return Apply(name, list(files), report_path, process)


@contextmanager
def killed_on_failure(applies: list[Apply]) -> Iterator[list[Apply]]:
    """Whatever goes wrong in the block, no apply it started outlives it."""
    try:
        yield applies
    except BaseException:
        for apply in applies:
            apply.process.kill()
        raise


def read_report(path: Path) -> list[dict[str, Any]]:
    """The per-file reports (the envelope's ``conferences``); [] if none was written."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    items = document.get("conferences") if isinstance(document, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


@dataclass(frozen=True)
class Delivery:
    """Who the sandbox dialed for some conference files, and who of them is connected."""

    files: tuple[str, ...]
    counts: list[DialCount]  # one per file
    unconnected: list[str]  # "conference: label" for each one dialed but not connected at the end

    @property
    def dials(self) -> int:
        return sum(count.dials for count in self.counts)

    @property
    def lost(self) -> int:
        return sum(count.lost for count in self.counts)

    @property
    def doubled(self) -> int:
        return sum(len(count.duplicated) for count in self.counts)

    def problems(self) -> list[str]:
        """Everything that keeps this from "each dialed exactly once, and connected"; [] if nothing."""
        found = [
            f"{name}: {problem}"
            for name, count in zip(self.files, self.counts, strict=True)
            for problem in count.problems(conferences_expected=1)
        ]
        if self.unconnected:
            found.append(
                f"{len(self.unconnected)} participant(s) dialed but not connected "
                f"({some(self.unconnected)})"
            )
        return found


def delivery(sandbox: Sandbox, files: Sequence[Path]) -> Delivery:
    """Every participant of each file dialed exactly once into its conference, and connected?"""
    dials = sandbox.dials()
    counts = []
    unconnected: list[str] = []
    for path in files:
        sids = sandbox.conference_sids(path.stem)
        expected = expected_numbers(path)
        counts.append(count_dials(dials, sids, expected))
        unconnected += [f"{path.stem}: {label}" for label in not_connected(dials, sids, expected)]
    return Delivery(tuple(path.stem for path in files), counts, unconnected)


def _total(report: dict[str, Any], key: str) -> int | None:
    totals = report.get("totals")
    value = totals.get(key) if isinstance(totals, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[-1]
