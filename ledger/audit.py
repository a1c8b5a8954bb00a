"""Audit a whole stored ledger against the market's verifier key, trusting nothing stored.

Checks, in one streaming pass: every entry's canonical bytes, `seq`, `prev` chain and time
order; the stored leaf hashes; every stored checkpoint's signature, origin and root; consistency
between successive checkpoints; every stored hash tile (the tree the log reads its proofs from)
against the tiles recomputed from the entries; and, given a checkpoint the auditor saved earlier,
that the log still extends it. Each problem names the entry index (or checkpoint size, or tile
`L/N`) and the reason.

Memory is O(log n) of the tree, whatever the ledger's length: the leaves go into a `Frontier`
(`ledger.frontier`: the tree's right edge, one hash per set bit of the size), never into a whole
tree. The checkpoints are read and their signatures checked first, so that the sizes whose roots are
needed are known before the entries are: each such root is taken from the frontier when the stream
of leaves reaches its size. The tiles are checked as the frontier completes them (one tile being
filled per level, and a window of the stored ones), their verdicts settled once the size is known.
What stays in memory besides is what the store hands over whole (its list of checkpoints), one root
per checkpoint, the problems found, and, only with `keep`, every entry's bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple, Protocol

from . import canonical
from ._accel import kernels
from .checkpoint import Checkpoint, CheckpointError, verify_signed_checkpoint
from .frontier import Frontier
from .merkle import EMPTY_ROOT
from .note import NoteError, Verifier
from .store.base import TILE_HEIGHT, TILE_WIDTH, Row, Store
from .tiles import HASH_SIZE, TILE_BYTES, read_edge

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


class LeafSink(Protocol):
    """Where `_check_entries` puts the leaf hashes, in order: the audit's `_Stream` (or a `MerkleTree`)."""

    def extend_joined(self, leaves: bytes) -> None: ...


def _check_entries(store: Store, report: AuditReport, tree: LeafSink, keep: list[bytes] | None = None) -> None:
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
    tree: LeafSink,
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
    tree.extend_joined(b"".join(leaves))
    return i, prev, last_t, stopped


class _Stream:
    """The leaves as the audit reads them: into the frontier, the root taken at each size asked for.

    The sizes are those of the signed checkpoints and of the trusted one; the stream passes them in
    increasing order, so each root is the frontier's at the moment it holds exactly that many leaves.
    """

    def __init__(self, sizes: Iterable[int], tiles: _TileCheck) -> None:
        self.frontier = Frontier(tiles.nodes)  # the tile-height nodes go to the tile check as they complete
        self.roots: dict[int, bytes] = {}  # size -> the root of the first `size` leaves, once reached
        wanted = sorted({s for s in sizes if s >= 0})
        if wanted and wanted[0] == 0:
            self.roots[0] = EMPTY_ROOT
            del wanted[0]
        self._wanted = iter(wanted)
        self._next = next(self._wanted, None)

    def extend_joined(self, leaves: bytes) -> None:
        frontier = self.frontier
        view = memoryview(leaves)
        want = self._next
        while want is not None and (want - frontier.size) * HASH_SIZE <= len(view):
            cut = (want - frontier.size) * HASH_SIZE
            frontier.extend_joined(view[:cut])
            view = view[cut:]
            self.roots[want] = frontier.root()
            want = next(self._wanted, None)
        self._next = want
        frontier.extend_joined(view)


# A stored checkpoint as read before the entries: its stored size and the checkpoint its signature
# verified (or why it did not).
_Read = tuple[int, Checkpoint | str]


def _read_checkpoints(store: Store, verifier: Verifier, origin: str | None) -> list[_Read]:
    """Every stored checkpoint with its signature checked (this needs no entry; the roots come later)."""
    out: list[_Read] = []
    for stored in store.checkpoints():
        try:
            cp, _ = verify_signed_checkpoint(stored.note, verifier, origin)
        except (NoteError, CheckpointError) as exc:
            out.append((stored.size, str(exc)))
            continue
        out.append((stored.size, cp))
    return out


def _sizes_needed(read: list[_Read]) -> list[int]:
    """The sizes at which `_check_checkpoints` compares roots: those of the checkpoints that verified."""
    return [cp.size for size, cp in read if isinstance(cp, Checkpoint) and cp.size == size]


def _check_checkpoints(read: list[_Read], report: AuditReport, size: int, roots: dict[int, bytes]) -> None:
    """Each signed checkpoint's root against the root of as many entries (`roots`, for every size <= `size`)."""
    good: list[Checkpoint] = []
    for stored_size, cp in read:
        if isinstance(cp, str):
            report.add("checkpoint_signature", f"checkpoint of size {stored_size}: {cp}", size=stored_size)
            continue
        if cp.size != stored_size:
            report.add("checkpoint_size", f"checkpoint stored as size {stored_size} says {cp.size}", size=stored_size)
            continue
        if cp.size > size:
            report.add(
                "truncated",
                f"checkpoint of size {cp.size} is signed but the log has only {size} entries",
                size=cp.size,
            )
        elif cp.root != roots[cp.size]:
            report.add(
                "checkpoint_root",
                f"checkpoint of size {cp.size}: its root does not match the first {cp.size} entries",
                size=cp.size,
            )
        if good:
            _check_pair(good[-1], cp, size, roots, report)
        good.append(cp)
        report.checkpoints_verified += 1
    if good:
        report.latest_checkpoint_size = good[-1].size


def _check_pair(old: Checkpoint, new: Checkpoint, size: int, roots: dict[int, bytes], report: AuditReport) -> None:
    """Two signed checkpoints must describe one history: a fork is evidence of misconduct.

    No consistency proof is needed between them: both roots are compared with the roots of prefixes of
    one sequence of leaves (the entries read), and two checkpoints that both match those are consistent
    by construction (the proof between them, made from these leaves, would verify).
    """
    if old.size == new.size:
        if old.root != new.root:
            report.add("fork", f"two signed checkpoints of size {new.size} with different roots", size=new.size)
        return
    if new.size > size:
        return
    # The stored entries are the only evidence of how two trees relate, and they may themselves be
    # altered. They prove a fork only when the newer checkpoint matches them (so it commits to their
    # first old.size entries) and the older one does not; if neither matches, the entries are what
    # changed (reported as checkpoint_root), not the signer's history.
    if new.root == roots[new.size] and old.root != roots.get(old.size):
        report.add(
            "fork",
            f"the signed checkpoint of size {old.size} contradicts the signed checkpoint of size {new.size},"
            " which matches these entries: the log signed two different histories",
            size=old.size,
        )


def _read_trusted(trusted_note: str, verifier: Verifier, origin: str | None) -> Checkpoint | str:
    """The checkpoint the auditor saved earlier, its signature checked (or why it does not verify)."""
    try:
        cp, _ = verify_signed_checkpoint(trusted_note, verifier, origin)
    except (NoteError, CheckpointError) as exc:
        return str(exc)
    return cp


def check_trusted(trusted: Checkpoint | str, report: AuditReport, size: int, roots: dict[int, bytes]) -> None:
    """Prove that the log extends a checkpoint the auditor saved earlier (`_read_trusted`'s answer).

    The log of `size` entries extends it exactly when its root is the root of the first `trusted.size`
    entries: a consistency proof between the two, made from these entries and checked (as the audit
    did when it kept the whole tree), verifies if and only if that holds, so the roots are compared.
    """
    if isinstance(trusted, str):
        report.add("trusted_signature", f"trusted checkpoint: {trusted}")
        return
    cp = trusted
    report.trusted_size = cp.size
    if cp.size > size:
        report.add(
            "truncated",
            f"the trusted checkpoint covers {cp.size} entries but the log now has only {size}",
            size=cp.size,
        )
        return
    if cp.size == 0:
        return
    if cp.root != roots[cp.size]:
        report.add(
            "fork",
            f"the log does not extend the trusted checkpoint of size {cp.size}: its first {cp.size} entries differ",
            size=cp.size,
        )


_WINDOW = 16  # stored tiles read per query while the full tiles are checked (at most 128 KiB of them)


class _Gap(NamedTuple):
    """Full tiles start … stop-1 of a level, not stored (a problem only if the tiles cover the entries)."""

    start: int
    stop: int


class _Mismatch(NamedTuple):
    """A stored tile that differs from the one the entries make: what its verdict depends on."""

    idx: int
    length: int  # bytes stored
    expected: int  # bytes the entries make
    whole: bool  # whole hashes stored
    extends: bool  # longer, and starts with every expected hash
    prefix: bool  # shorter, and is the expected hashes' beginning

    @classmethod
    def of(cls, idx: int, stored: bytes, expected: bytes) -> _Mismatch:
        n, m = len(stored), len(expected)
        return cls(
            idx, n, m, n % HASH_SIZE == 0, n > m and stored.startswith(expected), n < m and expected.startswith(stored)
        )

    def verdict(self, size: int, covered: bool, complete: bool) -> str | None:
        """What is wrong with it in a store of `size` entries (None: right as far as the entries or writer go)."""
        longer = self.whole and self.extends
        older = self.whole and not covered and self.prefix
        if (longer and not complete) or older:
            return None  # right (as far as the entries read go; as far as an older writer wrote it)
        if longer:
            return f"holds hashes beyond the {size} entries (entries removed?)"
        if self.length != self.expected and (covered or not self.whole):
            return f"holds {self.length} bytes where the entries make {self.expected}"
        return "its hashes do not match the entries (damaged)"


class _TileCheck:
    """Every stored tile against the tiles the entries make, as the frontier makes them (`_check_tiles`).

    Keeps, per level, the tile being filled (< 256 hashes) and a window of stored tiles; each full tile
    is compared with the stored one as soon as it is complete. Whether a difference is a problem
    depends on the final size (`covered`, `complete`), so the differences are kept (as few as the
    problems; runs of missing tiles as one gap) and judged in `finish`, in the order the stored tiles
    come: the same problems, in the same order, as comparing with a whole tree built first.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._filling: list[bytearray] = []  # [L - 1]: the hashes of level L's tile being filled
        self._full: list[int] = []  # [L - 1]: how many full tiles of level L have been compared
        self._window: dict[int, tuple[int, dict[int, bytes]]] = {}  # L -> (first idx read, stored tiles)
        self._found: dict[int, list[_Gap | _Mismatch]] = {}  # L -> differences, in idx order

    def nodes(self, height: int, _start: int, hashes: bytes) -> None:
        """The frontier's sink: new complete nodes at height 8·L are the next hashes of level L's tiles."""
        level = height // TILE_HEIGHT
        while len(self._filling) < level:
            self._filling.append(bytearray())
            self._full.append(0)
        filling = self._filling[level - 1]
        filling += hashes
        while len(filling) >= TILE_BYTES:
            idx = self._full[level - 1]
            self._compare(level, idx, bytes(filling[:TILE_BYTES]))
            del filling[:TILE_BYTES]
            self._full[level - 1] = idx + 1

    def _stored(self, level: int, idx: int) -> bytes | None:
        first, tiles = self._window.get(level, (-_WINDOW, {}))  # none read yet: a window that holds no idx
        if not first <= idx < first + _WINDOW:
            first, tiles = idx, {t.idx: t.hashes for t in self._store.tiles(level, idx, idx + _WINDOW)}
            self._window[level] = (first, tiles)
        return tiles.pop(idx, None)

    def _compare(self, level: int, idx: int, expected: bytes) -> None:
        stored = self._stored(level, idx)
        if stored == expected:
            return
        found = self._found.setdefault(level, [])
        if stored is not None:
            found.append(_Mismatch.of(idx, stored, expected))
        elif found and isinstance(found[-1], _Gap) and found[-1].stop == idx:
            found[-1] = _Gap(found[-1].start, idx + 1)
        else:
            found.append(_Gap(idx, idx + 1))

    def finish(self, report: AuditReport, size: int) -> None:
        """Report the tile problems of a tree of `size` leaves (all of them have been streamed).

        A store whose tiles cover its entries (their right edge is all there: `tiles.read_edge`, as the
        log decides on open) must have every tile, each equal to the one recomputed. A store that does
        not (written before tiles existed, or by an older version since, or an upgrade cut short) is
        upgraded by the next writer; what it has must still be right, as far as it goes. Hashes past the
        entries are reported only when no entry is missing (a missing one is reported already, and stops
        the tree). A problem's index is the first entry the tile spans (its message names the tile).
        """
        store = self._store
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
            full = count // TILE_WIDTH  # compared while streaming; the partial edge tile, if any, is not
            found = self._found.pop(level, [])
            seen = full  # the stored tiles below this have been accounted for
            if found and isinstance(found[-1], _Gap) and found[-1].stop == full:
                # Missing tiles followed by no stored full one: reported after any tile past the entries,
                # where a walk over the stored tiles finds them missing.
                seen = found.pop().start
            for item in found:
                if isinstance(item, _Gap):
                    if covered:
                        for missing in range(item.start, item.stop):
                            add(level, missing, "missing from the store")
                elif what := item.verdict(size, covered, complete):
                    add(level, item.idx, what)
            edge = bytes(self._filling[level - 1]) if level <= len(self._filling) else b""
            for tile in store.tiles(level, full):  # the partial edge tile, and anything stored past it
                if tile.idx >= needed:
                    if complete:
                        add(level, tile.idx, f"stored, but the {size} entries do not reach it (entries removed?)")
                    continue
                if covered:
                    for missing in range(seen, tile.idx):
                        add(level, missing, "missing from the store")
                seen = tile.idx + 1
                if tile.hashes != edge and (
                    what := _Mismatch.of(tile.idx, tile.hashes, edge).verdict(size, covered, complete)
                ):
                    add(level, tile.idx, what)
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

    With `keep`, every entry's stored bytes are appended to it, in order, as they are read (the one
    thing here that grows with the ledger: a caller that asks for it needs them).
    """
    report = AuditReport(origin=store.get_meta("origin") or verifier.name)
    read = _read_checkpoints(store, verifier, report.origin)
    sizes = _sizes_needed(read)
    trusted_cp = None if trusted is None else _read_trusted(trusted, verifier, report.origin)
    if isinstance(trusted_cp, Checkpoint):
        sizes.append(trusted_cp.size)
    tiles = _TileCheck(store)
    stream = _Stream(sizes, tiles)
    _check_entries(store, report, stream, keep)
    size = stream.frontier.size
    report.size = size
    report.root = stream.frontier.root()
    # The problems are reported in the order of the checks (entries, checkpoints, tiles, trusted).
    _check_checkpoints(read, report, size, stream.roots)
    tiles.finish(report, size)
    if trusted_cp is not None:
        check_trusted(trusted_cp, report, size, stream.roots)
    return report
