"""Photographs the board and the sandbox's inspector during docs/watch.md's walk-through.

Run by docs/demo/board.sh (``python3 screenshots.py WORK INSPECTOR_URL``): it follows the
watch's log in WORK, makes the typo of the walk-through once sre-2 has dropped, and once the
redial has connected looks at both pages in headless Chromium, 1280 pixels wide.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

IMAGES = Path(__file__).resolve().parent.parent / "images"
CHROMIUM = ("/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium-headless-shell")


def wait_for(log: Path, pattern: str, count: int = 1, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.findall(pattern, log.read_text() if log.exists() else "")
        if len(found) >= count:
            return str(found[-1])
        time.sleep(0.1)
    raise SystemExit(f"not seen in {log}: {pattern}")


def main(work: Path, inspector: str) -> None:
    log = work / "watch.log"
    board = wait_for(log, r"board: (\S+)")
    wait_for(log, r"sre-2: dropped")
    conference = work / "incident-4711.yaml"
    conference.write_text(conference.read_text().replace("muted: true", "muted: maybe"))
    wait_for(log, r"not applied \(invalid\)")
    wait_for(log, r"sre-2: connected", count=2)
    executable = next(path for path in CHROMIUM if Path(path).exists())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(board)
        page.wait_for_selector('tr[data-participant="sre-2"]')
        page.wait_for_timeout(2500)  # a few seconds of the timeline after the redial
        page.screenshot(path=str(IMAGES / "board.png"), full_page=True)
        page.goto(inspector)
        page.wait_for_selector(".callback .attempt .signature dd")
        page.wait_for_timeout(1200)
        page.screenshot(path=str(IMAGES / "inspector.png"))
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
