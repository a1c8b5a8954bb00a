"""Money is conserved to the fen: random sessions through every settlement path, then the books are closed.

Each example opens a few English lots with random settlement rules, random deposits (top-ups,
too-small deposits, none), random bids and proxies, then random settlement commands (payments in
parts, over-payments, payment plans, confirmations, accepting and declining second-chance offers,
by the right and the wrong actors) at random times, and finally lets every deadline run out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auction_engine.market import deposit_items, refund_items
from auction_engine.model import DAY, HOUR, MINUTE

from .harness import Harness

PARTIES = ("P0", "P1", "P2", "P3")
START, STEP, REQUIRED = 100_000, 5_000, 10_000

lot_rules = st.fixed_dictionaries(
    {
        "instalments": st.sampled_from([True, True, False]),
        "second_chance": st.sampled_from([True, True, False]),
        "second_chance_offers": st.sampled_from([0, 1, 1, 2, 3]),
        "require_confirmation": st.sampled_from([False, False, True]),
        "publication_working_days": st.integers(0, 6),
        "payment_working_days": st.integers(1, 4),
        "second_chance_working_days": st.integers(1, 3),
        "fee_bp": st.integers(0, 1_000),
        "transfer_staff_bp": st.integers(0, 2_000),
        "institutional": st.booleans(),
        "reserve": st.none() | st.integers(0, 3).map(lambda k: START + k * STEP),
    }
)
waits = st.sampled_from([0, 0, 0, HOUR, DAY, 3 * DAY, 40 * DAY])  # 0: until the next deadline of any lot
deposit_amounts = st.sampled_from([0, 0, 1, REQUIRED - 1, REQUIRED, REQUIRED, REQUIRED, 2 * REQUIRED, 300_000])
# Payments as shares of the cash still due (> 10 000: an over-payment); 0: what the plan's next deadline needs.
FRACTIONS_BP = (0, 0, 1, 3_000, 5_000, 10_000, 10_000, 10_500)


def _bidding(h: Harness, data: st.DataObject, lots: list[str]) -> None:
    """Deposits, then bids and proxies in free bidding (some unqualified, some invalid)."""
    for lot in lots:
        amounts = {party: data.draw(deposit_amounts) for party in PARTIES}
        paying = [{"party": party, "amount": amount} for party, amount in amounts.items() if amount]
        if paying and data.draw(st.booleans()):  # the batch form: the lot's whole admission in one entry
            h.ok("deposit", lot=lot, parties=paying)
        else:
            for item in paying:
                h.ok("deposit", lot=lot, party=item["party"], amount=item["amount"])
    for _ in range(data.draw(st.integers(2, 12))):
        lot, party = data.draw(st.sampled_from(lots)), data.draw(st.sampled_from(PARTIES))
        view = h.engine.view(lot)
        steps = data.draw(st.integers(0, 6))
        if data.draw(st.booleans()):
            h.submit("bid", party, lot=lot, amount=view["next_bid"] + steps // 2 * STEP)
        else:
            h.submit("proxy", party, lot=lot, max=view["next_bid"] + steps * STEP)
        h.run(data.draw(st.sampled_from([0, 1_000, 20_000])))
    h.run(10 * MINUTE)  # free bidding ends; the countdown runs out


def _plan(h: Harness, data: st.DataObject, lot: str, actor: str) -> None:
    """A payment plan that is valid, or off by one rule, as drawn."""
    view = h.engine.view(lot)
    first, cash, price = view["plan"][0][0], view["cash"], view["price"]
    floor = max(0, -(-price * 3_000 // 10_000) - (price - cash))
    down = min(cash, floor + (cash - floor) * data.draw(st.integers(0, 4)) // 4)
    n = data.draw(st.sampled_from([0, 1, 2, 2, 3]))
    gap = data.draw(st.sampled_from([1, 30, 90, 200])) * DAY
    rest = cash - down
    schedule = [[first + (i + 1) * gap, rest // n + (rest % n if i == 0 else 0)] for i in range(n)] if n else []
    if not n:
        down = cash
    flaw = data.draw(st.sampled_from(["none", "none", "none", "low", "sum"]))
    if flaw == "low":
        down -= 1
    elif flaw == "sum" and schedule:
        schedule[-1][1] += 1
    h.submit("payment_plan", actor, lot=lot, down=down, schedule=[item for item in schedule if item[1] > 0])


def _wait(h: Harness, ms: int) -> None:
    """Let time pass: `ms`, or (0) up to the next deadline of any lot."""
    if ms:
        h.run(ms)
    else:
        due = h.engine.next_deadline()
        h.run_until(max(h.now, due if due is not None else h.now + DAY))


def _settling(h: Harness, data: st.DataObject, lots: list[str]) -> None:
    """Settlement commands that fit each lot's phase (and some that do not), at random times."""
    for _ in range(data.draw(st.integers(4, 24))):
        lot = data.draw(st.sampled_from(lots))
        phase = h.engine.lot(lot).phase
        view = h.engine.view(lot)
        if phase == "awaiting_payment":
            what = data.draw(st.sampled_from(["pay", "pay", "plan", "plan", "confirm", "wait", "wait"]))
            actor = data.draw(st.sampled_from([view["buyer"], view["buyer"], "operator", "P0"]))
            if what == "pay":
                left = view["cash"] - view["paid"]
                share = data.draw(st.sampled_from(FRACTIONS_BP))
                if share == 0:  # what the next deadline of the plan needs
                    amount = next((cum for _, cum in view["plan"] if cum > view["paid"]), left) - view["paid"]
                else:
                    amount = left * share // 10_000
                h.submit("pay", lot=lot, amount=max(1, amount))
            elif what == "plan":
                _plan(h, data, lot, actor)
            elif what == "confirm":
                h.submit("confirm", actor, lot=lot)
            else:
                _wait(h, data.draw(waits))
        elif phase == "second_chance":
            what = data.draw(st.sampled_from(["accept_offer", "accept_offer", "decline_offer", "wait"]))
            actor = data.draw(st.sampled_from([view["offer"]["party"], view["offer"]["party"], "operator", "P0"]))
            if what == "wait":
                _wait(h, data.draw(waits))
            else:
                h.submit(what, actor, lot=lot)
        else:
            what = data.draw(st.sampled_from(["pay", "deposit", "accept_offer", "wait"]))
            if what == "wait":
                _wait(h, data.draw(waits))
            elif what == "pay":
                h.submit("pay", lot=lot, amount=1)
            elif what == "deposit":
                h.submit("deposit", lot=lot, party="P0", amount=REQUIRED)
            else:
                h.submit("accept_offer", "P0", lot=lot)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(lot_rules, min_size=2, max_size=2), data=st.data())
def test_money_is_conserved_on_every_path(rules: list[dict[str, Any]], data: st.DataObject) -> None:
    h = Harness()
    lots = [f"L{i}" for i in range(len(rules))]
    for lot, r in zip(lots, rules, strict=True):
        params = {"start_price": START, "increment": STEP, "free_ms": MINUTE, "deposit": REQUIRED, **r}
        if params["reserve"] is None:
            del params["reserve"]
        h.ok("open_lot", lot=lot, mode="english", params=params)
    _bidding(h, data, lots)
    _settling(h, data, lots)
    h.run(800 * DAY)  # every deadline (plans reach at most a year) runs out
    for lot in lots:
        _assert_books_closed(h, lot)
    h.assert_replays()


def _assert_books_closed(h: Harness, lot_id: str) -> None:
    lot = h.engine.lot(lot_id)
    assert lot.phase in ("settled", "no_sale"), f"{lot_id} still in {lot.phase}"
    assert all(held == 0 for held in lot.deposits.values())
    money = h.money(lot_id)
    assert money["deposit"] == money["refund"] + money["forfeit"] + money["deposit_applied"]

    # Every party's deposit ends in exactly one bucket (the buyer's may be applied with the excess refunded).
    paid_in: dict[str, int] = defaultdict(int)
    buckets: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for e in h.events(lot=lot_id):
        if e.kind == "deposit" and e.data.get("ok"):
            for party, amount in deposit_items(e.data):
                paid_in[party] += amount
        elif e.kind in ("refund", "forfeit", "deposit_applied"):
            for party, amount in refund_items(e.data):
                assert amount > 0
                buckets[party][e.kind].append(amount)
    for party, amount in paid_in.items():
        got = buckets[party]
        assert sum(sum(v) for v in got.values()) == amount, (party, amount, dict(got))
        assert all(len(v) <= 1 for v in got.values()), (party, dict(got))
        assert not (got["forfeit"] and (got["refund"] or got["deposit_applied"])), (party, dict(got))
    assert set(buckets) <= set(paid_in)

    # Cash: every payment is applied to the price or repaid; a settled price is covered exactly once.
    pays = sum(e.data["amount"] for e in h.events("pay", lot_id) if e.data["ok"])
    repaid = sum(e.data["amount"] for e in h.events("repay", lot_id))
    settled = h.events("settled", lot_id)
    assert len(settled) <= 1
    assert pays == repaid + sum(e.data["paid"] for e in settled)
    for e in settled:
        price = h.events("deal", lot_id)[-1].data["price"]
        assert e.data["paid"] + e.data["deposit_applied"] == e.data["price"] == price
        (split,) = (s.data for s in h.events("split", lot_id))
        assert split["fee"] + split["inventors"] + split["transfer_staff"] + split["institution"] == split["price"]
        assert min(split["fee"], split["inventors"], split["transfer_staff"], split["institution"]) >= 0
        assert h.events("final", lot_id), "a settled deal is published and final once every deadline has passed"
    if lot.phase == "no_sale":
        assert not settled and not h.events("deposit_applied", lot_id)
