"""LotTable (auction_engine/lot_table.py): closed lots out of memory change nothing the engine writes.

Property: for any sequence of commands (opening lots, withdrawing them, deposits and bids on open and
closed lots, unknown lots) with snapshots taken anywhere, an engine whose lots are a LotTable that
writes closed lots out at each snapshot writes exactly the entries of an engine holding every lot in
a dict, and ends with the same lots.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.clock import ManualClock
from auction_engine.closed_lots import StoredClosedLots, seal_closed_lot
from auction_engine.engine import Engine
from auction_engine.lot_table import LotTable, is_closed
from auction_engine.state_codec import encode_state
from auction_engine.vault import MarketVault
from ledger.store import MemoryStore

MARKET = "lot-table.test"
LOTS = [f"L{i}" for i in range(4)]
PARAMS = {"start_price": 10_000, "increment": 100, "free_ms": 600_000, "countdown_ms": 60_000}

step = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(LOTS)),
    st.tuples(st.just("withdraw"), st.sampled_from(LOTS)),
    st.tuples(st.just("deposit"), st.sampled_from([*LOTS, "NOPE"]), st.sampled_from(["a", "b"])),
    st.tuples(st.just("bid"), st.sampled_from([*LOTS, "NOPE"]), st.sampled_from(["a", "b"]), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.integers(1, 900_000)),
    st.tuples(st.just("snapshot")),
)


def command(s: tuple[Any, ...]) -> dict[str, Any] | None:
    kind = s[0]
    if kind == "open":
        return {"op": "open_lot", "actor": "operator", "lot": s[1], "mode": "english", "params": PARAMS}
    if kind == "withdraw":
        return {"op": "withdraw_lot", "actor": "operator", "lot": s[1], "grounds": "withdrawn"}
    if kind == "deposit":
        return {"op": "deposit", "actor": "operator", "lot": s[1], "party": s[2], "amount": 1000}
    if kind == "bid":
        return {"op": "bid", "actor": s[2], "lot": s[1], "amount": 10_000 + 100 * s[3]}
    return None


def snapshot(engine: Engine, store: MemoryStore, vault: MarketVault, size: int) -> None:
    """What server/snapshots.py does: write the closed lots in memory, then drop them."""
    lots = engine.market.lots
    assert isinstance(lots, LotTable)
    closing = {i: (lot, lot.entries) for i, lot in lots.live.items() if is_closed(lot, engine.deadline_of)}
    sealed = [(i, seal_closed_lot(vault, MARKET, i, size, encode_state(lot))) for i, (lot, _) in closing.items()]
    store.put_snapshot(size, bytes(32), b"snapshot", 2, sealed)
    lots.evict(closing, size)


@settings(max_examples=200, deadline=None)
@given(st.lists(step, max_size=40))
def test_a_lot_table_writes_what_a_dict_writes(steps: list[tuple[Any, ...]]) -> None:
    same_entries(steps)


def same_entries(steps: list[tuple[Any, ...]]) -> None:
    vault = MarketVault.simulation(MARKET)
    clocks = [ManualClock(1_000_000), ManualClock(1_000_000)]
    plain, tabled = (Engine(market=MARKET, clock=c, vault=vault) for c in clocks)
    store = MemoryStore()
    tabled.market.lots = LotTable(tabled.market.lots, StoredClosedLots(store, vault, MARKET), 0)
    for s in steps:
        if s[0] == "wait":
            for clock, engine in zip(clocks, (plain, tabled), strict=True):
                clock.advance(clock.now() + s[1])
                engine.fire_due(clock.now())
        elif s[0] == "snapshot":
            snapshot(tabled, store, vault, len(tabled.events))
        else:
            cmd = command(s)
            assert cmd is not None
            a, b = plain.submit(dict(cmd)), tabled.submit(dict(cmd))
            assert (a.ok, a.code, a.message) == (b.ok, b.code, b.message)
    assert [(e.seq, e.t, e.kind, e.data) for e in plain.events] == [(e.seq, e.t, e.kind, e.data) for e in tabled.events]
    lots = tabled.market.lots
    assert isinstance(lots, LotTable)
    assert sorted(lots) == sorted(plain.market.lots) and len(lots) == len(plain.market.lots)
    for lot_id, lot in plain.market.lots.items():
        assert encode_state(lots.peek(lot_id)) == encode_state(lot)


def test_the_property_covers_eviction_and_promotion() -> None:
    """The example the property must get right: a closed lot leaves memory, is named again, and comes back."""
    steps = [("open", "L0"), ("open", "L1"), ("withdraw", "L0"), ("snapshot",), ("bid", "L0", "a", 0), ("snapshot",)]
    vault = MarketVault.simulation(MARKET)
    engine = Engine(market=MARKET, clock=ManualClock(1_000_000), vault=vault)
    store = MemoryStore()
    lots = LotTable(engine.market.lots, StoredClosedLots(store, vault, MARKET), 0)
    engine.market.lots = lots
    seen = []
    for s in steps:
        if s[0] == "snapshot":
            snapshot(engine, store, vault, len(engine.events))
        else:
            cmd = command(s)
            assert cmd is not None
            engine.submit(cmd)
        seen.append(sorted(lots.live))
    assert seen == [["L0"], ["L0", "L1"], ["L0", "L1"], ["L1"], ["L0", "L1"], ["L1"]]
    first, last = (size for size, _ in store.snapshots())
    assert store.closed_lot_size("L0", first) == first and store.closed_lot_size("L0", last) == last  # two versions
    same_entries(steps)
