"""A small test harness around the engine: a simulated clock, an in-memory signed ledger, helpers."""

from __future__ import annotations

from typing import Any

from auction_engine.clock import SimClock
from auction_engine.engine import Engine, Event, Result
from auction_engine.market import deposit_items, refund_items
from auction_engine.replay import replay
from ledger import CheckpointPolicy, Log, MemoryStore, Signer

T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC, a Tuesday (06:13 CST Wednesday)
OP = "operator"


class Harness:
    """An engine on a simulated clock writing to an in-memory signed ledger."""

    def __init__(self, params: dict[str, Any] | None = None, start: int = T0) -> None:
        self.clock = SimClock(start=start)
        self.log = Log(MemoryStore(), Signer("test.market", bytes(32)), policy=CheckpointPolicy(100, None))
        self.engine = Engine(market="test.market", clock=self.clock, log=self.log, params=params or {})

    @property
    def now(self) -> int:
        return self.clock.now()

    def submit(self, op: str, actor: str = OP, **fields: Any) -> Result:
        return self.engine.submit({"op": op, "actor": actor, **fields})

    def ok(self, op: str, actor: str = OP, **fields: Any) -> Result:
        """Submit and insist it is accepted."""
        result = self.submit(op, actor, **fields)
        assert result.ok, f"{op} by {actor} rejected: {result.code}: {result.message}"
        return result

    def rejected(self, code: str, op: str, actor: str = OP, **fields: Any) -> Result:
        """Submit and insist it is rejected with `code`."""
        result = self.submit(op, actor, **fields)
        assert not result.ok, f"{op} by {actor} was accepted; expected {code}"
        assert result.code == code, f"{op} rejected with {result.code} ({result.message}); expected {code}"
        return result

    def open_lot(self, lot: str, mode: str, deposits: dict[str, int] | None = None, **fields: Any) -> None:
        self.ok("open_lot", lot=lot, mode=mode, **fields)
        for party, amount in (deposits or {}).items():
            self.ok("deposit", lot=lot, party=party, amount=amount)

    def run(self, ms: int) -> None:
        """Advance simulated time by ms (timers due on the way fire)."""
        self.clock.run(self.clock.now() + ms)

    def run_until(self, t: int) -> None:
        self.clock.run(t)

    def events(self, kind: str | None = None, lot: str | None = None) -> list[Event]:
        """The entries written, optionally of one kind or lot; payloads less the engine's `lot_seq`."""
        return [
            Event(e.seq, e.t, e.kind, {k: v for k, v in e.data.items() if k != "lot_seq"})
            for e in self.engine.events
            if (kind is None or e.kind == kind) and (lot is None or e.data.get("lot") == lot)
        ]

    def last(self, kind: str) -> dict[str, Any]:
        """The payload of the latest entry of `kind`, less the engine's per-lot numbering (`lot_seq`)."""
        found = self.events(kind)
        assert found, f"no {kind} entry in the ledger"
        return found[-1].data

    def assert_replays(self) -> None:
        """The ledger, replayed from its bytes and the market's key, reproduces itself exactly.

        With the key (the engine's vault) a sealed field a rule read opens even on a lot still being
        priced; an auditor's replay without it stops there (`unrevealed`), which is no divergence.
        """
        report = replay(self.log.entries(), self.engine.vault)
        assert report.ok, f"replay diverged at entry {report.index}: {report.message}"
        public = replay(self.log.entries())
        assert public.ok or public.unrevealed, f"replay diverged at entry {public.index}: {public.message}"

    def money(self, lot: str) -> dict[str, int]:
        """Totals of the money movements of a lot (for conservation checks)."""
        totals = {"deposit": 0, "refund": 0, "forfeit": 0, "deposit_applied": 0}
        for e in self.engine.events:
            if e.data.get("lot") != lot:
                continue
            if e.kind == "deposit" and e.data.get("ok"):
                totals["deposit"] += sum(amount for _, amount in deposit_items(e.data))
            elif e.kind in ("refund", "forfeit", "deposit_applied"):
                totals[e.kind] += sum(amount for _, amount in refund_items(e.data))
        return totals

    def refunds(self, lot: str | None = None) -> list[dict[str, Any]]:
        """Every refund of a lot (or of all lots), one map per party, in ledger order, whichever form
        the entry took (one party, or several refunded at once)."""
        out = []
        for e in self.events("refund", lot):
            for party, amount in refund_items(e.data):
                item = {k: v for k, v in e.data.items() if k != "parties"}
                item.update(party=party, amount=amount)
                out.append(item)
        return out
