"""English auction: a whole session from opening to settlement, and its replay."""

from __future__ import annotations

from auction_engine.model import MINUTE

from .harness import Harness


def test_session_with_proxy_reaches_deal_and_replays(h: Harness) -> None:
    h.open_lot(
        "L1",
        "english",
        {"A": 10_000, "B": 10_000, "C": 10_000},
        params={"start_price": 100_000, "increment": 10_000, "reserve": 150_000},
    )
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.rejected("not_increment_multiple", "bid", "B", lot="L1", amount=105_000)
    h.ok("proxy", "C", lot="L1", max=200_000)
    h.run(61 * MINUTE)
    h.ok("bid", "B", lot="L1", amount=150_000)
    h.run(20 * MINUTE)
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"]) == ("C", 160_000)
    h.ok("pay", lot="L1", amount=150_000)
    assert h.engine.lot("L1").phase == "settled"
    money = h.money("L1")
    assert money["deposit"] == money["refund"] + money["forfeit"] + money["deposit_applied"]
    h.assert_replays()
