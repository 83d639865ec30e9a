"""The pre-commit hook runs a real command on the files pre-commit would hand it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import yaml

from orchestrator.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / ".pre-commit-hooks.yaml"
YAML_SUFFIXES = (".yaml", ".yml")  # what pre-commit's `types: [yaml]` matches

BROKEN = """\
version: 1
conference:
  name: broken
  application_sid: "1846572522338780702"
  from: "+12065550100"
participants:
  - name: ada
    to: "+12065550101"
    timeout: 3
"""

NEEDS_A_SECRET = """\
version: 1
conference:
  name: sip-desk
  application_sid: "1846572522338780702"
  from: "+12065550100"
participants:
  - name: desk
    to: sip:desk@example.sip.telnyx.com
    sip_auth: {username: desk, password: "${HOOK_TEST_SIP_PASSWORD}"}
  - name: ada
    to: "+12065550101"
"""


def _hook() -> dict[str, Any]:
    hooks = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    hook = hooks[0]
    assert isinstance(hook, dict)
    return hook


def _selected(repository: Path, hook: dict[str, Any]) -> list[str]:
    """The files pre-commit would pass, by the hook's types, files and exclude (re.search)."""
    files = re.compile(hook.get("files", ""))
    exclude = re.compile(hook.get("exclude", "^$"))
    found = []
    for path in sorted(repository.rglob("*")):
        name = path.relative_to(repository).as_posix()
        yaml_file = path.is_file() and name.endswith(YAML_SUFFIXES)
        if yaml_file and files.search(name) and not exclude.search(name):
            found.append(name)
    return found


def _run_hook(repository: Path, filenames: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the hook the way pre-commit does: entry, then args, then the filenames."""
    hook = _hook()
    program, *entry_args = shlex.split(hook["entry"])
    assert program == "orchestrator"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "HOOK_TEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *entry_args, *hook.get("args", []), *filenames],
        cwd=repository,
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )


def _config_repository(root: Path) -> Path:
    """A repository of conference files with the usual hidden and non-YAML neighbours."""
    (root / "conferences").mkdir()
    shutil.copy(ROOT / "examples" / "lifecycle-demo.yaml", root / "conferences" / "standup.yaml")
    shutil.copy(ROOT / "examples" / "minimal.yaml", root / "conferences" / "minimal.yml")
    (root / "conferences" / "desk.yaml").write_text(NEEDS_A_SECRET, encoding="utf-8")
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "validate.yml").write_text("on: push\n", encoding="utf-8")
    (root / ".pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    (root / "conferences" / ".orchestrator").mkdir()
    (root / "conferences" / ".orchestrator" / "notes.yaml").write_text("x: 1\n", encoding="utf-8")
    (root / "README.md").write_text("# conferences\n", encoding="utf-8")
    return root


def test_manifest_declares_the_validate_hook() -> None:
    hook = _hook()
    assert hook["id"] == "orchestrator-validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is True  # validate takes files, so only changed ones are checked
    assert hook["types"] == ["yaml"]
    re.compile(hook["files"])
    re.compile(hook["exclude"])


def test_hook_entry_is_the_installed_command_and_a_real_subcommand() -> None:
    program, subcommand, *rest = shlex.split(_hook()["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert scripts[program] == "orchestrator.cli:main"
    assert subcommand in COMMANDS
    with click.Context(cli) as ctx:
        command = cli.get_command(ctx, subcommand)
    assert isinstance(command, click.Command) and command.name == subcommand
    assert rest == []


def test_hook_selects_conference_files_only(tmp_path: Path) -> None:
    repository = _config_repository(tmp_path)
    assert _selected(repository, _hook()) == [
        "conferences/desk.yaml",
        "conferences/minimal.yml",
        "conferences/standup.yaml",
    ]


def test_hook_passes_valid_files_and_warns_about_unset_secrets(tmp_path: Path) -> None:
    repository = _config_repository(tmp_path)
    completed = _run_hook(repository, _selected(repository, _hook()))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # CI has no secrets: an unset variable is a warning, not a failure.
    assert re.search(
        r"^conferences/desk\.yaml:9:\d+: warning: .*HOOK_TEST_SIP_PASSWORD", completed.stdout, re.M
    )
    assert completed.stdout.endswith("3 files checked: all valid (1 warning)\n")
    assert "Traceback" not in completed.stderr


def test_hook_fails_on_an_invalid_file_naming_file_and_line(tmp_path: Path) -> None:
    repository = _config_repository(tmp_path)
    (repository / "conferences" / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    selected = _selected(repository, _hook())
    assert "conferences/broken.yaml" in selected
    completed = _run_hook(repository, selected)
    assert completed.returncode == 1
    assert re.search(r"^conferences/broken\.yaml:9:\d+: error: .*timeout", completed.stdout, re.M)
    assert completed.stdout.endswith("4 files checked: 1 invalid (1 error, 1 warning)\n")
    assert "Traceback" not in completed.stderr
