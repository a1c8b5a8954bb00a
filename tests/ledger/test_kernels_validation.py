"""The canonical validator's kernels, native against pure Python: `is_canonical_entry` on random msgpack
(canonical or not: every header width, key order and type, bad bytes, tamperings) agrees on both sides
and with the reference decoder (`canonical._decode_strict`, which names what is wrong); `check_chunk`, the
audit's test of a whole chunk of stored rows, agrees on both sides on tampered chunks and hostile rows."""

from __future__ import annotations

import hashlib
import operator
import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from kernel_modules import SETTINGS, native_kernels, pure, same
from raw_msgpack import raw_entries, raw_map, raw_values

from ledger import CheckpointPolicy, Log, MemoryStore, Signer, canonical

native = native_kernels()


def reference_accepts(data: bytes) -> bool:
    try:
        canonical._decode_strict(data)
    except canonical.CanonicalError:
        return False
    return True


@SETTINGS
@given(raw_entries())
def test_the_validator_accepts_exactly_what_the_reference_decoder_accepts(data: bytes) -> None:
    assert same("is_canonical_entry", native, data) == ("value", reference_accepts(data))


@SETTINGS
@given(raw_map(raw_values), st.data())
def test_every_tampering_of_a_canonical_entry_is_judged_alike(raw: bytes, data: st.DataObject) -> None:
    value = pure.encode_value(canonical.normalize(_loose(raw)))  # a canonical entry built from random msgpack
    assert same("is_canonical_entry", native, value) == ("value", True)
    i = data.draw(st.integers(0, len(value) - 1))
    for bad in (
        value[:i] + bytes([data.draw(st.integers(0, 255))]) + value[i + 1 :],
        value[:i],
        value + data.draw(st.binary(min_size=1, max_size=2)),
    ):
        assert same("is_canonical_entry", native, bad) == ("value", reference_accepts(bad))


def _loose(raw: bytes) -> dict[str, Any]:
    """Some map with str keys and canonical values, whatever `raw` holds."""
    import msgpack

    try:
        value = msgpack.unpackb(raw, strict_map_key=False)
    except Exception:
        return {}
    return {k: v for k, v in value.items() if type(k) is str and _plain(v)} if type(value) is dict else {}


def _plain(v: Any) -> bool:
    if type(v) is dict:
        return all(type(k) is str and _plain(x) for k, x in v.items())
    if type(v) is list:
        return all(map(_plain, v))
    return type(v) in (str, bytes, int, bool, type(None))


def test_what_is_not_bytes_is_not_canonical() -> None:
    good = pure.encode_value({"a": 1})
    for thing in (bytearray(good), memoryview(good), good.decode("latin-1"), None, 1):
        assert same("is_canonical_entry", native, thing) == ("value", False)


# -- the audit's chunk check ------------------------------------------------------------------------

SIGNER = Signer("kernels.test.example", bytes(range(32)))


def chunk_rows(n: int) -> list[tuple[int, bytes, bytes]]:
    log = Log(MemoryStore(), SIGNER, policy=CheckpointPolicy(every_entries=None, every_ms=None))
    for i in range(n):
        log.append("bid", {"lot": f"L{i % 3}", "amount": 100 + i, "x": [i, {"y": b"\x00"}]}, t=1000 + 7 * (i // 2))
    log.commit()
    return [tuple(r) for r in log.store.rows()]


ROWS = chunk_rows(40)


def reencoded(seq: int, entry: dict[str, Any]) -> tuple[int, bytes, bytes]:
    data = pure.encode_value(entry)
    return seq, data, hashlib.sha256(b"\x00" + data).digest()


FIELD_CHANGES: list[tuple[str, Any]] = [("t", 0), ("t", -1), ("t", 2**64 - 1), ("t", True), ("kind", ""), ("kind", 3)]
FIELD_CHANGES += [("seq", 10**6), ("seq", -1), ("seq", False), ("prev", bytes(32)), ("prev", "x"), ("prev", bytes(31))]


def tamper(rows: list[tuple[int, bytes, bytes]], rnd: random.Random) -> list[Any]:
    rows = list(rows)
    how = rnd.randrange(10)
    i = rnd.randrange(len(rows))
    seq, data, leaf = rows[i]
    if how == 1:  # a byte of the entry, leaf hash left alone
        j = rnd.randrange(len(data))
        rows[i] = (seq, data[:j] + bytes([rnd.randrange(256)]) + data[j + 1 :], leaf)
    elif how == 2:  # a byte of the entry, leaf hash recomputed
        j = rnd.randrange(len(data))
        data = data[:j] + bytes([rnd.randrange(256)]) + data[j + 1 :]
        rows[i] = (seq, data, hashlib.sha256(b"\x00" + data).digest())
    elif how == 3:  # two rows swapped
        k = rnd.randrange(len(rows))
        rows[i], rows[k] = rows[k], rows[i]
    elif how == 4:  # a row missing
        del rows[i]
    elif how == 5:  # the stored seq
        rows[i] = (rnd.choice([seq - 1, seq + 1, seq + 100, True, float(seq), 2**64 + seq]), data, leaf)
    elif how == 6:  # a field re-encoded, with a valid leaf hash
        entry = canonical.decode(data)
        field, value = rnd.choice(FIELD_CHANGES)
        entry[field] = value
        rows[i] = reencoded(seq, entry)
    elif how == 7:  # a field missing
        entry = canonical.decode(data)
        del entry[rnd.choice(["seq", "prev", "t", "kind"])]
        rows[i] = reencoded(seq, entry)
    elif how == 8:  # not bytes
        rows[i] = (seq, rnd.choice([data.decode("latin-1"), bytearray(data), memoryview(data)]), leaf)
    elif how == 9:  # a row of the wrong shape or type
        rows[i] = rnd.choice([(seq, data), [seq, data, leaf], (seq, data, leaf, b""), (seq, data, leaf[:31]), None])
    return rows


@SETTINGS
@given(st.randoms(use_true_random=False), st.integers(0, 39), st.sampled_from([0, 999, 1000, 1001, -1, 2**64]))
def test_check_chunk_is_the_same_on_both_sides(rnd: random.Random, cut: int, last_t: int) -> None:
    rows = tamper(ROWS, rnd)[cut:]
    prev = ROWS[cut - 1][2] if cut else bytes(32)
    answer = same("check_chunk", native, rows, cut, prev, last_t)
    untouched = len(rows) == len(ROWS) - cut and all(map(operator.is_, rows, ROWS[cut:]))
    if untouched and rows and 0 <= last_t <= ROWS[cut][0] // 2 * 7 + 1000:
        assert answer == ("value", (b"".join(r[2] for r in rows), 1000 + 7 * 19))


@SETTINGS
@given(
    st.sampled_from([0, 1, -1, 2**64, "0", None]),
    st.sampled_from([bytes(32), bytes(31), bytearray(32), "x" * 32, None]),
    st.sampled_from([0, -1, 2**64, 2**64 - 1, None]),
)
def test_check_chunk_takes_hostile_arguments_alike(start: Any, prev: Any, last_t: Any) -> None:
    for rows in (ROWS, ROWS[:1], [], (ROWS[0],)):
        same("check_chunk", native, rows, start, prev, last_t)


def test_check_chunk_takes_the_rows_of_both_stores() -> None:
    """Row objects (a tuple subclass, from the memory store) and plain tuples (as SQLite fetches them)."""
    log = Log(MemoryStore(), SIGNER, policy=CheckpointPolicy(every_entries=None, every_ms=None))
    log.append("k", {}, 5)
    log.commit()
    rows = list(log.store.rows())
    for given_rows in (rows, [tuple(r) for r in rows]):
        assert same("check_chunk", native, given_rows, 0, bytes(32), 0) == ("value", (rows[0].leaf, 5))
