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

from ..snapshot import seal_snapshot
from ..state_codec import encode_state

if TYPE_CHECKING:
    from .live import LiveMarket

__all__ = ["KEEP_SNAPSHOTS", "SnapshotTaker"]

log = logging.getLogger("auction_engine.server")
KEEP_SNAPSHOTS = 2
"""Snapshots kept in the store: the newest and the one before (a fallback if the newest is damaged)."""


class SnapshotTaker:
    """Decides when to snapshot the market and writes each one off the bid path."""

    def __init__(self, market: LiveMarket) -> None:
        self.market = market
        self.last_size = market.restored_from or 0  # the ledger size of the newest snapshot stored (or used)
        self.last_wall = time.monotonic()
        self.taken = 0
        self.encode_seconds = 0.0  # what the last snapshot cost the event loop
        self.bytes = 0
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
        """Snapshot the state now and store it once its entries are durable."""
        m = self.market
        started = time.perf_counter()
        size = m.log.size
        root = m.log.tree.root(size)
        plain = encode_state({"engine": m.engine.state(), "indexes": m.indexes.state(m.log.last_time)})
        self.encode_seconds = time.perf_counter() - started
        self.last_wall = time.monotonic()
        try:
            await m.durable(size)
            blob = await m.committer.run(seal_snapshot, m.vault, m.origin, size, root, plain)
            await m.committer.run(m.store.put_snapshot, size, root, blob, KEEP_SNAPSHOTS)
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
        log.info(
            "snapshot at %d entries stored (%d bytes, %.1f ms on the loop)", size, len(blob), self.encode_seconds * 1e3
        )

    async def final(self) -> None:
        """On a clean stop: wait for a snapshot being written, then take one of everything if any is new."""
        if self._writing is not None:
            await self._writing
        if self.market.log.size > self.last_size and self.market.healthy:
            await self.take()
