"""Dutch auction: the descending clock, first acceptance, the floor, every rejection, and a property test."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from auction_engine.model import MINUTE, Rejected
from auction_engine.rules.dutch import MODE

from .harness import T0, Harness

START, STEP, FLOOR = 1_000_000, 50_000, 600_000  # eight drops to the floor
DEPOSIT = 100_000  # the default deposit: 10% of the starting price
PARAMS = {"start_price": START, "step": STEP, "floor": FLOOR}


def open_dutch(h: Harness, deposits: dict[str, int] | None = None, lot: str = "D1", **params: Any) -> None:
    """Open a Dutch lot with PARAMS (overridden by `params`) and the given deposits."""
    h.open_lot(
        lot, "dutch", {"A": DEPOSIT, "B": DEPOSIT} if deposits is None else deposits, params={**PARAMS, **params}
    )


def settle(h: Harness, lot: str = "D1") -> None:
    """Pay what the buyer owes beyond its deposit; insist the lot settles."""
    deal = h.last("deal")
    h.ok("pay", lot=lot, amount=deal["price"] - DEPOSIT)
    assert h.engine.lot(lot).phase == "settled"


def assert_conserved(h: Harness, lot: str = "D1") -> None:
    money = h.money(lot)
    assert money["deposit"] == money["refund"] + money["forfeit"] + money["deposit_applied"]
    assert not any(h.engine.lot(lot).deposits.values())


class StubCtx:
    """A Ctx that only knows the time: for rule checks the engine never lets through."""

    def __init__(self, now: int) -> None:
        self.now = now

    def accept(self, rule: str, **fields: Any) -> None:
        raise AssertionError(f"accepted by {rule}")


def test_default_clock_drops_one_step_a_minute_without_ledger_entries(h: Harness) -> None:
    open_dutch(h)
    view = h.engine.view("D1")
    assert (view["price"], view["started"], view["next_drop"]) == (START, True, T0 + MINUTE)
    assert (view["floor_at"], view["deadline"]) == (T0 + 8 * MINUTE, T0 + 9 * MINUTE)
    entries = len(h.engine.events)
    h.run(MINUTE - 1)
    assert h.engine.view("D1")["price"] == START
    h.run(1)
    assert h.engine.view("D1")["price"] == START - STEP
    h.run(6 * MINUTE + 30_000)
    assert h.engine.view("D1")["price"] == START - 7 * STEP
    assert len(h.engine.events) == entries  # ticks are computed, never written
    h.run_until(T0 + 8 * MINUTE)
    view = h.engine.view("D1")
    assert (view["price"], view["next_drop"]) == (FLOOR, None)
    h.assert_replays()


def test_floor_stands_one_step_then_no_sale(h: Harness) -> None:
    open_dutch(h)
    h.run_until(T0 + 9 * MINUTE - 1)
    assert h.engine.lot("D1").phase == "clock"
    h.run(1)
    no_sale = h.events("no_sale", "D1")
    assert [(e.t, e.data["reason"]) for e in no_sale] == [(T0 + 9 * MINUTE, "no_acceptance")]
    assert [r["reason"] for r in h.refunds("D1")] == ["no_sale", "no_sale"]
    h.rejected("lot_closed", "accept", "A", lot="D1")
    assert_conserved(h)
    h.assert_replays()


def test_first_acceptance_wins_at_the_clock_price_and_settles(h: Harness) -> None:
    open_dutch(h)
    h.run(3 * MINUTE + 30_000)
    result = h.ok("accept", "A", lot="D1", price=START - 3 * STEP)
    assert result.rule == "dutch.accept"
    assert h.events("accept", "D1")[-1].data["out"] == {"price": START - 3 * STEP}
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"], deal["rule"]) == ("A", START - 3 * STEP, "dutch.first_accept")
    h.rejected("lot_closed", "accept", "B", lot="D1")
    assert [(r["party"], r["reason"]) for r in h.refunds("D1")] == [("B", "lost")]
    settle(h)
    assert_conserved(h)
    h.assert_replays()


def test_accept_without_a_price_takes_the_clock_price(h: Harness) -> None:
    open_dutch(h)
    h.run(2 * MINUTE)
    h.ok("accept", "B", lot="D1")
    assert (h.last("deal")["buyer"], h.last("deal")["price"]) == ("B", START - 2 * STEP)
    h.assert_replays()


def test_price_moved_when_the_seen_price_is_not_the_clock_price(h: Harness) -> None:
    open_dutch(h)
    h.run(MINUTE)
    result = h.rejected("price_moved", "accept", "A", lot="D1", price=START)
    assert "'price'" in (result.message or "")
    h.rejected("price_moved", "accept", "A", lot="D1", price=START - 2 * STEP)
    h.ok("accept", "A", lot="D1", price=START - STEP)
    h.assert_replays()


def test_only_qualified_bidders_may_accept(h: Harness) -> None:
    open_dutch(h, {"A": DEPOSIT, "D": DEPOSIT - 1})
    h.rejected("not_qualified", "accept", "C", lot="D1")
    h.rejected("not_qualified", "accept", "D", lot="D1")
    h.ok("deposit", lot="D1", party="D", amount=1)
    h.ok("accept", "D", lot="D1")
    h.assert_replays()


def test_bad_price_field_is_named(h: Harness) -> None:
    open_dutch(h)
    result = h.rejected("bad_command", "accept", "A", lot="D1", price="1000000")
    assert "'price'" in (result.message or "")
    h.rejected("bad_command", "accept", "A", lot="D1", price=-1)
    h.assert_replays()


def test_wait_before_the_clock_starts(h: Harness) -> None:
    open_dutch(h, wait_ms=10 * MINUTE)
    h.run(5 * MINUTE)
    view = h.engine.view("D1")
    assert (view["price"], view["started"], view["next_drop"]) == (START, False, T0 + 11 * MINUTE)
    h.rejected("clock_not_started", "accept", "A", lot="D1")
    h.run_until(T0 + 10 * MINUTE)
    assert h.engine.view("D1")["started"]
    h.ok("accept", "A", lot="D1", price=START)
    h.assert_replays()


def test_last_drop_clamps_to_the_floor(h: Harness) -> None:
    open_dutch(h, start_price=1_000_000, step=300_000, floor=500_000, step_ms=10 * MINUTE)
    assert h.engine.view("D1")["deadline"] == T0 + 30 * MINUTE
    h.run(10 * MINUTE)
    assert h.engine.view("D1")["price"] == 700_000
    h.run(10 * MINUTE)
    assert h.engine.view("D1")["price"] == 500_000
    h.run(10 * MINUTE - 1)
    h.ok("accept", "A", lot="D1", price=500_000)
    assert h.last("deal")["price"] == 500_000
    h.assert_replays()


def test_deposit_above_a_low_floor_price_settles_at_once(h: Harness) -> None:
    open_dutch(h, floor=50_000, step=950_000)  # the deposit (10% of the start) exceeds the floor
    h.run(MINUTE)
    h.ok("accept", "A", lot="D1", price=50_000)
    assert h.engine.lot("D1").phase == "settled"
    assert_conserved(h)
    h.assert_replays()


def test_acceptance_at_the_end_is_late(h: Harness) -> None:
    open_dutch(h, start_price=FLOOR)  # starts at the floor: one level, then the end
    h.run(MINUTE)
    h.rejected("lot_closed", "accept", "A", lot="D1", price=FLOOR)
    assert h.events("no_sale", "D1")[0].t == T0 + MINUTE
    h.assert_replays()


def test_rule_checks_behind_the_engine(h: Harness) -> None:
    open_dutch(h)
    lot = h.engine.lot("D1")
    cmd = {"op": "accept", "actor": "A", "lot": "D1"}
    with pytest.raises(Rejected) as late:
        MODE.commands["accept"](StubCtx(lot.state.ends_at), lot, cmd)  # type: ignore[arg-type]
    assert late.value.code == "late_accept"
    lot.phase = "closed"
    with pytest.raises(Rejected) as closed:
        MODE.commands["accept"](StubCtx(T0), lot, cmd)  # type: ignore[arg-type]
    assert closed.value.code == "lot_closed"
    assert MODE.next_deadline(lot) is None


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"step": 1, "floor": 1}, "missing_param", "start_price"),
        ({"start_price": 10, "floor": 1}, "missing_param", "step"),
        ({"start_price": 10, "step": 1}, "missing_param", "floor"),
        ({**PARAMS, "step": 0}, "bad_param", "step"),
        ({**PARAMS, "step_ms": 0}, "bad_param", "step_ms"),
        ({**PARAMS, "wait_ms": -1}, "bad_param", "wait_ms"),
        ({**PARAMS, "floor": 0}, "bad_param", "floor"),
        ({**PARAMS, "floor": START + 1}, "bad_param", "start_price"),
        ({**PARAMS, "reserve": FLOOR}, "bad_param", "reserve"),
        ({**PARAMS, "step": "1"}, "bad_param", "step"),
    ],
)
def test_bad_params_are_named(h: Harness, params: dict[str, Any], code: str, field: str) -> None:
    result = h.rejected(code, "open_lot", lot="D1", mode="dutch", params=params)
    assert f"'{field}'" in (result.message or "")
    h.assert_replays()


def test_params_resolve_from_the_market(h: Harness) -> None:
    market = Harness(params={"step_ms": 30_000, "wait_ms": MINUTE})
    open_dutch(market)
    assert market.engine.view("D1")["deadline"] == T0 + MINUTE + 9 * 30_000
    market.assert_replays()


# -- property ---------------------------------------------------------------------------------------

BIDDERS = ("A", "B", "C", "X")  # X never pays a deposit


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_property_first_acceptance_at_the_clock_price(data: st.DataObject) -> None:
    start = data.draw(st.integers(1, 5_000_000), label="start_price")
    floor = data.draw(st.integers(1, start), label="floor")
    step = data.draw(st.integers(1, max(1, start - floor)), label="step")
    step_ms = data.draw(st.integers(1, 5 * MINUTE), label="step_ms")
    wait_ms = data.draw(st.sampled_from([0, 0, 1, step_ms, 3 * MINUTE]), label="wait_ms")
    h = Harness()
    deposit = start * 1_000 // 10_000
    h.open_lot(
        "D1",
        "dutch",
        {b: deposit for b in BIDDERS if b != "X"},
        params={"start_price": start, "step": step, "floor": floor, "step_ms": step_ms, "wait_ms": wait_ms},
    )
    starts = T0 + wait_ms
    drops = -(-(start - floor) // step)
    ends = starts + (drops + 1) * step_ms

    def clock(t: int) -> int:
        if t < starts:
            return start
        return max(floor, start - (t - starts) // step_ms * step)

    winner: tuple[str, int, int] | None = None
    actions = data.draw(
        st.lists(
            st.tuples(
                st.integers(0, 3 * step_ms + wait_ms),
                st.sampled_from(BIDDERS),
                st.sampled_from(["none", "right", "wrong"]),
            ),
            max_size=12,
        ),
        label="actions",
    )
    for dt, bidder, seen in actions:
        h.run(dt)
        t = h.now
        fields: dict[str, Any] = {}
        if seen == "right":
            fields["price"] = clock(t)
        elif seen == "wrong":
            fields["price"] = clock(t) + 1
        result = h.submit("accept", bidder, lot="D1", **fields)
        if winner is not None or t >= ends:
            assert (result.ok, result.code) == (False, "lot_closed")
        elif t < starts:
            assert result.code == "clock_not_started"
        elif bidder == "X":
            assert result.code == "not_qualified"
        elif seen == "wrong":
            assert result.code == "price_moved"
        else:
            assert result.ok
            winner = (bidder, clock(t), t)
    if winner is None:
        h.run_until(max(h.now, ends) + 1)
    accepted = [e for e in h.events("accept", "D1") if e.data["ok"]]
    event("outcome: " + ("no sale" if winner is None else "deal at the floor" if winner[1] == floor else "deal"))
    event("rejections: " + ",".join(sorted({e.data["reason"] for e in h.events("accept", "D1") if not e.data["ok"]})))
    assert all(e.t < ends for e in accepted)
    if winner is None:
        assert accepted == []
        assert [(e.t, e.data["reason"]) for e in h.events("no_sale", "D1")] == [(ends, "no_acceptance")]
    else:
        assert [e.data["actor"] for e in accepted] == [winner[0]]
        deal = h.last("deal")
        assert (deal["buyer"], deal["price"]) == winner[:2]
        assert h.events("deal", "D1")[0].t == winner[2]
        if deal["price"] > deposit:
            h.ok("pay", lot="D1", amount=deal["price"] - deposit)
        # else the deposit covers the price (a low floor): the deal settles at once
        assert h.engine.lot("D1").phase == "settled"
    assert_conserved(h)
    h.assert_replays()
