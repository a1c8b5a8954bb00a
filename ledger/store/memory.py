"""An in-memory store: for simulations and tests, where durability is not wanted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .base import TILE_HEIGHT, Row, StoredCheckpoint, Tile, check_snapshot_args

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps rows in lists; `commit` is atomic because it runs in one thread."""

    def __init__(self) -> None:
        self._data: list[bytes] = []
        self._leaves: list[bytes] = []
        self._checkpoints: list[StoredCheckpoint] = []
        self._meta: dict[str, str] = {}
        self._snapshots: dict[int, tuple[bytes, bytes]] = {}  # size -> (root, data)
        self._tiles: dict[tuple[int, int], bytes] = {}  # (level, idx) -> hashes
        self._closed: dict[str, dict[int, bytes]] = {}  # lot -> size -> blob
        self.quarantined: list[tuple[Row, str]] = []

    def size(self) -> int:
        return len(self._data)

    def commit(
        self, rows: Sequence[Row], checkpoints: Sequence[StoredCheckpoint] = (), tiles: Sequence[Tile] = ()
    ) -> None:
        for i, row in enumerate(rows):  # checked first, so that a refused batch changes nothing
            if row.seq != len(self._data) + i:
                raise ValueError(f"row seq {row.seq} does not follow the stored size {len(self._data) + i}")
        for row in rows:
            self._data.append(row.data)
            self._leaves.append(row.leaf)
        self._checkpoints.extend(checkpoints)
        for level, idx, hashes in tiles:
            self._tiles[level, idx] = bytes(hashes)

    def rows(self, start: int = 0, end: int | None = None) -> Iterator[Row]:
        end = len(self._data) if end is None else min(end, len(self._data))
        for i in range(start, end):
            yield Row(i, self._data[i], self._leaves[i])

    def leaf_hashes(self) -> Iterator[bytes]:
        return iter(list(self._leaves))

    def leaves(self, start: int, end: int) -> list[bytes]:
        return self._leaves[max(start, 0) : max(end, 0)]

    def tiles(self, level: int, start: int = 0, end: int | None = None) -> Iterator[Tile]:
        tiles = self._tiles
        if end is not None and end - start <= 4096:  # a short range (a proof's lookups): by key
            found = [i for i in range(start, end) if (level, i) in tiles]
        else:
            found = sorted(i for (lv, i) in tiles if lv == level and i >= start and (end is None or i < end))
        return iter([Tile(level, i, tiles[level, i]) for i in found])

    def cut_tiles(self, size: int) -> None:
        for level, idx in list(self._tiles):
            keep = (size >> (TILE_HEIGHT * level)) - (idx << TILE_HEIGHT)  # hashes of this tile still complete
            if keep <= 0:
                del self._tiles[level, idx]
            else:
                self._tiles[level, idx] = self._tiles[level, idx][: keep * 32]

    def checkpoints(self) -> list[StoredCheckpoint]:
        return sorted(self._checkpoints)

    def get_meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._meta[key] = value

    def quarantine(self, start: int, reason: str) -> int:
        moved = [Row(i, self._data[i], self._leaves[i]) for i in range(start, len(self._data))]
        self.quarantined.extend((row, reason) for row in moved)
        del self._data[start:], self._leaves[start:]
        return len(moved)

    def put_snapshot(
        self, size: int, root: bytes, data: bytes, keep: int = 2, lots: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        check_snapshot_args(size, root, data, keep, lots)
        self._snapshots[size] = (bytes(root), bytes(data))
        for old in sorted(self._snapshots)[:-keep]:
            del self._snapshots[old]
        oldest = min(self._snapshots)
        for lot, blob in lots:
            versions = self._closed.setdefault(lot, {})
            versions[size] = bytes(blob)
            needed = max((s for s in versions if s <= oldest), default=None)
            if needed is not None:
                for s in [s for s in versions if s < needed]:
                    del versions[s]

    def _newest(self, lot: str, up_to: int) -> int | None:
        return max((s for s in self._closed.get(lot, {}) if s <= up_to), default=None)

    def closed_lot(self, lot: str, up_to: int) -> tuple[int, bytes] | None:
        size = self._newest(lot, up_to)
        return None if size is None else (size, self._closed[lot][size])

    def closed_lot_size(self, lot: str, up_to: int) -> int | None:
        return self._newest(lot, up_to)

    def closed_lot_count(self, up_to: int) -> int:
        return sum(1 for lot in self._closed if self._newest(lot, up_to) is not None)

    def closed_lot_ids(self, up_to: int) -> Iterator[str]:
        return iter([lot for lot in sorted(self._closed) if self._newest(lot, up_to) is not None])

    def closed_lots(self, up_to: int) -> Iterator[tuple[str, int, bytes]]:
        for lot in list(self.closed_lot_ids(up_to)):
            got = self.closed_lot(lot, up_to)
            if got is not None:
                yield lot, got[0], got[1]

    def recent_closed_lots(self, up_to: int, limit: int) -> list[str]:
        newest = {lot: self._newest(lot, up_to) for lot in self._closed}
        ranked = sorted(((s, lot) for lot, s in newest.items() if s is not None), key=lambda x: (-x[0], x[1]))
        return [lot for _, lot in ranked[:limit]]

    def snapshots(self) -> list[tuple[int, bytes]]:
        return [(size, self._snapshots[size][0]) for size in sorted(self._snapshots)]

    def get_snapshot(self, size: int) -> bytes | None:
        got = self._snapshots.get(size)
        return None if got is None else got[1]

    def close(self) -> None:
        pass
