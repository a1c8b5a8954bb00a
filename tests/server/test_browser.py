"""End to end in a real headless browser: the operator console, the bidder room, the certificate page.

Debian's Chromium (scripts/install-browser.sh installs it if missing) is driven by Playwright through
`executable_path` — Playwright never downloads a browser here. The test starts its own server and
browser with a fresh profile and the flags that keep Chromium off the (closed) network. The bidder's
browser clock is set two hours ahead of the server: the countdown must still be right, because the
pages count on the server's time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import OP_TOKEN, LiveServer, http_json

REPO = Path(__file__).resolve().parents[2]
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


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install-browser.sh")], check=False, capture_output=True, timeout=900
        )
        path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.skip("Chromium is not installed (/usr/bin/chromium) and scripts/install-browser.sh could not install it")
    return path


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the playwright package is not installed (pip install playwright)"
    )
    executable = _chromium()
    profile = tmp_path / "chromium-profile"
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def _vkey(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{url}/api/log/vkey", timeout=30) as answer:
        return str(answer.read().decode().strip())


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_console_room_and_certificate_pages(live_server: LiveServer, browser: Any, tmp_path: Path) -> None:
    url = live_server.url
    console = browser.new_page()
    errors: list[str] = []
    console.on("pageerror", lambda exc: errors.append(str(exc)))

    # -- the operator opens a lot, admits a bidder, records the deposit --------------------------------
    console.goto(f"{url}/console")
    console.fill("#token", "wrong-token-000000")
    console.click("#login-form button")
    console.wait_for_selector("#login-status.err")
    assert "not known" in console.inner_text("#login-status")
    console.fill("#token", OP_TOKEN)
    console.click("#login-form button")
    console.wait_for_selector("#app:not(.hidden)")
    form = console.locator("#open-lot")
    form.locator("input[name=lot]").fill("E1")
    form.locator("select[name=mode]").select_option("english")
    form.locator("input[name=title]").fill("Low-loss optical fibre patent")
    form.locator("textarea[name=params]").fill(
        '{"start_price": 10000, "increment": 500, "free_ms": 9000, "countdown_ms": 2000, "publication_working_days": 0}'
    )
    form.locator("button").click()
    console.wait_for_function("document.querySelector('#action-status').textContent.includes('accepted')")
    console.fill("#admit input[name=bidder]", "acme")
    console.click("#admit button")
    console.wait_for_selector("#new-token")
    acme_token = console.inner_text("#new-token").strip()
    deposit = console.locator("#deposit")
    deposit.locator("input[name=lot]").fill("E1")
    deposit.locator("input[name=party]").fill("acme")
    deposit.locator("input[name=amount]").fill("1000")
    deposit.locator("button").click()
    console.wait_for_function("document.querySelector('#action-status').textContent.includes('accepted')")
    console.wait_for_selector("#lots tr[data-lot=E1]")
    assert "free" in console.inner_text("#lots")
    _shot(console, tmp_path, "console")

    # -- the bidder's browser runs two hours fast: countdowns still follow the server --------------------
    room = browser.new_page()
    room.on("pageerror", lambda exc: errors.append(str(exc)))
    room.clock.install(time=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    room.goto(f"{url}/room?lot=E1")
    room.fill("#token", acme_token)
    room.click("#login-form button")
    room.wait_for_selector("#app:not(.hidden)")
    room.wait_for_function("document.querySelector('#feed-status').textContent === 'live'")
    deadline = http_json("GET", f"{url}/api/lots/E1")[1]["view"]["deadline"]
    left_ms = deadline - time.time() * 1000
    shown = room.inner_text("#countdown")
    m = re.fullmatch(r"(\d+):(\d\d)", shown)
    assert m, shown
    shown_ms = (int(m.group(1)) * 60 + int(m.group(2))) * 1000
    assert abs(shown_ms - left_ms) < 3000, (shown, left_ms)  # not 0:00, which the browser's own clock would give
    # a refused bid is explained
    room.fill("form input[aria-label=Bid]", "10100")
    room.click("form:has(input[aria-label=Bid]) button")
    room.wait_for_selector("#result.err")
    assert "not_increment_multiple" in room.inner_text("#result")
    # the bid button uses the next valid amount
    button = room.locator("#actions .bidbar button.primary")
    assert "¥100.00" in button.inner_text()
    button.click()
    room.wait_for_function("document.querySelector('#result').textContent.includes('accepted (ledger entry')")
    room.wait_for_function("document.querySelector('#price').textContent === '¥100.00'")
    assert "yes" in room.inner_text("#mine")
    room.wait_for_function("document.querySelector('#actions .bidbar button.primary').textContent.includes('¥105.00')")
    # both answers (the refusal and the bid) left their signed receipts in the room, downloadable
    room.wait_for_function("document.querySelector('#receipts-count').textContent === '2 receipts'")
    with room.expect_download() as got:
        room.locator("#receipts button").first.click()
    saved = tmp_path / "room-receipt.txt"
    got.value.save_as(saved)
    cmd = [sys.executable, "-m", "auction_engine", "receipt", "check", str(saved), "--url", url, "--vkey", _vkey(url)]
    for _ in range(50):  # the server signs a checkpoint covering it within --checkpoint-ms
        checked = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if checked.returncode == 0:
            break
    assert checked.returncode == 0 and "COVERED" in checked.stdout, checked.stdout + checked.stderr
    _shot(room, tmp_path, "room")

    # -- the lot closes on the server's clock; the operator confirms payment; a code is issued ---------
    console.wait_for_function(
        "[...document.querySelectorAll('#lots tr[data-lot=E1] td')].some(td => td.textContent === 'awaiting_payment')",
        timeout=30_000,
    )
    pay = console.locator("#pay")
    pay.locator("input[name=lot]").fill("E1")
    pay.locator("input[name=amount]").fill("9000")
    pay.locator("button").click()
    console.wait_for_function("document.querySelector('#action-status').textContent.includes('accepted')")
    console.wait_for_selector("#codes tbody tr", timeout=20_000)
    code = console.inner_text("#codes tbody tr td:first-child").strip()
    assert re.fullmatch(r"ZJ-\d{6}-E-\d+-[0-9A-Z]{4}-[0-9A-Z]{2}", code), code
    console.wait_for_function("document.querySelector('#events').textContent.includes('txcode')")
    _shot(console, tmp_path, "console-settled")

    # -- anyone looks the certificate up ------------------------------------------------------------------
    cert = browser.new_page()
    cert.on("pageerror", lambda exc: errors.append(str(exc)))
    cert.goto(f"{url}/certificate")
    cert.fill("#code", code[:-1] + ("0" if code[-1] != "0" else "1"))
    cert.click("#lookup button")
    cert.wait_for_selector("#error:not(.hidden)")
    assert "bad_code" in cert.inner_text("#error")
    cert.fill("#code", code.lower())
    cert.click("#lookup button")
    cert.wait_for_selector("#result:not(.hidden)", timeout=20_000)
    assert cert.inner_text("#verdict").startswith("VALID")
    deal = cert.inner_text("#deal")
    assert "acme" in deal and "¥100.00" in deal and "Low-loss optical fibre patent" in deal
    _shot(cert, tmp_path, "certificate")
    assert not errors, errors
