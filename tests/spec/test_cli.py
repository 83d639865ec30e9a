"""``orchestrator validate`` and ``orchestrator schema`` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.spec import schema_text
from tests.spec.support import VALID, write

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_valid_files_exit_zero(tmp_path: Path) -> None:
    write(tmp_path, VALID, "a.yaml")
    write(tmp_path, VALID.replace("test-bridge", "other"), "b.yml")
    assert run("validate", str(tmp_path)) == (0, "2 files checked: all valid\n")


def test_warnings_alone_exit_zero_unless_strict(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('"+12065550200"', "${SPEC_CLI_FROM}"))
    code, output = run("validate", str(path))
    assert code == 0
    assert output == (
        f"{path}:5:9: warning: environment variable SPEC_CLI_FROM is not set "
        "(used in conference.from)\n"
        "1 file checked: all valid (1 warning)\n"
    )
    code, output = run("validate", "--strict-env", str(path))
    assert code == 1
    assert output.endswith("1 file checked: 1 invalid (1 error)\n")


def test_errors_exit_one_with_a_line_each_and_a_summary(tmp_path: Path) -> None:
    bad = write(tmp_path, VALID + "    timeout: 3\n    tiemout: 5\n", "bad.yaml")
    good = write(tmp_path, VALID.replace("test-bridge", "good"), "good.yaml")
    warned = write(
        tmp_path,
        VALID.replace("test-bridge", "${SPEC_CLI_NAME:-w}") + "    muted: ${SPEC_CLI_MUTED}\n",
        "w.yaml",
    )
    code, output = run("validate", str(bad), str(good), str(warned))
    assert code == 1
    assert output.splitlines() == [
        f"{bad}:11:14: error: participants[1].timeout: 3 is less than the minimum of 5",
        f"{bad}:12:5: error: participants[1]: unknown key 'tiemout' (did you mean 'timeout'?)",
        f"{warned}:11:12: warning: environment variable SPEC_CLI_MUTED is not set "
        "(used in participants[1].muted)",
        "3 files checked: 1 invalid (2 errors, 1 warning)",
    ]


def test_json_output(tmp_path: Path) -> None:
    bad = write(tmp_path, VALID.replace("version: 1", "version: 0"), "bad.yaml")
    good = write(tmp_path, VALID, "good.yaml")
    code, output = run("validate", "-o", "json", str(bad), str(good))
    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False
    assert report["exit_code"] == 1
    assert report["summary"] == {
        "files": 2,
        "invalid": 1,
        "errors": 1,
        "warnings": 0,
        "text": "2 files checked: 1 invalid (1 error)",
    }
    assert report["files"] == [
        {"path": str(bad), "valid": False},
        {"path": str(good), "valid": True},
    ]
    assert report["diagnostics"] == [
        {
            "file": str(bad),
            "line": 1,
            "col": 10,
            "severity": "error",
            "message": "version: 0 is not supported; this orchestrator reads version: 1",
        }
    ]


def test_github_output(tmp_path: Path) -> None:
    bad = write(tmp_path, VALID + "    beep: loud\n    muted: ${SPEC_CLI_MUTED}\n", "b,a:d.yaml")
    code, output = run("validate", "--output", "github", str(bad))
    assert code == 1
    file = str(bad).replace(":", "%3A").replace(",", "%2C")
    assert output.splitlines() == [
        f"::error file={file},line=11,col=11::participants[1].beep: 'loud' is not one of "
        "true, false, onEnter, onExit",
        f"::warning file={file},line=12,col=12::environment variable SPEC_CLI_MUTED is not set "
        "(used in participants[1].muted)",
        "1 file checked: 1 invalid (1 error, 1 warning)",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"version: [1\n", "invalid YAML"),
        (b"", "file is empty"),
        (b"[1, 2]\n", "the top level must be a mapping"),
        (b"\x00\x01\x02\xff", "binary file"),
        (b"\xff\xfe\xfa", "not UTF-8 text"),
    ],
)
def test_malformed_files_exit_one_without_a_traceback(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    code, output = run("validate", str(path))
    assert code == 1
    lines = output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:") and message in lines[0]
    assert lines[1] == "1 file checked: 1 invalid (1 error)"


def test_missing_path_and_directory_without_yaml(tmp_path: Path) -> None:
    code, output = run("validate", str(tmp_path / "nope.yaml"), str(tmp_path))
    assert code == 1
    assert output.splitlines() == [
        f"{tmp_path}:1:1: error: directory holds no *.yaml or *.yml files",
        f"{tmp_path / 'nope.yaml'}:1:1: error: no such file or directory",
        "2 files checked: 2 invalid (2 errors)",
    ]


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    code, output = run("validate")
    assert code == 2 and "Missing argument" in output
    code, output = run("validate", "-o", "xml", str(tmp_path))
    assert code == 2 and "'xml' is not one of" in output


def test_schema_command_prints_the_schema() -> None:
    code, output = run("schema")
    assert code == 0
    assert output == schema_text()
    assert json.loads(output)["$id"] == "https://orchestrator.dev/schemas/conference.schema.json"


def test_module_entry_point_validates_the_examples() -> None:
    env = {key: value for key, value in os.environ.items() if key != "COACH_SIP_PASSWORD"}
    completed = subprocess.run(
        [sys.executable, "-m", "orchestrator", "validate", "examples/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.endswith("files checked: all valid\n")
    assert completed.stderr == ""
