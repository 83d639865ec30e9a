"""The sandbox in a process of its own, and what the benchmarks read back from it.

Client and server must not share one event loop (or, on two cores, one core),
so the sandbox runs as ``python -m orchestrator sandbox --port 0``; its base URL
is read from the export line it prints. What the benchmarks count of the
requests (by method, participant lists, 429s by code) comes from the
sandbox's own counters at ``/_sandbox/health``, the same way for every
client and whatever its log level; its log (stderr) goes to a file, for when
a run fails.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import ProxyHandler, Request, build_opener

import yaml

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

# A proxy from the environment must never see loopback traffic (or any of it).
_OPENER = build_opener(ProxyHandler({}))
# The code of the 429s the dial limit answers (dials and placed calls share that budget).
DIAL_LIMIT_CODE = "90103"


class BenchError(Exception):
    """A benchmark could not run, or its run was invalid; the message says why."""


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every process a benchmark starts: no proxies, no stray Telnyx settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith("TELNYX_")
    }
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Sandbox:
    base_url: str
    api_key: str
    account_sid: str
    log_path: Path
    pid: int
    public_key: str = ""  # base64 Ed25519: verifies the callbacks it signs (TELNYX_PUBLIC_KEY)

    def __repr__(self) -> str:  # the key stays out of tracebacks and logs
        return (
            f"Sandbox(base_url={self.base_url!r}, api_key='***', account_sid={self.account_sid!r})"
        )

    def client_environment(self) -> dict[str, str]:
        """What a client process needs to find and use this sandbox."""
        return child_environment(
            {
                "TELNYX_BASE_URL": self.base_url,
                "TELNYX_API_KEY": self.api_key,
                "TELNYX_ACCOUNT_SID": self.account_sid,
            }
        )

    def get(self, path: str, query: Mapping[str, str] | None = None) -> Any:
        url = self.base_url + path + ("?" + urlencode(query) if query else "")
        request = Request(url, headers={"Authorization": f"Bearer {self.api_key}"})
        with _OPENER.open(request, timeout=30) as response:
            return json.loads(response.read())

    def dials(self) -> list[dict[str, Any]]:
        """Every dial the sandbox accepted, in order (GET /_sandbox/dials)."""
        body = self.get("/_sandbox/dials")
        return list(body["dials"])

    def conference_sids(self, friendly_name: str) -> list[str]:
        """SIDs of every conference of that name, whatever its status."""
        body = self.get(
            f"/texml/Accounts/{self.account_sid}/Conferences",
            {"FriendlyName": friendly_name, "PageSize": "1000"},
        )
        return [conference["sid"] for conference in body["conferences"]]

    def health(self) -> dict[str, Any]:
        body = self.get("/_sandbox/health")
        return dict(body) if isinstance(body, Mapping) else {}

    def uptime_s(self) -> float:
        return float(self.health()["uptime_s"])

    def counters(self) -> Counters:
        """The request counters /_sandbox/health reports; a sandbox without them gives unknowns."""
        return Counters.from_health(self.health())

    def cpu_seconds(self) -> float | None:
        """CPU time the sandbox process has used so far (Linux /proc; None elsewhere)."""
        return process_cpu_seconds(self.pid)

    def dial_answers(self) -> Counter[str]:
        """Dial requests the sandbox refused so far, by status: its 429s are the dial limit's
        (code 90103) as /_sandbox/health counts them; nothing is read from its log."""
        limited = self.counters().limited(DIAL_LIMIT_CODE)
        return Counter({"429": limited}) if limited else Counter()


@dataclass(frozen=True)
class Counters:
    """What the sandbox counted of the API requests it answered; None where it does not say."""

    requests: Mapping[str, int] | None  # by method: GET, POST, DELETE
    participant_lists: int | None  # GETs of a conference's participant list
    rate_limited: Mapping[str, int] | None  # 429s by error code (90103 dials, 10011 requests)

    @classmethod
    def from_health(cls, body: Mapping[str, Any]) -> Counters:
        lists = body.get("participant_lists")
        return cls(
            requests=_counts(body.get("requests")),
            participant_lists=lists if _is_count(lists) else None,
            rate_limited=_counts(body.get("rate_limited")),
        )

    def since(self, before: Counters) -> Counters:
        """The requests between two readings; unknown if either reading lacks the counter."""
        lists = (
            self.participant_lists - before.participant_lists
            if self.participant_lists is not None and before.participant_lists is not None
            else None
        )
        return Counters(
            requests=_difference(self.requests, before.requests),
            participant_lists=lists,
            rate_limited=_difference(self.rate_limited, before.rate_limited),
        )

    def method(self, name: str) -> int | None:
        return None if self.requests is None else self.requests.get(name, 0)

    def limited(self, code: str) -> int | None:
        return None if self.rate_limited is None else self.rate_limited.get(code, 0)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counts(value: Any) -> Mapping[str, int] | None:
    if not isinstance(value, Mapping) or not all(_is_count(n) for n in value.values()):
        return None
    return {str(key): int(n) for key, n in value.items()}


def _difference(
    after: Mapping[str, int] | None, before: Mapping[str, int] | None
) -> Mapping[str, int] | None:
    if after is None or before is None:
        return None
    return {key: n - before.get(key, 0) for key, n in after.items()}


def count_or_na(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def _is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@contextmanager
def sandbox_process(scenario: Mapping[str, Any], workdir: Path) -> Iterator[Sandbox]:
    """Start ``orchestrator sandbox`` with this scenario on an ephemeral loopback port; stop it after."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario_path = workdir / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(dict(scenario), sort_keys=False), encoding="utf-8")
    log_path = workdir / "sandbox.log"
    api_key = "KEY" + secrets.token_hex(16).upper()
    account_sid = str(uuid.uuid4())
    command = [
        sys.executable,
        "-m",
        "orchestrator",
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--scenario",
        str(scenario_path),
        "--account-sid",
        account_sid,
    ]
    # The key goes through the environment, so it never shows in a process listing.
    env = child_environment({"ORCHESTRATOR_SANDBOX_TOKEN": api_key})
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, env=env, text=True, encoding="utf-8"
        )
    try:
        exports = wait_for_exports(process)
        base_url = exports["TELNYX_BASE_URL"]
        if not _is_loopback_url(base_url):
            raise BenchError(f"the sandbox listens on {base_url}, which is not loopback")
        public_key = exports.get("TELNYX_PUBLIC_KEY", "")
        yield Sandbox(base_url, api_key, account_sid, log_path, process.pid, public_key)
    except BaseException:
        stop_process(process, check=False)  # the error in flight is the one to report
        raise
    stop_process(process, check=True)


@contextmanager
def bare_server_process(latency_ms: float, workdir: Path) -> Iterator[str]:
    """Start ``bench.bare_server`` (a route that only waits the latency); its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.bare_server", "--latency-ms", f"{latency_ms:g}"]
    with (workdir / "bare-server.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, env=child_environment(), text=True
        )
    try:
        yield wait_for_base_url(process)
    except BaseException:
        stop_process(process, check=False)
        raise
    stop_process(process, check=True)


def wait_for_base_url(process: subprocess.Popen[str]) -> str:
    """Read the sandbox's stdout until its export line; keep draining it afterwards."""
    return wait_for_exports(process)["TELNYX_BASE_URL"]


def wait_for_exports(process: subprocess.Popen[str]) -> dict[str, str]:
    """The variables of the export line (TELNYX_BASE_URL and what follows it); the rest of
    stdout is drained in the background."""
    assert process.stdout is not None
    found: dict[str, str] = {}
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not found and "export TELNYX_BASE_URL=" in line:
                for word in shlex.split(line.strip()):
                    if "=" in word and word.startswith("TELNYX_"):
                        name, value = word.split("=", 1)
                        found[name] = value
                ready.set()
        ready.set()  # the process ended before printing it

    threading.Thread(target=read, name="sandbox-stdout", daemon=True).start()
    if not ready.wait(START_TIMEOUT_S) or "TELNYX_BASE_URL" not in found:
        code = process.poll()
        state = f"exited with {code}" if code is not None else "printed no base URL"
        raise BenchError(f"the sandbox {state} within {START_TIMEOUT_S:g} s; see its log")
    return found


def stop_process(process: subprocess.Popen[str], *, check: bool) -> None:
    """Ctrl-C, as a user would; a sandbox that does not stop in time is killed (this one only)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            if check:
                raise BenchError(
                    f"the sandbox did not stop within {STOP_TIMEOUT_S:g} s of SIGINT"
                ) from None
    if check and process.returncode not in (0, 130, -signal.SIGINT):
        raise BenchError(f"the sandbox exited with {process.returncode} when stopped; see its log")


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time a process has used so far, user and system (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
