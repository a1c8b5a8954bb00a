"""End to end in Chromium, in both languages: an operator and three bidders run an English auction, a sealed
auction and a listing on a live server, at 390 px and 1280 px, every page checked by axe-core.

The operator works in the console: admits the bidders (Chinese names; the server gives their ids, which are
their bidder numbers), opens the three lots from the parameter forms (yuan, seconds), records deposits and
the payment. The bidders work in their rooms:

- English: one bidder's browser clock runs two hours fast, and its countdown still follows the server; a
  refusal is explained in the page's language, with the next valid bid in yuan; the leader is offered no bid
  button; the one outbid hears it (the live region); the buyer's room links to its certificate.
- Sealed: a bidder makes a sealed bid in one tab and, before it is sent, another in a second tab; the first is
  sent and accepted, the second is refused (`already_committed`); at reveal the room offers the bid the market
  holds and its reveal is accepted. Another bidder downloads its slip, loses the browser's storage and reveals
  from the slip file.
- Listing: a bidder registers its intent; the operator ends the listing; the deal is the bidder's.

Every state a person looks at is photographed at both widths into `build/screenshots/` (browser_kit) and must
neither scroll sideways nor show a serious or critical axe-core violation. No page may log a JavaScript error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser_kit import Pages, open_context, playwright_chromium  # noqa: F401 - the fixture
from .conftest import OP_TOKEN, LiveServer, http_json

WORDS = {
    "zh-CN": {
        "accepted": "已受理",
        "refused": "未受理",
        "live": "已连接",
        "outbid": "您已被超越",
        "awaiting": "待付款",
        "you": "您",
    },
    "en": {
        "accepted": "Accepted",
        "refused": "Refused",
        "live": "live",
        "outbid": "you are outbid",
        "awaiting": "awaiting payment",
        "you": "you",
    },
}
BIDDERS = ["杭州智造有限公司", "宁波电气股份", "温州电子科技"]


def _wait_text(page: Any, selector: str, text: str, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "([s, t]) => { const e = document.querySelector(s); return !!e && e.textContent.includes(t); }",
        arg=[selector, text],
        timeout=timeout,
    )


def _lot_phase(url: str, lot: str) -> str:
    return str(http_json("GET", f"{url}/api/lots/{lot}")[1]["view"]["phase"])


def _until(what: str, predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def _serving(tmp_path: Path, *extra: str) -> Iterator[LiveServer]:
    """A live server of the test's own, stopped afterwards whatever happens."""
    server = LiveServer(tmp_path / "server", extra=list(extra))
    server.directory.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _admit_with_deposit(url: str, name: str, lot: str, fen: int) -> dict[str, Any]:
    """Admit a bidder by name (its id is its number) and record its deposit on `lot`; the admission answer."""
    status, admitted = http_json("POST", f"{url}/api/bidders", {"name": name})
    assert status == 200, admitted
    assert http_json("POST", f"{url}/api/lots/{lot}/deposits", {"party": admitted["bidder"], "amount": fen})[0] == 200
    return dict(admitted)


# -- the operator's console ---------------------------------------------------------------------------


def _sign_in_console(console: Any, url: str) -> None:
    console.goto(f"{url}/console")
    console.fill("#token", "wrong-token-000000")
    console.click("#login-form button[type=submit]")
    console.wait_for_selector("#login-status:not(:empty)")
    console.fill("#token", OP_TOKEN)
    console.click("#login-form button[type=submit]")
    console.wait_for_selector("#app:not(.hidden)")


def _status_ok(console: Any, words: dict[str, str]) -> None:
    _wait_text(console, "#action-status", words["accepted"])


def _admit(console: Any, name: str) -> tuple[str, str]:
    """Admit a bidder by name in the console; its (id = number, one-time token)."""
    console.fill("#admit input[name=name]", name)
    console.fill("#admit input[name=bidder]", "")
    console.evaluate("document.querySelector('#admit-status').replaceChildren()")
    console.click("#admit button[type=submit]")
    console.wait_for_selector("#new-token")
    token = console.inner_text("#new-token").strip()
    status, me = http_json("GET", console.url.split("/console")[0] + "/api/me", token=token)
    assert status == 200 and me["number"] == me["actor"], me
    assert name in console.inner_text("#bidders")
    return me["number"], token


def _open_lot(console: Any, words: dict[str, str], lot: str, mode: str, title: str, params: dict[str, Any]) -> None:
    """Open a lot from the console's form: money in yuan, spans as a number and a unit, flags as checkboxes."""
    form = console.locator("#open-lot")
    form.locator("input[name=lot]").fill(lot)
    form.locator("select[name=mode]").select_option(mode)
    form.locator("input[name=title]").fill(title)
    form.locator("input[name=seller]").fill("浙江大学")
    for name, value in params.items():
        field = form.locator(f'[name="param.{name}"]')
        if not field.is_visible():  # a settlement setting: under "more settings"
            form.locator("#lot-more summary").click()
        if isinstance(value, bool):
            field.set_checked(value)
        elif isinstance(value, tuple):  # (number, unit)
            field.fill(str(value[0]))
            form.locator(f'select[name="unit.{name}"]').select_option(value[1])
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(str(value))
        else:
            field.fill(str(value))
    console.evaluate("document.querySelector('#action-status').textContent = ''")
    form.locator("button[type=submit]").last.click()
    _status_ok(console, words)


def _deposit(console: Any, words: dict[str, str], lot: str, party: str, yuan: str) -> None:
    form = console.locator("#deposit")
    form.locator("input[name=lot]").fill(lot)
    form.locator("input[name=party]").fill(party)
    form.locator("#deposit-amount-slot input").fill(yuan)
    console.evaluate("document.querySelector('#action-status').textContent = ''")
    form.locator("button[type=submit]").click()
    _status_ok(console, words)


def _close_phase(console: Any, words: dict[str, str], lot: str, grounds: str) -> None:
    """Select the lot with the keyboard, and end its phase now, on the grounds given."""
    console.locator(f"#lots button[data-pick][data-lot={lot}], #lots [data-lot={lot}] button").first.focus()
    console.keyboard.press("Enter")
    close = console.locator("#detail-close-phase")
    close.wait_for()
    close.locator("[name=grounds]").fill(grounds)
    console.evaluate("document.querySelector('#action-status').textContent = ''")
    close.locator("button[type=submit]").click()
    _status_ok(console, words)


# -- the bidders' rooms ---------------------------------------------------------------------------------


def _room(pages: Pages, context: Any, url: str, token: str, lot: str, words: dict[str, str]) -> Any:
    room = pages.watch(context.new_page())
    room.goto(f"{url}/room?lot={lot}")
    room.fill("#token", token)
    room.click("#login-form button[type=submit]")
    room.wait_for_selector("#app:not(.hidden)")
    _wait_text(room, "#feed-status", words["live"])
    return room


def _result(room: Any, words: dict[str, str]) -> str:
    room.wait_for_function(
        "([a, r]) => { const t = document.querySelector('#result').textContent;"
        " return t.includes(a) || t.includes(r); }",
        arg=[words["accepted"], words["refused"]],
    )
    return str(room.inner_text("#result"))


def _clear_result(room: Any) -> None:
    room.evaluate("document.querySelector('#result').textContent = ''")


def _press(room: Any, selector: str, words: dict[str, str]) -> str:
    """Click `selector` in a room and wait for the answer it gets (not one shown before)."""
    _clear_result(room)
    room.click(selector)
    return _result(room, words)


def tv_reason(text: str, code: str) -> bool:
    """Whether a room's answer gives the words of refusal `code` in its language."""
    from auction_engine.server import i18n

    return any(i18n.catalogue(locale)[f"reason.{code}"] in text for locale in i18n.LOCALES)


def _make_sealed(room: Any, yuan: str) -> None:
    room.fill("#actions form input", yuan)
    room.click("#actions form button[type=submit]")
    room.wait_for_selector("#slip-card:not(.hidden)")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_an_operator_and_three_bidders_run_three_auctions(
    locale: str,
    tmp_path: Path,
    playwright_chromium: tuple[Any, str],  # noqa: F811 - the fixture
) -> None:
    words = WORDS[locale]
    pages = Pages(locale)
    with _serving(tmp_path) as server:
        _run(server.url, locale, words, pages, tmp_path, playwright_chromium)
    pages.check()


def _run(url: str, locale: str, words: dict[str, str], pages: Pages, tmp_path: Path, pw: tuple[Any, str]) -> None:
    operator_ctx = open_context(pw, tmp_path / "operator", locale, 1280)
    console = pages.watch(operator_ctx.new_page())
    _sign_in_console(console, url)
    pages.look(console, "console-empty")
    numbers, tokens = [], []
    for name in BIDDERS:
        number, token = _admit(console, name)
        numbers.append(number)
        tokens.append(token)
    assert numbers == ["0001", "0002", "0003"]
    bidder_ctx = [open_context(pw, tmp_path / f"bidder{i}", locale, (390, 1280, 390)[i]) for i in range(3)]
    # each lot is opened when its bidders are ready, so its windows can be short
    _open_lot(console, words, "E1", "english", "低损耗光纤专利", {
        "start_price": "100", "increment": "5", "free_ms": (12, "second"), "countdown_ms": (3, "second"),
        "publication_working_days": "0"})  # fmt: skip
    for number in numbers:
        _deposit(console, words, "E1", number, "20")
    pages.look(console, "console-lots")
    acme, bolt, cove = (_room(pages, bidder_ctx[i], url, tokens[i], "E1", words) for i in range(3))
    _english(url, words, pages, console, acme, bolt, cove, numbers, tmp_path)
    _open_lot(console, words, "S1", "sealed", "锂电池回收工艺", {
        "price_rule": "second", "min_price": "100", "bid_ms": (10, "minute"), "reveal_ms": (10, "minute"),
        "operator_may_close": True, "publication_working_days": "0"})  # fmt: skip
    for number in numbers[:2]:
        _deposit(console, words, "S1", number, "20")
    _sealed(url, words, pages, console, bidder_ctx, acme, bolt, tokens, numbers, tmp_path)
    _open_lot(console, words, "L1", "listing", "农用无人机专利", {
        "list_price": "80", "operator_may_close": True, "publication_working_days": "0"})  # fmt: skip
    _deposit(console, words, "L1", numbers[2], "20")
    _listing(url, words, pages, console, cove, numbers)
    pages.look(console, "console-after")
    _certificate(url, pages, operator_ctx, numbers)
    for ctx in (operator_ctx, *bidder_ctx):
        ctx.close()


def _english(
    url: str, words: dict[str, str], pages: Pages, console: Any, acme: Any, bolt: Any, cove: Any,
    numbers: list[str], tmp_path: Path,
) -> None:  # fmt: skip
    # cove's browser clock runs two hours fast: its countdown must still follow the server
    cove.clock.install(time=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    cove.reload()
    cove.wait_for_selector("#app:not(.hidden)")
    cove.wait_for_function("/^\\d+:\\d\\d$/.test(document.querySelector('#countdown').textContent)")
    deadline = http_json("GET", f"{url}/api/lots/E1")[1]["view"]["deadline"]
    shown = cove.inner_text("#countdown")
    m = re.fullmatch(r"(\d+):(\d\d)", shown)
    assert m, shown
    assert abs((int(m.group(1)) * 60 + int(m.group(2))) * 1000 - (deadline - time.time() * 1000)) < 3000, shown
    pages.look(acme, "room-english-open")
    # a refused bid is explained in the page's language, with the next valid bid in yuan
    acme.fill("#actions form input", "100.5")
    refused = _press(acme, "#actions form button[type=submit]", words)
    assert words["refused"] in refused and "¥100.00" in refused, refused
    # the primary button bids the next valid amount
    button = acme.locator("#actions .bidbar button.primary")
    assert "¥100.00" in button.inner_text()
    assert words["accepted"] in _press(acme, "#actions .bidbar button.primary", words)
    acme.wait_for_function("!document.querySelector('#actions .bidbar button.primary')")  # the leader has no Bid
    pages.look(acme, "room-english-leading")
    bolt.wait_for_function("document.querySelector('#price').textContent === '¥100.00'")
    assert words["accepted"] in _press(bolt, "#actions .bidbar button.primary", words)
    _wait_text(acme, "#announce", words["outbid"])  # acme hears it
    assert numbers[1] in acme.inner_text("#mine")  # by bidder number: no name, no id of bolt's
    assert "宁波电气" not in acme.content() and "宁波电气" not in cove.content()
    # the lot closes on the server's clock; the operator records the payment in yuan; a code is issued
    _until("the English lot's deal", lambda: _lot_phase(url, "E1") == "awaiting_payment")
    _wait_text(bolt, "#subtitle", words["awaiting"])
    pay = console.locator("#pay")
    pay.locator("input[name=lot]").fill("E1")
    pay.locator("#pay-amount-slot input").fill("85")  # ¥105.00 less the ¥20.00 deposit
    console.evaluate("document.querySelector('#action-status').textContent = ''")
    pay.locator("button[type=submit]").click()
    _status_ok(console, words)
    bolt.wait_for_selector("#mine a[href*='/certificate?code=']", timeout=20_000)  # the buyer's room links it
    pages.look(bolt, "room-english-won")
    # the receipts: the buyer's are kept in the room, and one checks out against the live log
    with bolt.expect_download() as got:
        bolt.locator("#receipts button").first.click()
    saved = tmp_path / "receipt.txt"
    got.value.save_as(saved)
    vkey = http_json("GET", f"{url}/api/market")[1]["vkey"]
    cmd = [sys.executable, "-m", "auction_engine", "receipt", "check", str(saved), "--url", url, "--vkey", vkey]
    checked = _until(
        "a covered receipt", lambda: (r := subprocess.run(cmd, capture_output=True, text=True)).returncode == 0 and r
    )
    assert "COVERED" in checked.stdout


def _sealed(
    url: str, words: dict[str, str], pages: Pages, console: Any, contexts: list[Any], acme: Any, bolt: Any,
    tokens: list[str], numbers: list[str], tmp_path: Path,
) -> None:  # fmt: skip
    for room in (acme, bolt):
        room.select_option("#lot-select", "S1")
        room.wait_for_selector("#actions form input")
    # acme makes a sealed bid here and, in a second tab, another, before the first is sent
    second = _room(pages, contexts[0], url, tokens[0], "S1", words)
    second.wait_for_selector("#actions form input")
    _make_sealed(acme, "200")
    _make_sealed(second, "150")
    pages.look(acme, "room-sealed-slip")
    # the second tab does not learn of the first bid before it sends its own (its status requests fail)
    second.route("**/api/me/lots/**", lambda route: route.abort())
    assert words["accepted"] in _press(acme, "#actions button.primary", words)
    refused = _press(second, "#actions button.primary", words)
    second.unroute("**/api/me/lots/**")
    assert words["refused"] in refused and tv_reason(refused, "already_committed"), refused
    assert http_json("GET", f"{url}/api/me/lots/S1", token=tokens[0])[1]["view"]["my_commitment"] is not None
    # bolt saves its slip, then loses the browser's storage: only the slip file is left
    _make_sealed(bolt, "1.8万")
    with bolt.expect_download() as got:
        bolt.click("#slip-buttons button >> nth=0")
    slip = tmp_path / "bolt-slip.txt"
    got.value.save_as(slip)
    assert "amount: 18000" in slip.read_text()
    assert words["accepted"] in _press(bolt, "#actions button.primary", words)
    bolt.evaluate("localStorage.clear()")
    bolt.reload()
    bolt.wait_for_selector("#app:not(.hidden)")
    pages.look(bolt, "room-sealed-committed")
    _close_phase(console, words, "S1", "两位竞买人均已提交密封报价")  # the operator ends the commit window
    _until("the reveal window", lambda: _lot_phase(url, "S1") == "reveal")
    acme.wait_for_selector("#actions button.primary", timeout=20_000)
    assert "¥200.00" in acme.inner_text("#actions button.primary")  # the bid the market holds, not the refused one
    pages.look(acme, "room-sealed-reveal")
    assert words["accepted"] in _press(acme, "#actions button.primary", words)
    bolt.wait_for_selector("#reveal-file", timeout=20_000)
    pages.look(bolt, "room-sealed-reveal-from-slip")
    bolt.set_input_files("#reveal-file", str(slip))
    assert words["accepted"] in _press(bolt, "form:has(#reveal-file) button[type=submit]", words)
    for i in (0, 1):
        mine = http_json("GET", f"{url}/api/me/lots/S1", token=tokens[i])[1]["view"]
        assert mine["my_commitment"]["revealed"], mine
    _close_phase(console, words, "S1", "两份报价均已揭示")
    _until("the sealed lot's deal", lambda: _lot_phase(url, "S1") in ("awaiting_payment", "settled"))
    view = http_json("GET", f"{url}/api/lots/S1")[1]["view"]
    assert view["buyer"] == numbers[1] and view["price"] == 20_000  # second price: acme's ¥200.00


def _listing(url: str, words: dict[str, str], pages: Pages, console: Any, cove: Any, numbers: list[str]) -> None:
    cove.select_option("#lot-select", "L1")
    cove.wait_for_selector("#actions .bidbar button.primary")
    assert words["accepted"] in _press(cove, "#actions .bidbar button.primary", words)
    pages.look(cove, "room-listing-registered")
    _close_phase(console, words, "L1", "挂牌期满前唯一意向方已确认")
    _until("the listing's deal", lambda: _lot_phase(url, "L1") in ("awaiting_payment", "settled"))
    assert http_json("GET", f"{url}/api/lots/L1")[1]["view"]["buyer"] == numbers[2]
    _wait_text(cove, "#mine", words["you"])
    pages.look(cove, "room-listing-bought")


def _certificate(url: str, pages: Pages, context: Any, numbers: list[str]) -> None:
    codes = _until("a transaction code", lambda: http_json("GET", f"{url}/api/certificates")[1].get("codes"))
    code = next(c for c, lot in codes.items() if lot == "E1")
    page = pages.watch(context.new_page())
    page.goto(f"{url}/certificate")
    page.fill("#code", code[:-1] + ("0" if code[-1] != "0" else "1"))
    page.click("#lookup button[type=submit]")
    page.wait_for_selector("#error:not(.hidden)")
    pages.look(page, "certificate-bad-code")
    page.fill("#code", code.lower())
    page.click("#lookup button[type=submit]")
    page.wait_for_selector("#result:not(.hidden)", timeout=20_000)
    deal = page.inner_text("#deal")
    assert numbers[1] in deal and "¥105.00" in deal and "低损耗光纤专利" in deal, deal
    pages.look(page, "certificate")
    page.goto(f"{url}/")
    page.wait_for_selector("#lots tr")
    pages.look(page, "index")


def test_the_room_warns_before_a_sealed_window_closes(
    tmp_path: Path,
    playwright_chromium: tuple[Any, str],  # noqa: F811 - the fixture
) -> None:
    """Within five minutes of the commit window's end: the unsaved slip, then the unsent bid; of the reveal
    window's end: the unrevealed bid — each shown, and said once in the live region. (Closing the commit
    phase early keeps the reveal window's end where the schedule put it: 4 min + 50 s here.)"""
    words = WORDS["zh-CN"]
    catalogue = __import__("auction_engine.server.i18n", fromlist=["catalogue"]).catalogue("zh-CN")
    pages = Pages("zh-CN")
    with _serving(tmp_path) as server:
        url = server.url
        sealed = {"price_rule": "first", "min_price": 10_000, "bid_ms": 240_000, "reveal_ms": 50_000,
                  "operator_may_close": True}  # fmt: skip
        assert http_json("POST", f"{url}/api/lots", {"lot": "S9", "mode": "sealed", "params": sealed})[0] == 200
        admitted = _admit_with_deposit(url, "杭州智造有限公司", "S9", 5_000)
        context = open_context(playwright_chromium, tmp_path / "bidder", "zh-CN", 390)
        room = _room(pages, context, url, admitted["token"], "S9", words)

        def warning_is(key: str) -> None:
            head = catalogue[key].split("{left}")[0]
            _wait_text(room, "#warning", head)
            _wait_text(room, "#announce", head)

        _make_sealed(room, "150")
        warning_is("warn.slip_not_saved")
        pages.look(room, "room-sealed-warning")
        with room.expect_download():
            room.click("#slip-buttons button >> nth=0")
        warning_is("warn.not_sent")
        assert words["accepted"] in _press(room, "#actions button.primary", words)
        room.wait_for_selector("#warning.hidden", state="attached")
        assert http_json("POST", f"{url}/api/lots/S9/close-phase", {"grounds": "测试"})[0] == 200
        warning_is("warn.not_revealed")
        assert words["accepted"] in _press(room, "#actions button.primary", words)
        room.wait_for_selector("#warning.hidden", state="attached")
        context.close()
    pages.check()


def test_a_bid_while_the_server_is_down_says_so_and_the_message_goes_when_it_is_back(
    tmp_path: Path,
    playwright_chromium: tuple[Any, str],  # noqa: F811 - the fixture
) -> None:
    """kill -9 mid-auction: a bid sent then is said not to have arrived (not "refused"); once the server is
    back on its port and the feed reconnects, that message is replaced, and the bid goes through."""
    import socket

    words = WORDS["en"]
    catalogue = __import__("auction_engine.server.i18n", fromlist=["catalogue"]).catalogue("en")
    pages = Pages("en")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with _serving(tmp_path, "--port", str(port)) as server:
        url = server.url
        params = {"start_price": 10_000, "increment": 500, "free_ms": 600_000, "countdown_ms": 60_000}
        assert http_json("POST", f"{url}/api/lots", {"lot": "E1", "mode": "english", "params": params})[0] == 200
        admitted = _admit_with_deposit(url, "Acme", "E1", 5_000)
        context = open_context(playwright_chromium, tmp_path / "bidder", "en", 390)
        room = _room(pages, context, url, admitted["token"], "E1", words)
        server.kill()
        room.click("#actions .bidbar button.primary")
        _wait_text(room, "#result", catalogue["result.network"].split(":")[0], timeout=30_000)
        assert words["refused"] not in room.inner_text("#result")
        pages.look(room, "room-server-down")
        server.start()
        _wait_text(room, "#result", catalogue["result.recovered"], timeout=30_000)
        assert words["accepted"] in _press(room, "#actions .bidbar button.primary", words)
        context.close()
    pages.check()


def test_a_dutch_clock_and_an_agreement_notice_in_the_rooms(
    tmp_path: Path,
    playwright_chromium: tuple[Any, str],  # noqa: F811 - the fixture
) -> None:
    """The two other modes, from the bidders' side: a Dutch clock whose price falls on the server's clock and is
    accepted at the price shown; an agreement notice where one bidder objects (the operator dismisses it in the
    console) and another makes a competing offer, which turns the lot into an English auction."""
    words = WORDS["zh-CN"]
    pages = Pages("zh-CN")
    with _serving(tmp_path) as server:
        url = server.url
        tokens, numbers = [], []
        for name in BIDDERS:
            status, admitted = http_json("POST", f"{url}/api/bidders", {"name": name})
            assert status == 200
            tokens.append(admitted["token"])
            numbers.append(admitted["number"])
        dutch = {"start_price": 10_000, "step": 500, "floor": 5_000, "step_ms": 1_500}
        agreement = {"price": 10_000, "buyer": numbers[0], "competing_offers": True}
        for lot, mode, params in (("D1", "dutch", dutch), ("A1", "agreement", agreement)):
            body = {"lot": lot, "mode": mode, "title": "测试标的", "seller": "浙江大学", "params": params}
            assert http_json("POST", f"{url}/api/lots", body)[0] == 200
            for number in numbers:
                assert http_json("POST", f"{url}/api/lots/{lot}/deposits", {"party": number, "amount": 2_000})[0] == 200
        contexts = [
            open_context(playwright_chromium, tmp_path / f"b{i}", "zh-CN", (1280, 390, 390)[i]) for i in range(3)
        ]
        dutch_room = _room(pages, contexts[0], url, tokens[0], "D1", words)
        dutch_room.wait_for_function("document.querySelector('#price').textContent !== '¥100.00'", timeout=20_000)
        pages.look(dutch_room, "room-dutch-clock")
        assert words["accepted"] in _press(dutch_room, "#actions .bidbar button.primary", words)
        view = http_json("GET", f"{url}/api/lots/D1")[1]["view"]
        assert view["buyer"] == numbers[0] and 5_000 <= view["price"] < 10_000
        objector = _room(pages, contexts[1], url, tokens[1], "A1", words)
        objector.fill("#objection-grounds", "协议价格明显低于评估价")
        assert words["accepted"] in _press(objector, "#actions form:has(#objection-grounds) button[type=submit]", words)
        pages.look(objector, "room-agreement-objection")
        operator = open_context(playwright_chromium, tmp_path / "operator", "zh-CN", 1280)
        console = pages.watch(operator.new_page())
        _sign_in_console(console, url)
        console.locator("#lots button[data-pick][data-lot=A1], #lots [data-lot=A1] button").first.focus()
        console.keyboard.press("Enter")
        console.locator("#detail .objection button").first.click()  # dismiss
        _status_ok(console, words)
        pages.look(console, "console-agreement-objection-resolved")
        offeror = _room(pages, contexts[2], url, tokens[2], "A1", words)
        offeror.wait_for_selector("#actions form input")
        offeror.locator("#actions form:not(:has(#objection-grounds)) input").fill("105")
        assert words["accepted"] in _press(
            offeror, "#actions form:not(:has(#objection-grounds)) button[type=submit]", words
        )
        _until(
            "the agreement's conversion", lambda: http_json("GET", f"{url}/api/lots/A1")[1]["view"]["mode"] == "english"
        )
        offeror.wait_for_selector("#actions .status.ok, #actions .bidbar", timeout=20_000)
        pages.look(offeror, "room-agreement-converted")
        for ctx in (*contexts, operator):
            ctx.close()
    pages.check()
