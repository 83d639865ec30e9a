"""Helpers for CLI tests: the CLI pointed at a sandbox served by a thread.

Commands run in this process through click's CliRunner (a subprocess costs a
quarter of a second of imports); tests of signals, of the pre-commit hook and
of processes running at once start ``python -m orchestrator`` themselves, with
``CliSession.env``. Whatever a command run here prints with ``-o json`` is
checked to be one envelope, valid against its report's schema, whose
``exit_code`` is the process's (``check_envelopes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.report.envelope import REPORT_SCHEMAS
from orchestrator.sandbox import SandboxInfo
from orchestrator.sandbox.introspection import DialRecord, SandboxClient
from orchestrator.texml.client import TexmlClient
from tests.engine.support import conference_file, connection_for

T = TypeVar("T")

PEOPLE: list[dict[str, Any]] = [
    {"name": "alice", "to": "+12065550100", "role": "host"},
    {"name": "bob", "to": "+12065550101"},
    {"name": "carol", "to": "+12065550102"},
]

# Settings of the test's own environment that a command must not see unless a test sets them.
OWN_SETTINGS = ("TELNYX_", "ORCH")


@dataclass(frozen=True)
class Ran:
    """What a command did, named as subprocess.CompletedProcess names it."""

    returncode: int
    stdout: str
    stderr: str


def _runner() -> CliRunner:
    # stdout and stderr apart: click before 8.2 mixes them unless told not to.
    if "mix_stderr" in inspect.signature(CliRunner).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    return CliRunner()


# The loggers a command may set up for the process (-v, the sandbox's log): put back as they
# were after each command run in this process, so a later test's log capture sees them.
CONFIGURED_LOGGERS = ("orchestrator.requests", "orchestrator.sandbox")


@contextlib.contextmanager
def loggers_restored() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in CONFIGURED_LOGGERS]
    saved = [(log.level, log.propagate, list(log.handlers)) for log in loggers]
    try:
        yield
    finally:
        for log, (level, propagate, handlers) in zip(loggers, saved, strict=True):
            log.setLevel(level)
            log.propagate = propagate
            log.handlers[:] = handlers


def invoke(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Ran:
    """``orchestrator ARGS`` in this process, with no TELNYX_* or ORCH* settings but ``env``'s."""
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith(OWN_SETTINGS)}
    overrides.update(env or {})
    with (
        contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext(),
        loggers_restored(),
    ):
        # catch_exceptions=False: what would be a traceback in a subprocess fails the test.
        result = _runner().invoke(
            cli, list(args), env=overrides, catch_exceptions=False, prog_name="orchestrator"
        )
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    check_envelopes(args, ran)
    return ran


SCHEMAS = Path(__file__).parents[2] / "schemas"


def json_report(args: Sequence[str]) -> str | None:
    """The report (a key of REPORT_SCHEMAS) that ``orchestrator ARGS`` prints as JSON, if any."""
    if not args or args[0] not in ("apply", "plan", "status", "down", "history"):
        return None
    pairs = zip(args, [*args[1:], ""], strict=True)
    asked = any(a in ("-o", "--output") and b == "json" for a, b in pairs)
    if not (asked or "--output=json" in args or "-ojson" in args) or "--help" in args:
        return None
    return "dry-run" if "--dry-run" in args else args[0]


@functools.cache
def _validator(report: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / REPORT_SCHEMAS[report]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def envelopes(report: str, stdout: str) -> list[dict[str, Any]]:
    """Every JSON document on ``stdout``, each asserted valid against ``report``'s schema."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    position = 0
    while stdout[position:].strip():
        position += len(stdout[position:]) - len(stdout[position:].lstrip())
        document, position = decoder.raw_decode(stdout, position)
        errors = [e.message for e in _validator(report).iter_errors(document)]
        assert errors == [], (report, errors)
        found.append(document)
    return found


def check_envelopes(args: Sequence[str], ran: Ran) -> None:
    """With -o json, stdout is one envelope (one a refresh with status --watch), valid against
    its schema, saying the process's exit code."""
    report = json_report(args)
    if report is None:
        return
    found = envelopes(report, ran.stdout)
    if "--watch" in args and args[0] == "status":
        assert found, ran
        return
    assert len(found) == 1, ran
    assert found[0]["exit_code"] == ran.returncode, ran


def envelope(report: str, ran: Ran) -> dict[str, Any]:
    """The one envelope ``ran`` printed (checked against ``report``'s schema)."""
    [document] = envelopes(report, ran.stdout)
    return document


@dataclass
class CliSession:
    """One sandbox, one conference file in a temporary folder, and the CLI pointed at both."""

    info: SandboxInfo
    directory: Path

    @property
    def settings(self) -> dict[str, str]:
        """The variables that point the CLI at this sandbox."""
        return {
            "TELNYX_BASE_URL": self.info.base_url,
            "TELNYX_API_KEY": self.info.api_key,
            "TELNYX_ACCOUNT_SID": self.info.account_sid,
        }

    @property
    def env(self) -> dict[str, str]:
        """The whole environment for a subprocess: the test's own, less its TELNYX_* and ORCH*."""
        clean = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
        return {**clean, **self.settings}

    def write(self, people: list[dict[str, Any]], **conference: Any) -> Path:
        return conference_file(self.directory, people, **conference)

    def run(self, *args: str, cwd: Path | None = None, **env: str) -> Ran:
        """The command in this process, against this sandbox (``env`` on top)."""
        return invoke(*args, env={**self.settings, **env}, cwd=cwd)

    def apply(self, path: Path, *flags: str) -> Ran:
        result = self.run("apply", str(path), "-q", "--settle-timeout", "20", *flags)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def api(self, work: Callable[[TexmlClient], Awaitable[T]]) -> T:
        async def main() -> T:
            async with TexmlClient(connection_for(self.info)) as client:
                return await work(client)

        return asyncio.run(main())

    def conference_sid(self, name: str = "test-bridge") -> str:
        found = self.api(lambda c: c.list_conferences(friendly_name=name, status="in-progress"))
        assert len(found) == 1, found
        return found[0]["sid"]

    def live_labels(self, *labels: str) -> dict[str, bool]:
        sid = self.conference_sid()

        async def look(client: TexmlClient) -> dict[str, bool]:
            found = await asyncio.gather(*(client.find_participant(sid, x) for x in labels))
            return {label: f is not None for label, f in zip(labels, found, strict=True)}

        return self.api(look)

    def dials(self) -> list[DialRecord]:
        """Every dial the sandbox accepted, in order."""

        async def main() -> list[DialRecord]:
            async with SandboxClient(connection_for(self.info)) as sandbox:
                return await sandbox.dials()

        return asyncio.run(main())

    def dial_count(self) -> int:
        return len(self.dials())


def lines_of(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()]
