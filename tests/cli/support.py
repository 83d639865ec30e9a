"""Helpers for CLI tests: the CLI pointed at a sandbox served by a thread."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from orchestrator.sandbox import SandboxInfo
from orchestrator.texml.client import TexmlClient
from tests.engine.support import conference_file, connection_for

T = TypeVar("T")

PEOPLE: list[dict[str, Any]] = [
    {"name": "alice", "to": "+12065550100", "role": "host"},
    {"name": "bob", "to": "+12065550101"},
    {"name": "carol", "to": "+12065550102"},
]


@dataclass
class CliSession:
    """One sandbox, one conference file in a temporary folder, and the CLI pointed at both."""

    info: SandboxInfo
    directory: Path

    @property
    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "ORCH"))}
        return {
            **clean,
            "TELNYX_BASE_URL": self.info.base_url,
            "TELNYX_API_KEY": self.info.api_key,
            "TELNYX_ACCOUNT_SID": self.info.account_sid,
        }

    def write(self, people: list[dict[str, Any]], **conference: Any) -> Path:
        return conference_file(self.directory, people, **conference)

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator", *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            timeout=60,
        )

    def apply(self, path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
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

    def dial_count(self) -> int:
        return len(self.api(lambda c: c.sandbox_dials()))


def lines_of(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip()]
