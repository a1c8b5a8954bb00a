"""The entry size limit: Log.append refuses an entry larger than MAX_ENTRY_BYTES, having changed nothing."""

from __future__ import annotations

import pytest

from ledger import (
    MAX_ENTRY_BYTES,
    CheckpointPolicy,
    EntryTooLarge,
    LedgerError,
    Log,
    MemoryStore,
    Signer,
    canonical,
)

MANUAL = CheckpointPolicy(every_entries=None, every_ms=None)


def _pad(log: Log, size: int, t: int) -> str:
    """A text for field `pad` that makes the log's next entry (kind test.entry, time t) exactly `size` bytes."""
    base = len(canonical.encode_entry({"pad": ""}, log.size, log.last_leaf, t, "test.entry"))
    pad = "a" * (size - base - 2)  # a text of 256 to 65,535 bytes has a 3-byte header, the empty one 1 byte
    assert len(canonical.encode_entry({"pad": pad}, log.size, log.last_leaf, t, "test.entry")) == size
    return pad


def test_the_limit_is_what_an_entry_bundle_frames() -> None:
    assert MAX_ENTRY_BYTES == 0xFFFF  # tlog-tiles entry bundles: a big-endian uint16 length per entry


def test_an_entry_of_exactly_the_limit_is_appended(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=MANUAL)
    pad = _pad(log, MAX_ENTRY_BYTES, 0)
    appended = log.append("test.entry", {"pad": pad}, 0)
    assert len(appended.data) == MAX_ENTRY_BYTES and log.size == 1


def test_one_byte_more_is_refused_naming_size_and_limit_and_nothing_changes(signer: Signer) -> None:
    store = MemoryStore()
    log = Log(store, signer, policy=CheckpointPolicy(every_entries=1, every_ms=None))  # would sign at once
    first = log.append("test.entry", {"n": 1}, 5)
    before = (log.size, log.tree.root(), log.last_leaf, log.last_time, len(log.checkpoints))
    pad = _pad(log, MAX_ENTRY_BYTES + 1, 9)
    with pytest.raises(EntryTooLarge) as refused:
        log.append("test.entry", {"pad": pad}, 9)
    message = str(refused.value)
    assert "entry 1 (test.entry)" in message and f"{MAX_ENTRY_BYTES} bytes per entry" in message
    assert refused.value.size > MAX_ENTRY_BYTES and refused.value.limit == MAX_ENTRY_BYTES
    assert isinstance(refused.value, LedgerError) and isinstance(refused.value, ValueError)
    assert (log.size, log.tree.root(), log.last_leaf, log.last_time, len(log.checkpoints)) == before
    # the next entry chains to the last one appended, and the commit writes only what was appended
    second = log.append("test.entry", {"n": 2}, 9)
    assert second.seq == 1 and log.entry(1)["prev"] == first.leaf
    log.commit()
    assert store.size() == 2


def test_a_large_nested_entry_is_refused_too(signer: Signer) -> None:
    log = Log(MemoryStore(), signer, policy=MANUAL)
    parties = [{"party": f"bidder-{i:05d}", "amount": 10_000 + i} for i in range(3000)]  # about 90 KB
    with pytest.raises(EntryTooLarge, match=r"entry 0 \(refund\) would be \d+ bytes"):
        log.append("refund", {"lot": "L1", "parties": parties}, 0)
    assert log.size == 0 and log.take_pending() == ([], [], [])
