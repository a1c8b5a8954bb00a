"""The append-only log: fills seq/prev, hashes, keeps the Merkle tree, signs checkpoints, commits.

`append` builds the canonical entry, extends the tree in memory and returns at once; `commit`
writes everything appended since the last commit in one durable batch (group commit) and only
then may the caller acknowledge those entries. Checkpoints are signed on a policy (every N
entries and/or every T ms of entry time) and on demand; they go into the same atomic batch as
the entries they cover, so a stored checkpoint never outruns its entries.

The tree is kept in the store as hash tiles (`ledger.stored_tree`): only its right edge is in
memory, and the tiles the batch's entries complete go into the same atomic batch. Opening reads
the edge, not every leaf; an older store without tiles gets them on first open by a writer (a
read-only log on one builds its tree in memory, `MerkleTree`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import canonical
from .checkpoint import Checkpoint, TlogProof, verify_signed_checkpoint
from .merkle import MerkleTree, leaf_hash
from .note import NoteError, Signer, sign_note
from .store.base import Row, Store, StoredCheckpoint, Tile
from .stored_tree import StoredTree, open_tree

__all__ = ["MAX_ENTRY_BYTES", "Appended", "CheckpointPolicy", "EntryTooLarge", "LedgerError", "Log"]

RESERVED = ("seq", "prev", "t", "kind")
_RESERVED_SET = frozenset(RESERVED)
_sha256 = hashlib.sha256
_encode_entry_and_leaf = canonical.encode_entry_and_leaf
_make_row = functools.partial(tuple.__new__, Row)  # a Row from a (seq, data, leaf) tuple, fields unchecked
ZERO_HASH = bytes(32)
_NEVER = 1 << 256  # a policy threshold that is never reached (an int, compared with ints)
# The largest entry the log takes, in canonical bytes: what the uint16 length prefix of a C2SP
# tlog-tiles entry bundle can frame (docs/formats.md §1), so every entry can be served by the public log.
MAX_ENTRY_BYTES = 65535
# How many of the latest stored checkpoints an opening writer checks against the tree (see _check_checkpoints).
CHECKED_ON_OPEN = 8


class LedgerError(RuntimeError):
    """The log refuses an operation that would break its guarantees; the message says why."""


class EntryTooLarge(LedgerError, ValueError):
    """An entry (or a command that would become one) is larger than the limit; nothing was appended.

    Also a ValueError: what is wrong is the entry's content, not the log's state. `size` and
    `limit` are in canonical bytes.
    """

    def __init__(self, message: str, size: int, limit: int = MAX_ENTRY_BYTES) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class CheckpointPolicy:
    """When to sign: after `every_entries` new entries and/or `every_ms` of entry time."""

    every_entries: int | None = 1000
    every_ms: int | None = 1000


class Appended(NamedTuple):
    """What `append` returns: the entry's index, canonical bytes and leaf hash (a tuple: cheap to build)."""

    seq: int
    data: bytes
    leaf: bytes


_make_appended = functools.partial(tuple.__new__, Appended)


class Log:
    """A signed, hash-chained Merkle log over a `Store`."""

    def __init__(
        self,
        store: Store,
        signer: Signer | None = None,
        *,
        origin: str | None = None,
        policy: CheckpointPolicy | None = None,
        readonly: bool = False,
    ) -> None:
        self.store = store
        self.readonly = readonly
        self._signer = signer
        self._policy = policy or CheckpointPolicy()
        self._due_seq = self._due_t = _NEVER
        stored_origin = store.get_meta("origin")
        origin = origin or stored_origin or (signer.name if signer else None)
        if origin is None:
            raise LedgerError("the log needs an origin (or a signer whose name is the origin)")
        if stored_origin is not None and stored_origin != origin:
            raise LedgerError(f"this ledger's origin is {stored_origin!r}, not {origin!r}")
        if stored_origin is None and not readonly:
            store.set_meta("origin", origin)
        self.origin = origin
        self.tree: StoredTree | MerkleTree = open_tree(store, readonly=readonly)
        self._checkpoints = store.checkpoints()
        self.repaired = 0 if readonly else self._repair_tail()
        # Pending entries as plain lists of bytes, made into Rows when handed to the store: a Row per
        # append would be one more container kept alive per entry, which sets off the cyclic garbage
        # collector (and its full collections) in proportion to the entries appended.
        self._pending_data: list[bytes] = []
        self._pending_leaves: list[bytes] = []
        self._pending_checkpoints: list[StoredCheckpoint] = []
        self._durable = self.tree.size
        self._last_t = 0
        if self.tree.size:
            self._last_t = self._read_last_time(store)
        if not readonly:
            self._check_checkpoints()
        latest = self._checkpoints[-1] if self._checkpoints else None
        self._cp_size = latest.size if latest else 0
        self._cp_t = self._last_t if latest else 0
        self._set_due()
        self._last_leaf = self.tree.leaf(self.tree.size - 1) if self.tree.size else ZERO_HASH

    # -- opening ------------------------------------------------------------------------------

    def _repair_tail(self) -> int:
        """Check the entries after the last signed checkpoint; set aside any that do not chain.

        SQLite already rolls back a batch torn by a crash; this catches a tail whose bytes,
        seq or prev chain are wrong (a foreign writer, a damaged file) before anything is
        signed on top of it. Set-aside rows go to quarantine, never deleted. The tree (and
        its stored tiles) is cut first: a crash between the two leaves tiles that do not cover
        the entries, rebuilt on the next open, never tiles that outrun them.
        """
        cps = self._checkpoints
        start = cps[-1].size if cps else 0
        start = min(start, self.tree.size)
        prev = self.tree.leaf(start - 1) if start else ZERO_HASH
        expected = start
        for row in self.store.rows(start):
            reason = None
            if row.seq != expected:
                # From here on the tree's positions no longer match the rows' indices: cut both at the gap.
                self.tree.truncate(expected)
                return self.store.quarantine(row.seq, f"entry {expected} is missing before entry {row.seq}")
            try:
                entry = canonical.decode(row.data)
            except canonical.CanonicalError as exc:
                reason = f"entry {row.seq} is not canonical: {exc}"
            else:
                seq = entry.get("seq")
                if type(seq) is not int or seq != row.seq:
                    reason = f"entry {row.seq} carries seq {seq!r}"
                elif entry.get("prev") != prev:
                    reason = f"entry {row.seq} does not chain to entry {row.seq - 1}"
                elif leaf_hash(row.data) != row.leaf:
                    reason = f"entry {row.seq} does not match its stored leaf hash"
            if reason is not None:
                self.tree.truncate(row.seq)
                return self.store.quarantine(row.seq, reason)
            prev = row.leaf
            expected += 1
        return 0

    def _read_last_time(self, store: Store) -> int:
        """The last entry's t. A reader tolerates a damaged last entry (an auditor must still be able
        to export and prove); a writer refuses to append after one."""
        try:
            t = canonical.decode(next(store.rows(self.tree.size - 1)).data).get("t")
        except (canonical.CanonicalError, StopIteration):
            t = None
        if type(t) is not int or t < 0:
            if not self.readonly:
                raise LedgerError(f"entry {self.tree.size - 1} (the last) has no valid time t; the ledger is damaged")
            return 0
        return t

    def _check_checkpoints(self) -> None:
        """Refuse to sign on top of a stored checkpoint that this tree does not reproduce.

        Only the latest CHECKED_ON_OPEN checkpoints are checked, so that opening stays O(log n) however
        many there are. That is enough to refuse a fork: every checkpoint signed from now on extends
        this tree, so it is consistent with the latest stored one exactly when the tree's root at that
        size is that checkpoint's (checked here), and whether the earlier ones are consistent with the
        latest is already settled, by what was signed then. The audit (`ledger verify`, and the live
        server's start-up check) recomputes the whole tree from the entries' bytes and checks every
        checkpoint, each against the next, and every stored tile.
        """
        latest = self._checkpoints[-CHECKED_ON_OPEN:]
        if latest and latest[-1].size > self.tree.size:
            beyond = next(cp for cp in latest if cp.size > self.tree.size)
            raise LedgerError(
                f"stored checkpoint of size {beyond.size} is beyond the log's {self.tree.size} entries"
                " (the log was truncated); refusing to sign a fork"
            )
        for cp in latest:
            body = Checkpoint.parse(cp.note[: cp.note.index("\n\n") + 1])
            if body.root != self.tree.root(cp.size):
                raise LedgerError(
                    f"stored checkpoint of size {cp.size} does not match the entries (or their stored tiles);"
                    " refusing to sign a fork"
                )

    # -- appending ----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Entries appended so far (durable or pending)."""
        return self.tree.size

    @property
    def durable_size(self) -> int:
        """Entries known to be durable (committed)."""
        return self._durable

    @property
    def last_leaf(self) -> bytes:
        return self._last_leaf

    @property
    def last_time(self) -> int:
        return self._last_t

    def append(self, kind: str, payload: Mapping[str, Any], t: int) -> Appended:
        """Append one entry (not yet durable: call `commit` before acknowledging it).

        Raises LedgerError for arguments it refuses, EntryTooLarge for an entry of more than
        MAX_ENTRY_BYTES, in both cases having changed nothing.
        """
        # One test for the usual case (t >= last t >= 0 covers t >= 0); `_refuse` says what is wrong.
        if (
            self.readonly
            or type(t) is not int
            or t < self._last_t
            or type(kind) is not str
            or not kind
            or not _RESERVED_SET.isdisjoint(payload)
        ):
            self._refuse(kind, payload, t)
        tree = self.tree
        seq = tree.size
        data, leaf = _encode_entry_and_leaf(payload, seq, self._last_leaf, t, kind)
        if len(data) > MAX_ENTRY_BYTES:  # before anything changes
            raise EntryTooLarge(
                f"entry {seq} ({kind}) would be {len(data)} bytes, more than the ledger's limit of"
                f" {MAX_ENTRY_BYTES} bytes per entry; nothing was appended",
                len(data),
            )
        tree.append(leaf)
        self._pending_data.append(data)
        self._pending_leaves.append(leaf)
        self._last_t = t
        self._last_leaf = leaf
        if seq >= self._due_seq or t >= self._due_t:  # the policy, precomputed as two thresholds
            self._maybe_checkpoint(t)
        return _make_appended((seq, data, leaf))

    def _refuse(self, kind: Any, payload: Mapping[str, Any], t: Any) -> None:
        """Raise the error `append` owes for these arguments (the checks in their documented order)."""
        if self.readonly:
            raise LedgerError("this log was opened read-only")
        if type(t) is not int or t < 0:
            raise LedgerError(f"entry time t must be a non-negative integer of milliseconds, not {t!r}")
        if t < self._last_t:
            raise LedgerError(f"entry time {t} is earlier than the previous entry's {self._last_t}")
        if type(kind) is not str or not kind:
            raise LedgerError("entry kind must be a non-empty string")
        if not _RESERVED_SET.isdisjoint(payload):
            key = next(k for k in RESERVED if k in payload)
            raise LedgerError(f"payload must not set the reserved field {key!r}")
        raise AssertionError("append refused valid arguments")  # unreachable: the tests above are the same

    @property
    def signer(self) -> Signer | None:
        return self._signer

    @signer.setter
    def signer(self, signer: Signer | None) -> None:
        self._signer = signer
        self._set_due()

    @property
    def policy(self) -> CheckpointPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: CheckpointPolicy) -> None:
        self._policy = policy
        self._set_due()

    def _set_due(self) -> None:
        """The policy as thresholds `append` compares with: the last index and the entry time that sign.

        `_maybe_checkpoint` signs when new >= every_entries (new = size - cp_size, size = seq + 1)
        or now - cp_t >= every_ms; so the thresholds are seq >= cp_size + every_entries - 1 and
        t >= cp_t + every_ms. No signer: never.
        """
        p = self._policy
        if self._signer is None:
            self._due_seq = self._due_t = _NEVER
            return
        self._due_seq = _NEVER if p.every_entries is None else self._cp_size + p.every_entries - 1
        self._due_t = _NEVER if p.every_ms is None else self._cp_t + p.every_ms

    def _maybe_checkpoint(self, now: int) -> None:
        if self.signer is None:
            return
        new = self.tree.size - self._cp_size
        if new <= 0:
            return
        p = self._policy
        if (p.every_entries is not None and new >= p.every_entries) or (
            p.every_ms is not None and now - self._cp_t >= p.every_ms
        ):
            self.sign_checkpoint(now)

    def tick(self, now: int) -> None:
        """Let the time-based policy sign a checkpoint in a quiet period (live use)."""
        self._maybe_checkpoint(now)

    def sign_checkpoint(self, now: int | None = None) -> str:
        """Sign a checkpoint of the current tree (on demand); it is stored with the next commit."""
        if self.signer is None:
            raise LedgerError("this log has no signer key")
        size = self.tree.size
        if self._checkpoints and self._checkpoints[-1].size == size:
            return self._checkpoints[-1].note
        note = sign_note(Checkpoint(self.origin, size, self.tree.root(size)).text(), self.signer)
        stored = StoredCheckpoint(size, note)
        self._checkpoints.append(stored)
        self._pending_checkpoints.append(stored)
        self._cp_size = size
        self._cp_t = self._last_t if now is None else now
        self._set_due()
        return note

    def _pending_first(self) -> int:
        """The index of the first pending entry (the pending ones are the last of the tree)."""
        return self.tree.size - len(self._pending_data)

    def _pending_rows(self) -> list[Row]:
        first = self._pending_first()
        data = self._pending_data
        return list(map(_make_row, zip(range(first, first + len(data)), data, self._pending_leaves, strict=True)))

    def _pending_tiles(self) -> list[Tile]:
        """The tiles the pending entries change (written with them); a read-only in-memory tree has none."""
        tree = self.tree
        return tree.pending_tiles() if isinstance(tree, StoredTree) else []

    def commit(self) -> int:
        """Write every pending entry, checkpoint and tile durably in one batch; return the durable size."""
        if self._pending_data or self._pending_checkpoints:
            self.store.commit(self._pending_rows(), self._pending_checkpoints, self._pending_tiles())
            self._pending_data, self._pending_leaves, self._pending_checkpoints = [], [], []
            self._durable = self.tree.size
            if isinstance(self.tree, StoredTree):
                self.tree.hand_off()
                self.tree.mark_durable(self._durable)
        return self._durable

    def take_pending(self) -> tuple[list[Row], list[StoredCheckpoint], list[Tile]]:
        """Hand the pending batch (entries, checkpoints, the tiles they change) to a committer thread, which
        writes it with `store.commit(rows, checkpoints, tiles)`; call `mark_durable` once it is written."""
        rows, cps, tiles = self._pending_rows(), self._pending_checkpoints, self._pending_tiles()
        self._pending_data, self._pending_leaves, self._pending_checkpoints = [], [], []
        if isinstance(self.tree, StoredTree):
            self.tree.hand_off()
        return rows, cps, tiles

    def mark_durable(self, size: int) -> None:
        self._durable = max(self._durable, size)
        if isinstance(self.tree, StoredTree):
            self.tree.mark_durable(self._durable)

    # -- reading ------------------------------------------------------------------------------

    def entry_bytes(self, seq: int) -> bytes:
        if not 0 <= seq < self.tree.size:
            raise IndexError(f"entry {seq} does not exist (the log has {self.tree.size} entries)")
        if seq >= self._durable:
            i = seq - self._pending_first()
            if 0 <= i < len(self._pending_data):
                return self._pending_data[i]
        return next(self.store.rows(seq, seq + 1)).data

    def entry(self, seq: int) -> dict[str, Any]:
        return canonical.decode(self.entry_bytes(seq))

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        end = self.tree.size if end is None else end
        durable_end = min(end, self._durable)
        for row in self.store.rows(start, durable_end):
            yield row.data
        first = self._pending_first()
        for i, data in enumerate(self._pending_data):
            if max(start, durable_end) <= first + i < end:
                yield data

    @property
    def checkpoints(self) -> list[StoredCheckpoint]:
        return list(self._checkpoints)

    def checkpoint(self, size: int | None = None) -> StoredCheckpoint:
        """The latest signed checkpoint, or the one of exactly `size` entries."""
        if not self._checkpoints:
            raise LedgerError("no checkpoint has been signed yet")
        if size is None:
            return self._checkpoints[-1]
        for cp in self._checkpoints:
            if cp.size == size:
                return cp
        raise LedgerError(f"no signed checkpoint of size {size} ({self._nearest_sizes(size)})")

    def _nearest_sizes(self, size: int) -> str:
        """The signed sizes next to `size` and how many there are, for the message of a size never signed."""
        sizes = sorted({c.size for c in self._checkpoints})
        near = [s for s in sizes if s < size][-1:] + [s for s in sizes if s > size][:1]
        which = "sizes are" if len(near) == 2 else "size is"
        return f"the nearest signed {which} {' and '.join(map(str, near))}, of {len(sizes)} signed checkpoints"

    def covering_checkpoint(self, seq: int) -> StoredCheckpoint:
        """The latest signed checkpoint that covers entry `seq`."""
        cp = self.checkpoint()
        if cp.size <= seq:
            raise LedgerError(f"entry {seq} is not covered by a signed checkpoint yet (latest covers {cp.size})")
        return cp

    def prove(self, seq: int, size: int | None = None) -> TlogProof:
        """A tlog-proof@v1 for entry `seq` under the latest checkpoint (or the one of `size`)."""
        if not 0 <= seq < self.tree.size:
            raise LedgerError(f"entry {seq} does not exist (the log has {self.tree.size} entries)")
        cp = self.checkpoint(size) if size is not None else self.covering_checkpoint(seq)
        if seq >= cp.size:
            raise LedgerError(f"entry {seq} is not covered by the checkpoint of size {cp.size}")
        return TlogProof(seq, tuple(self.tree.inclusion_proof(seq, cp.size)), cp.note)

    def consistency(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        try:
            return self.tree.consistency_proof(old_size, new_size)
        except ValueError as exc:
            raise LedgerError(str(exc)) from None

    def verify_own_checkpoint(self, note: str) -> Checkpoint:
        """Check a note against this log's key and tree (used when accepting a trusted checkpoint)."""
        if self.signer is None:
            raise LedgerError("this log has no signer key")
        try:
            cp, _ = verify_signed_checkpoint(note, self.signer.verifier, self.origin)
        except (NoteError, ValueError) as exc:
            raise LedgerError(str(exc)) from None
        return cp

    def close(self) -> None:
        self.commit()
        self.store.close()
