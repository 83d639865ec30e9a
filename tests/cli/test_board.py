"""apply --board as a user runs it: its address checked in one line, its token said once and
kept nowhere, and the board looked at in headless Chromium while a watch runs: refused without
its token, the drop and the redial on the row within a second of each event, ten pages that
cost no API read, no overflow and no console error at 390 and 1280 pixels, and the end told."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.sandbox import parse_scenario, sandbox_in_thread
from tests.browser import launched
from tests.cli.support import PEOPLE, CliSession

DROPS = "+12065550190"
# One simulated second lasts a tenth of a real one: sre's first call drops four seconds after
# it is answered (time enough to open the page); every later call to it stays up.
SCENARIO = {
    "time_scale": 0.1,
    "seed": 3,
    "numbers": {DROPS: {"hangup_after": 40, "then": "answer"}},
}
DRILL: list[dict[str, Any]] = [
    {"name": "lead", "to": "+12065550100", "role": "host"},
    {"name": "sre", "to": DROPS, "reconnect": {"attempts": 1, "backoff_s": 1}},
    {"name": "comms", "to": "+12065550102", "muted": True},
]
# What the page records of sre's row each time it changes: (its time, "observed|attempts").
WATCH_THE_ROW = """() => {
  window.seen = [];
  const look = () => {
    const row = document.querySelector('tr[data-participant="sre"]');
    if (!row) return;
    const text = row.querySelector('td.observed').textContent + '|' +
      row.querySelector('td.attempts').textContent;
    const last = window.seen[window.seen.length - 1];
    if (!last || last[1] !== text) window.seen.push([Date.now() / 1000, text]);
  };
  new MutationObserver(look).observe(document.body,
    {subtree: true, childList: true, characterData: true});
  look();
}"""


@dataclass
class Watching:
    """apply --watch --board in a process of its own; its stderr read as it comes."""

    process: subprocess.Popen[str]
    state: Path
    lines: list[str] = field(default_factory=list)

    def url(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith("board: "):
                    return line.split()[1]
            assert self.process.poll() is None, self.lines
            time.sleep(0.05)
        raise AssertionError(self.lines)

    def events(self) -> list[dict[str, Any]]:
        [run] = list((self.state / "runs").iterdir())
        log = (run / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in log]

    def at(self, kind: str, participant: str, nth: int = 0) -> float:
        from orchestrator.record.codec import parse_iso

        found = [
            e for e in self.events() if (e["kind"], e.get("participant")) == (kind, participant)
        ]
        return parse_iso(found[nth]["at"])


@contextmanager
def watching(cli: CliSession, people: list[dict[str, Any]], *flags: str) -> Iterator[Watching]:
    path = cli.write(people)
    state = cli.directory / "state"
    command = [sys.executable, "-m", "orchestrator", "apply", str(path), "--watch"]
    process = subprocess.Popen(
        [*command, "--board", "127.0.0.1:0", "--state-dir", str(state), *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
    )
    run = Watching(process, state)

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            run.lines.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        reader.join(timeout=10)


def stop(run: Watching) -> str:
    run.process.send_signal(signal.SIGTERM)
    stdout, _ = run.process.communicate(timeout=60)
    assert run.process.returncode == exit_codes.OK, run.lines
    return stdout


def test_bad_addresses_are_one_line_and_nothing_is_dialed(cli: CliSession) -> None:
    path = cli.write(PEOPLE)
    for flags, said in (
        (("--board", "nonsense"), "expected [HOST:]PORT, such as 9200"),
        (("--board", "0.0.0.0:0"), "0.0.0.0 is not loopback; add --board-allow-remote"),
        (("--board-allow-remote",), "--board-allow-remote is for --board"),
    ):
        ran = cli.run("apply", str(path), *flags)
        assert ran.returncode == exit_codes.USAGE, ran
        assert said in ran.stderr and len(ran.stderr.strip().splitlines()) == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = cli.run("apply", str(path), "-q", "--board", f"127.0.0.1:{port}")
    assert ran.returncode == exit_codes.FAILED, ran
    last = ran.stderr.strip().splitlines()[-1]
    assert f"--board 127.0.0.1:{port}: " in last and "in use" in last.lower()
    assert "Traceback" not in ran.stderr
    unknown = cli.run(
        "apply", str(path), "-q", "--board", "no-such-host.invalid:0", "--board-allow-remote"
    )
    assert unknown.returncode == exit_codes.FAILED and "Traceback" not in unknown.stderr
    assert cli.dial_count() == 0


def test_a_one_shot_apply_serves_its_board_until_it_exits_and_keeps_no_token(
    cli: CliSession,
) -> None:
    path = cli.write(PEOPLE)
    state = cli.directory / "state"
    ran = cli.run("apply", str(path), "--board", "0", "--state-dir", str(state))
    assert ran.returncode == 0, ran
    [line] = [line for line in ran.stderr.splitlines() if "token=" in line]
    token = re.search(r"token=(\S+)", line)
    assert token is not None and line.startswith("board: http://127.0.0.1:")
    assert "numbers masked" in line
    assert ran.stderr.count(token[1]) == 1 and token[1] not in ran.stdout
    for kept in state.rglob("*"):
        if kept.is_file():
            assert token[1].encode() not in kept.read_bytes(), kept
    port = int(re.search(r":(\d+)/board/", line)[1])  # type: ignore[index]
    with socket.socket() as probe:  # the board is gone with the run
        assert probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.long
def test_the_board_shows_the_drop_and_the_redial_as_they_happen(tmp_path: Path) -> None:
    with (
        sandbox_in_thread(parse_scenario(SCENARIO)) as info,
        watching(CliSession(info, tmp_path), DRILL, "--interval", "0.5") as run,
    ):
        url = run.url()
        base = url.split("?")[0]
        # The browser in this thread: the sandbox has a thread of its own, apply a process.
        with launched() as browser:
            refused = browser.new_context()
            page = refused.new_page()
            assert page.goto(base).status == 401
            assert page.goto(base + "events").status == 401
            refused.add_cookies([{"name": cookie_name(base), "value": "wrong", "url": base}])
            assert page.goto(base).status == 401
            assert page.goto(base + "state.json").status == 401
            refused.close()

            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            assert page.goto(url).status == 200
            assert page.url == base  # the token has left the address bar
            page.wait_for_selector('tr[data-participant="sre"]')
            page.evaluate(WATCH_THE_ROW)
            until(page, "() => window.seen.some(s => s[1] === 'connected|2')", 40)
            seen: list[tuple[float, str]] = [tuple(s) for s in page.evaluate("window.seen")]
            page.wait_for_selector("#events li", state="attached")
            words = page.inner_text("#events")
            widths = {}
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(300)
                widths[width] = page.evaluate("document.documentElement.scrollWidth")
            page.set_viewport_size({"width": 1280, "height": 900})
            summary = stop(run)
            until(page, "() => document.getElementById('banner').textContent.includes('ended')", 30)
            banner = page.inner_text("#banner")
            counts = page.inner_text("#overview .counts")
            context.close()
    # Each moment the row changed, against the moment the run recorded the event.
    first = lambda text: next(t for t, s in seen if s == text)  # noqa: E731
    dropped = first("ended: hung-up|1")
    redialing = next(t for t, s in seen if s.endswith("|2") and s.startswith("connecting"))
    connected = first("connected|2")
    assert 0 <= dropped - run.at("ended", "sre") <= 1.0, seen
    assert 0 <= redialing - run.at("redial", "sre") <= 1.0, seen
    assert 0 <= connected - run.at("connected", "sre", nth=1) <= 1.0, seen
    assert "dropped; redial 1 of 1 in 1s" in words and "redial 1 of 1" in words
    assert widths == {1280: 1280, 390: 390} and errors == []
    assert "exit code 0" in banner
    assert counts == "3 connected"
    assert "3 participants: 3 connected; all converged." in summary


def until(page: Any, check: str, timeout_s: float) -> None:
    """Wait for a function of the page to hold. (Playwright's own wait evaluates a string,
    which the board's Content-Security-Policy forbids, as it should.)"""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(check):
        assert time.monotonic() < deadline, check
        page.wait_for_timeout(50)


def reads(cli: CliSession) -> dict[str, int]:
    """The sandbox's count of API requests by method (plain HTTP: Playwright's loop holds
    this thread)."""
    request = urllib.request.Request(
        cli.info.base_url + "/_sandbox/health",
        headers={"Authorization": f"Bearer {cli.info.api_key}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(request, timeout=10) as answer:
        found: dict[str, int] = json.loads(answer.read())["requests"]
    return found


def cookie_name(base: str) -> str:
    return f"orchestrator_board_{base.split(':')[2].split('/')[0]}"


@pytest.mark.long
def test_ten_open_pages_cost_the_sandbox_no_read(cli: CliSession) -> None:
    # Nothing is read again for half a minute after the first round: every read is a page's.
    with watching(cli, PEOPLE, "--interval", "30") as run:
        url = run.url()
        deadline = time.monotonic() + 30
        while sum("connected" in line for line in run.lines) < 3:
            assert time.monotonic() < deadline, run.lines
            time.sleep(0.05)
        time.sleep(0.5)  # the first round's last reads are answered
        before = reads(cli)
        with launched() as browser:
            # Ten people, a browser profile each (one browser holds six streams to a server).
            contexts = [browser.new_context() for _ in range(10)]
            pages = [context.new_page() for context in contexts]
            for page in pages:
                page.goto(url)
            for page in pages:
                page.wait_for_selector('tr[data-participant="carol"] td.observed')
            shown = {page.inner_text("#overview .counts") for page in pages}
            time.sleep(1.0)
            after = reads(cli)
            for context in contexts:
                context.close()
        summary = stop(run)
    assert after == before, (before, after)
    assert shown == {"3 connected"}
    assert "3 participants: 3 connected; all converged." in summary


@pytest.mark.long
def test_a_page_says_when_its_stream_is_lost(cli: CliSession) -> None:
    with watching(cli, PEOPLE, "--interval", "30") as run:
        url = run.url()
        with launched() as browser:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector('tr[data-participant="carol"]')
            assert page.is_hidden("#banner")
            run.process.send_signal(signal.SIGKILL)  # no last word: the stream just stops
            until(page, "() => !document.getElementById('banner').hidden", 30)
            banner = page.inner_text("#banner")
            rows = page.locator("tr[data-participant]").count()
    assert "lost" in banner and "trying again" in banner
    assert rows == 3  # what it showed stays on the page
