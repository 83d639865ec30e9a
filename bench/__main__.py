"""``python -m bench NAME [options]``: run one benchmark (or ``all``) and print its table.

Exit status: 0 the run was valid (targets may still be missed: they are goals,
reported in the table), 1 the run was invalid or could not be carried out, 2 usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from bench import (
    board,
    contention,
    faults,
    paced,
    paced_scale,
    record,
    scale,
    startup,
    throughput,
    validate,
    watchcost,
)
from bench.runner import REPO, Report, machine
from bench.sandbox import BenchError

BENCHMARKS: dict[str, ModuleType] = {
    "throughput": throughput,
    "paced": paced,
    "scale": scale,
    "validate": validate,
    "startup": startup,
    "contention": contention,
    "paced-scale": paced_scale,
    "faults": faults,
    "record": record,
    "board": board,
    "watch-cost": watchcost,
}
RESULTS = REPO / "bench" / "results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of orchestrator against the sandbox and the official SDK.",
    )
    sub = parser.add_subparsers(dest="benchmark", required=True, metavar="NAME")
    for name, module in BENCHMARKS.items():
        command = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(command)
        _common(command)
    everything = sub.add_parser("all", help="every benchmark at its default size, in turn")
    _common(everything)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the raw numbers here (default: bench/results/NAME.json)",
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    about = machine()
    print(
        f"date {about['date']}, commit {about['commit']}, {about['cpus']} CPU(s), "
        f"Python {about['python']}, {about['platform']}\n"
    )
    invalid = False
    for name in names:
        module = BENCHMARKS[name]
        options = args if args.benchmark == name else _defaults(name)
        report = _run(name, module, options)
        print(report.table(), flush=True)
        invalid = invalid or bool(report.invalid)
        destination = args.json if args.json and len(names) == 1 else RESULTS / f"{name}.json"
        destination.parent.mkdir(parents=True, exist_ok=True)
        record = {"machine": about, "rows": report.rows, "invalid": report.invalid, **report.raw}
        destination.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 1 if invalid else 0


def _defaults(name: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    BENCHMARKS[name].add_arguments(parser)
    return parser.parse_args([])


def _run(name: str, module: ModuleType, options: argparse.Namespace) -> Report:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as directory:
        try:
            report: Report = module.run(options, Path(directory))
            return report
        except BenchError as error:
            report = Report(name, f"{name}: could not run")
            report.invalid.append(str(error))
            return report


if __name__ == "__main__":
    sys.exit(main())
