"""Settlement: deal, payment (lump sum, parts, instalments), default, second chance, split, publication."""

from __future__ import annotations

from typing import Any

import pytest

from auction_engine.model import DAY, MINUTE
from auction_engine.params import SettlementParams
from auction_engine.rules.settlement import revenue_split

from .harness import Harness

S = SettlementParams()
CAL = S.calendar()
START, STEP, DEPOSIT = 100_000, 10_000, 10_000


def make_deal(
    h: Harness,
    bids: tuple[tuple[str, int], ...] = (("A", 100_000), ("B", 110_000)),
    deposits: dict[str, int] | None = None,
    lot: str = "L1",
    **params: Any,
) -> dict[str, Any]:
    """Open an English lot, place `bids` in free bidding, let it close; return the deal entry."""
    if deposits is None:
        deposits = {"A": DEPOSIT, "B": DEPOSIT, "C": DEPOSIT}
    h.open_lot(lot, "english", deposits, params={"start_price": START, "increment": STEP, "free_ms": MINUTE, **params})
    for bidder, amount in bids:
        h.ok("bid", bidder, lot=lot, amount=amount)
    h.run(10 * MINUTE)
    found = h.events("deal", lot)
    assert found, "the auction struck no deal"
    return found[-1].data


def refunds(h: Harness, lot: str = "L1") -> list[tuple[str, int, str]]:
    return [(r["party"], r["amount"], r["reason"]) for r in h.refunds(lot)]


def kinds(h: Harness, lot: str = "L1", since: int = 0) -> list[str]:
    return [e.kind for e in h.engine.events[since:] if e.data.get("lot") == lot and "ok" not in e.data]


def assert_closed_books(h: Harness, lot: str = "L1") -> None:
    """The lot's path is over: no deposit held, deposits and payments fully accounted for."""
    assert h.engine.lot(lot).phase in ("settled", "no_sale")
    assert all(v == 0 for v in h.engine.lot(lot).deposits.values())
    money = h.money(lot)
    assert money["deposit"] == money["refund"] + money["forfeit"] + money["deposit_applied"]
    paid = sum(e.data["amount"] for e in h.events("pay", lot) if e.data["ok"])
    repaid = sum(e.data["amount"] for e in h.events("repay", lot))
    applied = sum(e.data["paid"] for e in h.events("settled", lot))
    assert paid == repaid + applied
    for e in h.events("split", lot):
        d = e.data
        assert d["fee"] + d["inventors"] + d["transfer_staff"] + d["institution"] == d["price"]
    h.assert_replays()


# -- the deal and a lump sum --------------------------------------------------------------------------


def test_deal_entry_names_the_parties_and_the_money(h: Harness) -> None:
    deal = make_deal(h)
    t = h.events("deal")[-1].t
    due = CAL.add_working_days(t, S.payment_working_days)
    assert deal == {
        "lot": "L1",
        "seller": "seller",
        "buyer": "B",
        "mode": "english",
        "rule": "english.highest",
        "price": 110_000,
        "deposit": DEPOSIT,
        "cash": 100_000,
        "due": due,
        "plan": [[due, 100_000]],
        "publication_until": CAL.add_working_days(t, S.publication_working_days),
        "backups": ["A"],
    }
    # C never bid: refunded at once, with the 5-working-day due date; A is held as the backup.
    assert refunds(h) == [("C", DEPOSIT, "lost")]
    assert h.last("refund")["due"] == CAL.add_working_days(t, S.refund_working_days)
    assert h.engine.lot("L1").deposits == {"A": DEPOSIT, "B": DEPOSIT, "C": 0}
    assert h.engine.view("L1")["due"] == due


def test_lump_sum_paid_settles_then_becomes_final_after_publication(h: Harness) -> None:
    make_deal(h)
    n = len(h.engine.events)
    r = h.ok("pay", lot="L1", amount=100_000)
    assert r.rule == "settlement.payment"
    assert kinds(h, since=n) == ["deposit_applied", "refund", "split", "settled"]
    assert h.last("deposit_applied") == {"lot": "L1", "party": "B", "amount": DEPOSIT}
    assert refunds(h)[-1] == ("A", DEPOSIT, "deal_settled")
    settled = {"lot": "L1", "buyer": "B", "price": 110_000, "paid": 100_000, "deposit_applied": DEPOSIT}
    assert h.last("settled") == settled
    assert h.engine.lot("L1").phase == "settled"
    assert not h.events("final")
    h.run(10 * DAY)
    assert kinds(h, since=n)[-3:] == ["published", "final", "txcode"]
    assert h.last("final") == {
        "lot": "L1",
        "seller": "seller",
        "buyer": "B",
        "mode": "english",
        "rule": "english.highest",
        "price": 110_000,
    }
    assert h.engine.view("L1")["final"] is True
    assert_closed_books(h)


def test_paid_in_parts_and_after_publication_is_final_at_once(h: Harness) -> None:
    deal = make_deal(h)
    h.run_until(deal["publication_until"])
    assert h.last("published")["buyer"] == "B" and not h.events("final")
    h.ok("pay", lot="L1", amount=40_000)
    assert h.engine.lot("L1").phase == "awaiting_payment" and h.engine.view("L1")["paid"] == 40_000
    h.rejected("overpayment", "pay", lot="L1", amount=60_001)
    h.ok("pay", lot="L1", amount=60_000)
    assert [e.kind for e in h.engine.events[-3:]] == ["settled", "final", "txcode"]
    assert_closed_books(h)


def test_deposit_above_the_price_settles_at_the_deal_and_refunds_the_excess(h: Harness) -> None:
    make_deal(h, bids=(("B", 100_000),), deposits={"B": 250_000})
    assert h.engine.lot("L1").phase == "settled"
    assert h.last("deposit_applied")["amount"] == 100_000
    assert refunds(h) == [("B", 150_000, "excess")]
    assert h.last("settled")["paid"] == 0
    h.rejected("not_awaiting_payment", "pay", lot="L1", amount=1)
    assert_closed_books(h)


def test_publication_of_zero_days_is_immediate(h: Harness) -> None:
    deal = make_deal(h, publication_working_days=0)
    assert deal["publication_until"] == h.events("deal")[-1].t
    assert h.events("published")
    h.ok("pay", lot="L1", amount=100_000)
    assert [e.kind for e in h.engine.events[-2:]] == ["final", "txcode"]
    assert_closed_books(h)


# -- instalments --------------------------------------------------------------------------------------


def instalment_deal(h: Harness, **params: Any) -> dict[str, Any]:
    return make_deal(h, instalments=True, **params)


def test_instalment_plan_paid_on_time_settles(h: Harness) -> None:
    deal = instalment_deal(h)
    due = deal["due"]
    # price 110 000, deposit 10 000 → 30% is 33 000, so 23 000 cash down is enough.
    r = h.ok("payment_plan", "B", lot="L1", down=23_000, schedule=[[due + 30 * DAY, 40_000], [due + 60 * DAY, 37_000]])
    assert r.rule == "settlement.payment_plan"
    plan = [[due, 23_000], [due + 30 * DAY, 63_000], [due + 60 * DAY, 100_000]]
    assert h.engine.view("L1")["plan"] == plan
    h.ok("pay", lot="L1", amount=23_000)
    assert refunds(h)[-1] == ("A", DEPOSIT, "buyer_paid")  # the backup is not held for the instalments
    h.run_until(due + 10 * DAY)
    h.ok("pay", lot="L1", amount=40_000)
    h.run_until(due + 30 * DAY + 1)  # the second deadline passes, met
    assert h.engine.lot("L1").phase == "awaiting_payment" and not h.events("default")
    h.ok("pay", lot="L1", amount=37_000)
    assert h.engine.lot("L1").phase == "settled"
    assert h.last("settled")["paid"] == 100_000
    assert_closed_books(h)


def test_missed_instalment_defaults_forfeits_and_repays(h: Harness) -> None:
    deal = instalment_deal(h)
    due = deal["due"]
    h.ok("payment_plan", "operator", lot="L1", down=23_000, schedule=[[due + 30 * DAY, 77_000]])  # for the buyer
    h.ok("pay", lot="L1", amount=23_000)
    h.ok("pay", lot="L1", amount=50_000)
    h.run_until(due + 30 * DAY)
    assert h.last("default") == {
        "lot": "L1", "buyer": "B", "price": 110_000, "reason": "unpaid", "due": due + 30 * DAY,
        "required": 100_000, "paid": 73_000,
    }  # fmt: skip
    assert h.last("forfeit") == {"lot": "L1", "party": "B", "amount": DEPOSIT, "reason": "payment_default"}
    assert h.last("repay") == {"lot": "L1", "party": "B", "amount": 73_000, "reason": "default"}
    # The backup was released when the down payment came in: no second chance.
    assert h.last("no_sale")["reason"] == "buyer_default"
    assert_closed_books(h)


def test_missed_down_payment_defaults_at_the_first_deadline(h: Harness) -> None:
    deal = instalment_deal(h)
    due = deal["due"]
    h.ok("payment_plan", "B", lot="L1", down=23_000, schedule=[[due + 30 * DAY, 77_000]])
    h.ok("pay", lot="L1", amount=22_999)
    h.run_until(due)
    assert h.last("default")["required"] == 23_000
    assert h.last("second_chance_offer")["party"] == "A"  # the backup is still held
    h.run(10 * DAY)
    assert_closed_books(h)


def test_deposit_can_cover_the_whole_down_payment(h: Harness) -> None:
    deal = instalment_deal(h, deposits={"A": 40_000, "B": 40_000}, deposit=40_000)
    h.ok("payment_plan", "B", lot="L1", down=0, schedule=[[deal["due"] + DAY, 70_000]])
    assert refunds(h)[-1] == ("A", 40_000, "buyer_paid")  # the down payment is already in hand
    h.ok("pay", lot="L1", amount=70_000)
    assert_closed_books(h)


@pytest.mark.parametrize(
    ("down", "schedule", "code"),
    [
        (22_999, [[30, 77_001]], "plan_down_too_low"),  # 22 999 + 10 000 deposit < 30% of 110 000
        (23_000, [[366, 77_000]], "plan_too_long"),  # past 365 days from the deal
        (23_000, [[30, 70_000]], "plan_wrong_sum"),
        (23_000, [[30, 80_000]], "plan_wrong_sum"),
        (23_000, [[0, 77_000]], "bad_plan"),  # not after the first deadline
        (23_000, [[40, 40_000], [30, 37_000]], "bad_plan"),  # not increasing
        (23_000, [[30, 77_000, 1]], "bad_plan"),
        (23_000, [[30, 0], [40, 77_000]], "bad_plan"),
        (23_000, "monthly", "bad_plan"),
    ],
)
def test_instalment_plan_rejections(h: Harness, down: int, schedule: Any, code: str) -> None:
    deal = instalment_deal(h)
    t = h.events("deal")[-1].t
    if isinstance(schedule, list):  # day offsets: from the deal for plan_too_long, else from the due date
        base = t if code == "plan_too_long" else deal["due"]
        schedule = [[base + item[0] * DAY, *item[1:]] for item in schedule]
    h.rejected(code, "payment_plan", "B", lot="L1", down=down, schedule=schedule)
    assert h.engine.view("L1")["plan"] == deal["plan"]


def test_instalment_plan_boundaries_are_accepted(h: Harness) -> None:
    instalment_deal(h)
    t = h.events("deal")[-1].t
    h.ok("payment_plan", "B", lot="L1", down=23_000, schedule=[[t + 365 * DAY, 77_000]])


def test_instalment_plan_needs_the_rule_the_buyer_and_an_open_plan(h: Harness) -> None:
    deal = make_deal(h)
    later = [[deal["due"] + DAY, 77_000]]
    h.rejected("instalments_not_allowed", "payment_plan", "B", lot="L1", down=23_000, schedule=later)
    h2 = Harness()
    instalment_deal(h2)
    h2.rejected("not_buyer", "payment_plan", "A", lot="L1", down=23_000, schedule=later)
    h2.rejected("bad_command", "payment_plan", "B", lot="L1", schedule=later)
    h2.ok("payment_plan", "B", lot="L1", down=23_000, schedule=later)
    h2.rejected("plan_fixed", "payment_plan", "B", lot="L1", down=100_000, schedule=[])
    h3 = Harness()
    instalment_deal(h3)
    h3.ok("pay", lot="L1", amount=1)
    h3.rejected("plan_fixed", "payment_plan", "B", lot="L1", down=23_000, schedule=later)
    h4 = Harness()
    instalment_deal(h4)
    h4.ok("confirm", "B", lot="L1")
    h4.rejected("plan_fixed", "payment_plan", "B", lot="L1", down=23_000, schedule=later)


# -- default and the second chance ----------------------------------------------------------------------


def test_default_forfeits_and_the_runner_up_accepts(h: Harness) -> None:
    deal = make_deal(h)
    h.ok("pay", lot="L1", amount=30_000)  # part of the lump sum, then nothing
    n = len(h.engine.events)
    h.run_until(deal["due"])
    assert kinds(h, since=n) == ["published", "default", "forfeit", "repay", "second_chance_offer"]
    assert h.last("default")["reason"] == "unpaid"
    assert h.last("forfeit")["amount"] == DEPOSIT
    assert h.last("repay")["amount"] == 30_000
    offer = h.last("second_chance_offer")
    until = CAL.add_working_days(deal["due"], S.second_chance_working_days)
    assert offer == {"lot": "L1", "party": "A", "price": 100_000, "until": until, "offer": 1}
    assert h.engine.lot("L1").phase == "second_chance"
    assert h.engine.view("L1")["offer"] == {"party": "A", "price": 100_000, "until": until}
    h.rejected("not_awaiting_payment", "pay", lot="L1", amount=1)
    h.rejected("not_offered", "accept_offer", "B", lot="L1")
    h.run(DAY)
    r = h.ok("accept_offer", "A", lot="L1")
    assert r.rule == "settlement.accept_offer"
    second = h.last("deal")
    assert (second["buyer"], second["price"], second["rule"]) == ("A", 100_000, "settlement.second_chance")
    assert (second["deposit"], second["cash"], second["backups"]) == (DEPOSIT, 90_000, [])
    assert second["due"] == CAL.add_working_days(h.now, S.payment_working_days)
    h.ok("pay", lot="L1", amount=90_000)
    assert h.last("settled")["buyer"] == "A"
    h.run(20 * DAY)  # the second deal is published anew, then final
    assert h.last("final")["buyer"] == "A" and h.last("final")["rule"] == "settlement.second_chance"
    assert [e.data["buyer"] for e in h.events("published")] == ["B", "A"]
    assert_closed_books(h)


def test_runner_up_declines_no_sale(h: Harness) -> None:
    deal = make_deal(h)
    h.run_until(deal["due"])
    h.rejected("not_offered", "decline_offer", "C", lot="L1")
    h.ok("decline_offer", "A", lot="L1")
    assert refunds(h)[-1] == ("A", DEPOSIT, "offer_declined")
    assert h.last("no_sale") == {"lot": "L1", "reason": "buyer_default", "mode": "english"}
    h.rejected("no_offer", "accept_offer", "A", lot="L1")
    h.rejected("lot_closed", "bid", "A", lot="L1", amount=200_000)
    assert_closed_books(h)


def test_runner_up_times_out(h: Harness) -> None:
    deal = make_deal(h)
    h.run_until(deal["due"])
    until = h.last("second_chance_offer")["until"]
    h.run_until(until)
    assert h.events("offer_lapsed")[-1].t == until
    assert refunds(h)[-1] == ("A", DEPOSIT, "offer_lapsed")
    assert h.last("no_sale")["reason"] == "buyer_default"
    assert_closed_books(h)


def test_two_backups_are_offered_in_turn(h: Harness) -> None:
    bids = (("A", 100_000), ("C", 110_000), ("B", 120_000))
    deal = make_deal(h, bids=bids, deposits={"A": DEPOSIT, "B": DEPOSIT, "C": DEPOSIT, "D": DEPOSIT},
                     second_chance_offers=2)  # fmt: skip
    assert deal["backups"] == ["C", "A"]
    assert refunds(h) == [("D", DEPOSIT, "lost")]
    h.run_until(deal["due"])
    assert h.last("second_chance_offer")["party"] == "C"
    h.rejected("not_offered", "decline_offer", "A", lot="L1")
    h.ok("decline_offer", "C", lot="L1")
    offer = h.last("second_chance_offer")
    assert (offer["party"], offer["price"], offer["offer"]) == ("A", 100_000, 2)
    h.ok("accept_offer", "operator", lot="L1")  # an operator records the runner-up's acceptance
    assert h.last("deal")["buyer"] == "A"
    h.ok("pay", lot="L1", amount=90_000)
    assert_closed_books(h)


def test_second_buyer_defaults_too_and_the_next_backup_is_offered(h: Harness) -> None:
    bids = (("A", 100_000), ("C", 110_000), ("B", 120_000))
    make_deal(h, bids=bids, second_chance_offers=2)
    h.run_until(h.last("deal")["due"])
    h.ok("accept_offer", "C", lot="L1")
    second = h.last("deal")
    assert second["backups"] == ["A"]  # still held for the new deal
    h.run_until(second["due"])
    assert [e.data["party"] for e in h.events("forfeit")] == ["B", "C"]
    assert h.last("second_chance_offer")["party"] == "A"
    h.ok("accept_offer", "A", lot="L1")
    h.ok("pay", lot="L1", amount=90_000)
    assert_closed_books(h)


def test_no_runner_up_means_no_sale(h: Harness) -> None:
    deal = make_deal(h, bids=(("B", 100_000),))
    assert deal["backups"] == []
    assert refunds(h) == [("A", DEPOSIT, "lost"), ("C", DEPOSIT, "lost")]
    h.run_until(deal["due"])
    assert kinds(h)[-3:] == ["default", "forfeit", "no_sale"]
    assert h.last("no_sale")["reason"] == "buyer_default"
    assert_closed_books(h)


def test_second_chance_off_refunds_the_runner_up_at_the_deal(h: Harness) -> None:
    deal = make_deal(h, second_chance=False)
    assert deal["backups"] == []
    assert sorted(refunds(h)) == [("A", DEPOSIT, "lost"), ("C", DEPOSIT, "lost")]
    h.run_until(deal["due"])
    assert h.last("no_sale")["reason"] == "buyer_default"
    assert_closed_books(h)


def test_runner_up_below_the_reserve_is_not_held(h: Harness) -> None:
    deal = make_deal(h, bids=(("A", 100_000), ("B", 120_000)), reserve=110_000)
    assert deal["backups"] == []
    h.run_until(deal["due"])
    assert h.last("no_sale")["reason"] == "buyer_default"
    assert_closed_books(h)


# -- confirmation ---------------------------------------------------------------------------------------


def test_confirmation_records_the_terms_and_is_optional_by_default(h: Harness) -> None:
    make_deal(h)
    h.rejected("not_buyer", "confirm", "A", lot="L1")
    r = h.ok("confirm", "B", lot="L1")
    assert r.rule == "settlement.confirm"
    entry = h.events("confirm")[-1].data
    assert entry["out"]["price"] == 110_000 and entry["out"]["seller"] == "seller"
    h.rejected("already_confirmed", "confirm", "operator", lot="L1")
    h.ok("pay", lot="L1", amount=100_000)
    assert_closed_books(h)


def test_required_confirmation_gates_settlement(h: Harness) -> None:
    make_deal(h, require_confirmation=True)
    h.ok("pay", lot="L1", amount=100_000)
    assert h.engine.lot("L1").phase == "awaiting_payment"
    h.rejected("overpayment", "pay", lot="L1", amount=1)
    h.ok("confirm", "operator", lot="L1")
    assert h.engine.lot("L1").phase == "settled"
    assert_closed_books(h)


def test_unconfirmed_deal_defaults_at_the_first_deadline(h: Harness) -> None:
    deal = make_deal(h, require_confirmation=True)
    h.ok("pay", lot="L1", amount=100_000)
    h.run_until(deal["due"])
    assert h.last("default")["reason"] == "not_confirmed"
    assert h.last("repay")["amount"] == 100_000
    h.ok("decline_offer", "A", lot="L1")
    assert_closed_books(h)


# -- rejections -----------------------------------------------------------------------------------------


def test_payment_rejections(h: Harness) -> None:
    make_deal(h)
    h.rejected("forbidden", "pay", "B", lot="L1", amount=100_000)  # only an operator confirms money
    h.rejected("wrong_payer", "pay", lot="L1", amount=100_000, payer="A")
    h.rejected("bad_amount", "pay", lot="L1", amount=0)
    h.rejected("bad_command", "pay", lot="L1", amount=-5)
    h.rejected("bad_command", "pay", lot="L1")
    h.rejected("overpayment", "pay", lot="L1", amount=100_001)
    h.rejected("unknown_lot", "pay", lot="L9", amount=1)
    h.rejected("lot_closed", "deposit", lot="L1", party="D", amount=DEPOSIT)
    h.rejected("lot_closed", "bid", "A", lot="L1", amount=200_000)
    h.ok("pay", lot="L1", amount=100_000, payer="B")
    h.rejected("not_awaiting_payment", "pay", lot="L1", amount=1)
    h.rejected("not_awaiting_payment", "confirm", "B", lot="L1")
    h.rejected("no_offer", "accept_offer", "A", lot="L1")
    assert_closed_books(h)


def test_settlement_commands_before_the_deal_are_not_mode_commands(h: Harness) -> None:
    h.open_lot("L1", "english", {"A": DEPOSIT}, params={"start_price": START, "increment": STEP})
    h.rejected("unknown_command", "pay", lot="L1", amount=1)


def test_no_bids_is_no_sale_with_every_deposit_refunded(h: Harness) -> None:
    h.open_lot("L1", "english", {"A": DEPOSIT, "B": 5}, params={"start_price": START, "increment": STEP})
    h.run(2 * 60 * MINUTE)
    assert h.last("no_sale")["reason"] == "no_bids"
    assert refunds(h) == [("A", DEPOSIT, "no_sale"), ("B", 5, "no_sale")]
    assert_closed_books(h)


@pytest.mark.parametrize(
    "bad",
    [
        {"payment_working_days": 0},
        {"second_chance_working_days": 0},
        {"refund_working_days": -1},
        {"inventor_share_bp": 10_001},
        {"fee_bp": -1},
        {"second_chance_offers": -1},
        {"deposit": -1},
        {"holidays": ["2023-13-01"]},
        {"workdays": ["20231118"]},
    ],
)
def test_bad_settlement_params_are_rejected(h: Harness, bad: dict[str, int]) -> None:
    params = {"start_price": START, "increment": STEP, **bad}
    h.rejected("bad_param", "open_lot", lot="L1", mode="english", params=params)


# -- the revenue split ----------------------------------------------------------------------------------


def test_split_with_defaults_gives_inventors_70_percent(h: Harness) -> None:
    make_deal(h)
    h.ok("pay", lot="L1", amount=100_000)
    split = h.last("split")
    assert split == {
        "lot": "L1", "seller": "seller", "price": 110_000, "institutional": True, "fee_bp": 0,
        "inventor_share_bp": 7_000, "transfer_staff_bp": 0,
        "fee": 0, "inventors": 77_000, "transfer_staff": 0, "institution": 33_000,
    }  # fmt: skip
    assert_closed_books(h)


def test_split_with_fee_and_ningbo_transfer_staff(h: Harness) -> None:
    make_deal(h, fee_bp=300, transfer_staff_bp=500)
    h.ok("pay", lot="L1", amount=100_000)
    split = h.last("split")
    # fee 3% of 110 000 = 3 300; net 106 700; reward 70% = 74 690; staff 5% of it = 3 734.5 → 3 735.
    assert (split["fee"], split["inventors"], split["transfer_staff"], split["institution"]) == (
        3_300, 70_955, 3_735, 32_010,
    )  # fmt: skip
    assert_closed_books(h)


def test_split_of_a_non_institutional_achievement(h: Harness) -> None:
    make_deal(h, institutional=False, fee_bp=100)
    h.ok("pay", lot="L1", amount=100_000)
    split = h.last("split")
    assert (split["fee"], split["inventors"], split["transfer_staff"], split["institution"]) == (1_100, 0, 0, 108_900)
    assert split["institutional"] is False


def test_split_rounding_keeps_the_legal_minimums_and_sums_to_the_price() -> None:
    s = SettlementParams(fee_bp=333, transfer_staff_bp=500)
    for price in [*range(0, 2_000), 10**12 + 7, 99_999_999_999]:
        parts = revenue_split(price, s)
        assert sum(parts.values()) == price
        assert min(parts.values()) >= 0
        net = price - parts["fee"]
        reward = parts["inventors"] + parts["transfer_staff"]
        assert reward * 10_000 >= net * s.inventor_share_bp  # ≥ 70%, never a fen short
        assert reward * 10_000 < net * s.inventor_share_bp + 10_000  # and at most a fen over
        assert parts["transfer_staff"] * 10_000 >= reward * s.transfer_staff_bp  # ≥ 5% of the reward
        assert parts["fee"] * 10_000 <= price * s.fee_bp  # the fee never rounds up
    assert revenue_split(1, SettlementParams()) == {"fee": 0, "inventors": 1, "transfer_staff": 0, "institution": 0}


def test_working_days_follow_holidays_and_weekend_workdays(h: Harness) -> None:
    """Deadlines count working days: a worked Saturday (调休) counts, a holiday does not."""
    plain = make_deal(h, lot="L1")
    worked = make_deal(h, lot="L2", workdays=["2023-11-18"])
    both = make_deal(h, lot="L3", workdays=["2023-11-18"], holidays=["2023-11-16"])
    term = {
        lot: deal["due"] - h.events("deal", lot)[-1].t for lot, deal in (("L1", plain), ("L2", worked), ("L3", both))
    }
    assert CAL.date(plain["due"]).isoformat() == "2023-11-29"  # 10 working days after Wednesday 15th
    assert term["L2"] == term["L1"] - DAY  # Tuesday 28th
    assert term["L3"] == term["L1"]  # the holiday on Thursday 16th takes the Saturday back


def test_publication_longer_than_the_payment_term(h: Harness) -> None:
    """A deal voided by default before its publication ends is never published; the next deal is."""
    deal = make_deal(h, publication_working_days=15)
    assert deal["publication_until"] > deal["due"]
    h.run_until(deal["due"])
    h.ok("accept_offer", "A", lot="L1")
    h.ok("pay", lot="L1", amount=90_000)
    assert not h.events("published") and not h.events("final")
    h.run_until(deal["publication_until"])
    assert not h.events("published")  # the first deal's publication no longer matters
    h.run_until(h.last("deal")["publication_until"])
    assert [e.data["buyer"] for e in h.events("published")] == ["A"]
    assert h.last("final")["buyer"] == "A"
    assert_closed_books(h)


class _LateClock:
    """A live clock whose wake-ups come late (here never): the next command fires what is due."""

    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t

    def call_at(self, t: int, callback: Any) -> None:
        return None


def test_deadlines_set_by_a_late_timer_replay() -> None:
    """A payment deadline set when the auction's close fires late must still replay exactly."""
    from auction_engine.engine import Engine
    from auction_engine.replay import replay
    from ledger import CheckpointPolicy, Log, MemoryStore, Signer

    clock = _LateClock(1_700_000_000_000)
    log = Log(MemoryStore(), Signer("m", bytes(32)), policy=CheckpointPolicy(100, None))
    engine = Engine(market="m", clock=clock, log=log)
    params = {"start_price": START, "increment": STEP, "free_ms": MINUTE, "countdown_ms": MINUTE}
    engine.submit({"op": "open_lot", "actor": "operator", "lot": "L1", "mode": "english", "params": params})
    engine.submit({"op": "deposit", "actor": "operator", "lot": "L1", "party": "A", "amount": DEPOSIT})
    engine.submit({"op": "bid", "actor": "A", "lot": "L1", "amount": START})
    clock.t += 10 * MINUTE  # both timers are long due when the next command arrives
    engine.submit({"op": "pay", "actor": "operator", "lot": "L1", "amount": 1})
    report = replay(log.entries())
    assert report.ok, report.message
