"""The engine's one time source: an entry is never stamped before the entry written before it."""

from __future__ import annotations

from collections.abc import Callable

from auction_engine.engine import Engine
from auction_engine.model import MINUTE
from auction_engine.replay import replay
from ledger import Log, MemoryStore, Signer


class SteppingClock:
    """A clock the test sets, which may step back (as a wall clock can); it never calls back."""

    def __init__(self, t: int) -> None:
        self.t = t

    def now(self) -> int:
        return self.t

    def call_at(self, t: int, callback: Callable[[], None]) -> None:
        pass


def test_entries_keep_the_last_time_when_the_clock_steps_back() -> None:
    clock = SteppingClock(1_000_000)
    log = Log(MemoryStore(), Signer("time.market", bytes(32)))
    engine = Engine(market="time.market", clock=clock, log=log)
    params = {"start_price": 100_000, "increment": 10_000, "free_ms": 10 * MINUTE}
    assert engine.submit({"op": "open_lot", "actor": "operator", "lot": "L1", "mode": "english", "params": params}).ok
    clock.t = 400_000  # stepped back by 10 minutes
    assert engine.now == 1_000_000
    assert engine.submit({"op": "deposit", "actor": "operator", "lot": "L1", "party": "A", "amount": 10_000}).ok
    refused = engine.submit({"op": "bid", "actor": "A", "lot": "L1", "amount": 1})
    assert not refused.ok
    assert [e.t for e in engine.events] == [1_000_000] * 4  # genesis, open_lot, deposit, the refused bid
    clock.t = 1_000_000 + 10 * MINUTE  # free bidding ends: the phase entry is stamped with its own deadline
    assert engine.submit({"op": "bid", "actor": "A", "lot": "L1", "amount": 100_000}).ok
    times = [e.t for e in engine.events]
    assert times == sorted(times) and engine.events[-2].kind == "phase" and times[-2] == 1_000_000 + 10 * MINUTE
    assert replay(log.entries()).ok
