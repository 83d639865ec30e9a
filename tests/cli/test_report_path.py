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
from tests.cli.support import PEOPLE, CliSession
from tests.engine.support import numbered
from tests.folders import ReadOnly


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CliSession]:
    with sandbox_in_thread(parse_scenario({"time_scale": 0.01, "seed": 13})) as info:
        yield CliSession(info, tmp_path)


def refused(cli: CliSession, report: Path, problem: str) -> None:
    path = cli.write(PEOPLE)
    result = cli.run("apply", str(path), "--report", str(report))
    assert result.returncode == exit_codes.FAILED, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: --report {report}: {problem}; nothing was dialed"
    ]
    assert result.stdout == ""
    assert cli.dial_count() == 0


def test_a_missing_folder_is_refused_before_any_request(cli: CliSession) -> None:
    report = cli.directory / "reports" / "apply.json"
    refused(
        cli,
        report,
        f"the folder {report.parent} does not exist; create it or choose another path",
    )


def test_a_folder_as_the_report_is_refused(cli: CliSession) -> None:
    report = cli.directory / "reports"
    report.mkdir()
    refused(cli, report, f"is a folder; name a file, such as {report / 'report.json'}")


def test_a_file_as_the_folder_is_refused(cli: CliSession) -> None:
    (cli.directory / "notes").write_text("x")
    report = cli.directory / "notes" / "apply.json"
    refused(cli, report, f"{report.parent} is not a folder; choose another path")


def test_a_read_only_folder_is_refused(cli: CliSession, read_only_folder: ReadOnly) -> None:
    folder, reason = read_only_folder.folder, read_only_folder.reason
    refused(
        cli, folder / "apply.json", f"cannot write in {folder} ({reason}); choose a writable folder"
    )


def test_the_check_leaves_nothing_behind_and_a_relative_path_works(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    result = cli.run("apply", str(path), "-q", "--report", "r.json", cwd=cli.directory)
    assert result.returncode == exit_codes.OK, result.stderr
    assert json.loads((cli.directory / "r.json").read_text())["exit_code"] == 0
    assert not [p for p in cli.directory.iterdir() if p.name.startswith(".r.json")]


@pytest.mark.long
def test_a_folder_removed_during_the_run_still_prints_the_summary(cli: CliSession) -> None:
    path = cli.write(numbered(20))
    folder = cli.directory / "reports"
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
        env=cli.env,
    )
    assert process.stderr is not None
    first = process.stderr.readline()
    assert first.endswith(": creating the conference\n"), first  # the host's dial goes first
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
