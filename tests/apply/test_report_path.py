"""--report: a path that cannot be written stops apply before the first request; one that
fails at the end still leaves the summary on stdout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator import exit_codes
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.apply.support import numbered
from tests.lifecycle.support import PEOPLE, Bench


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 13})) as info:
        yield Bench(info, tmp_path)


def refused(bench: Bench, report: Path, problem: str) -> None:
    path = bench.write(PEOPLE)
    result = bench.run("apply", str(path), "--report", str(report))
    assert result.returncode == exit_codes.FAILED, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: --report {report}: {problem}; nothing was dialed"
    ]
    assert result.stdout == ""
    assert bench.dial_count() == 0


def test_a_missing_folder_is_refused_before_any_request(bench: Bench) -> None:
    report = bench.directory / "reports" / "apply.json"
    refused(
        bench,
        report,
        f"the folder {report.parent} does not exist; create it or choose another path",
    )


def test_a_folder_as_the_report_is_refused(bench: Bench) -> None:
    report = bench.directory / "reports"
    report.mkdir()
    refused(bench, report, f"is a folder; name a file, such as {report / 'report.json'}")


def test_a_file_as_the_folder_is_refused(bench: Bench) -> None:
    (bench.directory / "notes").write_text("x")
    report = bench.directory / "notes" / "apply.json"
    refused(bench, report, f"{report.parent} is not a folder; choose another path")


def test_a_read_only_folder_is_refused(bench: Bench, read_only_folder: Path) -> None:
    refused(
        bench,
        read_only_folder / "apply.json",
        f"cannot write in {read_only_folder} (Permission denied); choose a writable folder",
    )


def test_the_check_leaves_nothing_behind_and_a_relative_path_works(bench: Bench) -> None:
    path = bench.write(PEOPLE)
    result = subprocess.run(
        [sys.executable, "-m", "orchestrator", "apply", str(path), "-q", "--report", "r.json"],
        capture_output=True,
        text=True,
        env=bench.env,
        cwd=bench.directory,
        timeout=60,
    )
    assert result.returncode == exit_codes.OK, result.stderr
    assert json.loads((bench.directory / "r.json").read_text())["exit_code"] == 0
    assert not [p for p in bench.directory.iterdir() if p.name.startswith(".r.json")]


def test_a_folder_removed_during_the_run_still_prints_the_summary(bench: Bench) -> None:
    path = bench.write(numbered(20))
    folder = bench.directory / "reports"
    folder.mkdir()
    report = folder / "apply.json"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "orchestrator", "apply", str(path)),
            *("--report", str(report), "--dials-per-second", "10", "--dial-window", "1"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=bench.env,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert ": dialed " in first, first
    shutil.rmtree(folder)  # well before the ten second-window dials are through
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == exit_codes.OK, stderr  # what the run earned
    assert "20 participants: 20 connected; all converged." in stdout
    assert stderr.splitlines()[-1] == (
        f"warning: --report {report}: cannot write the report (No such file or directory); "
        "the summary above is all this run reports"
    )
    assert "Traceback" not in stderr and "internal error" not in stderr
