"""English auction rules: each default number, each rejection, proxies, soft close, and properties."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.model import MINUTE
from auction_engine.rules.english import EnglishParams

from .harness import Harness

BASE = {"start_price": 100_000, "increment": 10_000}
DEPOSITS = {"A": 10_000, "B": 10_000, "C": 10_000}


def english(h: Harness, lot: str = "L1", deposits: dict[str, int] | None = None, **params: Any) -> None:
    h.open_lot(lot, "english", DEPOSITS if deposits is None else deposits, params={**BASE, **params})


def test_defaults_are_domain_numbers() -> None:
    p = EnglishParams(start_price=1, increment=1)
    assert p.countdown_ms == 5 * MINUTE  # 限时竞价 countdown: 5 minutes
    assert p.reserve is None and p.max_extensions is None and p.hard_close_ms is None
    assert p.proxy and not p.leader_may_raise


def test_free_bidding_then_timed_with_five_minute_countdown(h: Harness) -> None:
    english(h)
    opened = h.now
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.run(60 * MINUTE)  # free bidding ends at open + free_ms (60 minutes by default)
    phase = h.last("phase")
    assert phase["phase"] == "timed" and phase["until"] == opened + 65 * MINUTE
    h.run(4 * MINUTE)
    h.ok("bid", "B", lot="L1", amount=110_000)  # restarts the countdown: 5 minutes from now
    restart = h.now
    assert h.engine.lot("L1").state.deadline == restart + 5 * MINUTE
    h.run(5 * MINUTE - 1)
    assert h.engine.lot("L1").phase == "timed"
    h.run(1)
    close = h.events("close")[-1]
    assert close.t == restart + 5 * MINUTE
    assert h.last("deal")["buyer"] == "B"
    h.assert_replays()


def test_bid_at_the_deadline_is_late(h: Harness) -> None:
    english(h, free_ms=0)
    deadline = h.engine.lot("L1").state.deadline
    h.run(deadline - h.now)  # the timer at exactly the deadline fires before any command then
    h.rejected("lot_closed", "bid", "A", lot="L1", amount=100_000)
    assert h.last("no_sale")["reason"] == "no_bids"
    h.assert_replays()


def test_increment_rules(h: Harness) -> None:
    english(h)
    h.rejected("below_start", "bid", "A", lot="L1", amount=90_000)
    h.rejected("not_increment_multiple", "bid", "A", lot="L1", amount=105_000)
    h.ok("bid", "A", lot="L1", amount=120_000)  # start + 2 increments is a valid opening bid
    h.rejected("below_increment", "bid", "B", lot="L1", amount=120_000)
    h.rejected("not_increment_multiple", "bid", "B", lot="L1", amount=125_000)
    h.ok("bid", "B", lot="L1", amount=150_000)  # jump bids are whole multiples
    h.rejected("already_leading", "bid", "B", lot="L1", amount=160_000)
    h.assert_replays()


def test_leader_may_raise_when_allowed(h: Harness) -> None:
    english(h, leader_may_raise=True)
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.ok("bid", "A", lot="L1", amount=110_000)


def test_qualification_and_roles(h: Harness) -> None:
    english(h, deposits={"A": 10_000, "B": 9_999})  # deposit defaults to 10% of the start price
    h.rejected("not_qualified", "bid", "B", lot="L1", amount=100_000)
    h.rejected("not_qualified", "bid", "Z", lot="L1", amount=100_000)
    h.rejected("forbidden", "deposit", "A", lot="L1", party="A", amount=1)
    h.rejected("unknown_lot", "bid", "A", lot="nope", amount=100_000)
    h.rejected("bad_command", "bid", "A", lot="L1")
    h.rejected("unknown_command", "accept", "A", lot="L1")
    h.assert_replays()


def test_reserve_unmet_is_no_sale_and_refunds_everyone(h: Harness) -> None:
    english(h, reserve=200_000, free_ms=0)
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.run(5 * MINUTE)
    assert h.last("no_sale")["reason"] == "reserve_not_met"
    money = h.money("L1")
    assert money["refund"] == money["deposit"] == 30_000
    h.assert_replays()


def test_reserve_met_exactly_is_a_deal(h: Harness) -> None:
    english(h, reserve=110_000, free_ms=0)
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.ok("bid", "B", lot="L1", amount=110_000)
    h.run(5 * MINUTE)
    assert h.last("deal")["price"] == 110_000


def test_max_extensions_caps_the_countdown_restarts(h: Harness) -> None:
    english(h, free_ms=0, max_extensions=2)
    t0 = h.now
    for i, bidder in enumerate("ABCA"):
        h.run(MINUTE)
        h.ok("bid", bidder, lot="L1", amount=100_000 + i * 10_000)
    lot = h.engine.lot("L1")
    assert lot.state.extensions == 2
    assert lot.state.deadline == t0 + 2 * MINUTE + 5 * MINUTE  # set by the second bid; later ones do not extend
    h.run(10 * MINUTE)
    assert h.last("deal")["price"] == 130_000
    h.assert_replays()


def test_hard_close_caps_the_auction(h: Harness) -> None:
    english(h, free_ms=10 * MINUTE, hard_close_ms=12 * MINUTE)
    t0 = h.now
    h.run(11 * MINUTE)
    h.ok("bid", "A", lot="L1", amount=100_000)
    assert h.engine.lot("L1").state.deadline == t0 + 12 * MINUTE
    h.run(MINUTE)
    h.rejected("lot_closed", "bid", "B", lot="L1", amount=110_000)
    assert h.events("close")[-1].t == t0 + 12 * MINUTE


def test_proxy_bidding(h: Harness) -> None:
    english(h, deposits={"A": 10_000, "B": 10_000, "C": 10_000, "D": 10_000})
    h.ok("proxy", "A", lot="L1", max=185_000)  # rounded down to the grid: 180 000
    entry = h.last("proxy")
    assert "max" not in entry and "out" not in entry and len(entry["commitment"]) == 32  # the maximum is sealed
    assert h.engine.view("L1", "A")["my_proxy"] == 180_000  # A sees its own rounded maximum
    assert "my_proxy" not in h.engine.view("L1", "B") and "my_proxy" not in h.engine.view("L1")
    assert h.engine.lot("L1").state.high == 100_000  # opens at the start price
    h.ok("bid", "B", lot="L1", amount=130_000)
    assert (h.engine.lot("L1").state.leader, h.engine.lot("L1").state.high) == ("A", 140_000)
    h.ok("proxy", "C", lot="L1", max=160_000)  # C bids its max, A answers one increment above
    s = h.engine.lot("L1").state
    assert (s.leader, s.high) == ("A", 170_000)
    h.ok("bid", "D", lot="L1", amount=180_000)  # equals A's max: A's earlier commitment wins
    s = h.engine.lot("L1").state
    assert (s.leader, s.high) == ("A", 180_000)
    h.rejected("proxy_too_low", "proxy", "B", lot="L1", max=180_000)
    h.ok("bid", "D", lot="L1", amount=190_000)
    h.run(70 * MINUTE)
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"]) == ("D", 190_000)
    h.assert_replays()


def test_proxy_can_be_disabled_and_not_lowered(h: Harness) -> None:
    english(h, lot="L1", proxy=False)
    h.rejected("proxy_not_allowed", "proxy", "A", lot="L1", max=200_000)
    english(h, lot="L2")
    h.ok("proxy", "A", lot="L2", max=200_000)
    h.rejected("proxy_lowered", "proxy", "A", lot="L2", max=150_000)


def test_bad_params_are_rejected_by_name(h: Harness) -> None:
    r = h.rejected("bad_param", "open_lot", lot="X", mode="english", params={**BASE, "incremnt": 5})
    assert "incremnt" in (r.message or "")
    r = h.rejected("missing_param", "open_lot", lot="X", mode="english", params={"start_price": 1})
    assert "increment" in (r.message or "")
    h.rejected("bad_param", "open_lot", lot="X", mode="english", params={**BASE, "increment": 0})
    h.rejected("bad_param", "open_lot", lot="X", mode="english", params={**BASE, "countdown_ms": "5m"})


def test_submarket_settings_apply_to_their_lots(h: Harness) -> None:
    h.ok("open_submarket", submarket="metrology", name="计量拍", params={"countdown_ms": 2 * MINUTE})
    h.open_lot("M1", "english", DEPOSITS, submarket="metrology", params={**BASE, "free_ms": 0})
    h.open_lot("L1", "english", DEPOSITS, params={**BASE, "free_ms": 0})
    assert h.engine.lot("M1").params.countdown_ms == 2 * MINUTE
    assert h.engine.lot("L1").params.countdown_ms == 5 * MINUTE
    h.rejected("unknown_submarket", "open_lot", lot="X", mode="english", submarket="nope", params=BASE)
    h.rejected("duplicate_submarket", "open_submarket", submarket="metrology")


# -- properties --------------------------------------------------------------------------------

bidders = st.sampled_from(["A", "B", "C", "D"])
step = st.one_of(
    st.tuples(st.just("bid"), bidders, st.integers(0, 12), st.integers(0, 1)),
    st.tuples(st.just("proxy"), bidders, st.integers(0, 30), st.integers(0, 9_999)),
    st.tuples(st.just("wait"), st.just(""), st.integers(0, 8 * MINUTE), st.just(0)),
)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(step, max_size=40),
    st.integers(0, 20) | st.none(),
    st.integers(0, 3) | st.none(),
    st.booleans(),
)
def test_english_invariants(
    steps: list[tuple[str, str, int, int]], reserve_steps: int | None, max_ext: int | None, free: bool
) -> None:
    """No bid after close; grid and increments hold; the winner is the best bid by price then time;
    the reserve is respected; money is conserved once paid; replay reproduces the ledger."""
    h = Harness()
    params: dict[str, Any] = {"free_ms": 10 * MINUTE if free else 0}
    if reserve_steps is not None:
        params["reserve"] = 100_000 + reserve_steps * 10_000
    if max_ext is not None:
        params["max_extensions"] = max_ext
    english(h, deposits={b: 10_000 for b in "ABCD"}, **params)
    for kind, who, x, y in steps:
        if kind == "wait":
            h.run(x)
        elif kind == "bid":
            s = h.engine.lot("L1").state
            base = s.high if s.high is not None else 100_000
            h.submit("bid", who, lot="L1", amount=base + x * 10_000 + y * 5_000)
        else:
            h.submit("proxy", who, lot="L1", max=100_000 + x * 10_000 + y)
    h.run(2 * 60 * MINUTE)
    lot = h.engine.lot("L1")
    assert lot.phase not in ("free", "timed")

    close_t = h.events("close")[-1].t
    bids = [e for e in h.events() if (e.kind == "bid" and e.data["ok"]) or e.kind == "auto_bid"]
    high = None
    for e in bids:
        assert e.t < close_t, "a bid was accepted at or after the close"
        amount = e.data["amount"]
        assert (amount - 100_000) % 10_000 == 0, "a bid off the increment grid was accepted"
        assert high is None or amount >= high, "the price went down"
        assert e.kind == "auto_bid" or high is None or amount > high
        high = amount
    deals = h.events("deal")
    if not bids:
        assert h.last("no_sale")["reason"] == "no_bids"
        return
    proxy_seq: dict[str, int] = {}  # an automatic bid ranks by when its proxy was placed
    priority: dict[int, tuple[int, int]] = {}
    for e in h.events():
        if e.kind == "proxy" and e.data["ok"]:
            proxy_seq[e.data["actor"]] = e.seq
        elif e.kind == "auto_bid":
            priority[e.seq] = (e.data["priority_t"], proxy_seq[e.data["bidder"]])
        elif e.kind == "bid" and e.data["ok"]:
            priority[e.seq] = (e.t, e.seq)
    best = max(bids, key=lambda e: (e.data["amount"], -priority[e.seq][0], -priority[e.seq][1]))
    if "reserve" in params and best.data["amount"] < params["reserve"]:
        assert not deals and h.last("no_sale")["reason"] == "reserve_not_met"
        return
    deal = deals[-1].data
    buyer = best.data.get("bidder", best.data.get("actor"))
    assert (deal["buyer"], deal["price"]) == (buyer, best.data["amount"])
    h.ok("pay", lot="L1", amount=deal["price"] - lot.deposits[deal["buyer"]])
    money = h.money("L1")
    assert money["deposit"] == money["refund"] + money["forfeit"] + money["deposit_applied"]
    split = h.last("split")
    assert split["fee"] + split["inventors"] + split["transfer_staff"] + split["institution"] == deal["price"]
    h.assert_replays()
