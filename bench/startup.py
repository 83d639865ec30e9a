"""(5) Start-up cost per command: where the time goes before the first request.

Four commands, each run as a user runs it (the console script):
``orchestrator --help``; ``orchestrator validate examples/``; ``orchestrator
apply FILE --no-wait`` against a sandbox, timed from spawn to the sandbox
accepting its first dial (the sandbox's clock, read through /_sandbox/health,
is mapped onto this process's; both are the system's CLOCK_MONOTONIC); and
``orchestrator sandbox``, timed from spawn to its ready-to-paste export line.
Separate runs under ``python -X importtime`` say which packages the time
goes to, and which modules got imported that the command never uses.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.checks import count_dials
from bench.dialing import expected_numbers
from bench.runner import REPO, Report, console_script, median, median_wall, run_command, seconds
from bench.sandbox import (
    Sandbox,
    child_environment,
    sandbox_process,
    stop_process,
    wait_for_base_url,
)
from bench.specs import write_conference

_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(\S+)\s*$")
EXAMPLES = REPO / "examples"

# Modules (and packages) each command has no use for; finding one imported is a lazy-import miss.
NETWORK = ("aiohttp", "yarl", "multidict", "httpx", "telnyx")
VALIDATION = ("jsonschema", "referencing", "orchestrator.spec.check", "orchestrator.spec.schema")
UNNEEDED = {
    "help": (*NETWORK, *VALIDATION, "yaml", "orchestrator.spec", "orchestrator.engine"),
    "validate": (
        *NETWORK,
        "orchestrator.engine",
        "orchestrator.texml.client",
        "orchestrator.sandbox",
    ),
    "apply": ("httpx", "telnyx", "orchestrator.sandbox"),
    "sandbox": (*VALIDATION, "orchestrator.engine", "httpx", "telnyx"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--participants", type=int, default=2, help="in the applied file (2)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each command (5); medians")
    parser.add_argument("--top", type=int, default=5, help="packages listed per command (5)")


@dataclass(frozen=True)
class Imports:
    by_module: dict[str, int]  # module -> microseconds of its own import time
    cumulative: dict[str, int]  # module -> microseconds including what it imported first

    @property
    def total_ms(self) -> float:
        return sum(self.by_module.values()) / 1000

    def by_package(self) -> Counter[str]:
        spent: Counter[str] = Counter()
        for module, us in self.by_module.items():
            spent[module.split(".")[0]] += us
        return spent

    def present(self, names: Sequence[str]) -> list[str]:
        """Which of these modules or packages were imported, with what importing each cost (ms).

        The cost is the cumulative time of the outermost import inside ``name``, so it
        includes the dependencies that came in with it (costs may overlap).
        """
        found = []
        for name in names:
            inside = [t for module, t in self.cumulative.items() if _within(module, name)]
            if inside:
                found.append(f"{name} {max(inside) / 1000:.0f}")
        return found


def _within(module: str, name: str) -> bool:
    return module == name or module.startswith(name + ".")


def import_times(stderr: str) -> Imports:
    own: dict[str, int] = {}
    cumulative: dict[str, int] = {}
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            own[match.group(3)] = int(match.group(1))
            cumulative[match.group(3)] = int(match.group(2))
    return Imports(own, cumulative)


def median_imports(runs: Sequence[Imports]) -> Imports:
    names = {name for run in runs for name in run.by_module}
    return Imports(
        {name: int(median([run.by_module.get(name, 0) for run in runs])) for name in names},
        {name: int(median([run.cumulative.get(name, 0) for run in runs])) for name in names},
    )


def run(args: argparse.Namespace, workdir: Path) -> Report:
    report = Report("startup", "(5) Start-up cost per command: before the first request")
    script = console_script("orchestrator")
    env = child_environment()
    profile = [sys.executable, "-X", "importtime", script]

    help_wall = median_wall([script, "--help"], env, args.repeat, report)
    help_imports = _imports([*profile, "--help"], env, args.repeat, report)
    _describe(
        report, "orchestrator --help", "spawn to exit", help_wall, help_imports, "help", args.top
    )

    validate = ["validate", str(EXAMPLES)]
    validate_wall = median_wall([script, *validate], env, args.repeat, report)
    validate_imports = _imports([*profile, *validate], env, args.repeat, report)
    _describe(
        report,
        "orchestrator validate examples/",
        "spawn to exit",
        validate_wall,
        validate_imports,
        "validate",
        args.top,
    )

    with sandbox_process({"seed": 5}, workdir / "sandbox") as sandbox:
        firsts: list[float] = []
        apply_runs: list[Imports] = []
        for index in range(args.repeat):
            path = write_conference(workdir, f"startup-plain-{index}", args.participants)
            firsts.append(_first_dial([script], sandbox, path, report)[0])
            path = write_conference(workdir, f"startup-profiled-{index}", args.participants)
            apply_runs.append(_first_dial(profile, sandbox, path, report)[1])
    _describe(
        report,
        "orchestrator apply FILE --no-wait",
        "spawn to first dial accepted",
        median(firsts),
        median_imports(apply_runs),
        "apply",
        args.top,
    )

    scenario = workdir / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({"seed": 5}), encoding="utf-8")
    ready = [_sandbox_ready([script], scenario, env)[0] for _ in range(args.repeat)]
    sandbox_imports = median_imports(
        [_sandbox_ready(profile, scenario, env)[1] for _ in range(args.repeat)]
    )
    _describe(
        report,
        "orchestrator sandbox",
        "spawn to export line",
        median(ready),
        sandbox_imports,
        "sandbox",
        args.top,
    )
    report.notes.append(
        f"Medians of {args.repeat} runs. Import times come from separate runs under "
        "-X importtime (own time per module, summed by top-level package), which slows imports "
        "a little; wall times come from runs without it."
    )
    report.raw = {
        "help_s": help_wall,
        "validate_examples_s": validate_wall,
        "apply_first_dial_s": firsts,
        "sandbox_ready_s": ready,
        "imports_ms": {
            "help": help_imports.total_ms,
            "validate": validate_imports.total_ms,
            "apply": median_imports(apply_runs).total_ms,
            "sandbox": sandbox_imports.total_ms,
        },
    }
    return report


def _imports(command: Sequence[str], env: dict[str, str], repeat: int, report: Report) -> Imports:
    runs = []
    for _ in range(repeat):
        result = run_command(command, env=env)
        if result.returncode != 0:
            report.invalid.append(f"{' '.join(command[4:])} exited with {result.returncode}")
        runs.append(import_times(result.stderr))
    return median_imports(runs)


def _first_dial(
    prefix: Sequence[str], sandbox: Sandbox, path: Path, report: Report
) -> tuple[float, Imports]:
    """Run apply on a fresh conference; seconds from spawn to its first accepted dial, and imports."""
    command = [*prefix, "apply", str(path), "--no-wait", "-q", "--dials-per-second", "0"]
    spawned = time.monotonic()
    result = run_command(command, env=sandbox.client_environment())
    if result.returncode != 0:
        report.invalid.append(f"apply {path.name} exited with {result.returncode}")
    sandbox_zero = time.monotonic() - sandbox.uptime_s()  # the sandbox's time 0 on this clock
    sids = set(sandbox.conference_sids(path.stem))
    dials = sandbox.dials()
    counts = count_dials(dials, sids, expected_numbers(path))
    report.invalid += [f"apply {path.stem}: {p}" for p in counts.problems(conferences_expected=1)]
    first = min((d["time"] for d in dials if d["conference_sid"] in sids), default=None)
    return (float("nan") if first is None else sandbox_zero + first - spawned), import_times(
        result.stderr
    )


def _sandbox_ready(
    prefix: Sequence[str], scenario: Path, env: dict[str, str]
) -> tuple[float, Imports]:
    """Seconds from spawning ``orchestrator sandbox`` to its export line; imports if profiled."""
    command = [*prefix, "sandbox", "--port", "0", "--scenario", str(scenario)]
    log = scenario.with_suffix(".log")
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=err, env=env, text=True, encoding="utf-8"
        )
    try:
        wait_for_base_url(process)
        ready = time.perf_counter() - started
    finally:
        stop_process(process, check=False)
    return ready, import_times(log.read_text(encoding="utf-8"))


def _describe(
    report: Report,
    title: str,
    measured: str,
    wall_s: float,
    imports: Imports,
    kind: str,
    top: int,
) -> None:
    heaviest = ", ".join(
        f"{name} {us / 1000:.0f}" for name, us in imports.by_package().most_common(top)
    )
    unneeded = imports.present(UNNEEDED[kind])
    report.row(f"{title}: {measured}", seconds(wall_s))
    report.row(f"{title}: imports", f"{imports.total_ms:.0f} ms", "", f"ms: {heaviest}")
    report.row(
        f"{title}: imported but not used (ms)",
        ", ".join(unneeded) or "none",
        "none",
        "met" if not unneeded else "MISSED",
    )
