"""``orchestrator sandbox`` as a user runs it: a subprocess, real signals, real output."""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from orchestrator.serving import SHUTDOWN_GRACE_S
from orchestrator.texml import contract
from orchestrator.webhooks.signing import SigningKey
from tests.sdk import uses_sdk, verify_webhook_signature

# Every test runs the sandbox as a process of its own.
pytestmark = pytest.mark.long

TOKEN = "KEYcli-test-3b9d"


def _start(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELNYX_")}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    process = _start(*args)
    stdout, stderr = process.communicate(timeout=30)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


# A dial that joins the conference it names, as "me".
ME = {"To": "+12065550100", "ApplicationSid": "app", "Label": "me"}


def _participants_url(settings: dict[str, str], conference: str) -> str:
    """The participant list of ``conference`` on the running sandbox these settings name."""
    path = contract.PARTICIPANTS_PATH.format(
        account_sid=settings["TELNYX_ACCOUNT_SID"], conference_sid=conference
    )
    return settings["TELNYX_BASE_URL"] + path


def _settings(process: subprocess.Popen[str]) -> tuple[list[str], dict[str, str]]:
    """The lines printed up to the export line, and the variables it sets."""
    assert process.stdout is not None
    lines: list[str] = []
    while True:
        line = process.stdout.readline()
        assert line, f"sandbox exited early: {process.communicate(timeout=10)}"
        lines.append(line.rstrip("\n"))
        if line.strip().startswith("export "):
            words = shlex.split(line.strip())[1:]
            return lines, dict(word.split("=", 1) for word in words)


def _post_form(url: str, token: str, fields: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(fields).encode(),
        headers={"Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serves_prints_settings_logs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    scenario = tmp_path / "fast.yaml"
    scenario.write_text("time_scale: 0.01\nseed: 9\n", encoding="utf-8")
    account = "0f6c5a7e-2f4b-4c1e-9d3a-8b7e6f5a4c3d"
    process = _start(
        "--port",
        "0",
        "--scenario",
        str(scenario),
        "--token",
        TOKEN,
        "--account-sid",
        account,
        "--access-log",
    )
    try:
        lines, settings = _settings(process)
        assert lines[0] == "Telnyx TeXML sandbox \u2014 no real calls are placed"
        assert settings["TELNYX_API_KEY"] == TOKEN
        assert settings["TELNYX_ACCOUNT_SID"] == account
        assert len(base64.b64decode(settings["TELNYX_PUBLIC_KEY"], validate=True)) == 32
        base = settings["TELNYX_BASE_URL"]
        assert base.startswith("http://127.0.0.1:") and base.endswith("/v2")
        assert process.stdout is not None
        inspector = process.stdout.readline().strip()
        assert inspector == (
            f"Inspector (every request and callback): {base[:-3]}/_sandbox/?key={TOKEN}"
        )
        where = urllib.parse.urlsplit(base)
        opened = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
        opened.request("GET", f"/_sandbox/?key={TOKEN}")
        answer = opened.getresponse()
        assert answer.status == 303 and "HttpOnly" in (answer.getheader("Set-Cookie") or "")
        opened.close()

        url = _participants_url(settings, "demo")
        status, body = _post_form(url, TOKEN, ME)
        assert status == 200 and body["status"] == "connecting"
        status, body = _post_form(url, "KEYwrong", {"To": "+12065550100"})
        assert status == 401
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"POST /v2/texml/Accounts/{account}/Conferences/demo/Participants -> 200" in stderr
    assert "-> 401" in stderr
    assert "sandbox stopped" in stderr
    assert TOKEN not in stderr


def test_without_access_log_it_logs_what_happens_and_no_request() -> None:
    account = "5d0c2a1e-8f3b-4e6a-9c7d-1b2a3c4d5e6f"
    process = _start("--port", "0", "--token", TOKEN, "--account-sid", account)
    try:
        _, settings = _settings(process)
        url = _participants_url(settings, "quiet")
        assert _post_form(url, TOKEN, ME)[0] == 200
        assert _post_form(url, TOKEN, {"ApplicationSid": "app"})[0] == 422
        assert _post_form(url, "KEYwrong", ME)[0] == 401
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "created as 'quiet'" in stderr
    assert "dialed to +12065550100 (label me) into conference" in stderr
    assert " -> " not in stderr  # neither the answered request nor the refused ones


def test_its_log_lines_come_as_things_happen_each_with_its_time() -> None:
    account = "7e1d3b2a-4c5f-4a6b-8d9e-0f1a2b3c4d5e"
    process = _start("--port", "0", "--token", TOKEN, "--account-sid", account)
    try:
        _, settings = _settings(process)
        assert _post_form(_participants_url(settings, "live"), TOKEN, ME)[0] == 200
        # Read while the sandbox still runs: nothing waits for the stop to be written.
        lines: queue.Queue[str] = queue.Queue()
        stderr = process.stderr
        assert stderr is not None
        threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()
        seen = [lines.get(timeout=10) for _ in range(2)]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert process.returncode == 0
    assert "created as 'live'" in seen[0]
    assert "dialed to +12065550100 (label me) into conference" in seen[1]
    for line in seen:
        stamp, _, message = line.partition(" ")
        assert time.strptime(stamp, "%H:%M:%S") and message.strip()
    rest: list[str] = []
    while (line := lines.get(timeout=10).strip()) != "sandbox stopped":
        rest.append(line)  # whatever came after (the leg answering), before the stop
    assert lines.empty() and all("Traceback" not in line for line in rest)


def _public_key_of_a_run(*args: str) -> str:
    process = _start("--port", "0", *args)
    try:
        _, settings = _settings(process)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    return settings["TELNYX_PUBLIC_KEY"]


def test_signing_key_keeps_one_key_across_runs_and_prints_its_public_key(tmp_path: Path) -> None:
    key_file = tmp_path / "sandbox-signing.pem"
    first = _public_key_of_a_run("--signing-key", str(key_file))
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    second = _public_key_of_a_run("--signing-key", str(key_file))
    assert first == second
    assert first == SigningKey.load_or_create(key_file).public_key
    assert len(base64.b64decode(first, validate=True)) == 32
    # Without the option each run signs with a key of its own.
    assert _public_key_of_a_run() not in (first, _public_key_of_a_run())


@uses_sdk
def test_callbacks_verify_with_the_public_key_of_the_export_line(tmp_path: Path) -> None:
    received: list[tuple[bytes, dict[str, str]]] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, dict(self.headers.items())))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    account = "7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b"
    key_file = tmp_path / "key.pem"
    process = _start(
        "--port", "0", "--token", TOKEN, "--account-sid", account, "--signing-key", str(key_file)
    )
    try:
        _, settings = _settings(process)
        hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
        fields = {"To": "+12065550100", "ApplicationSid": "app", "StatusCallback": hook}
        fields["StatusCallbackEvent"] = "initiated"
        assert _post_form(_participants_url(settings, "hooked"), TOKEN, fields)[0] == 200
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
        server.shutdown()
    [(body, headers)] = received
    verify_webhook_signature(body, headers, settings["TELNYX_PUBLIC_KEY"])
    assert settings["TELNYX_PUBLIC_KEY"] == SigningKey.load_or_create(key_file).public_key


def test_sigterm_stops_it_too() -> None:
    process = _start("--port", "0")
    try:
        _, settings = _settings(process)
        assert settings["TELNYX_API_KEY"].startswith("KEY")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert settings["TELNYX_API_KEY"] not in stderr


@pytest.mark.parametrize("signals", [1, 2], ids=["SIGTERM", "SIGTERM-SIGTERM"])
def test_a_client_holding_a_request_delays_the_stop_by_the_grace_at_most(signals: int) -> None:
    process = _start("--port", "0", "--token", TOKEN)
    try:
        _, settings = _settings(process)
        port = urllib.parse.urlsplit(settings["TELNYX_BASE_URL"]).port
        assert port is not None
        url = _participants_url(settings, "held")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
            # The headers of a dial and 3 of the 100 bytes of body they announce.
            held.sendall(
                f"POST {urllib.parse.urlsplit(url).path} HTTP/1.1\r\nHost: test\r\n"
                f"Authorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\nTo=".encode()
            )
            time.sleep(0.3)  # the sandbox has read the headers: a request is in progress
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # new connections are refused from the first signal
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except (ConnectionRefusedError, ConnectionResetError):
                    break
                time.sleep(0.01)
            else:
                raise AssertionError("the sandbox still accepts connections after SIGTERM")
            if signals == 2:
                process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            # One signal: open requests get the grace; a second: not even that.
            limit = 10.0 if signals == 1 else SHUTDOWN_GRACE_S / 2
            _, stderr = process.communicate(timeout=limit)
            assert time.monotonic() - sent < limit
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stderr.splitlines()[-1] == "sandbox stopped"
    assert "Traceback" not in stderr
