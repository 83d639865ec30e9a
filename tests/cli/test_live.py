"""The live display, as a terminal shows it: apply with stderr on a pseudo-terminal 40 columns
wide, its summary on a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import yaml

from tests.engine.support import conference_file, numbered

# The display on a terminal, over a ring of three real seconds.
pytestmark = pytest.mark.long

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def apply_on_a_terminal(path: Path, scenario: Path, columns: int) -> tuple[str, str, int]:
    """(what the terminal got, stdout, exit code)."""
    terminal, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "ORCH"))}
    env.update(TERM="xterm-256color", COLUMNS=str(columns))
    env.pop("NO_COLOR", None)
    command = [sys.executable, "-m", "orchestrator", "apply", str(path), "--sandbox"]
    process = subprocess.Popen(
        [*command, "--scenario", str(scenario)],
        stdin=child,
        stdout=subprocess.PIPE,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    shown = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    process.wait(timeout=10)
    os.close(terminal)
    return shown.decode("utf-8", "replace"), stdout, process.returncode


def test_the_display_moves_while_nothing_happens_fits_and_ends_as_the_summary(
    tmp_path: Path,
) -> None:
    path = conference_file(tmp_path, numbered(4))
    scenario = tmp_path / "ring.yaml"
    # Real time: every leg rings for three seconds, during which no event comes.
    scenario.write_text(yaml.safe_dump({"time_scale": 1, "ring_seconds": 3, "seed": 2}))
    shown, stdout, code = apply_on_a_terminal(path, scenario, columns=40)
    assert code == 0, shown

    plain = ESCAPE.sub("", shown).replace("\r\n", "\n").replace("\r", "\n")
    elapsed = re.findall(r"(\d+(?:\.\d)?s) elapsed", plain)
    assert len(set(elapsed)) >= 4, elapsed  # a moving clock through the ring
    # Every frame fits (the one-off notice that the sandbox runs may wrap, as any line does).
    frames = [line for line in plain.split("\n") if not line.startswith("sandbox: ")]
    assert all(len(line) <= 40 for line in frames), [wide for wide in frames if len(wide) > 40]

    # The last frame counts as the summary counts.
    assert "4/4 settled" in plain.split("\n")[-4:][0] or "4/4 settled" in plain[-200:]
    summary = stdout.splitlines()[-1]
    assert summary.startswith("4 participants: 4 connected; all converged.")
    last_counts = [line for line in plain.split("\n") if line.strip() == "4 connected"]
    assert last_counts, plain[-400:]
    assert "+1206555" not in shown  # numbers are masked on screen too
