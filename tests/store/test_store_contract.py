"""The Store contract, run against every store: MemoryStore, SQLiteStore and PostgresStore (a real server).

Raw store behaviour first (batches, ranges, checkpoints, meta, quarantine, reopening, read-only
mode), then the real `ledger.Log` on top of each store, audited by `ledger.audit_store`, and an
intruder flipping one byte of a stored entry behind the store's back.
"""

from __future__ import annotations

import hashlib

import pytest

from ledger import CheckpointPolicy, Log, Signer, audit_store
from ledger.store import Row, Store, StoredCheckpoint, StoreError

from .conftest import StoreKit, make_rows

ORIGIN = "store.test.example"
SIGNER = Signer(ORIGIN, bytes(range(32)))

# What a store may raise when asked to write in read-only mode or to break a key: SQLite and
# PostgreSQL a StoreError (never the driver's own error), the memory store ValueError.
REFUSED = (StoreError, ValueError)


def contents(store: Store) -> tuple[int, list[Row], list[bytes], list[StoredCheckpoint]]:
    return store.size(), list(store.rows()), list(store.leaf_hashes()), store.checkpoints()


# -- raw store behaviour ------------------------------------------------------------------------


def test_empty_store(store_kit: StoreKit) -> None:
    store = store_kit.open()
    assert store.size() == 0
    assert list(store.rows()) == []
    assert list(store.rows(5, 10)) == []
    assert list(store.leaf_hashes()) == []
    assert store.checkpoints() == []
    assert store.get_meta("origin") is None


def test_batches_and_ranges(store_kit: StoreKit) -> None:
    store = store_kit.open()
    everything = make_rows(0, 4200)  # more than one 4096-row chunk
    store.commit(everything[:1])
    store.commit(everything[1:4100])
    store.commit(everything[4100:])
    assert store.size() == 4200
    got = list(store.rows())
    assert got == everything
    assert all(type(row) is Row and type(row.data) is bytes and type(row.leaf) is bytes for row in got[:3])
    assert list(store.leaf_hashes()) == [row.leaf for row in everything]
    for start, end in [(0, 1), (7, 19), (4095, 4097), (4090, 4200), (4199, None), (100, 100), (5, 3), (4200, None)]:
        assert list(store.rows(start, end)) == everything[start:end], (start, end)
    assert list(store.rows(4100, 10**9)) == everything[4100:]
    assert list(store.rows(5000)) == []
    assert next(store.rows(41)) == everything[41]


def test_empty_commit_and_checkpoint_only_commit(store_kit: StoreKit) -> None:
    store = store_kit.open()
    store.commit([])
    assert store.size() == 0
    store.commit(make_rows(0, 3))
    store.commit([], [StoredCheckpoint(3, "note of 3\n")])
    assert store.size() == 3
    assert store.checkpoints() == [StoredCheckpoint(3, "note of 3\n")]


def test_checkpoints_come_back_by_size(store_kit: StoreKit) -> None:
    store = store_kit.open()
    store.commit(make_rows(0, 10), [StoredCheckpoint(10, "ten — \u2014 signed\n"), StoredCheckpoint(2, "two\n")])
    store.commit(make_rows(10, 5), [StoredCheckpoint(15, "fifteen\n"), StoredCheckpoint(7, "seven\n")])
    assert [cp.size for cp in store.checkpoints()] == [2, 7, 10, 15]
    assert store.checkpoints()[2] == StoredCheckpoint(10, "ten — \u2014 signed\n")
    assert all(type(cp) is StoredCheckpoint for cp in store.checkpoints())


def test_meta(store_kit: StoreKit) -> None:
    store = store_kit.open()
    assert store.get_meta("origin") is None
    store.set_meta("origin", "market.example")
    store.set_meta("note", "拍卖 ✓")
    assert store.get_meta("origin") == "market.example"
    store.set_meta("origin", "other.example")
    assert store.get_meta("origin") == "other.example"
    assert store.get_meta("note") == "拍卖 ✓"
    assert store.get_meta("absent") is None


def test_quarantine_moves_the_tail_aside(store_kit: StoreKit) -> None:
    store = store_kit.open()
    rows = make_rows(0, 10)
    store.commit(rows, [StoredCheckpoint(4, "four\n")])
    assert store.quarantine(6, "entry 6 does not chain") == 4
    assert store.size() == 6
    assert list(store.rows()) == rows[:6]
    assert list(store.leaf_hashes()) == [r.leaf for r in rows[:6]]
    assert store.checkpoints() == [StoredCheckpoint(4, "four\n")]
    assert store_kit.quarantined() == [(r.seq, r.data, r.leaf, "entry 6 does not chain") for r in rows[6:]]
    assert store.quarantine(6, "nothing there") == 0
    # The freed indexes can be written again; the quarantined rows stay where they are.
    fresh = [Row(6, b"again", hashlib.sha256(b"\x00again").digest())]
    store.commit(fresh)
    assert list(store.rows(5)) == [rows[5], *fresh]
    assert len(store_kit.quarantined()) == 4


def test_reopen_keeps_everything(store_kit: StoreKit) -> None:
    store = store_kit.open()
    rows = make_rows(0, 50)
    store.commit(rows[:20], [StoredCheckpoint(20, "twenty\n")])
    store.commit(rows[20:])
    store.set_meta("origin", "market.example")
    before = contents(store)
    store.close()
    again = store_kit.open()
    assert contents(again) == before
    assert again.get_meta("origin") == "market.example"
    again.commit(make_rows(50, 1))
    assert again.size() == 51


def test_failed_commit_writes_nothing(durable_kit: StoreKit) -> None:
    store = durable_kit.open()
    store.commit(make_rows(0, 5))
    before = contents(store)
    # A batch whose last row collides with a stored one fails as a whole, its checkpoint too.
    with pytest.raises(REFUSED):
        store.commit([*make_rows(5, 3), make_rows(2, 1)[0]], [StoredCheckpoint(8, "eight\n")])
    assert contents(store) == before
    store.commit(make_rows(5, 3), [StoredCheckpoint(8, "eight\n")])
    assert store.size() == 8


def test_readonly_reads_but_refuses_writes(durable_kit: StoreKit) -> None:
    writer = durable_kit.open()
    writer.commit(make_rows(0, 12), [StoredCheckpoint(12, "twelve\n")])
    writer.set_meta("origin", "market.example")
    expected = contents(writer)
    writer.close()
    reader = durable_kit.open(readonly=True)
    assert contents(reader) == expected
    assert reader.get_meta("origin") == "market.example"
    with pytest.raises(REFUSED):
        reader.commit(make_rows(12, 1))
    with pytest.raises(REFUSED):
        reader.commit([], [StoredCheckpoint(13, "x\n")])
    with pytest.raises(REFUSED):
        reader.set_meta("origin", "forged.example")
    with pytest.raises(REFUSED):
        reader.quarantine(0, "nope")
    assert contents(reader) == expected
    assert reader.get_meta("origin") == "market.example"


def test_a_second_writer_is_refused_while_the_first_is_open(durable_kit: StoreKit) -> None:
    writer = durable_kit.open()
    writer.commit(make_rows(0, 3))
    with pytest.raises(StoreError, match="another writer has this ledger open"):
        durable_kit.open()
    reader = durable_kit.open(readonly=True)  # readers take no lock
    assert reader.size() == 3
    writer.close()
    again = durable_kit.open()  # closing released it
    again.commit(make_rows(3, 1))
    assert again.size() == reader.size() == 4


def test_readonly_reader_alongside_the_writer(durable_kit: StoreKit) -> None:
    writer = durable_kit.open()
    writer.commit(make_rows(0, 3))
    reader = durable_kit.open(readonly=True)
    assert reader.size() == 3
    writer.commit(make_rows(3, 4))
    assert reader.size() == 7
    assert list(reader.rows(3)) == make_rows(3, 4)


def test_readonly_refuses_storage_that_is_not_a_ledger(durable_kit: StoreKit) -> None:
    with pytest.raises(StoreError, match="ledger"):
        durable_kit.open(readonly=True)


# -- the log on top -----------------------------------------------------------------------------


def fill(log: Log, count: int, *, batch: int = 7) -> None:
    """Append `count` entries, committing every `batch`, one millisecond apart."""
    t = log.last_time
    for i in range(count):
        t += 1
        log.append("test.entry", {"n": log.size, "memo": f"出价 {i}", "blob": bytes([i % 256]) * (i % 4)}, t=t)
        if i % batch == batch - 1:
            log.commit()
    log.commit()


def test_log_append_sign_reopen_audit(store_kit: StoreKit) -> None:
    policy = CheckpointPolicy(every_entries=10, every_ms=None)
    log = Log(store_kit.open(), SIGNER, policy=policy)
    fill(log, 45)
    log.sign_checkpoint()
    root, size = log.tree.root(), log.size
    sizes = [cp.size for cp in log.checkpoints]
    log.close()
    assert sizes == [10, 20, 30, 40, 45]

    reader = store_kit.open(readonly=True)
    report = audit_store(reader, SIGNER.verifier, trusted=log.checkpoint(20).note)
    assert report.ok, report.problems
    assert (report.size, report.root, report.checkpoints_verified) == (45, root, 5)
    assert report.origin == ORIGIN
    reader.close()

    again = Log(store_kit.open(), SIGNER, policy=policy)
    assert (again.size, again.durable_size, again.tree.root(), again.repaired) == (size, size, root, 0)
    assert again.entry(44)["n"] == 44
    fill(again, 8)
    again.sign_checkpoint()
    again.close()
    report = audit_store(store_kit.open(readonly=True), SIGNER.verifier, trusted=log.checkpoint(45).note)
    assert report.ok, report.problems
    assert report.size == 53
    assert report.latest_checkpoint_size == 53


def test_log_quarantines_a_tail_that_does_not_chain(store_kit: StoreKit) -> None:
    log = Log(store_kit.open(), SIGNER, policy=CheckpointPolicy(every_entries=None, every_ms=None))
    fill(log, 12)
    log.sign_checkpoint()
    fill(log, 3)
    log.close()
    # A foreign writer slips in a row that is not a ledger entry after the signed checkpoint.
    store = store_kit.open()
    bogus = b"not canonical"
    store.commit([Row(15, bogus, hashlib.sha256(b"\x00" + bogus).digest())])
    store.close()
    again = Log(store_kit.open(), SIGNER)
    assert again.repaired == 1
    assert again.size == 15
    assert [q[0] for q in store_kit.quarantined()] == [15]
    assert "not canonical" in store_kit.quarantined()[0][3]
    again.close()
    assert audit_store(store_kit.open(readonly=True), SIGNER.verifier).ok


def test_tampered_entry_is_reported(store_kit: StoreKit) -> None:
    log = Log(store_kit.open(), SIGNER, policy=CheckpointPolicy(every_entries=10, every_ms=None))
    fill(log, 30)
    log.sign_checkpoint()
    log.close()
    store_kit.flip_byte(17, 3)
    report = audit_store(store_kit.open(readonly=True), SIGNER.verifier)
    assert not report.ok
    assert any(p.code == "leaf_hash" and p.index == 17 for p in report.problems), report.problems
    assert all(p.index in (17, 18) or p.checkpoint_size is not None for p in report.problems), report.problems


def test_rows_step_over_a_gap(durable_kit: StoreKit) -> None:
    # Only a damaged ledger has gaps (the audit reports them), but reading must still step over them.
    store = durable_kit.open()
    rows = [*make_rows(0, 3), *make_rows(70_000, 2), *make_rows(5_000_000, 1)]
    store.commit(rows)
    assert store.size() == 5_000_001
    assert list(store.rows()) == rows
    assert list(store.rows(2, 70_001)) == rows[2:4]
    assert list(store.rows(3, 70_000)) == []
    assert list(store.leaf_hashes()) == [r.leaf for r in rows]
