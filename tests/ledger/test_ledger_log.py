"""The Log: entry fields and chaining, reopening, refusing forks, checkpoint policies, proofs and tail repair."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_testkit import ORIGIN, BuiltLedger, entry_body

from ledger import (
    CanonicalError,
    Checkpoint,
    CheckpointPolicy,
    LedgerError,
    Log,
    MemoryStore,
    MerkleTree,
    Signer,
    SQLiteStore,
    audit_store,
    decode,
    encode,
    leaf_hash,
    open_note,
    sign_note,
    verify_consistency,
    verify_inclusion,
)

MANUAL = CheckpointPolicy(every_entries=None, every_ms=None)


def cp_sizes(log: Log) -> list[int]:
    return [cp.size for cp in log.checkpoints]


def test_every_entry_has_seq_prev_t_kind(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=MANUAL)
    appended = [log.append(f"k.{i}", entry_body(i), t=10 * i) for i in range(5)]
    previous = bytes(32)
    for i, a in enumerate(appended):
        entry = decode(a.data)
        assert a.seq == entry["seq"] == i
        assert entry["prev"] == previous and len(entry["prev"]) == 32
        assert entry["t"] == 10 * i and entry["kind"] == f"k.{i}"
        assert {k: v for k, v in entry.items() if k not in ("seq", "prev", "t", "kind")} == entry_body(i)
        assert a.leaf == leaf_hash(a.data)
        previous = a.leaf
    assert log.last_leaf == appended[-1].leaf and log.last_time == 40


def test_memory_and_sqlite_stores_build_the_same_tree(signer: Signer, tmp_path: Path) -> None:
    roots = []
    for store in (MemoryStore(), SQLiteStore(tmp_path / "l.db")):
        log = Log(store, signer, policy=CheckpointPolicy(every_entries=3, every_ms=None))
        for i in range(10):
            log.append("x", entry_body(i), t=i)
        log.commit()
        roots.append((log.tree.root(), [cp.note for cp in log.checkpoints]))
        log.close()
    assert roots[0] == roots[1]


@pytest.mark.parametrize(
    ("kind", "payload", "t", "message"),
    [
        ("x", {"seq": 1}, 100, "reserved field 'seq'"),
        ("x", {"prev": b""}, 100, "reserved field 'prev'"),
        ("x", {"t": 1}, 100, "reserved field 't'"),
        ("x", {"kind": "y"}, 100, "reserved field 'kind'"),
        ("", {}, 100, "kind must be a non-empty string"),
        (3, {}, 100, "kind must be a non-empty string"),
        ("x", {}, -1, "non-negative integer"),
        ("x", {}, 1.5, "non-negative integer"),
        ("x", {}, True, "non-negative integer"),
        ("x", {}, 99, "earlier than the previous entry's 100"),
    ],
)
def test_append_refuses_bad_input_without_changing_state(
    signer: Signer, kind: object, payload: dict[str, object], t: object, message: str
) -> None:
    log = Log(MemoryStore(), signer, policy=MANUAL)
    first = log.append("x", {}, t=100)
    with pytest.raises(LedgerError, match=message):
        log.append(kind, payload, t)  # type: ignore[arg-type]
    assert log.size == 1 and log.last_leaf == first.leaf
    assert decode(log.append("x", {}, t=100).data)["prev"] == first.leaf


def test_non_canonical_payload_is_refused_without_changing_state(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=MANUAL)
    log.append("x", {}, t=0)
    with pytest.raises(CanonicalError, match="price: floats are not allowed"):
        log.append("x", {"price": 1.5}, t=1)
    with pytest.raises(CanonicalError):
        log.append("x", {1: "non-str key"}, t=1)  # type: ignore[dict-item]
    assert log.size == 1 and log.last_time == 0
    log.append("x", {"price": 150}, t=1)
    log.commit()
    assert audit_store(log.store, signer.verifier).ok


def test_pending_entries_are_readable_before_commit(signer: Signer, tmp_path: Path) -> None:
    log = Log(SQLiteStore(tmp_path / "l.db"), signer, policy=MANUAL)
    first = [log.append("x", entry_body(i), t=i).data for i in range(3)]
    assert log.commit() == 3 and log.durable_size == 3
    pending = [log.append("x", entry_body(i), t=i).data for i in range(3, 5)]
    assert log.durable_size == 3 and log.size == 5
    assert list(log.entries()) == first + pending
    assert list(log.entries(2, 4)) == first[2:] + pending[:1]
    assert log.entry_bytes(4) == pending[1] and log.entry(1)["seq"] == 1
    with pytest.raises(IndexError):
        log.entry_bytes(5)
    log.close()


def test_reopening_continues_the_chain(signer: Signer, tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=4, every_ms=None))
    for i in range(6):
        log.append("x", entry_body(i), t=i)
    last = log.last_leaf
    log.close()
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=4, every_ms=None))
    assert log.size == 6 and log.last_leaf == last and log.last_time == 5 and log.repaired == 0
    with pytest.raises(LedgerError, match="earlier than"):
        log.append("x", {}, t=4)
    entry = decode(log.append("x", entry_body(6), t=5).data)
    assert entry["seq"] == 6 and entry["prev"] == last
    log.append("x", entry_body(7), t=9)  # 4 entries since the checkpoint of 4: signs 8
    log.close()
    store = SQLiteStore(path, readonly=True)
    report = audit_store(store, signer.verifier)
    assert report.ok, report.problems
    assert report.size == 8 and [cp.size for cp in store.checkpoints()] == [4, 8]


def test_origin_is_stored_and_enforced(signer: Signer, tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    Log(SQLiteStore(path), signer).close()
    assert SQLiteStore(path).get_meta("origin") == ORIGIN
    with pytest.raises(LedgerError, match=re.escape("origin is 'test.ledger.example', not 'other.example'")):
        Log(SQLiteStore(path), signer, origin="other.example")
    with pytest.raises(LedgerError, match="needs an origin"):
        Log(MemoryStore())


# -- never sign two inconsistent checkpoints -----------------------------------------------------------


def test_refuses_to_sign_when_a_checkpoint_is_beyond_the_log(
    make_ledger: Callable[..., BuiltLedger], signer: Signer
) -> None:
    built = make_ledger(40, every=10)
    with sqlite3.connect(built.path) as db:
        db.execute("DELETE FROM entries WHERE seq >= 35")
    with pytest.raises(LedgerError, match="checkpoint of size 40 is beyond the log's 35 entries"):
        Log(SQLiteStore(built.path), signer)
    assert [cp.size for cp in SQLiteStore(built.path, readonly=True).checkpoints()] == [10, 20, 30, 40]


def test_refuses_to_sign_when_a_checkpoint_does_not_match(
    make_ledger: Callable[..., BuiltLedger], signer: Signer
) -> None:
    built = make_ledger(40, every=10)
    with sqlite3.connect(built.path) as db:
        db.execute("UPDATE entries SET leaf = ? WHERE seq = 12", (bytes(32),))
    with pytest.raises(LedgerError, match="checkpoint of size 20 does not match the entries"):
        Log(SQLiteStore(built.path), signer)
    assert len(SQLiteStore(built.path, readonly=True).checkpoints()) == 4


def test_refuses_a_forged_checkpoint_over_another_tree(make_ledger: Callable[..., BuiltLedger], signer: Signer) -> None:
    built = make_ledger(20, every=10)
    other = MerkleTree(leaf_hash(bytes([i])) for i in range(15))
    # Signed with the right key, over a different tree of 15 entries.
    note = sign_note(Checkpoint(ORIGIN, 15, other.root()).text(), signer)
    with sqlite3.connect(built.path) as db:
        db.execute("INSERT INTO checkpoints (size, note) VALUES (15, ?)", (note,))
    with pytest.raises(LedgerError, match="size 15 does not match"):
        Log(SQLiteStore(built.path), signer)


def test_readonly_log_reads_but_never_writes(make_ledger: Callable[..., BuiltLedger]) -> None:
    built = make_ledger(12, every=5)
    log = Log(SQLiteStore(built.path, readonly=True), readonly=True)
    assert log.size == 12 and log.origin == ORIGIN
    with pytest.raises(LedgerError, match="read-only"):
        log.append("x", {}, t=10**6)
    with pytest.raises(LedgerError, match="no signer"):
        log.sign_checkpoint()


# -- checkpoint policies -------------------------------------------------------------------------------


def test_count_based_policy(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=CheckpointPolicy(every_entries=3, every_ms=None))
    for i in range(10):
        log.append("x", {}, t=i * 10_000)
    assert cp_sizes(log) == [3, 6, 9]


def test_time_based_policy(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=CheckpointPolicy(every_entries=None, every_ms=1000))
    for t in (0, 400, 999):
        log.append("x", {}, t=t)
    assert cp_sizes(log) == []
    log.append("x", {}, t=1000)  # 1000 ms since the start: sign 4
    log.append("x", {}, t=1500)
    log.append("x", {}, t=1999)
    assert cp_sizes(log) == [4]
    log.append("x", {}, t=2000)  # 1000 ms after the last checkpoint
    assert cp_sizes(log) == [4, 7]
    log.tick(2500)  # nothing new: nothing to sign
    log.append("x", {}, t=2100)
    log.tick(2999)
    assert cp_sizes(log) == [4, 7]
    log.tick(3000)  # a quiet period: the timer signs the pending entry
    assert cp_sizes(log) == [4, 7, 8]


def test_combined_policy_and_timer_restart(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=CheckpointPolicy(every_entries=5, every_ms=1000))
    for i in range(7):
        log.append("x", {}, t=i)  # the count fires at 5
    assert cp_sizes(log) == [5]
    log.append("x", {}, t=1004)  # 1000 ms after the checkpoint of 5 (signed at t=4)
    assert cp_sizes(log) == [5, 8]


def test_manual_policy_and_on_demand_signing(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=MANUAL)
    for i in range(50):
        log.append("x", {}, t=i * 10_000)
    assert cp_sizes(log) == []
    note = log.sign_checkpoint()
    assert log.sign_checkpoint() == note  # same size: the same note, not a second one
    assert cp_sizes(log) == [50]
    assert Checkpoint.parse(open_note(note, signer.verifier).text) == Checkpoint(ORIGIN, 50, log.tree.root())


def test_no_signer_means_no_checkpoints() -> None:
    log = Log(MemoryStore(), origin="unsigned.example", policy=CheckpointPolicy(every_entries=1, every_ms=1))
    for i in range(3):
        log.append("x", {}, t=i * 5000)
    assert log.checkpoints == []
    with pytest.raises(LedgerError, match="no signer"):
        log.sign_checkpoint()
    with pytest.raises(LedgerError, match="no checkpoint has been signed"):
        log.checkpoint()


def test_policy_state_survives_reopening(signer: Signer, tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    policy = CheckpointPolicy(every_entries=4, every_ms=None)
    log = Log(SQLiteStore(path), signer, policy=policy)
    for i in range(6):
        log.append("x", {}, t=i)
    log.close()
    log = Log(SQLiteStore(path), signer, policy=policy)
    log.append("x", {}, t=6)
    assert cp_sizes(log) == [4]
    log.append("x", {}, t=7)
    assert cp_sizes(log) == [4, 8]
    log.close()


def test_checkpoints_are_committed_with_their_entries(signer: Signer, tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=2, every_ms=None))
    for i in range(3):
        log.append("x", {}, t=i)
    reader = SQLiteStore(path, readonly=True)
    assert reader.size() == 0 and reader.checkpoints() == []  # nothing durable before commit
    log.commit()
    assert reader.size() == 3 and [c.size for c in reader.checkpoints()] == [2]
    log.close()


# -- proofs ----------------------------------------------------------------------------------------------


def test_prove_and_consistency(make_ledger: Callable[..., BuiltLedger], signer: Signer) -> None:
    built = make_ledger(30, every=10)
    log = Log(SQLiteStore(built.path, readonly=True), readonly=True)
    entries = built.entries()
    for index in (0, 9, 10, 29):
        proof = log.prove(index)
        cp = proof.verify(leaf_hash(entries[index]), signer.verifier, ORIGIN)
        assert cp.size == 30
    proof = log.prove(3, size=10)
    assert proof.verify(leaf_hash(entries[3]), signer.verifier).size == 10
    with pytest.raises(LedgerError, match="not covered by the checkpoint of size 10"):
        log.prove(12, size=10)
    with pytest.raises(LedgerError, match="no signed checkpoint of size 11"):
        log.prove(3, size=11)
    with pytest.raises(LedgerError, match="does not exist"):
        log.prove(30)
    old = Checkpoint.parse(open_note(built.checkpoint(10), signer.verifier).text)
    new = Checkpoint.parse(open_note(built.checkpoint(30), signer.verifier).text)
    verify_consistency(10, 30, log.consistency(10, 30), old.root, new.root)
    with pytest.raises(LedgerError, match="size 0"):
        log.consistency(0, 30)


def test_covering_checkpoint_is_required_for_a_proof(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=CheckpointPolicy(every_entries=4, every_ms=None))
    for i in range(6):
        log.append("x", {}, t=i)
    assert log.prove(3).verify(log.tree.leaf(3), signer.verifier).size == 4
    with pytest.raises(LedgerError, match="not covered by a signed checkpoint yet"):
        log.prove(5)
    log.sign_checkpoint()
    proof = log.prove(5)
    verify_inclusion(log.tree.leaf(5), 5, 6, proof.proof, log.tree.root(6))


def test_verify_own_checkpoint(make_ledger: Callable[..., BuiltLedger], signer: Signer, impostor: Signer) -> None:
    built = make_ledger(10, every=5)
    log = Log(SQLiteStore(built.path), signer)
    assert log.verify_own_checkpoint(built.checkpoint(5)).size == 5
    forged = sign_note(Checkpoint(ORIGIN, 5, bytes(32)).text(), impostor)
    with pytest.raises(LedgerError, match="no signature by a known key"):
        log.verify_own_checkpoint(forged)
    log.close()


# -- tail repair -----------------------------------------------------------------------------------------


def test_a_tail_that_does_not_chain_is_quarantined_on_open(signer: Signer, tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=10, every_ms=None))
    for i in range(15):
        log.append("x", entry_body(i), t=i)
    log.close()  # checkpoint at 10; entries 10..14 are not covered by a signature yet
    with sqlite3.connect(path) as db:
        data = db.execute("SELECT data FROM entries WHERE seq = 12").fetchone()[0]
        db.execute("UPDATE entries SET data = ? WHERE seq = 12", (data.replace(b"LOT", b"TOL"),))
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=10, every_ms=None))
    assert log.repaired == 3 and log.size == 12
    with sqlite3.connect(path) as db:
        reasons = [r for (r,) in db.execute("SELECT reason FROM quarantine ORDER BY seq")]
    assert len(reasons) == 3 and "entry 12 does not match its stored leaf hash" in reasons[0]
    log.append("x", entry_body(99), t=20)  # the chain continues from entry 11
    log.close()
    assert audit_store(SQLiteStore(path, readonly=True), signer.verifier).ok


def test_a_gap_in_the_tail_is_quarantined_on_open(signer: Signer, tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=10, every_ms=None))
    for i in range(15):
        log.append("x", entry_body(i), t=i)
    log.close()
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM entries WHERE seq = 12")
    log = Log(SQLiteStore(path), signer, policy=CheckpointPolicy(every_entries=10, every_ms=None))
    assert log.size == 12 and log.repaired == 2
    appended = log.append("x", entry_body(12), t=20)
    assert appended.seq == 12
    log.close()
    report = audit_store(SQLiteStore(path, readonly=True), signer.verifier)
    assert report.ok, report.problems


def test_refuses_to_append_after_a_damaged_last_entry(make_ledger: Callable[..., BuiltLedger], signer: Signer) -> None:
    built = make_ledger(20, every=10)
    with sqlite3.connect(built.path) as db:
        entry = decode(db.execute("SELECT data FROM entries WHERE seq = 19").fetchone()[0])
        entry["t"] = "late"
        data = encode(entry)
        db.execute("UPDATE entries SET data = ? WHERE seq = 19", (data,))
    with pytest.raises(LedgerError, match="entry 19 \\(the last\\) has no valid time"):
        Log(SQLiteStore(built.path), signer)
    reader = Log(SQLiteStore(built.path, readonly=True), readonly=True)
    assert reader.size == 20 and reader.entry_bytes(19) == data
