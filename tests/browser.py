"""Looking at a page in a real browser: Debian's headless Chromium, driven by Playwright.

Playwright's own browser download cannot be had everywhere, so the tests use the
``chromium-headless-shell`` package's binary. With ``CI=true`` a missing browser fails the
test; elsewhere it skips, naming the install command.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

INSTALL = "apt-get install chromium-headless-shell"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CANDIDATES = ("/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium-headless-shell")


def executable() -> str | None:
    for candidate in CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium-headless-shell")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must have it ({INSTALL}; pip install playwright)")
    pytest.skip(f"{reason} ({INSTALL}; pip install playwright)")


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """A headless Chromium for the length of the block."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    path = executable()
    if path is None:
        _missing("no headless Chromium here")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Looked:
    width: int  # the document's width: more than the window's is horizontal overflow
    lanes: list[int]  # lanes in each timeline shown (those hidden at this width left out)
    errors: list[str]  # console errors and page errors


def look(browser: Any, page_file: Path, width: int, screenshot: Path | None = None) -> Looked:
    """Open ``page_file`` in a window ``width`` pixels wide."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    try:
        page.goto(page_file.resolve().as_uri())
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        lanes = page.evaluate(
            "[...document.querySelectorAll('svg.timeline')]"
            ".filter(s => s.getBoundingClientRect().width > 0)"
            ".map(s => s.querySelectorAll('g.lane').length)"
        )
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    return Looked(scroll_width, lanes, errors)
