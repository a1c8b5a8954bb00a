"""Audit a whole stored ledger against the market's verifier key, trusting nothing stored.

Checks, in one streaming pass: every entry's canonical bytes, `seq`, `prev` chain and time
order; the stored leaf hashes; every stored checkpoint's signature, origin and root; consistency
between successive checkpoints; every stored hash tile (the tree the log reads its proofs from)
against the tiles recomputed from the entries; and, given a checkpoint the auditor saved earlier,
that the log still extends it. Each problem names the entry index (or checkpoint size, or tile
`L/N`) and the reason.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import canonical
from ._accel import kernels
from .checkpoint import Checkpoint, CheckpointError, verify_signed_checkpoint
from .merkle import MerkleTree, ProofError, verify_consistency
from .note import NoteError, Verifier
from .store.base import TILE_HEIGHT, TILE_WIDTH, Row, Store
from .tiles import HASH_SIZE, read_edge

__all__ = ["AuditReport", "Problem", "audit_store"]

ZERO_HASH = bytes(32)


@dataclass(frozen=True)
class Problem:
    """One failed check: a machine-readable code, where, and a sentence saying what is wrong."""

    code: str
    message: str
    index: int | None = None
    checkpoint_size: int | None = None


@dataclass
class AuditReport:
    """The outcome of an audit; `ok` only when no problem was found."""

    origin: str | None
    size: int = 0
    root: bytes = b""
    checkpoints_verified: int = 0
    latest_checkpoint_size: int | None = None
    trusted_size: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, code: str, message: str, *, index: int | None = None, size: int | None = None) -> None:
        self.problems.append(Problem(code, message, index, size))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["root"] = self.root.hex()
        out["ok"] = self.ok
        out["problems"] = [{k: v for k, v in asdict(p).items() if v is not None} for p in self.problems]
        return out


_CHUNK = 4096
_get_data = operator.itemgetter(1)  # a row's data: Row.data, or the second column as fetched
RawRow = tuple[int, bytes, bytes]  # (seq, data, leaf): a `Row`, or a row as the database returns it
_check_clean_chunk = kernels.check_chunk


def _check_entries(store: Store, report: AuditReport, tree: MerkleTree, keep: list[bytes] | None = None) -> None:
    """Every entry's bytes, leaf hash, seq, prev chain, time and kind; the leaves go into `tree`.

    With `keep`, every entry's stored bytes are appended to it as they are read (a writer resuming
    the log replays them without reading the store a second time).

    Rows are taken 4,096 at a time. A chunk in which everything is right (the overwhelmingly
    common case) is shown so by the byte kernel `check_chunk` (`ledger._accel`); any other chunk goes
    through `_check_chunk`, one entry at a time, which finds and names each problem. Both reach the
    same verdict on a clean chunk.
    """
    batches = getattr(store, "row_batches", None)  # SQLiteStore: the rows as fetched, no Row objects
    chunks = batches() if batches is not None else _chunks(store.rows())
    index, prev, last_t = 0, ZERO_HASH, 0
    for chunk in chunks:
        rows = chunk if type(chunk) is list else list(chunk)
        if keep is not None:
            keep.extend(map(_get_data, rows))
        clean = _check_clean_chunk(rows, index, prev, last_t)
        if clean is not None:
            leaves_joined, last_t = clean
            tree.extend_joined(leaves_joined)
            prev = leaves_joined[-32:]
            index += len(rows)
            continue
        index, prev, last_t, stopped = _check_chunk(rows, index, prev, last_t, report, tree)
        if stopped:
            return


def _chunks(rows: Iterable[Row]) -> Iterator[list[Row]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, _CHUNK)):
        yield chunk


def _check_chunk(
    chunk: Sequence[RawRow],
    start: int,
    prev: bytes,
    last_t: int,
    report: AuditReport,
    tree: MerkleTree,
) -> tuple[int, bytes, int, bool]:
    """Check rows one by one, reporting every problem; return (next index, prev, last t, stopped)."""
    decode = canonical.decode
    CanonicalError = canonical.CanonicalError
    sha256 = hashlib.sha256
    add = report.add
    leaves: list[bytes] = []
    i = start
    stopped = False
    for seq, data, stored_leaf in chunk:
        if seq != i:
            add("missing", f"entry {i} is missing: the next stored entry has index {seq}", index=i)
            stopped = True
            break
        try:
            leaf = sha256(b"\x00" + data).digest()
        except TypeError:  # a row whose data column is not a BLOB (written by something else)
            add("encoding", f"entry {i}: stored as {type(data).__name__}, not as bytes", index=i)
            data = str(data).encode("utf-8", "surrogateescape")
            leaf = sha256(b"\x00" + data).digest()
        leaves.append(leaf)
        if leaf != stored_leaf:
            add("leaf_hash", f"entry {i}: its bytes do not match the stored leaf hash (altered)", index=i)
        try:
            entry = decode(data)
        except CanonicalError as exc:
            add("encoding", f"entry {i}: {exc}", index=i)
        else:
            entry_seq = entry.get("seq")
            if type(entry_seq) is not int or entry_seq != i:
                add("seq", f"entry {i}: its seq field is {entry_seq!r} (reordered or altered)", index=i)
            if entry.get("prev") != prev:
                add(
                    "prev",
                    f"entry {i}: prev is not the leaf hash of entry {i - 1} (entry {i - 1} altered, or entries"
                    " reordered)"
                    if i
                    else "entry 0: prev is not 32 zero bytes",
                    index=i,
                )
            t = entry.get("t")
            if type(t) is not int or t < 0:
                add("time", f"entry {i}: t is not a non-negative integer", index=i)
            elif t < last_t:
                add("time", f"entry {i}: t {t} is earlier than the previous entry's {last_t}", index=i)
            else:
                last_t = t
            kind = entry.get("kind")
            if type(kind) is not str or not kind:
                add("kind", f"entry {i}: kind is missing or not a string", index=i)
        prev = leaf
        i += 1
    tree.extend(leaves)
    return i, prev, last_t, stopped


def _check_checkpoints(store: Store, verifier: Verifier, report: AuditReport, tree: MerkleTree) -> None:
    good: list[Checkpoint] = []
    for stored in store.checkpoints():
        try:
            cp, _ = verify_signed_checkpoint(stored.note, verifier, report.origin)
        except (NoteError, CheckpointError) as exc:
            report.add("checkpoint_signature", f"checkpoint of size {stored.size}: {exc}", size=stored.size)
            continue
        if cp.size != stored.size:
            report.add("checkpoint_size", f"checkpoint stored as size {stored.size} says {cp.size}", size=stored.size)
            continue
        if cp.size > tree.size:
            report.add(
                "truncated",
                f"checkpoint of size {cp.size} is signed but the log has only {tree.size} entries",
                size=cp.size,
            )
        elif cp.root != tree.root(cp.size):
            report.add(
                "checkpoint_root",
                f"checkpoint of size {cp.size}: its root does not match the first {cp.size} entries",
                size=cp.size,
            )
        if good:
            _check_pair(good[-1], cp, tree, report)
        good.append(cp)
        report.checkpoints_verified += 1
    if good:
        report.latest_checkpoint_size = good[-1].size


def _check_pair(old: Checkpoint, new: Checkpoint, tree: MerkleTree, report: AuditReport) -> None:
    """Two signed checkpoints must describe one history: a fork is evidence of misconduct."""
    if old.size == new.size:
        if old.root != new.root:
            report.add("fork", f"two signed checkpoints of size {new.size} with different roots", size=new.size)
        return
    if new.size > tree.size:
        return
    # The stored entries are the only evidence of how two trees relate, and they may themselves be
    # altered. They prove a fork only when the newer checkpoint matches them (so it commits to their
    # first old.size entries) and the older one does not; if neither matches, the entries are what
    # changed (reported as checkpoint_root), not the signer's history.
    if new.root == tree.root(new.size) and old.root != tree.root(old.size):
        report.add(
            "fork",
            f"the signed checkpoint of size {old.size} contradicts the signed checkpoint of size {new.size},"
            " which matches these entries: the log signed two different histories",
            size=old.size,
        )


def check_trusted(trusted_note: str, verifier: Verifier, tree: MerkleTree, report: AuditReport) -> None:
    """Prove that the log extends a checkpoint the auditor saved earlier."""
    try:
        cp, _ = verify_signed_checkpoint(trusted_note, verifier, report.origin)
    except (NoteError, CheckpointError) as exc:
        report.add("trusted_signature", f"trusted checkpoint: {exc}")
        return
    report.trusted_size = cp.size
    if cp.size > tree.size:
        report.add(
            "truncated",
            f"the trusted checkpoint covers {cp.size} entries but the log now has only {tree.size}",
            size=cp.size,
        )
        return
    if cp.size == 0:
        return
    try:
        verify_consistency(cp.size, tree.size, tree.consistency_proof(cp.size, tree.size), cp.root, tree.root())
    except ProofError:
        report.add(
            "fork",
            f"the log does not extend the trusted checkpoint of size {cp.size}: its first {cp.size} entries differ",
            size=cp.size,
        )


def _check_tiles(store: Store, report: AuditReport, tree: MerkleTree) -> None:
    """Every stored tile must hold exactly the hashes the entries make (a tile is `L/N`, level L >= 1).

    A store whose tiles cover its entries (their right edge is all there: `tiles.read_edge`, as the
    log decides on open) must have every tile, each equal to the one recomputed. A store that does not
    (written before tiles existed, or by an older version since, or an upgrade cut short) is upgraded by
    the next writer; what it has must still be right, as far as it goes. Hashes past the entries are
    reported only when no entry is missing (a missing one is reported already, and stops the tree).
    A problem's index is the first entry the tile spans (its message names the tile).
    """
    size = tree.size
    covered = read_edge(store, size).covered
    complete = store.size() == size  # the tree has every stored entry (none missing before the last)

    def add(level: int, idx: int, what: str) -> None:
        span = TILE_WIDTH ** (level + 1)
        where = f"tile {level}/{idx} (entries {idx * span}…{(idx + 1) * span - 1})"
        report.add("tile", f"{where}: {what}", index=idx * span)

    level = 1
    while level < 64:
        count = size >> (TILE_HEIGHT * level)  # hashes at this level
        needed = -(-count // TILE_WIDTH)  # tiles at this level
        seen = 0
        for tile in store.tiles(level):
            if tile.idx >= needed:
                if complete:
                    add(level, tile.idx, f"stored, but the {size} entries do not reach it (entries removed?)")
                continue
            if covered:
                for missing in range(seen, tile.idx):
                    add(level, missing, "missing from the store")
            seen = tile.idx + 1
            width = min(TILE_WIDTH, count - tile.idx * TILE_WIDTH)
            expected = tree.subtree_hashes(TILE_HEIGHT * level, tile.idx * TILE_WIDTH, width)
            stored = tile.hashes
            whole = len(stored) % HASH_SIZE == 0
            longer = whole and len(stored) > len(expected) and stored.startswith(expected)
            older = whole and not covered and len(stored) < len(expected) and expected.startswith(stored)
            if stored == expected or (longer and not complete) or older:
                continue  # right (as far as the entries read go; as far as an older writer wrote it)
            if longer:
                add(level, tile.idx, f"holds hashes beyond the {size} entries (entries removed?)")
            elif len(stored) != len(expected) and (covered or not whole):
                add(level, tile.idx, f"holds {len(stored)} bytes where the entries make {len(expected)}")
            else:
                add(level, tile.idx, "its hashes do not match the entries (damaged)")
        if covered:
            for missing in range(seen, needed):
                add(level, missing, "missing from the store")
        if count == 0 and seen == 0:
            break
        level += 1


def audit_store(
    store: Store, verifier: Verifier, trusted: str | None = None, *, keep: list[bytes] | None = None
) -> AuditReport:
    """Audit every entry and checkpoint in `store`; optionally against a trusted checkpoint note.

    With `keep`, every entry's stored bytes are appended to it, in order, as they are read.
    """
    report = AuditReport(origin=store.get_meta("origin") or verifier.name)
    tree = MerkleTree()
    _check_entries(store, report, tree, keep)
    report.size = tree.size
    report.root = tree.root()
    _check_checkpoints(store, verifier, report, tree)
    _check_tiles(store, report, tree)
    if trusted is not None:
        check_trusted(trusted, verifier, tree, report)
    return report
