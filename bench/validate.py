"""(4) Validate: ``orchestrator validate`` against check-jsonschema on one N-participant file; cold starts.

Both are timed as whole commands, spawn to exit, median of R fresh processes,
run alternately. check-jsonschema checks the schema only; orchestrator checks
the schema and its own rules. The run is valid only if both accept the file
and both reject a copy with one bad number, so neither can win by not looking.
Cold start: ``orchestrator --help`` and ``orchestrator validate examples/``,
beside ``python -c pass`` (the interpreter alone) for scale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from bench.runner import (
    REPO,
    Report,
    console_script,
    median,
    median_wall,
    orchestrator_command,
    ratio,
    run_command,
    seconds,
    verdict,
)
from bench.sandbox import child_environment
from bench.specs import conference_document

HELP_GOAL_S = 0.150
SCHEMA = REPO / "schemas" / "conference.schema.json"
EXAMPLES = REPO / "examples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--participants", type=int, default=800, help="participants (800)")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each command (7); medians")


def run(args: argparse.Namespace, workdir: Path) -> Report:
    n, repeat = args.participants, args.repeat
    report = Report("validate", f"(4) Validate one {n}-participant file; cold starts")
    good = workdir / "big.yaml"
    bad = workdir / "big-broken.yaml"
    document = conference_document("validate-bench", n)
    good.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    document["participants"][n // 2]["to"] = "not-a-number"
    bad.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    ours = orchestrator_command("validate")
    peer = [console_script("check-jsonschema"), "--schemafile", str(SCHEMA)]
    env = child_environment()

    for name, command in (("orchestrator validate", ours), ("check-jsonschema", peer)):
        accepted = run_command([*command, str(good)], env=env)
        rejected = run_command([*command, str(bad)], env=env)
        if accepted.returncode != 0:
            report.invalid.append(
                f"{name} rejected the valid file: {_last(accepted.stdout + accepted.stderr)}"
            )
        if rejected.returncode == 0:
            report.invalid.append(f"{name} accepted the file with a bad number")

    ours_s, peer_s = _alternate([[*ours, str(good)], [*peer, str(good)]], repeat, report)
    python_s = median_wall([sys.executable, "-c", "pass"], env, repeat, report)
    help_s = median_wall(orchestrator_command("--help"), env, repeat, report)
    examples_s = median_wall(orchestrator_command("validate", str(EXAMPLES)), env, repeat, report)

    speedup = peer_s / ours_s if ours_s else None
    report.row(f"orchestrator validate ({n} participants; schema + rules)", seconds(ours_s))
    report.row("check-jsonschema --schemafile ... (schema only)", seconds(peer_s))
    report.row(
        "check-jsonschema / orchestrator",
        ratio(speedup),
        ">= 1.00",
        verdict(speedup is not None and speedup >= 1.0),
    )
    report.row(
        "orchestrator --help (cold start)",
        seconds(help_s),
        f"<= {HELP_GOAL_S * 1000:.0f} ms",
        verdict(help_s <= HELP_GOAL_S),
    )
    report.row("orchestrator validate examples/ (cold start)", seconds(examples_s))
    report.row("python -c pass (the interpreter alone)", seconds(python_s))
    report.notes.append(
        f"Whole commands, spawn to exit, median of {repeat} fresh processes each; "
        "console scripts run from beside the interpreter (no version-manager shim)."
    )
    report.raw = {
        "participants": n,
        "repeat": repeat,
        "ours_validate_s": ours_s,
        "check_jsonschema_s": peer_s,
        "check_jsonschema_over_ours": speedup,
        "help_s": help_s,
        "validate_examples_s": examples_s,
        "python_s": python_s,
    }
    return report


def _alternate(
    commands: Sequence[Sequence[str]], repeat: int, report: Report
) -> tuple[float, float]:
    """Median wall time of each command, running them in turn so drift hits both alike."""
    walls: list[list[float]] = [[] for _ in commands]
    env = child_environment()
    for _ in range(repeat):
        for index, command in enumerate(commands):
            result = run_command(command, env=env)
            if result.returncode != 0:
                report.invalid.append(f"{Path(command[0]).name} exited with {result.returncode}")
            walls[index].append(result.wall_s)
    return median(walls[0]), median(walls[1])


def _last(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1]
