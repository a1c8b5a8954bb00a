"""Rebuilding the live market on start: from the latest usable snapshot and the entries after it, or from all.

Start-up checks what it serves (the hostile-input rule): the signer is the key that signed the
stored checkpoints (`check_signer`), and then either

- **with a snapshot** (auction_engine/snapshot.py) whose size and root match the ledger and whose seal
  opens: the entries after it are re-hashed and chained to the tree before they are replayed, the
  latest checkpoint's signature and root are checked, and the snapshot's state continues over them.
  The rest of the history is re-checked in the background (`BackgroundAudit`) by the whole-store
  audit on a second, read-only connection; a mismatch there stops the market (`halt`) naming the
  entry, as it would have refused to start;
- **without one** (none stored, none matching: each skipped with a warning naming why): the whole
  store is audited (`verify_stored`) and every entry replayed, as before snapshots existed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger import Log, Signer, Store, canonical, open_store
from ledger.audit import AuditReport, Problem, audit_store
from ledger.checkpoint import verify_signed_checkpoint
from ledger.merkle import leaf_hash
from ledger.note import NoteError
from ledger.startup import IntegrityError
from ledger.store import SQLiteStore, StoreError

from ..clock import ManualClock
from ..closed_lots import ClosedLotError
from ..engine import Engine
from ..lot_table import ClosedLotSource, LotTable
from ..replay import replay_engine, replay_onto
from ..snapshot import SnapshotError, open_snapshot, restore_engine
from ..vault import MarketVault
from .indexes import MarketIndexes

__all__ = ["BackgroundAudit", "Restored", "check_recent", "reader_of", "restore", "snapshot_to_use"]

log = logging.getLogger("auction_engine.server")
ZERO_HASH = bytes(32)


@dataclass
class Restored:
    """The engine and indexes rebuilt, and how: from the snapshot at `snapshot` entries (None: from all)."""

    engine: Engine
    indexes: MarketIndexes
    snapshot: int | None
    replayed: int  # entries replayed by the rules
    skipped: list[str]  # why each newer snapshot was not used


def restore(
    log_: Log, vault: MarketVault, raw: list[bytes] | None, window_ms: int, closed: ClosedLotSource | None = None
) -> Restored:
    """The market of `log_` (non-empty): from a snapshot when one is usable, else by replaying `raw` (or every
    entry). Raises ReplayMismatch / IntegrityError for entries that do not replay / do not match what was signed.

    With `closed` (the store's closed lots, closed_lots.py), the engine's lots are a `LotTable`: a
    snapshot's closed lots are read from there when the entries after it name them."""
    skipped: list[str] = []
    if raw is None:  # not read whole by the start-up audit: a snapshot may spare reading the history
        for size, root in reversed(log_.store.snapshots()):
            try:
                return _from_snapshot(log_, vault, size, root, window_ms, skipped, closed)
            except SnapshotError as exc:
                skipped.append(str(exc))
                log.warning("snapshot ignored: %s", exc)
        raw = list(log_.entries())
    engine = replay_engine(raw, vault=vault, keep_events=False)
    if closed is not None:  # every lot in memory; the first snapshot writes the closed ones out
        engine.market.lots = LotTable(dict(engine.market.lots), closed, 0)
    indexes = MarketIndexes(window_ms)
    for data in raw:
        indexes.restore(canonical.decode(data), vault)
    return Restored(engine, indexes, None, len(raw), skipped)


def _from_snapshot(
    log_: Log,
    vault: MarketVault,
    size: int,
    root: bytes,
    window_ms: int,
    skipped: list[str],
    closed: ClosedLotSource | None,
) -> Restored:
    if size > log_.size:
        raise SnapshotError(f"the snapshot at {size} entries is beyond the ledger's {log_.size}")
    if size < 1 or log_.tree.root(size) != root:
        raise SnapshotError(f"the snapshot at {size} entries does not match the ledger's root at that size")
    blob = log_.store.get_snapshot(size)
    if blob is None:
        raise SnapshotError(f"the snapshot at {size} entries was removed while it was read")
    state = open_snapshot(vault, log_.origin, size, root, blob)
    tail = list(log_.entries(size))  # re-hashed and chained by `check_recent` before the log was opened
    try:
        engine = restore_engine(state, size, ManualClock(0), vault)
        indexes = MarketIndexes.from_state(state["indexes"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # sealed by us, yet not a state this code reads
        raise SnapshotError(f"the snapshot at {size} entries is not a state this release reads ({exc!r})") from None
    indexes.keys.window_ms = window_ms
    if closed is not None:
        engine.market.lots = LotTable(engine.market.lots, closed, size)
    try:
        replay_onto(engine, tail)  # raises ReplayMismatch: the entries after the snapshot are the ledger's, checked
    except ClosedLotError as exc:
        raise SnapshotError(f"the snapshot at {size} entries cannot continue: {exc}") from None
    for data in tail:
        indexes.restore(canonical.decode(data), vault)
    return Restored(engine, indexes, size, len(tail), skipped)


def snapshot_to_use(store: Store) -> int | None:
    """The size of the newest stored snapshot the ledger is long enough for (None: none)."""
    size = store.size()
    usable = [s for s, _ in store.snapshots() if 0 < s <= size]
    return usable[-1] if usable else None


def _integrity(code: str, message: str, index: int | None = None, cp: int | None = None) -> IntegrityError:
    report = AuditReport(origin=None, problems=[Problem(code, message, index, cp)])
    return IntegrityError(f"the stored ledger does not match what was signed: {message}", report)


def check_recent(store: Store, signer: Signer, snapshot: int) -> None:
    """Before the log is opened on a start from the snapshot at `snapshot` entries: re-hash every entry from
    it (or from the latest checkpoint, if earlier: the log's own tail repair reads from there) against its
    stored leaf, chain each to the one before, and verify the latest checkpoint's signature. IntegrityError
    naming the first entry or checkpoint at fault; the history before is the background audit's."""
    checkpoints = store.checkpoints()
    start = min(snapshot, checkpoints[-1].size) if checkpoints else 0
    prev = ZERO_HASH
    if start:
        before = next(store.rows(start - 1, start), None)
        if before is None:
            raise _integrity("entry_missing", f"entry {start - 1} is missing", start - 1)
        prev = before.leaf
    seq = start
    for row in store.rows(start):
        problem = None
        try:
            entry = canonical.decode(row.data)
        except canonical.CanonicalError as exc:
            problem = "entry_not_canonical", f"entry {seq} is not canonical: {exc}"
        else:
            if row.seq != seq or entry.get("seq") != seq:
                problem = "seq_mismatch", f"entry {seq} is missing or carries seq {entry.get('seq')!r}"
            elif leaf_hash(row.data) != row.leaf:
                problem = "leaf_mismatch", f"entry {seq}: its bytes do not match the stored leaf hash (altered)"
            elif entry.get("prev") != prev:
                problem = "chain_broken", f"entry {seq} does not chain to entry {seq - 1}"
        if problem is not None:
            raise _integrity(*problem, index=seq)
        prev = row.leaf
        seq += 1
    if checkpoints:
        latest = checkpoints[-1]
        try:
            cp, _ = verify_signed_checkpoint(latest.note, signer.verifier, store.get_meta("origin") or signer.name)
        except (NoteError, ValueError) as exc:
            message = f"the latest checkpoint (size {latest.size}) does not verify: {exc}"
            raise _integrity("bad_checkpoint", message, cp=latest.size) from None
        if cp.size != latest.size:
            message = f"the latest checkpoint is stored as size {latest.size} but signs size {cp.size}"
            raise _integrity("bad_checkpoint", message, cp=latest.size)


class BackgroundAudit:
    """The whole-store audit of a market restored from a snapshot, on its own thread and read-only store.

    `on_problem(message)` is called (from that thread) with the first problem found; `done` is set when
    the audit ends, `ok` says how.
    """

    def __init__(self, open_reader: Callable[[], Store], signer: Signer, on_problem: Callable[[str], None]) -> None:
        self.open_reader = open_reader
        self.signer = signer
        self.on_problem = on_problem
        self.done = threading.Event()
        self.ok: bool | None = None
        self.entries = 0
        self.thread = threading.Thread(target=self._run, name="background-audit", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            store = self.open_reader()
            try:
                check_structure: Any = getattr(store, "check_structure", None)
                if check_structure is not None:
                    check_structure()
                report = audit_store(store, self.signer.verifier)
            finally:
                store.close()
            self.entries = report.size
            self.ok = report.ok
            if not report.ok:
                first = report.problems[0]
                self.on_problem(f"the background audit of the history found: {first.message}")
        except StoreError as exc:
            self.ok = False
            self.on_problem(f"the background audit of the history could not read the store: {exc}")
        except Exception as exc:  # a bug in the audit must not pass for a clean history
            self.ok = False
            log.exception("the background audit failed")
            self.on_problem(f"the background audit of the history failed: {exc!r}")
        finally:
            self.done.set()


def reader_of(db: str | Store) -> Callable[[], Store] | None:
    """How to open a second, read-only store on the ledger `db` (a URL or path, or an open SQLite store);
    None when there is none (a store object of another kind: its history is then audited before serving)."""
    if isinstance(db, str):
        return lambda: open_store(db, readonly=True)
    if isinstance(db, SQLiteStore):
        path = db.path
        return lambda: SQLiteStore(path, readonly=True)
    return None
