"""Taking the live market's snapshots (auction_engine/snapshot.py): every N entries and every T minutes.

The state is copied on the event loop between two commands (nothing else changes it there), as its
encoding (`state_codec`); sealing and writing happen on the ledger's I/O thread, after the entries
the snapshot covers are durable, so a stored snapshot never describes entries the store lacks. A
failed write is logged and retried at the next interval: a snapshot is a cache, the ledger is whole
without it. On a clean stop a last one is taken, so the next start replays nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from ledger.store import StoreError

from ..closed_lots import seal_closed_lot
from ..lot_table import LotTable, is_closed
from ..rules.base import Lot
from ..snapshot import seal_snapshot
from ..state_codec import encode_state
from ..vault import MarketVault

if TYPE_CHECKING:
    from .live import LiveMarket

__all__ = ["DISTRUST_KEY", "KEEP_SNAPSHOTS", "SNAPSHOT_STOP_WAIT_S", "SnapshotTaker"]

log = logging.getLogger("auction_engine.server")
KEEP_SNAPSHOTS = 2
"""Snapshots kept in the store: the newest and the one before (a fallback if the newest is damaged)."""
DISTRUST_KEY = "snapshots.distrusted"
"""Meta key: set (to the reason) when a stored closed lot did not read back; the next start replays everything."""
SNAPSHOT_STOP_WAIT_S = 30.0
"""How long a clean stop waits for its last snapshot (a start without one replays the entries since the last)."""


class SnapshotTaker:
    """Decides when to snapshot the market and writes each one off the bid path."""

    def __init__(self, market: LiveMarket) -> None:
        self.market = market
        self.last_size = market.restored_from or 0  # the ledger size of the newest snapshot stored (or used)
        self.last_wall = time.monotonic()
        self.taken = 0
        self.encode_seconds = 0.0  # what the last snapshot cost the event loop
        self.bytes = 0
        self.evicted = 0  # closed lots written out and dropped from memory so far
        self._writing: asyncio.Task[None] | None = None

    def due(self) -> bool:
        """Enough entries, or enough time with at least one new entry, since the last snapshot."""
        m = self.market
        new = m.log.size - self.last_size
        if new <= 0 or self._writing is not None:
            return False
        if m.snapshot_every_entries is not None and new >= m.snapshot_every_entries:
            return True
        elapsed_ms = (time.monotonic() - self.last_wall) * 1000
        return m.snapshot_every_ms is not None and elapsed_ms >= m.snapshot_every_ms

    def maybe_take(self) -> None:
        """On the loop (the market's tick): take a snapshot if one is due."""
        if self.due():
            self._writing = asyncio.ensure_future(self.take())

    async def take(self) -> None:
        """Snapshot the state now and store it once its entries are durable; then the closed lots it wrote
        out leave memory (lot_table.py)."""
        m = self.market
        started = time.perf_counter()
        size = m.log.size
        root = m.log.tree.root(size)
        engine = m.engine
        state = engine.state()
        lots = engine.market.lots
        closing: dict[str, tuple[Lot, int | None]] = {}
        if type(lots) is LotTable:
            closing = {i: (lot, lot.entries) for i, lot in lots.live.items() if is_closed(lot, engine.deadline_of)}
            state["market"]["lots"] = {i: lot for i, lot in lots.live.items() if i not in closing}
        plain = encode_state({"engine": state, "indexes": m.indexes.state(m.log.last_time)})
        closed_plain = [(lot_id, encode_state(lot)) for lot_id, (lot, _) in closing.items()]
        self.encode_seconds = time.perf_counter() - started
        self.last_wall = time.monotonic()
        try:
            await m.durable(size)
            blob = await m.committer.run(seal_snapshot, m.vault, m.origin, size, root, plain)
            closed = await m.committer.run(_seal_lots, m.vault, m.origin, size, closed_plain)
            await m.committer.run(m.store.put_snapshot, size, root, blob, KEEP_SNAPSHOTS, closed)
            if m.distrusted and (type(lots) is not LotTable or lots.versions_up_to == 0):
                await m.committer.run(m.store.set_meta, DISTRUST_KEY, "")  # rebuilt whole: every closed lot new
                m.distrusted = None
        except (StoreError, OSError) as exc:
            log.warning("the snapshot at %d entries was not stored (%s); the next interval retries", size, exc)
            return
        except Exception as exc:  # Unavailable, a halted market: nothing to store
            log.warning("the snapshot at %d entries was not stored: %s", size, exc)
            return
        finally:
            self._writing = None
        self.last_size = size
        self.taken += 1
        self.bytes = len(blob)
        evicted = lots.evict(closing, size) if type(lots) is LotTable else 0
        self.evicted += evicted
        log.info(
            "snapshot at %d entries stored (%d bytes, %d closed lots written out, %.1f ms on the loop)",
            size,
            len(blob),
            evicted,
            self.encode_seconds * 1e3,
        )

    async def final(self) -> None:
        """On a clean stop: wait for a snapshot being written, then take one of everything if any is new."""
        if self._writing is not None:
            await self._writing
        if self.market.log.size > self.last_size and self.market.healthy:
            await self.take()


def _seal_lots(vault: MarketVault, origin: str, size: int, lots: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Each closed lot's encoding sealed for the store (on the I/O thread)."""
    return [(lot_id, seal_closed_lot(vault, origin, lot_id, size, plain)) for lot_id, plain in lots]
