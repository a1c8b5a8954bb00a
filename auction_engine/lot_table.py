"""The market's lots when closed ones live in the store: the open lots in memory, the closed ones read back on use.

A lot whose session is over (settled, no sale, cancelled, and no deadline left) changes no more,
except for the count of entries that name it (a refused command addressed to it still gets its
`lot_seq`). The live server's market therefore keeps in memory only the lots that are open, and
the closed lots not yet written out; each snapshot (server/snapshots.py) writes the closed ones to
the store, sealed and versioned by the snapshot's ledger size (docs/formats.md §14.3), in the same
transaction as the snapshot, and then drops them from memory.

A closed lot comes back in two ways:

- `get` / `[]` — the engine, about to write an entry naming the lot: it is read from the store and
  *promoted* back into memory (its entry count is about to change), to be written again, with its
  new count, by the next snapshot;
- `peek` — a view, a certificate, a page: read from the store through a small cache, left closed.

`versions_up_to` is the newest snapshot this state continues from: a closed lot is read as its
newest stored version at or before it (a restart from an older snapshot than the newest must not
see a version written after the snapshot it continues; every such version is of a lot the replayed
tail touches, so it is in memory again by then).

The engine reads a plain dict just as well (a replay, a simulation): `LotTable` is only the live
server's. Everything here is a cache of the ledger: a replay of the ledger gives the same lots.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Protocol

from .rules.base import Lot

__all__ = ["CLOSED_PHASES", "PEEK_CACHE", "ClosedLotSource", "LotTable", "in_memory", "is_closed"]

CLOSED_PHASES = frozenset({"settled", "no_sale", "cancelled"})
PEEK_CACHE = 256
"""Closed lots kept decoded for views (the most recently read)."""


def is_closed(lot: Lot, deadline: Callable[[Lot], int | None]) -> bool:
    """Is the lot's session over: a final phase and no deadline left (`deadline`: the engine's)?"""
    return lot.phase in CLOSED_PHASES and lot.armed is None and deadline(lot) is None


class ClosedLotSource(Protocol):
    """Where closed lots are read back from (server/closed_lots.py: the store, sealed)."""

    def load(self, lot_id: str, up_to: int) -> Lot | None:
        """The newest stored version of the lot at or before ledger size `up_to` (None: none stored)."""
        ...

    def exists(self, lot_id: str, up_to: int) -> bool: ...

    def count(self, up_to: int) -> int:
        """How many distinct lots have a version at or before `up_to`."""
        ...

    def ids(self, up_to: int) -> Iterator[str]:
        """Every stored lot id with a version at or before `up_to`, in id order."""
        ...


class LotTable(MutableMapping[str, Lot]):
    """Lot id -> lot: `live` in memory, the evicted closed lots from `source`."""

    __slots__ = ("_peeked", "_stored", "live", "source", "versions_up_to")

    def __init__(self, live: dict[str, Lot], source: ClosedLotSource, versions_up_to: int) -> None:
        self.live = live
        self.source = source
        self.versions_up_to = versions_up_to
        self._peeked: OrderedDict[str, Lot] = OrderedDict()
        # How many stored lots are not in `live` (kept so that len() never reads the whole table).
        self._stored = self._count_stored() if versions_up_to else 0

    def _count_stored(self) -> int:
        stored = self.source.count(self.versions_up_to)
        if stored:
            stored -= sum(1 for lot_id in self.live if self.source.exists(lot_id, self.versions_up_to))
        return stored

    # -- the engine's access: promotes ------------------------------------------------------------

    def get(self, lot_id: str, default: Lot | None = None) -> Lot | None:  # type: ignore[override]
        lot = self.live.get(lot_id)
        if lot is not None:
            return lot
        lot = self._peeked.pop(lot_id, None)
        if lot is None:
            lot = self.source.load(lot_id, self.versions_up_to)
            if lot is None:
                return default
        self.live[lot_id] = lot  # an entry naming it follows: it changes, and goes out again with the next snapshot
        self._stored -= 1
        return lot

    def __getitem__(self, lot_id: str) -> Lot:
        lot = self.get(lot_id)
        if lot is None:
            raise KeyError(lot_id)
        return lot

    def __setitem__(self, lot_id: str, lot: Lot) -> None:
        if lot_id not in self.live and self.source.exists(lot_id, self.versions_up_to):
            self._stored -= 1
        self._peeked.pop(lot_id, None)
        self.live[lot_id] = lot

    def __delitem__(self, lot_id: str) -> None:
        raise TypeError("lots are never removed from a market; closed ones leave memory by `evict`")

    # -- reading without promoting ----------------------------------------------------------------

    def peek(self, lot_id: str) -> Lot | None:
        """The lot for reading only (a view): from memory, or a closed lot from the store, left there."""
        lot = self.live.get(lot_id)
        if lot is not None:
            return lot
        lot = self._peeked.get(lot_id)
        if lot is not None:
            self._peeked.move_to_end(lot_id)
            return lot
        lot = self.source.load(lot_id, self.versions_up_to)
        if lot is not None:
            self._peeked[lot_id] = lot
            if len(self._peeked) > PEEK_CACHE:
                self._peeked.popitem(last=False)
        return lot

    def __contains__(self, lot_id: object) -> bool:
        if type(lot_id) is not str:
            return False
        return lot_id in self.live or lot_id in self._peeked or self.source.exists(lot_id, self.versions_up_to)

    def __len__(self) -> int:
        return len(self.live) + self._stored

    def __iter__(self) -> Iterator[str]:
        """Every lot id: those in memory, then the stored ones (in id order) — reads the whole table."""
        yield from list(self.live)
        for lot_id in self.source.ids(self.versions_up_to):
            if lot_id not in self.live:
                yield lot_id

    # -- the snapshot's side ----------------------------------------------------------------------

    def evict(self, written: dict[str, tuple[Lot, int | None]], up_to: int) -> int:
        """After a snapshot at `up_to` entries stored `written` (lot id -> (the lot, its entry count then)):
        drop each from memory unless an entry named it since. Returns how many left memory."""
        self.versions_up_to = up_to
        gone = 0
        for lot_id, (lot, entries) in written.items():
            if self.live.get(lot_id) is lot and lot.entries == entries:
                del self.live[lot_id]
                gone += 1
        self._stored += gone
        return gone


def in_memory(lots: Mapping[str, Lot]) -> Mapping[str, Lot]:
    """The lots held in memory: a `LotTable`'s `live`, or a plain mapping itself."""
    return lots.live if type(lots) is LotTable else lots
