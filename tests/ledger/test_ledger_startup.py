"""ledger.startup: what a writer checks before resuming a stored log (the key that signed it, the bytes signed)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing

import pytest
from ledger_testkit import BuiltLedger

from ledger import MemoryStore, Signer, canonical, leaf_hash
from ledger.startup import IntegrityError, WrongKey, check_signer, verify_stored
from ledger.store import SQLiteStore


def _rewrite(ledger: BuiltLedger, seq: int, change: Callable[[dict], None], *, leaf_too: bool) -> None:
    """An intruder editing entry `seq` in the file (and its stored leaf hash, if `leaf_too`)."""
    with closing(sqlite3.connect(ledger.path)) as db, db:
        (data,) = db.execute("SELECT data FROM entries WHERE seq = ?", (seq,)).fetchone()
        entry = canonical.decode(data)
        change(entry)
        altered = canonical.encode(entry)
        db.execute("UPDATE entries SET data = ? WHERE seq = ?", (altered, seq))
        if leaf_too:
            db.execute("UPDATE entries SET leaf = ? WHERE seq = ?", (leaf_hash(altered), seq))


def _bump(entry: dict) -> None:
    entry["amount"] += 100  # +100 fen


def test_nothing_stored_nothing_to_check(signer: Signer) -> None:
    check_signer(MemoryStore(), signer)
    assert verify_stored(MemoryStore(), signer) == []


def test_the_market_key_passes_and_every_entry_comes_back(make_ledger: Callable[..., BuiltLedger]) -> None:
    ledger = make_ledger(n=40, every=10)
    store = SQLiteStore(ledger.path, readonly=True)
    check_signer(store, ledger.signer)
    assert verify_stored(store, ledger.signer) == ledger.entries()
    store.close()


def test_another_key_is_refused_naming_both_key_ids(
    make_ledger: Callable[..., BuiltLedger], signer: Signer, impostor: Signer
) -> None:
    ledger = make_ledger(n=12, every=5)
    store = SQLiteStore(ledger.path, readonly=True)
    with pytest.raises(WrongKey) as refused:
        check_signer(store, impostor)
    message = str(refused.value)
    ours, theirs = f"{impostor.name}+{impostor.key_id.hex()}", f"{signer.name}+{signer.key_id.hex()}"
    assert ours != theirs
    assert f"the signer key {ours} is not the key that signed this ledger's checkpoints ({theirs}," in message
    assert "latest, of size 12" in message
    other_name = Signer("other.market.example", bytes(range(32)))  # the same seed under another name
    with pytest.raises(WrongKey, match=f"other.market.example\\+{other_name.key_id.hex()} is not"):
        check_signer(store, other_name)
    store.close()


def test_altered_bytes_are_named_by_their_entry(make_ledger: Callable[..., BuiltLedger]) -> None:
    ledger = make_ledger(n=40, every=10)
    _rewrite(ledger, 33, _bump, leaf_too=False)  # the bytes change, the stored leaf hash does not
    store = SQLiteStore(ledger.path, readonly=True)
    with pytest.raises(IntegrityError) as refused:
        verify_stored(store, ledger.signer)
    assert str(refused.value).startswith(
        "the stored ledger does not match what was signed: entry 33: its bytes do not match the stored leaf hash"
    )
    assert refused.value.first.index == 33 and refused.value.first.code == "leaf_hash"
    store.close()


def test_altered_bytes_with_a_recomputed_leaf_break_the_chain_and_the_signed_root(
    make_ledger: Callable[..., BuiltLedger],
) -> None:
    ledger = make_ledger(n=40, every=10)
    _rewrite(ledger, 39, _bump, leaf_too=True)  # the last entry: no next entry's prev to betray it
    store = SQLiteStore(ledger.path, readonly=True)
    with pytest.raises(IntegrityError) as refused:
        verify_stored(store, ledger.signer)
    assert refused.value.first.code == "checkpoint_root" and refused.value.first.checkpoint_size == 40
    assert "checkpoint of size 40: its root does not match the first 40 entries" in str(refused.value)
    store.close()
    ledger = make_ledger(n=40, every=10, name="second.db")
    _rewrite(ledger, 20, _bump, leaf_too=True)
    store = SQLiteStore(ledger.path, readonly=True)
    with pytest.raises(IntegrityError, match=r"entry 21: prev is not the leaf hash of entry 20 .* more problems"):
        verify_stored(store, ledger.signer)
    store.close()
