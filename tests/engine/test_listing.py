"""Listed trading: the 20-working-day listing, 0/1/≥2 qualified buyers, extensions, re-lists and approval."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from auction_engine.market import deposit_items, refund_items
from auction_engine.model import DAY, HOUR, MINUTE
from auction_engine.rules.listing import ListingParams

from .harness import Harness

LIST = 1_000_000  # ¥10,000
INC = 10_000  # the default increment: 1% of the list price
DEPOSIT = 100_000  # the default deposit: 10% of the list price
WEEKS4 = 28 * DAY  # 20 working days from a Wednesday, without holidays


def listing(h: Harness, lot: str = "L1", deposits: dict[str, int] | None = None, **params: Any) -> None:
    """Open a listing lot sold by S at LIST (an `appraisal` keyword sets the lot's appraisal)."""
    appraisal = params.pop("appraisal", None)
    extra = {} if appraisal is None else {"appraisal": appraisal}
    h.open_lot(lot, "listing", deposits, seller="S", params={"list_price": LIST, **params}, **extra)


def qualify(h: Harness, *parties: str, lot: str = "L1", amount: int = DEPOSIT) -> None:
    """Register each party and record its deposit."""
    for party in parties:
        h.ok("register", party, lot=lot)
        h.ok("deposit", lot=lot, party=party, amount=amount)


def pay_in_full(h: Harness, lot: str = "L1") -> None:
    """The buyer pays what its deposit does not cover."""
    state = h.engine.lot(lot)
    h.ok("pay", lot=lot, amount=state.deal.cash - state.deal.paid)
    assert state.phase == "settled"


def assert_money_conserved(h: Harness, lot: str = "L1") -> None:
    """Every deposit ended refunded, forfeited or applied to the price."""
    m = h.money(lot)
    assert m["deposit"] == m["refund"] + m["forfeit"] + m["deposit_applied"]
    assert not any(h.engine.lot(lot).deposits.values())


def test_defaults_are_domain_numbers() -> None:
    p = ListingParams(list_price=LIST)
    assert p.listing_working_days == 20  # 挂牌期: 20 working days
    assert p.approval_floor_bp == 9_000  # a re-list below 90% of the appraisal needs approval
    assert p.on_no_buyer == "delist"
    assert (p.extend_working_days, p.relist_price_bp, p.max_rounds) == (20, 9_000, 3)
    assert p.increment(LIST) == INC and p.auction_free_ms == HOUR and p.auction_countdown_ms is None


def test_twenty_working_days_skip_weekends(h: Harness) -> None:
    listing(h)  # opens Wednesday 2023-11-15, 06:13 Beijing time
    opened = h.now
    assert h.last("phase") == {"lot": "L1", "phase": "listing", "until": opened + WEEKS4, "price": LIST, "round": 1}
    h.run(WEEKS4 - 1)
    assert h.engine.lot("L1").phase == "listing" and not h.events("listing_end")
    h.run(1)
    end = h.events("listing_end")[-1]
    assert end.t == opened + WEEKS4
    assert end.data == {"lot": "L1", "round": 1, "price": LIST, "registered": 0, "qualified": []}
    assert h.last("no_sale")["reason"] == "no_buyer"  # default: delist
    h.assert_replays()


def test_a_holiday_lengthens_the_listing(h: Harness) -> None:
    listing(h, holidays=["2023-11-20"])  # a Monday
    listing(h, "L2", holidays=["2023-11-18"])  # a Saturday: no working day lost
    opened = h.now
    assert h.engine.lot("L1").state.end == opened + WEEKS4 + DAY
    assert h.engine.lot("L2").state.end == opened + WEEKS4
    h.run(WEEKS4)
    assert [e.data["lot"] for e in h.events("listing_end")] == ["L2"]
    h.run(DAY)
    assert [e.data["lot"] for e in h.events("listing_end")] == ["L2", "L1"]
    h.assert_replays()


def test_one_qualified_buyer_buys_at_the_list_price(h: Harness) -> None:
    listing(h, listing_working_days=5)
    h.ok("deposit", lot="L1", party="A", amount=DEPOSIT)  # the deposit may come before the registration
    assert h.ok("register", "A", lot="L1").rule == "listing.register"
    h.ok("register", "B", lot="L1")  # registered, no deposit: not qualified
    h.ok("register", "D", lot="L1")
    h.ok("deposit", lot="L1", party="D", amount=DEPOSIT - 1)  # short by a fen: not qualified
    h.ok("deposit", lot="L1", party="C", amount=DEPOSIT)  # deposited, not registered: not qualified
    assert h.engine.view("L1", "A")["registered"] and not h.engine.view("L1", "C")["registered"]
    h.run(7 * DAY)  # 5 working days from a Wednesday
    assert h.last("listing_end")["qualified"] == ["A"]
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"], deal["rule"]) == ("A", LIST, "listing.single_buyer")
    assert {r["party"] for r in h.refunds()} == {"C", "D"}
    pay_in_full(h)
    assert_money_conserved(h)
    h.assert_replays()


def test_two_qualified_buyers_convert_to_an_english_auction(h: Harness) -> None:
    listing(h, listing_working_days=5)
    qualify(h, "A", "B")
    h.ok("deposit", lot="L1", party="C", amount=DEPOSIT)  # not registered
    h.ok("register", "D", lot="L1")
    h.ok("deposit", lot="L1", party="D", amount=DEPOSIT // 2)  # registered, half the deposit
    h.run(7 * DAY)
    assert h.last("listing_end")["qualified"] == ["A", "B"]
    refunds = {r["party"]: r["reason"] for r in h.refunds()}
    assert refunds == {"C": "not_qualified", "D": "not_qualified"}
    convert = h.last("convert")
    assert convert["to"] == "english"
    assert (convert["params"]["start_price"], convert["params"]["increment"]) == (LIST, INC)
    lot = h.engine.lot("L1")
    assert lot.mode == "english" and lot.history == ["listing", "english"]
    h.rejected("not_qualified", "bid", "C", lot="L1", amount=LIST)  # refunded: no longer admitted
    h.rejected("not_qualified", "bid", "D", lot="L1", amount=LIST)
    h.ok("bid", "A", lot="L1", amount=LIST)
    h.ok("bid", "B", lot="L1", amount=LIST + INC)
    h.run(60 * MINUTE + 5 * MINUTE)
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"], deal["rule"]) == ("B", LIST + INC, "english.highest")
    pay_in_full(h)
    assert_money_conserved(h)
    h.assert_replays()


def test_converted_auction_settings(h: Harness) -> None:
    listing(h, listing_working_days=1, auction_increment=2_500, auction_free_ms=MINUTE, auction_countdown_ms=MINUTE)
    qualify(h, "A", "B")
    h.run(DAY)
    params = h.last("convert")["params"]
    assert (params["increment"], params["free_ms"], params["countdown_ms"]) == (2_500, MINUTE, MINUTE)
    h.ok("bid", "A", lot="L1", amount=LIST)  # at the listing price: the first bid
    h.run(2 * MINUTE)
    assert h.last("deal")["buyer"] == "A"
    h.assert_replays()


def test_extend_then_single_buyer(h: Harness) -> None:
    listing(h, on_no_buyer="extend", listing_working_days=5, extend_working_days=2)
    end = h.engine.lot("L1").state.end
    h.ok("register", "A", lot="L1")  # registrations carry over to the extension
    h.run(7 * DAY)
    extend = h.events("extend")[-1]
    assert extend.t == end and extend.data == {"lot": "L1", "round": 2, "until": end + 2 * DAY}
    assert h.engine.lot("L1").phase == "listing"
    h.ok("deposit", lot="L1", party="A", amount=DEPOSIT)
    h.run(2 * DAY)
    assert h.last("deal")["buyer"] == "A"
    h.assert_replays()


def test_extensions_count_toward_max_rounds(h: Harness) -> None:
    listing(h, on_no_buyer="extend", listing_working_days=1, extend_working_days=1, max_rounds=2)
    h.run(DAY)
    assert h.last("extend")["round"] == 2
    h.run(DAY)
    assert h.last("no_sale")["reason"] == "rounds_exhausted"
    assert len(h.events("extend")) == 1
    h.assert_replays()


def test_relist_at_ninety_percent_then_approval_below_the_floor(h: Harness) -> None:
    listing(h, on_no_buyer="relist", listing_working_days=5, appraisal=LIST)
    h.run(7 * DAY)
    relist = h.events("relist")[-1]
    assert relist.data == {
        "lot": "L1",
        "round": 2,
        "price": 900_000,
        "previous": LIST,
        "until": relist.t + 7 * DAY,
        "below_floor": False,
        "approved": False,
    }
    assert h.engine.view("L1")["deposit"] == 90_000  # the deposit follows the list price
    h.run(7 * DAY)  # 810,000 < 90% of the appraisal: flagged, the lot waits for the operator
    flag = h.last("relist_needs_approval")
    assert flag == {
        "lot": "L1",
        "price": 810_000,
        "floor": 900_000,
        "appraisal": LIST,
        "rule": "listing.approval_floor",
        "flagged": True,
    }
    lot = h.engine.lot("L1")
    assert lot.phase == "awaiting_approval" and h.engine.next_deadline() is None
    assert h.engine.view("L1")["pending_price"] == 810_000
    h.run(30 * DAY)
    assert lot.phase == "awaiting_approval"
    h.rejected("not_listing", "register", "A", lot="L1")
    assert h.ok("approve_relist", lot="L1", approved=True).rule == "listing.relist_approved"
    relist = h.events("relist")[-1]
    assert relist.t == h.now
    assert (relist.data["round"], relist.data["price"], relist.data["below_floor"]) == (3, 810_000, True)
    qualify(h, "A", amount=81_000)
    h.run(7 * DAY)
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"]) == ("A", 810_000)
    pay_in_full(h)
    assert_money_conserved(h)
    h.assert_replays()


def test_rejected_approval_is_no_sale(h: Harness) -> None:
    listing(
        h, on_no_buyer="relist", listing_working_days=1, relist_price_bp=8_000, appraisal=LIST, deposits={"A": DEPOSIT}
    )
    h.run(DAY)
    assert h.last("relist_needs_approval")["price"] == 800_000
    assert h.ok("approve_relist", lot="L1", approved=False).rule == "listing.relist_rejected"
    assert h.last("no_sale")["reason"] == "relist_rejected"
    assert_money_conserved(h)
    h.assert_replays()


def test_operator_relists_at_a_price_of_its_choice(h: Harness) -> None:
    listing(h, on_no_buyer="relist", listing_working_days=1, relist_price_bp=8_000, appraisal=LIST)
    h.run(DAY)
    assert h.ok("relist", lot="L1", price=950_000).rule == "listing.relist_manual"
    assert (h.last("relist")["price"], h.last("relist")["below_floor"]) == (950_000, False)
    h.run(DAY)  # 760,000: below the floor again
    h.ok("relist", lot="L1", price=850_000)  # on a Friday: the period ends on Monday
    assert h.last("relist")["below_floor"] and h.last("relist")["round"] == 3
    h.run(3 * DAY)
    assert h.last("no_sale")["reason"] == "rounds_exhausted"
    h.assert_replays()


def test_no_appraisal_no_approval_and_price_exhausted(h: Harness) -> None:
    listing(h, on_no_buyer="relist", listing_working_days=1, relist_price_bp=5_000, max_rounds=3)
    h.run(2 * DAY)
    assert [e.data["price"] for e in h.events("relist")] == [500_000, 250_000]
    assert not h.events("relist_needs_approval")
    listing(h, "L2", list_price=1, on_no_buyer="relist", listing_working_days=1)  # on a Friday
    h.run(3 * DAY)
    assert h.events("no_sale", "L2")[-1].data == {"lot": "L2", "reason": "price_exhausted", "mode": "listing"}
    h.assert_replays()


def test_withdrawn_registration_is_refunded(h: Harness) -> None:
    listing(h, listing_working_days=1)
    qualify(h, "A")
    assert h.ok("withdraw_registration", "A", lot="L1").rule == "listing.withdraw"
    assert h.last("refund") == {"lot": "L1", "party": "A", "amount": DEPOSIT, "reason": "withdrawn"}
    h.rejected("not_registered", "withdraw_registration", "A", lot="L1")
    h.run(DAY)
    assert h.last("listing_end")["qualified"] == [] and h.last("no_sale")["reason"] == "no_buyer"
    assert_money_conserved(h)
    h.assert_replays()


def test_rejections(h: Harness) -> None:
    listing(h, on_no_buyer="relist", listing_working_days=1, appraisal=2 * LIST)
    h.rejected("seller_cannot_bid", "register", "S", lot="L1")
    h.ok("register", "A", lot="L1")
    h.rejected("already_registered", "register", "A", lot="L1")
    h.rejected("not_registered", "withdraw_registration", "B", lot="L1")
    h.rejected("no_relist_pending", "approve_relist", lot="L1", approved=True)
    h.rejected("no_relist_pending", "relist", lot="L1", price=LIST)
    h.rejected("forbidden", "approve_relist", "A", lot="L1", approved=True)
    h.rejected("forbidden", "relist", "A", lot="L1", price=LIST)
    h.rejected("unknown_command", "bid", "A", lot="L1", amount=LIST)
    h.run(DAY)
    assert h.engine.lot("L1").phase == "awaiting_approval"
    h.rejected("not_listing", "register", "B", lot="L1")
    h.rejected("not_listing", "withdraw_registration", "A", lot="L1")
    h.rejected("bad_command", "approve_relist", lot="L1", approved="yes")
    h.rejected("bad_command", "approve_relist", lot="L1")
    h.rejected("bad_command", "relist", lot="L1", price=0)
    h.rejected("bad_command", "relist", lot="L1", price=-5)
    h.rejected("bad_command", "relist", lot="L1")
    h.ok("approve_relist", lot="L1", approved=False)
    h.rejected("lot_closed", "register", "B", lot="L1")
    h.assert_replays()


def test_bad_params_are_rejected_by_name(h: Harness) -> None:
    h.rejected("missing_param", "open_lot", lot="L1", mode="listing", params={})
    for bad in (
        {"list_price": 0},
        {"listing_working_days": 0},
        {"extend_working_days": 0},
        {"approval_floor_bp": -1},
        {"relist_price_bp": 0},
        {"relist_price_bp": 10_001},
        {"max_rounds": 0},
        {"on_no_buyer": "auction"},
        {"auction_increment": 0},
        {"auction_increment_bp": 0},
        {"auction_free_ms": 0},
        {"auction_countdown_ms": 0},
        {"price": LIST},
    ):
        result = h.rejected("bad_param", "open_lot", lot="L1", mode="listing", params={"list_price": LIST, **bad})
        assert next(iter(bad)) in (result.message or "")
    h.assert_replays()


# -- property: random registrations, deposits, withdrawals, approvals and bids --------------------------

PARTIES = ["A", "B", "C", "S"]
waits = st.sampled_from([0, HOUR, DAY, 3 * DAY])
step = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(PARTIES), waits, st.just(0)),
    st.tuples(st.just("withdraw"), st.sampled_from(PARTIES), waits, st.just(0)),
    st.tuples(st.just("deposit"), st.sampled_from(PARTIES), waits, st.sampled_from([DEPOSIT, 81_000, 50_000])),
    st.tuples(st.just("approve"), st.just(""), waits, st.booleans()),
    st.tuples(st.just("relist"), st.just(""), waits, st.sampled_from([700_000, 950_000])),
    st.tuples(st.just("bid"), st.sampled_from(PARTIES), st.sampled_from([0, MINUTE, 10 * MINUTE]), st.integers(0, 2)),
)


def _act(h: Harness, kind: str, who: str, arg: Any) -> None:
    lot = h.engine.lot("L1")
    if kind == "register":
        h.submit("register", who, lot="L1")
    elif kind == "withdraw":
        h.submit("withdraw_registration", who, lot="L1")
    elif kind == "deposit":
        h.submit("deposit", lot="L1", party=who, amount=arg)
    elif kind == "approve":
        h.submit("approve_relist", lot="L1", approved=arg)
    elif kind == "relist":
        h.submit("relist", lot="L1", price=arg)
    elif lot.mode == "english":
        high = lot.state.high
        h.submit("bid", who, lot="L1", amount=lot.params.start_price if high is None else high + (arg + 1) * INC)


def _finish(h: Harness, pay: bool, approve: bool) -> None:
    """Drive the lot to its end: let deadlines pass, answer approvals, pay or default."""
    lot = h.engine.lot("L1")
    for _ in range(30):
        if lot.phase == "awaiting_approval":
            h.ok("approve_relist", lot="L1", approved=approve)
        elif lot.phase == "awaiting_payment" and pay:
            pay_in_full(h)
        elif lot.phase in ("listing", "free", "timed", "awaiting_payment", "second_chance"):
            h.run(30 * DAY)
        else:
            return
    raise AssertionError(f"lot did not end: phase {lot.phase}")


def _check_listing_rules(h: Harness, p: ListingParams, appraisal: int | None) -> str:
    """Re-derive every listing-end outcome from a shadow of registrations and deposits; return the last."""
    events = h.events(lot="L1")
    price, rounds, awaiting = p.list_price, 1, False
    registered: dict[str, None] = {}
    held: dict[str, int] = {}
    outcome = ""
    for i, e in enumerate(events):
        k, d = e.kind, e.data
        if k == "register" and d["ok"]:
            assert not awaiting
            registered[d["actor"]] = None
        elif k == "withdraw_registration" and d["ok"]:
            del registered[d["actor"]]
        elif k == "deposit" and d["ok"]:
            for party, amount in deposit_items(d):
                held[party] = held.get(party, 0) + amount
        elif k in ("refund", "forfeit", "deposit_applied"):
            for party, amount in refund_items(d):
                held[party] -= amount
        elif k == "relist" and "ok" not in d:  # the entry, not the operator's command of the same name
            assert d["approved"] == (events[i - 1].kind in ("approve_relist", "relist"))
            assert d["round"] == rounds + 1 <= p.max_rounds and d["previous"] == price
            price, rounds, awaiting = d["price"], d["round"], False
        elif k == "extend":
            assert d["round"] == rounds + 1 <= p.max_rounds
            rounds = d["round"]
        elif k == "listing_end":
            needed = price * 1_000 // 10_000  # the default deposit: 10% of the current list price
            qualified = [party for party in registered if held.get(party, 0) >= needed]
            assert (d["qualified"], d["price"], d["round"]) == (qualified, price, rounds)
            nxt = events[i + 1]
            if len(qualified) == 1:
                outcome = "single"
                assert nxt.kind == "deal" and nxt.data["rule"] == "listing.single_buyer"
                assert (nxt.data["buyer"], nxt.data["price"]) == (qualified[0], price)
            elif len(qualified) > 1:
                outcome = "convert"
                j = i + 1
                while events[j].kind == "refund":
                    assert events[j].data["party"] not in qualified
                    assert events[j].data["reason"] == "not_qualified"
                    held[events[j].data["party"]] -= events[j].data["amount"]
                    j += 1
                assert events[j].kind == "convert" and events[j].data["params"]["start_price"] == price
                assert {party for party, amount in held.items() if amount} <= set(qualified)
                break  # the English rules take over (tested in test_english)
            elif p.on_no_buyer == "delist" or rounds >= p.max_rounds:
                outcome = "no_buyer" if p.on_no_buyer == "delist" else "rounds_exhausted"
                assert nxt.kind == "no_sale" and nxt.data["reason"] == outcome
            elif p.on_no_buyer == "extend":
                assert nxt.kind == "extend"
            else:
                new = price * p.relist_price_bp // 10_000
                floor = None if appraisal is None else appraisal * p.approval_floor_bp // 10_000
                if new == 0:
                    assert nxt.kind == "no_sale" and nxt.data["reason"] == "price_exhausted"
                elif floor is not None and new < floor:
                    assert nxt.kind == "relist_needs_approval" and nxt.data["price"] == new
                    awaiting = True
                else:
                    assert nxt.kind == "relist" and nxt.data["price"] == new and not nxt.data["below_floor"]
    return outcome


@settings(max_examples=300, deadline=None)
@given(
    st.lists(step, max_size=30),
    st.sampled_from(["delist", "extend", "relist", "relist"]),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from([9_000, 8_000]),
    st.sampled_from([None, LIST, 1_200_000, 1_200_000]),
    st.booleans(),
    st.booleans(),
    st.sets(st.sampled_from(PARTIES), max_size=2),
    st.sets(st.sampled_from(PARTIES), max_size=2),
)
def test_listing_invariants(
    steps: list[tuple[str, str, int, Any]],
    on_no_buyer: str,
    max_rounds: int,
    days: int,
    relist_bp: int,
    appraisal: int | None,
    pay: bool,
    approve: bool,
    early_registered: set[str],
    early_deposits: set[str],
) -> None:
    h = Harness()
    params = {
        "on_no_buyer": on_no_buyer,
        "max_rounds": max_rounds,
        "listing_working_days": days,
        "extend_working_days": days,
        "relist_price_bp": relist_bp,
    }
    listing(h, appraisal=appraisal, deposits=dict.fromkeys(sorted(early_deposits), DEPOSIT), **params)
    for party in sorted(early_registered):
        h.submit("register", party, lot="L1")
    for kind, who, wait, arg in steps:
        h.run(wait)
        _act(h, kind, who, arg)
    _finish(h, pay, approve)
    outcome = _check_listing_rules(h, ListingParams(list_price=LIST, **params), appraisal)  # type: ignore[arg-type]
    event(outcome or "pending_or_rejected")
    event("needed approval" if h.events("relist_needs_approval") else "no approval needed")
    assert h.engine.lot("L1").phase in ("settled", "no_sale")
    assert_money_conserved(h)
    h.assert_replays()
