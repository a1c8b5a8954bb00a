"""The market's log over HTTP: signed checkpoint, C2SP tlog-tiles, entries, proofs.

Two audiences read it:

- **Anyone**, with nothing but the market's verifier key, checks the tree: `GET /log/checkpoint` — the
  latest signed checkpoint (C2SP tlog-checkpoint signed note, text); `GET /log/tile/<L>/<N>[.p/<W>]` —
  hash tiles (C2SP tlog-tiles: height 8, 256 hashes of 32 bytes, level L holds the hashes of subtrees of
  256^L leaves; N in 3-digit path groups, `x`-prefixed but the last: 1234067 → `x001/x234/067`; `.p/W`
  a partial tile of W hashes); `GET /api/log/proof/N` and `/api/log/consistency` — inclusion and
  consistency proofs; `GET /api/log/entries` — the entries as the public may see them
  (`public_entry_json`: bidders by bidder number, a refusal or a party's money withheld, see privacy.py).
  Witnesses, receipts and certificates need no more than this.
- **The operator and the market's auditors** (`Authorization: Bearer <auditor token>`) read the whole
  log: `GET /log/tile/entries/<N>[.p/<W>]` — entry bundles, each entry's canonical bytes with a
  big-endian uint16 length prefix, 256 entries to a full bundle — and `/api/log/entries` with every
  entry's bytes, to re-hash every leaf and replay the rules (`auction-engine monitor --token-file`).

Everything served lies within the latest *durable* signed checkpoint, so every tile, entry and proof
can be checked against a checkpoint the server has published and can never take back. Full tiles
never change and are served as immutable; partial tiles and the checkpoint are not cached.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from ledger import LedgerError, canonical
from ledger.checkpoint import Checkpoint
from ledger.merkle import leaf_hash
from ledger.tiles_client import encode_index  # the one tlog-tiles index encoder (the monitor reads with it)

from . import privacy
from .live import LiveMarket

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileError",
    "encode_index",
    "entry_json",
    "hash_tile",
    "parse_tile_path",
    "public_entry_json",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


class TileError(ValueError):
    """A tile path is malformed or names a tile beyond the published checkpoint."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def parse_tile_path(path: str) -> tuple[str, int, int | None]:
    """Parse `<L or entries>/<N groups>[.p/<W>]`; return (level, index, width or None for a full tile)."""
    parts = path.split("/")
    if len(parts) < 2:
        raise TileError(404, "bad_tile_path", f"tile path {path!r} needs a level and an index")
    level, rest = parts[0], parts[1:]
    if level != "entries" and not (level.isdigit() and (level == "0" or level[0] != "0") and int(level) < 64):
        raise TileError(404, "bad_tile_path", f"tile level {level!r} is not 0-63 or 'entries'")
    width: int | None = None
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        if not (w.isdigit() and w[0] != "0" and int(w) < TILE_WIDTH):
            raise TileError(404, "bad_tile_path", f"partial tile width {w!r} must be 1-255 without leading zeroes")
        width = int(w)
        rest = [*rest[:-2], rest[-2][:-2]]
    n = 0
    for i, group in enumerate(rest):
        last = i == len(rest) - 1
        digits = group if last else group[1:]
        if (not last and not group.startswith("x")) or len(digits) != 3 or not digits.isdigit():
            raise TileError(404, "bad_tile_path", f"tile index group {group!r} is not 'xNNN' (or 'NNN' last)")
        n = n * 1000 + int(digits)
    if encode_index(n) != "/".join(rest):
        raise TileError(404, "bad_tile_path", "tile index is not in its canonical form (no leading zero groups)")
    return level, n, width


def hash_tile(market: LiveMarket, level: int, index: int, width: int | None, size: int) -> bytes:
    """The hash tile (level, index) as of tree size `size` (a published checkpoint's)."""
    nodes = size >> (TILE_HEIGHT * level)  # complete subtrees at that level in a tree of `size`
    available = min(TILE_WIDTH, nodes - index * TILE_WIDTH)
    want = TILE_WIDTH if width is None else width
    if available <= 0 or want > available:
        raise TileError(
            404, "tile_not_found", f"tile {level}/{index} of width {want} is beyond the published checkpoint"
        )
    return market.log.tree.subtree_hashes(TILE_HEIGHT * level, index * TILE_WIDTH, want, size)


async def entry_bundle(market: LiveMarket, index: int, width: int | None, size: int) -> bytes:
    """The entry bundle `index` (entries 256·index … ) as of tree size `size`."""
    available = min(TILE_WIDTH, size - index * TILE_WIDTH)
    want = TILE_WIDTH if width is None else width
    if available <= 0 or want > available:
        raise TileError(
            404, "tile_not_found", f"entry bundle {index} of width {want} is beyond the published checkpoint"
        )
    start = index * TILE_WIDTH
    entries = await market.read_entries(start, start + want)
    out = bytearray()
    for data in entries:
        if len(data) > 0xFFFF:
            raise TileError(500, "entry_too_large", "an entry is longer than a tlog-tiles bundle can hold")
        out += struct.pack(">H", len(data)) + data
    return bytes(out)


def published_size(market: LiveMarket) -> int:
    return market.published.size if market.published else 0


def checkpoint_json(market: LiveMarket) -> dict[str, Any] | None:
    cp = market.published
    if cp is None:
        return None
    body = Checkpoint.parse(cp.note[: cp.note.index("\n\n") + 1])
    return {
        "origin": body.origin,
        "size": body.size,
        "root": base64.b64encode(body.root).decode(),
        "note": cp.note,
        "vkey": market.signer.verifier.encode(),
        "cosigned": _cosigned_json(market),
    }


def _cosigned_json(market: LiveMarket) -> dict[str, Any] | None:
    """With `serve --witness`: the newest checkpoint the witness quorum cosigned (None before it, or without)."""
    pool = market.witnesses
    if pool is None or pool.cosigned is None:
        return None
    return {
        "size": pool.cosigned.size,
        "note": pool.cosigned.note,
        "quorum": pool.quorum,
        "witnesses": [{"vkey": w.verifier.encode(), "url": w.url, "size": w.size} for w in pool.witnesses],
    }


def entry_json(data: bytes) -> dict[str, Any]:
    """An entry for the operator and auditors: its canonical bytes (base64), leaf hash (hex) and decoded
    fields (bytes as hex)."""
    return {"data": base64.b64encode(data).decode(), "leaf": leaf_hash(data).hex(), "entry": canonical.decode(data)}


def public_entry_json(data: bytes, numbers: Mapping[str, str]) -> dict[str, Any]:
    """An entry as the public may see it, by the rule the feed follows (`privacy.public_event`).

    A refusal or a party's money is withheld: only its leaf hash is shown (`withheld: true`), which the
    level-0 hash tile holds anyway. Any other entry is shown with bidders by number; its canonical bytes
    (`data`) too when nothing was hidden, so anyone can re-hash that leaf.
    """
    entry = canonical.decode(data)
    leaf = leaf_hash(data).hex()
    public = privacy.public_entry(entry, numbers)
    if public is None:
        return {"leaf": leaf, "withheld": True}
    out: dict[str, Any] = {"leaf": leaf, "withheld": False, "entry": public}
    if public == entry:
        out["data"] = base64.b64encode(data).decode()
    return out


def inclusion_proof(market: LiveMarket, index: int) -> str:
    """A tlog-proof@v1 text for entry `index` under the latest published checkpoint."""
    size = published_size(market)
    if not 0 <= index < size:
        raise LedgerError(f"entry {index} is not covered by the published checkpoint (size {size})")
    return market.log.prove(index, size).text()


def consistency_proof(market: LiveMarket, old: int, new: int | None) -> list[str]:
    size = published_size(market)
    new = size if new is None else new
    if new > size:
        raise LedgerError(f"size {new} is beyond the published checkpoint (size {size})")
    return [base64.b64encode(h).decode() for h in market.log.consistency(old, new)]
