"""Snapshots of the live market: its state every N entries and T minutes, so a restart replays only the rest.

A snapshot is the state folded from the ledger's first `size` entries — the engine's (`Engine.state`:
the market, its open and closed lots, the timers, the codes, the sealed commands read) and the live
market's indexes (`server/indexes.py`: lots' entries, codes, idempotency keys) — bound to the ledger by
`size` and the tree root at that size. It is a cache, never a source: start-up uses the latest one
whose size and root match the ledger and whose seal opens, and replays the entries after it; any
other is ignored with a warning (the full replay runs). `ledger replay --key` checks every stored
snapshot against a replay of the prefix it claims (`check_snapshot`).

Bytes (docs/formats.md §14): the store keeps (size, root, blob), where

    blob      = iv ‖ AES-256-GCM(key, iv, plaintext, aad = header)
    header    = "auction-engine/snapshot/v1\\n" ‖ origin ‖ "\\n" ‖ decimal size ‖ "\\n" ‖ root (32 bytes)
    key       = HMAC-SHA256(S, "auction-engine/snapshot-key/v1")    (S: the market secret, vault.py)
    iv        = 12 random bytes
    plaintext = state_codec.encode_state({"engine": Engine.state(), "indexes": MarketIndexes.state(t)})

Sealed, because the state holds what the ledger keeps sealed until a lot's pricing ends (a proxy's
maximum); authenticated, so a damaged or altered blob is refused, not decoded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag

from ledger import canonical

from .clock import Clock
from .closed_lots import ClosedLotError, open_closed_lot
from .engine import Engine
from .replay import ReplayMismatch, replay_engine
from .state_codec import StateCodecError, decode_state, encode_state
from .vault import IV_BYTES, MarketVault

__all__ = [
    "SNAPSHOT_LABEL",
    "SnapshotCheck",
    "SnapshotError",
    "check_snapshot",
    "fold_state",
    "open_snapshot",
    "seal_snapshot",
]

SNAPSHOT_LABEL = b"auction-engine/snapshot/v1\n"


class SnapshotError(ValueError):
    """A stored snapshot cannot be used: it does not open with the market's key, or is not a state."""


def header(origin: str, size: int, root: bytes) -> bytes:
    return SNAPSHOT_LABEL + origin.encode("utf-8") + b"\n" + str(size).encode() + b"\n" + root


def seal_snapshot(vault: MarketVault, origin: str, size: int, root: bytes, plain: bytes) -> bytes:
    """The blob of a snapshot taken at `size` entries, from the encoded state `plain`
    (`encode_state({"engine": ..., "indexes": ...})`)."""
    iv = os.urandom(IV_BYTES)
    return iv + vault.snapshot_cipher().encrypt(iv, plain, header(origin, size, root))


def open_snapshot(vault: MarketVault, origin: str, size: int, root: bytes, blob: bytes) -> dict[str, Any]:
    """The state a blob holds; SnapshotError if it does not open under (origin, size, root) or is not a state."""
    if len(blob) < IV_BYTES + 16:
        raise SnapshotError(f"the snapshot at {size} entries is {len(blob)} bytes, too short to be one")
    try:
        plain = vault.snapshot_cipher().decrypt(blob[:IV_BYTES], blob[IV_BYTES:], header(origin, size, root))
    except InvalidTag:
        raise SnapshotError(
            f"the snapshot at {size} entries does not open with this market's key for this ledger's root"
        ) from None
    try:
        state = decode_state(plain)
    except StateCodecError as exc:
        raise SnapshotError(f"the snapshot at {size} entries is not a market state: {exc}") from None
    if type(state) is not dict or set(state) != {"engine", "indexes"}:
        raise SnapshotError(f"the snapshot at {size} entries is not a market state")
    return state


def restore_engine(state: Mapping[str, Any], size: int, clock: Clock, vault: MarketVault) -> Engine:
    """The engine a snapshot's state, taken at `size` entries, continues (detached: replay the rest onto it,
    then `attach`)."""
    return Engine.from_state(state["engine"], size, log=None, clock=clock, vault=vault)


def fold_state(entries: Iterable[bytes], vault: MarketVault) -> dict[str, Any]:
    """The state a snapshot of these entries (a ledger prefix) must hold: replayed by the rules, indexed.

    Raises ReplayMismatch when the entries do not replay.
    """
    from .server.indexes import MarketIndexes  # the server's indexes: imported here, the engine does not need them

    raw = list(entries)
    engine = replay_engine(raw, vault=vault, keep_events=False)
    indexes = MarketIndexes()
    for data in raw:
        indexes.restore(canonical.decode(data), vault)
    return {"engine": engine.state(), "indexes": indexes.state(engine.last_time)}


@dataclass(frozen=True)
class SnapshotCheck:
    """The verdict on one stored snapshot: ok, or why not."""

    size: int
    ok: bool
    message: str


def check_snapshot(
    vault: MarketVault,
    origin: str,
    size: int,
    root: bytes,
    blob: bytes,
    prefix: list[bytes],
    prefix_root: bytes,
    closed: Iterable[tuple[str, int, bytes]] = (),
) -> SnapshotCheck:
    """Does the snapshot equal the fold of the ledger's first `size` entries (`prefix`, whose root is `prefix_root`)?

    `closed` is what the store keeps of the closed lots for it (closed_lots.py): each lot's newest
    version at or before `size`, as (lot, version size, blob). The snapshot's lots and those together
    must be the fold's lots, each equal to its fold."""
    if len(prefix) != size:
        return SnapshotCheck(size, False, f"the ledger has {len(prefix)} entries, fewer than the snapshot's {size}")
    if root != prefix_root:
        return SnapshotCheck(size, False, f"its root is not the ledger's root at {size} entries")
    try:
        stored = open_snapshot(vault, origin, size, root, blob)
        folded = fold_state(prefix, vault)
    except SnapshotError as exc:
        return SnapshotCheck(size, False, str(exc))
    except ReplayMismatch as exc:
        return SnapshotCheck(size, False, f"the ledger's first {size} entries do not replay: {exc}")
    stored_lots = stored["engine"]["market"]["lots"]
    folded_lots = folded["engine"]["market"]["lots"]
    try:
        lots = _with_closed(vault, origin, size, stored_lots, closed)
    except (ClosedLotError, ValueError) as exc:
        return SnapshotCheck(size, False, str(exc))
    if set(lots) != set(folded_lots):
        missing = sorted(set(folded_lots) - set(lots))[:3]
        extra = sorted(set(lots) - set(folded_lots))[:3]
        about = f"lacks lots {missing}" if missing else f"has lots the ledger did not open then: {extra}"
        return SnapshotCheck(size, False, f"with the stored closed lots, it {about}")
    for lot_id, lot in lots.items():
        if encode_state(lot) != encode_state(folded_lots[lot_id]):
            where = "in the snapshot" if lot_id in stored_lots else "stored as closed"
            return SnapshotCheck(
                size, False, f"lot {lot_id!r} ({where}) differs from the fold of the first {size} entries"
            )
    stored["engine"]["market"]["lots"] = folded["engine"]["market"]["lots"] = {}
    for part in ("engine", "indexes"):
        if encode_state(stored[part]) != encode_state(folded[part]):
            return SnapshotCheck(size, False, f"its {part} state differs from the fold of the first {size} entries")
    closed_note = (
        f" (with {len(lots) - len(stored_lots)} closed lots stored beside it)" if len(lots) > len(stored_lots) else ""
    )
    return SnapshotCheck(size, True, f"equals the fold of the first {size} entries{closed_note}")


def _with_closed(
    vault: MarketVault, origin: str, size: int, stored_lots: Mapping[str, Any], closed: Iterable[tuple[str, int, bytes]]
) -> dict[str, Any]:
    """The snapshot's lots and the stored closed ones, one mapping; ValueError if one is in both or too new."""
    lots = dict(stored_lots)
    for lot_id, version, blob in closed:
        if version > size:
            raise ValueError(f"closed lot {lot_id!r} is stored at {version} entries, after the snapshot's {size}")
        if lot_id in lots:
            raise ValueError(f"lot {lot_id!r} is both in the snapshot and stored as closed")
        lots[lot_id] = open_closed_lot(vault, origin, lot_id, version, blob)
    return lots
