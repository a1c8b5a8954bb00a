"""What the browser tests share: Debian's Chromium driven by Playwright, pages in a language, screenshots at
390 px and 1280 px into one folder, and axe-core's accessibility check.

Chromium comes from scripts/install-browser.sh, axe-core from scripts/install-js.sh (the npm package, injected
into each page); Playwright never downloads a browser. Screenshots go to `build/screenshots/` (or
`$AE_SCREENSHOTS`), named `<page>-<state>-<locale>-<width>.png`, for people to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("AE_SCREENSHOTS") or REPO / "build" / "screenshots")
AXE = REPO / "auction_engine" / "server" / "pages" / "vendor" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (390, 1280)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install-browser.sh")], check=False, capture_output=True, timeout=900
        )
        path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.skip("Chromium is not installed (/usr/bin/chromium) and scripts/install-browser.sh could not install it")
    return path


def axe_script() -> Path:
    if not AXE.exists():
        subprocess.run(["bash", str(REPO / "scripts" / "install-js.sh")], check=False, capture_output=True, timeout=600)
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed ({AXE}): scripts/install-js.sh needs npm and the npm registry")
    return AXE


@pytest.fixture
def playwright_chromium() -> Iterator[tuple[Any, str]]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
    )
    executable = chromium()
    with sync_api.sync_playwright() as pw:
        yield pw, executable


def open_context(pw_exe: tuple[Any, str], profile: Path, locale: str, width: int = 1280) -> Any:
    """A fresh browser profile that asks for `locale` (its Accept-Language), `width` px wide."""
    pw, executable = pw_exe
    return pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=executable,
        headless=True,
        args=[*CHROMIUM_FLAGS, f"--lang={locale}"],
        locale=locale,
        viewport={"width": width, "height": 900},
        accept_downloads=True,
    )


class Pages:
    """The pages of one test: JavaScript errors collected, screenshots and accessibility checks at both widths."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.errors: list[str] = []
        self.violations: list[str] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: self._console(page, msg))
        return page

    def _console(self, page: Any, msg: Any) -> None:
        # A refused command's 4xx, a request the test made fail and a feed reconnecting to a server that is down
        # are logged by Chromium itself: they are not the page's errors
        network = msg.text.startswith(("Failed to load resource", "WebSocket connection to"))
        if msg.type == "error" and not network:
            self.errors.append(f"{page.url}: console {msg.text}")

    def look(self, page: Any, name: str) -> None:
        """At 390 px and at 1280 px: a screenshot, no sideways scrolling, axe-core's serious/critical findings."""
        size = page.viewport_size
        try:
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.wait_for_timeout(150)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{self.locale}-{width}.png"), full_page=True)
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                if overflow > 0:
                    self.violations.append(f"{name} at {width} px scrolls sideways by {overflow} px")
                self.violations.extend(f"{name} at {width} px: {v}" for v in axe(page))
        finally:
            page.set_viewport_size(size)

    def check(self) -> None:
        assert not self.errors, self.errors
        assert not self.violations, "\n".join(self.violations)


def axe(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    found = page.evaluate(
        """async () => {
            const r = await axe.run(document, { resultTypes: ["violations"] });
            return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
              .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")) }));
        }"""
    )
    return [json.dumps(v, ensure_ascii=False) for v in found]
