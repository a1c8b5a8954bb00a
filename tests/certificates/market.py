"""A small market run into a SQLite ledger, with deals settled and coded, for certificate tests.

`Market` mirrors tests/engine/harness.py (a simulated clock, a signed log) but writes to a SQLite
file, as an operator's ledger would be. The session-wide `market` has English lots (one in a
sector sub-market) and, when the Dutch mode is present, a Dutch lot, all interleaved in time, every
deal paid so that every lot gets its transaction code, and a checkpoint signed over the whole log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auction_engine.clock import SimClock
from auction_engine.engine import Engine
from auction_engine.model import DAY, MINUTE
from auction_engine.rules import MODES
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, canonical, txcode

T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC (Wednesday 06:13 in Hangzhou)
SIGNER = Signer("test.market", bytes(32))
OTHER = Signer("test.market", bytes(range(1, 33)))  # same name, another key
OP = "operator"


class Market:
    """An engine on a simulated clock writing to a signed SQLite ledger at `path`."""

    def __init__(self, path: Path, *, every: int | None = 16, signer: Signer = SIGNER) -> None:
        self.path = path
        self.clock = SimClock(start=T0)
        self.log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every, None))
        self.engine = Engine(market="test.market", clock=self.clock, log=self.log)

    def ok(self, op: str, actor: str = OP, **fields: Any) -> None:
        result = self.engine.submit({"op": op, "actor": actor, **fields})
        assert result.ok, f"{op} by {actor} rejected: {result.code}: {result.message}"

    def no(self, op: str, actor: str = OP, **fields: Any) -> None:
        result = self.engine.submit({"op": op, "actor": actor, **fields})
        assert not result.ok, f"{op} by {actor} was accepted"

    def run(self, ms: int) -> None:
        self.clock.run(self.clock.now() + ms)

    def deals(self) -> dict[str, dict[str, Any]]:
        return {e.data["lot"]: e.data for e in self.engine.events if e.kind == "deal"}

    def pay_all(self) -> None:
        for lot, deal in self.deals().items():
            if self.engine.lot(lot).phase == "awaiting_payment":
                self.ok("pay", lot=lot, amount=deal["cash"])

    def close(self) -> None:
        self.log.sign_checkpoint()
        self.log.commit()
        self.log.close()


def run_market(path: Path, *, every: int | None = 16, dutch: bool = True, sign_at_end: bool = True) -> Market:
    """Three English lots (L1 with a proxy and a late raise, L2 in sub-market `iot`, L3) and a Dutch lot."""
    m = Market(path, every=every)
    m.ok("open_submarket", submarket="iot", name="物联网拍", params={"countdown_ms": 3 * MINUTE})
    m.ok(
        "open_lot",
        lot="L1",
        mode="english",
        title="一种低损耗光纤 A low-loss optical fibre",
        seller="浙江大学 Zhejiang University",
        params={"start_price": 100_000, "increment": 10_000, "reserve": 150_000},
    )
    m.ok(
        "open_lot",
        lot="L2",
        mode="english",
        submarket="iot",
        title="<script>alert(1)</script> & sensors",
        seller='Institute "X"',
        params={"start_price": 200_000, "increment": 20_000},
    )
    m.ok("open_lot", lot="L3", mode="english", params={"start_price": 50_000, "increment": 5_000})
    for lot in ("L1", "L2", "L3"):
        for party in ("A", "B", "C"):
            m.ok("deposit", lot=lot, party=party, amount=20_000 if lot != "L2" else 40_000)
    if dutch and "dutch" in MODES:
        m.ok("open_lot", lot="D1", mode="dutch", params={"start_price": 1_000_000, "step": 50_000, "floor": 600_000})
        m.ok("deposit", lot="D1", party="A", amount=100_000)
        m.ok("deposit", lot="D1", party="B", amount=100_000)
    m.ok("bid", "A", lot="L1", amount=100_000)
    m.ok("bid", "B", lot="L2", amount=200_000)
    m.no("bid", "B", lot="L1", amount=105_000)  # not a multiple of the increment: rejected, recorded
    m.ok("proxy", "C", lot="L1", max=200_000)
    m.ok("bid", "A", lot="L3", amount=50_000)
    m.run(3 * MINUTE + 30_000)
    if dutch and "dutch" in MODES:
        m.ok("accept", "A", lot="D1")
    m.run(58 * MINUTE)
    m.ok("bid", "B", lot="L1", amount=150_000)
    m.ok("bid", "A", lot="L2", amount=240_000)
    m.ok("bid", "C", lot="L3", amount=60_000)
    m.run(20 * MINUTE)
    m.pay_all()
    m.run(8 * DAY)  # publication ends: `published` and `final` entries follow the codes
    if sign_at_end:
        m.close()
    return m


@dataclass
class Built:
    """The session market: its ledger file, codes by lot, and certificates issued from it."""

    path: Path
    codes: dict[str, str]  # lot -> code
    certs: dict[str, dict[str, Any]]  # lot -> certificate with transcript
    entries: list[bytes]

    def cert(self, lot: str = "L1") -> dict[str, Any]:
        """A fresh deep copy of the lot's certificate (safe to tamper with)."""
        result: dict[str, Any] = json.loads(json.dumps(self.certs[lot]))
        return result


def rebuild(
    entries: list[bytes], path: Path, change: Callable[[dict[str, Any]], None], signer: Signer = SIGNER
) -> Path:
    """Write a ledger holding `entries` with `change` applied to each decoded entry, re-chained and signed.

    Transaction codes are re-derived from the (possibly changed) deal entries, so the forged ledger is
    consistent in everything but the rules: what a dishonest operator could sign.
    """
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(None, None))
    deal_leaves: dict[int, bytes] = {}
    for data in entries:
        entry = canonical.decode(data)
        change(entry)
        if entry["kind"] == "txcode":
            old = txcode.parse_code(entry["code"])
            leaf = deal_leaves[entry["deal_seq"]]
            entry["code"] = txcode.make_code(old.prefix, old.date, old.kind, entry["deal_seq"], leaf)
        payload = {k: v for k, v in entry.items() if k not in ("seq", "prev", "t", "kind")}
        appended = log.append(entry["kind"], payload, entry["t"])
        if entry["kind"] == "deal":
            deal_leaves[appended.seq] = appended.leaf
    log.sign_checkpoint()
    log.close()
    return path
