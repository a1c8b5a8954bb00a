"""Agreement pricing: the 15-day notice, objections, competing offers and their conversion to an auction."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from auction_engine.model import DAY, HOUR, MINUTE
from auction_engine.rules.agreement import AgreementParams

from .harness import Harness

PRICE = 1_000_000  # ¥10,000
INC = 10_000  # the default increment: 1% of the price
DEPOSIT = 100_000  # the default deposit: 10% of the price
BASE = {"price": PRICE, "buyer": "B"}


def agreement(h: Harness, lot: str = "L1", deposits: dict[str, int] | None = None, **params: Any) -> None:
    """Open an agreement lot sold by S to B at PRICE."""
    h.open_lot(lot, "agreement", deposits, seller="S", params={**BASE, **params})


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
    p = AgreementParams(price=PRICE, buyer="B")
    assert p.notice_days == 15  # 公示期: 15 (calendar) days
    assert not p.competing_offers and p.competing_min_premium_bp == 0
    assert p.increment() == INC and p.min_offer() == PRICE + INC
    assert p.auction_free_ms == HOUR and p.auction_countdown_ms is None


def test_fifteen_calendar_day_notice_then_deal(h: Harness) -> None:
    agreement(h, holidays=["2023-11-20", "2023-11-21"])  # holidays do not shorten a calendar-day notice
    opened = h.now
    notice = h.last("phase")
    assert (notice["phase"], notice["until"], notice["price"], notice["buyer"]) == (
        "notice",
        opened + 15 * DAY,
        PRICE,
        "B",
    )
    h.run(15 * DAY - 1)
    assert h.engine.lot("L1").phase == "notice" and not h.events("deal")
    h.run(1)
    deal = h.events("deal")[-1]
    assert deal.t == opened + 15 * DAY
    assert (deal.data["buyer"], deal.data["price"], deal.data["rule"]) == ("B", PRICE, "agreement.notice_passed")
    assert h.last("notice_end") == {"lot": "L1", "objections": 0, "pending": 0}
    pay_in_full(h)
    assert_money_conserved(h)
    h.assert_replays()


def test_notice_days_is_a_parameter(h: Harness) -> None:
    agreement(h, notice_days=3)
    opened = h.now
    h.run(3 * DAY)
    assert h.events("deal")[-1].t == opened + 3 * DAY
    h.assert_replays()


def test_dismissed_objection_lets_the_deal_stand(h: Harness) -> None:
    agreement(h)
    h.run(DAY)
    assert h.ok("object", "X", lot="L1", grounds="price too low").rule == "agreement.objection"
    assert h.engine.view("L1", "X")["my_objections"] == [{"objection": 0, "status": "pending"}]
    public = h.engine.view("L1")
    assert public["objections"] == 1 and public["pending_objections"] == 1 and "my_objections" not in public
    h.run(DAY)
    assert h.ok("resolve_objection", lot="L1", objection=0, upheld=False).rule == "agreement.objection_dismissed"
    assert h.engine.lot("L1").phase == "notice"  # the deal waits for the notice end
    h.run(13 * DAY)
    assert h.last("deal")["rule"] == "agreement.notice_passed"
    assert h.last("notice_end") == {"lot": "L1", "objections": 1, "pending": 0}
    pay_in_full(h)
    h.assert_replays()


def test_upheld_objection_cancels_and_the_item_may_be_relisted(h: Harness) -> None:
    agreement(h, deposits={"B": DEPOSIT}, competing_offers=True)
    h.ok("deposit", lot="L1", party="C", amount=DEPOSIT)
    h.ok("object", "X", lot="L1", grounds="ownership disputed")
    assert h.ok("resolve_objection", lot="L1", objection=0, upheld=True).rule == "agreement.objection_upheld"
    assert h.last("no_sale") == {"lot": "L1", "reason": "objection_upheld", "mode": "agreement"}
    assert {r["party"] for r in h.refunds("L1")} == {"B", "C"}
    assert_money_conserved(h)
    h.rejected("lot_closed", "object", "Y", lot="L1", grounds="late")
    h.run(20 * DAY)
    assert not h.events("deal")
    agreement(h, "L2", price=PRICE + INC)  # re-listing is a new lot
    h.run(15 * DAY)
    assert h.last("deal")["price"] == PRICE + INC
    h.assert_replays()


def test_pending_objection_at_notice_end_waits_for_the_operator(h: Harness) -> None:
    agreement(h)
    h.ok("object", "X", lot="L1", grounds="first")
    h.ok("object", "Y", lot="L1", grounds="second")
    h.run(15 * DAY)
    assert h.last("notice_end") == {"lot": "L1", "objections": 2, "pending": 2}
    lot = h.engine.lot("L1")
    assert lot.phase == "objection_pending" and not h.events("deal")
    assert h.engine.next_deadline() is None  # no deadline: the lot waits for the resolutions
    h.run(30 * DAY)
    assert lot.phase == "objection_pending"
    h.rejected("notice_over", "object", "Z", lot="L1", grounds="too late")
    h.ok("resolve_objection", lot="L1", objection=1, upheld=False)
    assert lot.phase == "objection_pending"
    h.ok("resolve_objection", lot="L1", objection=0, upheld=False)
    deal = h.events("deal")[-1]
    assert deal.t == h.now and deal.data["rule"] == "agreement.objections_dismissed"
    assert (deal.data["buyer"], deal.data["price"]) == ("B", PRICE)
    pay_in_full(h)
    h.assert_replays()


def test_pending_objection_upheld_after_notice_end(h: Harness) -> None:
    agreement(h)
    h.ok("object", "X", lot="L1", grounds="first")
    h.run(16 * DAY)
    h.ok("resolve_objection", lot="L1", objection=0, upheld=True)
    assert h.last("no_sale")["reason"] == "objection_upheld"
    h.assert_replays()


def test_competing_offer_converts_to_english_and_the_original_buyer_wins(h: Harness) -> None:
    agreement(h, deposits={"C": DEPOSIT}, competing_offers=True)
    h.run(2 * DAY)
    offer = h.ok("offer", "C", lot="L1", amount=PRICE + 2 * INC)
    assert offer.rule == "agreement.competing_offer"
    convert = h.last("convert")
    assert convert["to"] == "english"
    assert (convert["params"]["start_price"], convert["params"]["increment"]) == (PRICE, INC)
    assert h.last("opening_bid") == {
        "lot": "L1",
        "bidder": "C",
        "amount": PRICE + 2 * INC,
        "rule": "agreement.competing_offer",
    }
    lot = h.engine.lot("L1")
    assert lot.mode == "english" and lot.history == ["agreement", "english"] and lot.phase == "free"
    view = h.engine.view("L1")
    assert (view["price"], view["leader"], view["next_bid"]) == (PRICE + 2 * INC, "C", PRICE + 3 * INC)
    h.rejected("not_qualified", "bid", "B", lot="L1", amount=PRICE + 3 * INC)  # B needs a deposit too
    h.ok("deposit", lot="L1", party="B", amount=DEPOSIT)  # the operator admits the original buyer
    h.rejected("below_increment", "bid", "B", lot="L1", amount=PRICE + 2 * INC)
    h.ok("bid", "B", lot="L1", amount=PRICE + 3 * INC)
    h.run(60 * MINUTE + 5 * MINUTE)  # 60 minutes free bidding (auction_free_ms), 5 minutes countdown (English)
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"], deal["rule"]) == ("B", PRICE + 3 * INC, "english.highest")
    pay_in_full(h)
    assert_money_conserved(h)
    h.assert_replays()


def test_competing_offer_is_binding(h: Harness) -> None:
    agreement(
        h,
        deposits={"C": DEPOSIT},
        competing_offers=True,
        auction_free_ms=0,
        auction_countdown_ms=2 * MINUTE,
        auction_increment=5_000,
    )
    h.ok("offer", "C", lot="L1", amount=PRICE + 5_000)
    params = h.last("convert")["params"]
    assert (params["free_ms"], params["countdown_ms"], params["increment"]) == (0, 2 * MINUTE, 5_000)
    h.run(2 * MINUTE)
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"]) == ("C", PRICE + 5_000)
    pay_in_full(h)
    assert_money_conserved(h)
    h.assert_replays()


def test_minimum_premium_and_increment_grid(h: Harness) -> None:
    agreement(h, deposits={"C": DEPOSIT}, competing_offers=True, competing_min_premium_bp=500)
    assert h.engine.view("L1")["min_offer"] == PRICE + 50_000
    h.rejected("offer_too_low", "offer", "C", lot="L1", amount=PRICE + 40_000)
    h.rejected("not_increment_multiple", "offer", "C", lot="L1", amount=PRICE + 55_000)
    h.ok("offer", "C", lot="L1", amount=PRICE + 60_000)
    h.assert_replays()


def test_pending_objections_lapse_at_conversion(h: Harness) -> None:
    agreement(h, deposits={"C": DEPOSIT}, competing_offers=True)
    h.ok("object", "X", lot="L1", grounds="price too low")
    h.ok("offer", "C", lot="L1", amount=PRICE + INC)
    assert h.last("objection_lapsed") == {"lot": "L1", "objection": 0, "reason": "converted"}
    h.rejected("unknown_command", "resolve_objection", lot="L1", objection=0, upheld=True)
    h.rejected("unknown_command", "offer", "D", lot="L1", amount=PRICE + 5 * INC)
    h.assert_replays()


def test_rejections(h: Harness) -> None:
    agreement(h, deposits={"C": DEPOSIT // 2, "B": DEPOSIT, "S": DEPOSIT}, competing_offers=True)
    h.rejected("bad_command", "object", "X", lot="L1")
    h.rejected("bad_command", "object", "X", lot="L1", grounds="  ")
    h.rejected("bad_command", "object", "X", lot="L1", grounds=7)
    h.rejected("bad_command", "offer", "C", lot="L1")
    h.rejected("buyer_cannot_offer", "offer", "B", lot="L1", amount=PRICE + INC)
    h.rejected("seller_cannot_bid", "offer", "S", lot="L1", amount=PRICE + INC)
    h.rejected("offer_too_low", "offer", "C", lot="L1", amount=PRICE)
    h.rejected("not_increment_multiple", "offer", "C", lot="L1", amount=PRICE + INC + 1)
    h.rejected("not_qualified", "offer", "C", lot="L1", amount=PRICE + INC)  # half the deposit
    h.rejected("not_qualified", "offer", "D", lot="L1", amount=PRICE + INC)  # no deposit
    h.rejected("unknown_objection", "resolve_objection", lot="L1", objection=0, upheld=False)
    h.ok("object", "X", lot="L1", grounds="r")
    h.rejected("forbidden", "resolve_objection", "X", lot="L1", objection=0, upheld=False)
    h.rejected("bad_command", "resolve_objection", lot="L1", objection=0, upheld="no")
    h.rejected("bad_command", "resolve_objection", lot="L1", objection=-1, upheld=False)
    h.rejected("bad_command", "resolve_objection", lot="L1", upheld=False)
    h.ok("resolve_objection", lot="L1", objection=0, upheld=False)
    h.rejected("objection_resolved", "resolve_objection", lot="L1", objection=0, upheld=True)
    h.rejected("unknown_command", "register", "C", lot="L1")
    h.ok("object", "X", lot="L1", grounds="again")
    h.run(15 * DAY)
    h.rejected("notice_over", "offer", "D", lot="L1", amount=PRICE + INC)
    h.rejected("notice_over", "object", "D", lot="L1", grounds="late")
    agreement(h, "L2")
    h.rejected("offers_not_allowed", "offer", "C", lot="L2", amount=PRICE + INC)
    h.assert_replays()


def test_bad_params_are_rejected_by_name(h: Harness) -> None:
    h.rejected("missing_param", "open_lot", lot="L1", mode="agreement", params={"price": PRICE})
    h.rejected("missing_param", "open_lot", lot="L1", mode="agreement", params={"buyer": "B"})
    for bad in (
        {"price": 0},
        {"buyer": ""},
        {"notice_days": 0},
        {"competing_min_premium_bp": -1},
        {"auction_increment": 0},
        {"auction_increment_bp": 0},
        {"auction_free_ms": -1},
        {"auction_countdown_ms": 0},
        {"competing_offers": 1},
        {"start_price": PRICE},
    ):
        result = h.rejected("bad_param", "open_lot", lot="L1", mode="agreement", params={**BASE, **bad})
        assert next(iter(bad)) in (result.message or "")
    h.assert_replays()


# -- property: random objections, resolutions, deposits, offers and bids --------------------------------

PARTIES = ["B", "C", "D", "S", "X"]
waits = st.sampled_from([0, MINUTE, HOUR, 6 * HOUR, DAY])
step = st.one_of(
    st.tuples(st.just("object"), st.sampled_from(PARTIES), waits, st.booleans()),
    st.tuples(st.just("resolve"), st.integers(0, 3), waits, st.booleans()),
    st.tuples(st.just("deposit"), st.sampled_from(["B", "C", "D"]), waits, st.integers(0, 3)),
    st.tuples(st.just("offer"), st.sampled_from(["B", "C", "D", "S"]), waits, st.integers(-1, 4)),
    st.tuples(st.just("offer"), st.sampled_from(["C", "D"]), st.sampled_from([0, HOUR]), st.integers(1, 4)),
    st.tuples(st.just("bid"), st.sampled_from(PARTIES), st.sampled_from([0, MINUTE, 10 * MINUTE]), st.integers(0, 3)),
)


def _act(h: Harness, kind: str, who: Any, arg: Any) -> None:
    lot = h.engine.lot("L1")
    if kind == "object":
        h.submit("object", who, lot="L1", grounds="r" if arg else "")
    elif kind == "resolve":
        h.submit("resolve_objection", lot="L1", objection=who, upheld=arg)
    elif kind == "deposit":
        h.submit("deposit", lot="L1", party=who, amount=DEPOSIT if arg else DEPOSIT // 2)  # 3 in 4 in full
    elif kind == "offer":
        h.submit("offer", who, lot="L1", amount=PRICE + arg * INC if arg >= 0 else PRICE + INC // 2)
    elif lot.mode == "english":
        high = lot.state.high or PRICE
        h.submit("bid", who, lot="L1", amount=high + (arg + 1) * INC)


def _finish(h: Harness, pay: bool) -> None:
    """Drive the lot to its end: let deadlines pass, dismiss what is pending, pay or default."""
    lot = h.engine.lot("L1")
    for _ in range(20):
        if lot.phase == "objection_pending":
            first = next(i for i, o in enumerate(lot.state.objections) if o.status == "pending")
            h.ok("resolve_objection", lot="L1", objection=first, upheld=False)
        elif lot.phase == "awaiting_payment" and pay:
            pay_in_full(h)
        elif lot.phase in ("notice", "free", "timed", "awaiting_payment", "second_chance"):
            h.run(20 * DAY)
        else:
            return
    raise AssertionError(f"lot did not end: phase {lot.phase}")


@settings(max_examples=400, deadline=None)
@given(
    st.lists(step, max_size=30),
    st.sampled_from([True, True, False]),
    st.sampled_from([0, 500]),
    st.integers(1, 3),
    st.booleans(),
    st.sets(st.sampled_from(["B", "C", "D"])),
)
def test_agreement_invariants(
    steps: list[tuple[str, Any, int, Any]], competing: bool, premium: int, notice_days: int, pay: bool, early: set[str]
) -> None:
    h = Harness()
    agreement(
        h,
        deposits=dict.fromkeys(sorted(early), DEPOSIT),
        competing_offers=competing,
        competing_min_premium_bp=premium,
        notice_days=notice_days,
    )
    notice_end = h.now + notice_days * DAY
    for kind, who, wait, arg in steps:
        h.run(wait)
        _act(h, kind, who, arg)
    _finish(h, pay)

    events = h.events(lot="L1")
    outcomes = [e for e in events if e.kind in ("deal", "no_sale")]
    outcome = outcomes[0]  # the pricing outcome (later ones are settlement's: second chance, default)
    assert all(e.kind == "deal" for e in outcomes[:-1]), "nothing follows a no sale"
    offers = [e for e in events if e.kind == "offer" and e.data["ok"]]
    converts = [e for e in events if e.kind == "convert"]
    upheld = [e for e in events if e.kind == "resolve_objection" and e.data["ok"] and e.data["upheld"]]
    objections = [e for e in events if e.kind == "object" and e.data["ok"]]
    if not competing:
        assert not offers
    assert len(offers) == len(converts) <= 1
    for e in objections:
        assert e.t < notice_end
    if converts:
        offer = offers[0]
        assert offer.t < notice_end and offer.data["actor"] not in ("B", "S")
        assert offer.seq < converts[0].seq and not any(e.seq < offer.seq for e in upheld)
        assert outcome.kind == "deal", f"a binding offer cannot end in {outcome.data}"
        assert outcome.data["rule"] == "english.highest"
        assert outcome.data["price"] >= offer.data["amount"]
    elif upheld:
        assert outcome.kind == "no_sale" and outcome.data["reason"] == "objection_upheld"
        assert outcome.seq > upheld[0].seq
    else:
        assert outcome.kind == "deal"
        assert (outcome.data["buyer"], outcome.data["price"]) == ("B", PRICE)
        assert outcome.t >= notice_end
        dismissed = [e for e in events if e.kind == "resolve_objection" and e.data["ok"] and e.seq < outcome.seq]
        assert len(dismissed) == len(objections), "every objection was dismissed before the deal"
        waited = any(e.kind == "phase" and e.data["phase"] == "objection_pending" for e in events)
        rule = "agreement.objections_dismissed" if waited else "agreement.notice_passed"
        assert outcome.data["rule"] == rule
    event(f"{outcome.kind} {outcome.data.get('rule', outcome.data.get('reason'))}")
    lot = h.engine.lot("L1")
    assert lot.phase in ("settled", "no_sale")
    assert_money_conserved(h)
    h.assert_replays()
