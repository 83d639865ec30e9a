"""apply --watch and webhooks listen as a user runs them: processes stopped by SIGTERM that
still say what they saw."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from orchestrator import exit_codes
from orchestrator.webhooks.signing import SigningKey
from tests.cli.support import invoke
from tests.engine.support import conference_file

PEOPLE = [
    {"name": "lead", "to": "+12065550100", "role": "host"},
    {"name": "bob", "to": "+12065550101"},
]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "ORCH"))}
    return {**env, **extra}


def read_until(process: subprocess.Popen[str], pattern: str, timeout_s: float = 20) -> list[str]:
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError("".join(lines))


@pytest.mark.long
def test_sigterm_ends_the_watch_with_the_summary_and_the_last_states_verdict(
    tmp_path: Path,
) -> None:
    path = conference_file(tmp_path, PEOPLE)
    scenario = tmp_path / "fast.yaml"
    scenario.write_text(yaml.safe_dump({"time_scale": 0.01}))
    command = [sys.executable, "-m", "orchestrator", "apply", str(path), "--sandbox"]
    process = subprocess.Popen(
        [*command, "--scenario", str(scenario), "--watch", "--interval", "0.2"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    read_until(process, r"bob: connected")
    time.sleep(0.5)  # a few rounds of watching
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == exit_codes.OK, stderr  # stopping is how a watch ends
    assert "2 participants: 2 connected; all converged." in stdout
    assert "Traceback" not in stderr


@pytest.mark.long
def test_with_sandbox_the_listener_verifies_the_sandboxs_signed_callbacks(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a free port, named in the file before the listener binds it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hooks = {"url": f"http://127.0.0.1:{port}/calls", "events": ["answered", "completed"]}
    people = [{**person, "status_callback": hooks} for person in PEOPLE]
    path = conference_file(tmp_path, people)
    scenario = tmp_path / "fast.yaml"
    scenario.write_text(yaml.safe_dump({"time_scale": 0.01}))
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "orchestrator", "apply", str(path), "--sandbox"),
            *("--scenario", str(scenario), "--watch", "--listen", f"127.0.0.1:{port}"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    banner = "".join(read_until(process, r"listening on "))
    read_until(process, r"bob: connected")

    async def health() -> dict[str, int]:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    seen: dict[str, int] = await answer.json()
                if seen["callbacks"] >= 2:
                    return seen
                await asyncio.sleep(0.05)
            return seen

    seen = asyncio.run(health())
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert "; verifying signatures" in banner
    assert seen["callbacks"] >= 2 and seen["rejected"] == 0, seen
    assert process.returncode == exit_codes.OK, stderr


def test_listen_is_for_watch_and_checks_its_address(tmp_path: Path) -> None:
    path = conference_file(tmp_path, PEOPLE)
    alone = invoke("apply", str(path), "--sandbox", "--listen", "127.0.0.1:9100")
    assert alone.returncode == exit_codes.USAGE
    assert "--listen is for apply --watch" in alone.stderr
    remote = invoke("apply", str(path), "--sandbox", "--watch", "--listen", "0.0.0.0:9100")
    assert remote.returncode == exit_codes.USAGE and "not loopback" in remote.stderr
    bad = invoke("apply", str(path), "--sandbox", "--watch", "--listen", "localhost")
    assert bad.returncode == exit_codes.USAGE and "HOST:PORT" in bad.stderr


def test_webhooks_listen_prints_rejects_and_stops_cleanly() -> None:
    key = SigningKey.generate()
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "webhooks", "listen", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(TELNYX_PUBLIC_KEY=key.public_key),
    )
    [banner] = read_until(process, r"listening on ")
    assert "verifying signatures" in banner
    url = re.search(r"(http://\S+?)/ ", banner).group(1)  # type: ignore[union-attr]
    body = b"CallSid=v3%3Aabc&CallStatus=completed&SequenceNumber=4"
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    async def post() -> list[int]:
        async with aiohttp.ClientSession() as http:
            statuses = []
            for headers in (key.headers(body), SigningKey.generate().headers(body)):
                async with http.post(f"{url}/calls", data=body, headers={**form, **headers}) as a:
                    statuses.append(a.status)
            return statuses

    assert asyncio.run(post()) == [200, 401]
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    assert lines[0].startswith("[verified] ")
    assert lines[0].endswith(" call-completed call=v3:abc status=completed seq=4")
    assert lines[1].startswith("[rejected: the signature does not match")
    assert "stopped after 2 callbacks (1 rejected)" in stderr


def test_webhooks_listen_refuses_a_key_that_is_not_one() -> None:
    result = invoke("webhooks", "listen", "--port", "0", env={"TELNYX_PUBLIC_KEY": "not-a-key"})
    assert result.returncode == exit_codes.FAILED
    assert result.stderr.startswith("error: TELNYX_PUBLIC_KEY is not a base64 Ed25519 public key")


HEAD, TAIL = "Qv7", "Kz4"  # a secret is HEAD...TAIL: neither half may show


def test_webhooks_listen_names_its_forward_target_without_its_secrets() -> None:
    password = f"{HEAD}@!$&'()*+,;=:%25{TAIL}"
    token = f"{HEAD}!$&'()*+,;=:%25/?{TAIL}"  # an @ here would make the host ambiguous
    forward = f"http://ci-{HEAD}:{password}@127.0.0.1:9/hook?token={token}#{token}"
    command = [sys.executable, "-m", "orchestrator", "webhooks", "listen", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--forward", forward],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    lines = read_until(process, r"forwarding ")
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "trusts anyone who can reach it" in lines[0]
    assert lines[1] == "forwarding accepted callbacks to http://***@127.0.0.1:9/hook?***\n"
    assert HEAD not in "".join(lines) + stderr and TAIL not in "".join(lines) + stderr


def test_webhooks_listen_refuses_a_forward_url_it_cannot_read_without_quoting_it() -> None:
    for char in "#/?[]":
        secret = f"{HEAD}{char}{TAIL}"
        for forward in (
            f"http://ci:{secret}@127.0.0.1:8000/hook",
            f"http://{secret}:pw@127.0.0.1:8000/hook",
            f"http://ci:12{char}{secret}@127.0.0.1:8000/hook",
        ):
            result = invoke("webhooks", "listen", "--port", "0", "--forward", forward)
            said = result.stdout + result.stderr
            assert result.returncode == exit_codes.USAGE, (forward, said)
            assert said.startswith("error: --forward http://*** is not"), said
            assert HEAD not in said and TAIL not in said and len(said.splitlines()) == 1
