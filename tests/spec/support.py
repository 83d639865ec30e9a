"""Helpers for conference-file tests: write a file, check it, read findings as short strings."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

from orchestrator.spec import ValidationResult, load_specs

# A valid file to break one key at a time; line numbers below refer to this layout.
VALID = """\
version: 1
conference:
  name: test-bridge
  application_sid: "1846572522338780702"
  from: "+12065550200"
participants:
  - name: alice
    to: "+12065550101"
  - name: bob
    to: "+12065550102"
"""


def write(directory: Path, text: str, name: str = "conf.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def check(
    directory: Path,
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
) -> ValidationResult:
    return load_specs([write(directory, text)], env=env or {}, strict_env=strict_env)


def findings(
    directory: Path,
    text: str,
    *,
    env: Mapping[str, str] | None = None,
    strict_env: bool = False,
) -> list[str]:
    """Every finding as ``LINE:COL: severity: message`` (the file name left out)."""
    result = check(directory, text, env=env, strict_env=strict_env)
    return [
        f"{d.location.line}:{d.location.col}: {d.severity}: {d.message}" for d in result.diagnostics
    ]
