"""Closed lots in the store: each one sealed like a snapshot, versioned by the snapshot's ledger size.

Bytes (docs/formats.md §14.3): the store's `closed_lots` table keeps (lot, size, blob), where

    blob      = iv ‖ AES-256-GCM(key, iv, plaintext, aad = header)
    header    = "auction-engine/closed-lot/v1\\n" ‖ canonical([origin, lot, size])
    key       = the snapshot key (snapshot.py)
    plaintext = state_codec.encode_state(the Lot)

`size` is the ledger size of the snapshot written with it: the lot as it stood after that many
entries. The header binds the market, the lot and the size, so a blob moved to another row, another
lot or another market does not open. A lot may have several versions (it was named again after it
closed, and written again); a reader takes the newest at or before the snapshot it continues.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag

from ledger import canonical
from ledger.store import Store

from .rules.base import Lot
from .state_codec import StateCodecError, decode_state
from .vault import IV_BYTES, MarketVault

__all__ = ["CLOSED_LOT_LABEL", "ClosedLotError", "StoredClosedLots", "open_closed_lot", "seal_closed_lot"]

CLOSED_LOT_LABEL = b"auction-engine/closed-lot/v1\n"


class ClosedLotError(ValueError):
    """A stored closed lot cannot be used: it does not open with the market's key, or is not a lot."""


def _header(origin: str, lot_id: str, size: int) -> bytes:
    return CLOSED_LOT_LABEL + canonical.encode_value([origin, lot_id, size])


def seal_closed_lot(vault: MarketVault, origin: str, lot_id: str, size: int, plain: bytes) -> bytes:
    """The blob of lot `lot_id` as it stood after `size` entries, from its encoding `plain` (`encode_state(lot)`)."""
    iv = os.urandom(IV_BYTES)
    return iv + vault.snapshot_cipher().encrypt(iv, plain, _header(origin, lot_id, size))


def open_closed_lot(vault: MarketVault, origin: str, lot_id: str, size: int, blob: bytes) -> Lot:
    """The lot a blob holds; ClosedLotError if it does not open under (origin, lot, size) or is not that lot."""
    where = f"closed lot {lot_id!r} (stored at {size} entries)"
    try:
        plain = vault.snapshot_cipher().decrypt(blob[:IV_BYTES], blob[IV_BYTES:], _header(origin, lot_id, size))
    except (InvalidTag, ValueError):
        raise ClosedLotError(f"{where} does not open with this market's key") from None
    try:
        lot = decode_state(plain)
    except StateCodecError as exc:
        raise ClosedLotError(f"{where} is not a lot: {exc}") from None
    if type(lot) is not Lot or lot.id != lot_id:
        raise ClosedLotError(f"{where} is not that lot")
    return lot


class StoredClosedLots:
    """The `ClosedLotSource` (lot_table.py) of a market: its store (a read-only one), its key."""

    def __init__(self, store: Store, vault: MarketVault, origin: str) -> None:
        self.store = store
        self.vault = vault
        self.origin = origin

    def load(self, lot_id: str, up_to: int) -> Lot | None:
        got = self.store.closed_lot(lot_id, up_to)
        if got is None:
            return None
        size, blob = got
        return open_closed_lot(self.vault, self.origin, lot_id, size, blob)

    def exists(self, lot_id: str, up_to: int) -> bool:
        return self.store.closed_lot_size(lot_id, up_to) is not None

    def count(self, up_to: int) -> int:
        return self.store.closed_lot_count(up_to)

    def ids(self, up_to: int) -> Iterator[str]:
        return self.store.closed_lot_ids(up_to)

    def recent(self, up_to: int, limit: int) -> list[str]:
        """The lots most recently written (closed, or named again), newest first."""
        return self.store.recent_closed_lots(up_to, limit)
