"""The sealed bid that cannot be lost, in a real browser: a refused second seal never replaces the first.

Two bidders seal bids in the bidder room on a live server. One seals a second bid, which the market
refuses (`already_committed`): at reveal the room still offers the first, the one the market holds,
and its reveal is accepted. The other downloads its sealed-bid slip, loses the browser's storage and
reveals from the slip by typing the amount and the nonce.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from .conftest import LiveServer, http_json
from .test_browser import browser  # noqa: F401 - the fixture

SEALED = {"price_rule": "second", "min_price": 10_000, "bid_ms": 12_000, "reveal_ms": 60_000}


def _room(browser: Any, url: str, token: str) -> Any:  # noqa: F811 - the fixture's name
    page = browser.new_page()
    page.goto(f"{url}/room?lot=S1")
    page.fill("#token", token)
    page.click("#login-form button")
    page.wait_for_selector("#app:not(.hidden)")
    return page


def _seal(page: Any, fen: int) -> str:
    page.fill("form input[aria-label='Seal a bid']", str(fen))
    page.click("form:has(input[aria-label='Seal a bid']) button")
    page.wait_for_function("!document.querySelector('#result').textContent.includes('sending')")
    return str(page.inner_text("#result"))


def test_a_refused_second_seal_never_replaces_the_first(live_server: LiveServer, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    url = live_server.url
    assert http_json("POST", f"{url}/api/lots", {"lot": "S1", "mode": "sealed", "params": SEALED})[0] == 200
    tokens = {}
    for bidder in ("acme", "bolt"):
        status, admitted = http_json("POST", f"{url}/api/bidders", {"bidder": bidder})
        assert status == 200
        tokens[bidder] = admitted["token"]
        assert http_json("POST", f"{url}/api/lots/S1/deposits", {"party": bidder, "amount": 5_000})[0] == 200
    acme, bolt = _room(browser, url, tokens["acme"]), _room(browser, url, tokens["bolt"])
    assert "accepted" in _seal(acme, 20_000)
    assert "already_committed" in _seal(acme, 15_000)  # refused: the first sealed bid must stay the one offered
    assert "accepted" in _seal(bolt, 18_000)
    bolt.wait_for_selector("button:has-text('Download the slip')")
    with bolt.expect_download() as got:
        bolt.click("button:has-text('Download the slip')")
    slip = Path(got.value.path()).read_text()
    amount = int(re.search(r"amount \(fen\): (\d+)", slip).group(1))  # type: ignore[union-attr]
    nonce = re.search(r"nonce \(hex\): ([0-9a-f]+)", slip).group(1)  # type: ignore[union-attr]
    assert amount == 18_000
    bolt.evaluate("localStorage.removeItem('ae.sealed.bolt.S1')")  # bolt's stored bids are lost: only the slip is left
    bolt.reload()  # (the token is in the session's storage: the room signs in again by itself)
    bolt.wait_for_selector("#app:not(.hidden)")
    deadline = time.monotonic() + 40
    while http_json("GET", f"{url}/api/lots/S1")[1]["view"]["phase"] != "reveal":
        assert time.monotonic() < deadline, "the commit window did not close"
        time.sleep(0.2)
    acme.wait_for_selector("button:has-text('Reveal my bid of ¥200.00')", timeout=20_000)
    acme.click("button:has-text('Reveal my bid of ¥200.00')")
    acme.wait_for_function("document.querySelector('#result').textContent.includes('accepted')")
    bolt.wait_for_selector("form input[aria-label='Nonce (hex) from the slip']", timeout=20_000)
    bolt.fill("form input[aria-label='Amount (fen) from the slip']", str(amount))
    bolt.fill("form input[aria-label='Nonce (hex) from the slip']", nonce)
    bolt.click("form:has(input[aria-label='Nonce (hex) from the slip']) button")
    bolt.wait_for_function("document.querySelector('#result').textContent.includes('accepted')")
    for bidder in ("acme", "bolt"):
        status, mine = http_json("GET", f"{url}/api/me/lots/S1", token=tokens[bidder])
        assert status == 200 and mine["view"]["my_commitment"]["revealed"], (bidder, mine)
    acme.screenshot(path=str(tmp_path / "room-sealed.png"), full_page=True)
