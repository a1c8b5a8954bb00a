"""The optional native accelerator (ledger/_speedups.c) against the pure-Python reference.

Every native function answers "clean" (with its result) or "not clean" (None); these properties
check that it answers "clean" exactly where the Python code accepts, with the same results: the
canonical-entry validator against `canonical.decode` on random (often non-canonical) msgpack and
random tamperings, the encoder against `canonical.encode_entry`, the audit's chunk check against
`_chunk_is_clean`, and the Merkle levels, roots and proofs against the pure tree. The rest of the
ledger and store tests run on both paths (the `ledger_path` fixture in conftest.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import random
import struct
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import (
    Appended,
    CanonicalError,
    CheckpointPolicy,
    LedgerError,
    Log,
    MemoryStore,
    MerkleTree,
    Signer,
    _accel,
    audit,
    canonical,
)

if not _accel.available():
    pytest.skip(f"native ledger path not tested: {_accel.why_unavailable()}", allow_module_level=True)

native = _accel._speedups

SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module", autouse=True)
def ledger_path() -> Iterator[str]:
    """This module compares the two paths itself: it overrides conftest's two-way fixture."""
    yield "both"


@contextlib.contextmanager
def path(enabled: bool) -> Iterator[None]:
    before = _accel.active()
    _accel.use(enabled)
    try:
        yield
    finally:
        _accel.use(before)


def pure_decode(data: bytes) -> dict[str, Any] | None:
    """The reference: the pure-Python decoder's value, or None where it refuses."""
    with path(False):
        try:
            return canonical.decode(data)
        except CanonicalError:
            return None


# -- random msgpack, canonical or not: every header width, key order, type and a few bad bytes -----

INT_EDGES = [0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1]
INT_EDGES += [-1, -31, -32, -33, -127, -128, -129, -32767, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]


def int_encodings(v: int) -> list[bytes]:
    """Every msgpack encoding that can hold v (the canonical one and the wider ones)."""
    out = []
    if 0 <= v <= 0x7F:
        out.append(bytes([v]))
    if -32 <= v < 0:
        out.append(struct.pack(">b", v))
    for tag, fmt, lo, hi in (
        (0xCC, ">B", 0, 0xFF),
        (0xCD, ">H", 0, 0xFFFF),
        (0xCE, ">I", 0, 0xFFFF_FFFF),
        (0xCF, ">Q", 0, 2**64 - 1),
        (0xD0, ">b", -128, 127),
        (0xD1, ">h", -(2**15), 2**15 - 1),
        (0xD2, ">i", -(2**31), 2**31 - 1),
        (0xD3, ">q", -(2**63), 2**63 - 1),
    ):
        if lo <= v <= hi:
            out.append(bytes([tag]) + struct.pack(fmt, v))
    return out


def length_header(n: int, fix: int | None, fix_max: int, tags: tuple[int | None, int, int], draw: Any) -> bytes:
    """A header for length n: the smallest, or (sometimes) a wider one."""
    options = []
    if fix is not None and n <= fix_max:
        options.append(bytes([fix | n]))
    for tag, fmt, top in zip(tags, (">B", ">H", ">I"), (0xFF, 0xFFFF, 0xFFFF_FFFF), strict=True):
        if tag is not None and n <= top:
            options.append(bytes([tag]) + struct.pack(fmt, n))
    return options[0] if draw(st.integers(0, 7)) else draw(st.sampled_from(options))


KEYS = st.sampled_from(["seq", "prev", "t", "kind", "a", "b", "ab", "z", "é", "出价", "\U0001f600", ""])


@st.composite
def raw_str(draw: Any, text: Any = None) -> bytes:
    body = draw(text if text is not None else st.text(max_size=40)).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 15)) == 0:  # invalid UTF-8 (or a surrogate, via surrogatepass)
        body = draw(st.binary(min_size=1, max_size=8)) + body
    return length_header(len(body), 0xA0, 31, (0xD9, 0xDA, 0xDB), draw) + body


@st.composite
def raw_bin(draw: Any) -> bytes:
    body = draw(st.binary(max_size=40))
    return length_header(len(body), None, 0, (0xC4, 0xC5, 0xC6), draw) + body


@st.composite
def raw_int(draw: Any) -> bytes:
    v = draw(st.sampled_from(INT_EDGES) | st.integers(-(2**63), 2**64 - 1))
    encodings = int_encodings(v)
    return encodings[0] if draw(st.integers(0, 7)) else draw(st.sampled_from(encodings))


GOOD_SCALARS = st.sampled_from([b"\xc0", b"\xc2", b"\xc3"])  # nil, false, true
ODD_SCALARS = st.sampled_from(
    [
        b"\xc1",  # never used
        b"\xca" + struct.pack(">f", 1.5),
        b"\xcb" + struct.pack(">d", 2.0),
        b"\xd4\x01\x00",  # fixext 1
        b"\xd6\xff\x00\x00\x00\x00",  # timestamp 32
        b"\xc7\x01\x05\x00",  # ext 8
    ]
)

scalars = st.one_of(*[raw_int(), raw_str(), raw_bin(), GOOD_SCALARS] * 2, ODD_SCALARS)  # odd ones: 1 in 9


@st.composite
def raw_map(draw: Any, children: Any) -> bytes:
    keys = draw(st.lists(KEYS, max_size=7, unique=draw(st.integers(0, 5)) > 0))
    pairs = []
    for k in keys:
        key = draw(raw_str(st.just(k))) if draw(st.integers(0, 20)) else draw(raw_int() | raw_bin())
        pairs.append((k, key, draw(children)))
    order = draw(st.integers(0, 5))
    if order:  # mostly sorted by the key's bytes (duplicates kept): the interesting case
        pairs.sort(key=lambda p: p[0].encode())
    else:
        draw(st.randoms(use_true_random=False)).shuffle(pairs)
    head = length_header(len(pairs), 0x80, 15, (None, 0xDE, 0xDF), draw)
    return head + b"".join(k + v for _, k, v in pairs)


@st.composite
def raw_array(draw: Any, children: Any) -> bytes:
    items = draw(st.lists(children, max_size=5))
    return length_header(len(items), 0x90, 15, (None, 0xDC, 0xDD), draw) + b"".join(items)


raw_values = st.recursive(scalars, lambda children: raw_map(children) | raw_array(children), max_leaves=12)


@st.composite
def raw_entries(draw: Any) -> bytes:
    """Mostly maps with ledger-like fields, sometimes anything; then sometimes a mutation."""
    data = draw(raw_map(raw_values)) if draw(st.integers(0, 7)) else draw(raw_values)
    mutation = draw(st.integers(0, 9))
    if data and mutation == 1:  # flip a byte
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    elif data and mutation == 2:  # truncate
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif mutation == 3:  # trailing bytes
        data += draw(st.binary(min_size=1, max_size=3))
    elif data and mutation == 4:  # insert a byte
        i = draw(st.integers(0, len(data)))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i:]
    return data


def expected_fields(value: dict[str, Any]) -> tuple[Any, ...] | None:
    """What check_entry owes: the four fields (None where missing), or None if one has another type."""
    names, types = ("seq", "prev", "t", "kind"), (int, bytes, int, str)
    if any(k in value and type(value[k]) is not ty for k, ty in zip(names, types, strict=True)):
        return None
    return tuple(map(value.get, names))


def typed(value: Any) -> Any:
    """A decoded value with every type spelled out (== alone takes True for 1), maps in their order."""
    if type(value) is dict:
        return ("map", [(typed(k), typed(v)) for k, v in value.items()])
    if type(value) is list:
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


@SETTINGS
@given(raw_entries())
def test_validator_accepts_exactly_what_the_python_decoder_accepts(data: bytes) -> None:
    reference = pure_decode(data)
    assert native.is_canonical(data) is (reference is not None)
    decoded = native.decode_entry(data)
    if reference is None:
        assert native.check_entry(data) is None
        assert decoded is None
    else:
        assert native.check_entry(data) == expected_fields(reference)
        assert typed(decoded) == typed(reference)  # the same objects, types and key order
        with path(True):
            assert typed(canonical.decode(data)) == typed(reference)
            assert typed(canonical.decode_many([data, data])) == typed([reference, reference])


values = st.recursive(
    st.none()
    | st.booleans()
    | st.sampled_from(INT_EDGES)
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=30)
    | st.binary(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=10,
)


@SETTINGS
@given(st.dictionaries(st.text(max_size=8), values, max_size=10), st.data())
def test_validator_accepts_every_canonical_entry_and_every_tampering_is_judged_alike(
    entry: dict[str, Any], data: st.DataObject
) -> None:
    with path(False):
        good = canonical.encode(entry)
    assert native.is_canonical(good)
    assert native.check_entry(good) == expected_fields(entry)
    assert typed(native.decode_entry(good)) == typed(pure_decode(good))
    # Tamper with one byte, or cut, or extend: the validator still agrees with the decoder.
    i = data.draw(st.integers(0, len(good) - 1))
    for bad in (
        good[:i] + bytes([data.draw(st.integers(0, 255))]) + good[i + 1 :],
        good[:i],
        good + data.draw(st.binary(min_size=1, max_size=2)),
    ):
        assert native.is_canonical(bad) is (pure_decode(bad) is not None)
        assert typed(native.decode_entry(bad)) == typed(pure_decode(bad))


# -- the encoder --------------------------------------------------------------------------------

odd_values = st.sampled_from(
    [1.5, 2**64, -(2**63) - 1, "\ud800", bytearray(b"ab"), (1, 2), {"n": 1}, [1], True, type("S", (str,), {})("s")]
)
flat_values = st.none() | st.booleans() | st.sampled_from(INT_EDGES) | st.text(max_size=40) | st.binary(max_size=300)
payload_keys = KEYS | st.text(max_size=8) | st.sampled_from(["\ud800", 7, b"k"])


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except CanonicalError as exc:
        return ("error", str(exc))
    except (TypeError, ValueError) as exc:  # what the pure path raises for it, compared as such
        return ("other", type(exc).__name__, str(exc))


@SETTINGS
@given(
    st.dictionaries(payload_keys, flat_values | odd_values, max_size=12),
    st.sampled_from(INT_EDGES),
    st.binary(min_size=32, max_size=32),
    st.sampled_from([0, 1, 2**40, 2**64 - 1]),
    st.text(min_size=1, max_size=10),
)
def test_encoder_writes_the_python_bytes(payload: dict[Any, Any], seq: int, prev: bytes, t: int, kind: str) -> None:
    with path(False):
        expected = outcome(canonical.encode_entry, payload, seq, prev, t, kind)
        expected_flat = outcome(canonical.encode, payload)
    fast = native.encode_entry(payload, seq, prev, t, kind)
    if fast is not None:
        assert fast == expected
    flat = all(type(k) is str for k in payload) and all(
        type(v) in (type(None), bool, int, str, bytes) for v in payload.values()
    )
    if flat and isinstance(expected, bytes) and not set(payload) & {"seq", "prev", "t", "kind"}:
        assert fast is not None  # the native path handles every flat payload it can
    fast_flat = native.encode_flat(payload)
    if fast_flat is not None:
        assert fast_flat == expected_flat
    with path(True):
        assert outcome(canonical.encode_entry, payload, seq, prev, t, kind) == expected
        assert outcome(canonical.encode, payload) == expected_flat


nested_values = st.recursive(
    flat_values | odd_values,
    lambda inner: (
        st.lists(inner, max_size=5) | st.tuples(inner, inner) | st.dictionaries(payload_keys, inner, max_size=5)
    ),
    max_leaves=25,
)


@SETTINGS
@given(
    st.dictionaries(payload_keys, nested_values, max_size=8),
    st.sampled_from(INT_EDGES),
    st.binary(min_size=32, max_size=32),
    st.text(min_size=1, max_size=10),
)
def test_nested_payloads_encode_to_the_python_bytes(payload: dict[Any, Any], seq: int, prev: bytes, kind: str) -> None:
    """Maps in maps, lists and tuples: the native encoder writes the pure bytes, or leaves the
    payload to Python, which then raises its own error (never a different answer)."""
    with path(False):
        expected = outcome(canonical.encode_entry, payload, seq, prev, 5, kind)
        expected_flat = outcome(canonical.encode, payload)
    fast = native.encode_entry(payload, seq, prev, 5, kind)
    assert fast is None or fast == expected
    if isinstance(expected, bytes) and not _has_odd(payload) and not set(payload) & {"seq", "prev", "t", "kind"}:
        assert fast is not None  # every encodable nested payload of plain types takes the native path
    fast_flat = native.encode_flat(payload)
    assert fast_flat is None or fast_flat == expected_flat
    for value in [payload, *payload.values()]:  # encode_value: any value, not only a map
        with path(False):
            expected_value = outcome(canonical.encode_value, value)
        fast_value = native.encode_value(value)
        assert fast_value is None or fast_value == expected_value
        if isinstance(expected_value, bytes) and not _has_odd(value):
            assert fast_value is not None
        with path(True):
            assert outcome(canonical.encode_value, value) == expected_value
    with path(True):
        assert outcome(canonical.encode_entry, payload, seq, prev, 5, kind) == expected
        assert outcome(canonical.encode, payload) == expected_flat


def test_long_shared_prefix_and_many_keys_sort_as_python_sorts_them() -> None:
    """Keys longer than 16 bytes (compared with memcmp), prefixes of each other, non-ASCII bytes, and
    more keys than the insertion sort takes (qsort then): the native map order is the Python one."""
    base = "rule.english.increment"
    keys = [
        base,
        base + ".timed",
        base + "é",
        base + "\x7f",
        base[:16],
        base[:17],
        "é" * 9,
        "é" * 8 + "a",
        "\U0001f600" * 5,
    ]
    many = [f"{base}.{i:03}" for i in range(40)] + [f"k{i}" for i in range(40)]
    random.Random(7).shuffle(keys)
    random.Random(7).shuffle(many)
    for payload in (dict.fromkeys(keys, 1), dict.fromkeys(many, 2), {"n": {key: [keys] for key in many}}):
        with path(False):
            expected = canonical.encode_entry(payload, 1, b"", 2, "k")
        assert native.encode_entry(payload, 1, b"", 2, "k") == expected


def _has_odd(value: Any) -> bool:
    """A value the native encoder leaves to Python even where Python encodes it (bytearray, subclasses)."""
    t = type(value)
    if t is dict:
        return any(_has_odd(v) for v in value.values())
    if t is list or t is tuple:
        return any(_has_odd(v) for v in value)
    return t not in (type(None), bool, int, str, bytes)


@SETTINGS
@given(st.lists(st.dictionaries(st.text(max_size=5), flat_values | odd_values, max_size=5), min_size=1, max_size=20))
def test_log_append_gives_the_same_entries_on_both_paths(payloads: list[dict[str, Any]]) -> None:
    results = []
    for enabled in (False, True):
        with path(enabled):
            log = Log(MemoryStore(), origin="native.test.example")
            got = []
            for i, p in enumerate(payloads):
                try:
                    got.append(tuple(log.append("k", p, t=i)))
                except (CanonicalError, LedgerError, TypeError, ValueError) as exc:
                    got.append((type(exc).__name__, str(exc)))
            results.append((got, log.tree.root()))
    assert results[0] == results[1]
    for item in results[1][0]:
        if len(item) == 3:
            assert item[2] == hashlib.sha256(b"\x00" + item[1]).digest()


# -- Log.append in one native call (log_append) ------------------------------------------------------

APPEND_SIGNER = Signer("append.test.example", bytes(range(1, 33)))


def mostly(good: Any, bad: Any) -> Any:
    """Draws of `good`, and now and then one of `bad`."""
    return st.tuples(st.integers(0, 9), good, bad).map(lambda d: d[2] if d[0] == 9 else d[1])


# Mostly appends Python accepts, with refused ones among them: bad kinds, reserved or non-str keys,
# times that go back or are not ints (t: a step forward from the last entry's time, 0 for the same).
KINDS = mostly(
    st.sampled_from(["bid", "lot.open", "é", "出价", "\U0001f600", "k" * 40]) | st.text(min_size=1, max_size=6),
    st.sampled_from(["", 7, None, b"bid", type("K", (str,), {})("bid")]),
)
APPEND_KEYS = mostly(
    st.text(max_size=8) | st.sampled_from(["lot", "amount", "é", "出价", "\U0001f600", ""]), payload_keys
)
T_STEPS = mostly(st.integers(0, 40) | st.integers(0, 3), st.sampled_from([-1, "float", "bool", "str"]))
appends = st.lists(
    st.tuples(KINDS, st.dictionaries(APPEND_KEYS, nested_values, max_size=6), T_STEPS, st.booleans()),
    min_size=1,
    max_size=25,
)


def _time(last: int, step: int | str) -> Any:
    if step == "float":
        return float(last + 1)
    if step == "bool":
        return True
    if step == "str":
        return str(last + 1)
    assert isinstance(step, int)
    return last + step


def _run_appends(
    mode: str, policy: CheckpointPolicy, steps: list[tuple[Any, dict[Any, Any], int | str, bool]]
) -> tuple[list[Any], list[bool], tuple[Any, ...]]:
    """Append `steps` on one path ("pure", "native": Log.append, "direct": native.log_append first);
    each outcome, whether log_append took the step itself, and everything the log and store hold."""
    outcomes, taken = [], []
    with path(mode != "pure"):
        log = Log(MemoryStore(), APPEND_SIGNER, policy=policy)
        for kind, payload, step, commit in steps:
            t = _time(log.last_time, step)
            try:
                if mode == "direct":
                    appended = native.log_append(log, Appended, kind, payload, t)
                    taken.append(appended is not None)
                    if appended is None:
                        appended = log.append(kind, payload, t)
                else:
                    appended = log.append(kind, payload, t)
                outcomes.append((type(appended).__name__, tuple(appended)))
            except (CanonicalError, LedgerError, TypeError, ValueError) as exc:
                outcomes.append((type(exc).__name__, str(exc)))
            if commit:
                log.commit()
        pending = ([tuple(r) for r in log._pending_rows()], list(log._pending_checkpoints))
        state = (log.size, log.tree.root(), log.last_time, log.last_leaf, log.checkpoints, pending)
        log.commit()
        stored = ([tuple(r) for r in log.store.rows()], log.store.checkpoints(), log.durable_size)
    return outcomes, taken, (state, stored)


@SETTINGS
@given(appends, st.none() | st.integers(1, 8), st.none() | st.integers(1, 60))
def test_log_append_in_one_native_call_is_the_python_append(
    steps: list[tuple[Any, dict[Any, Any], int | str, bool]], every_entries: int | None, every_ms: int | None
) -> None:
    """Random appends (nested payloads, non-ASCII text, refused ones among them; checkpoints by count
    and by time): the same Appended tuples and errors, stored rows, roots and signed checkpoints on the
    pure path, through Log.append on the native one, and through native.log_append directly; and
    log_append takes every step Python accepts whose payload it encodes, and never a refused one."""
    policy = CheckpointPolicy(every_entries, every_ms)
    pure, _, pure_state = _run_appends("pure", policy, steps)
    fast, _, fast_state = _run_appends("native", policy, steps)
    direct, taken, direct_state = _run_appends("direct", policy, steps)
    assert fast == pure
    assert direct == pure
    assert fast_state == pure_state
    assert direct_state == pure_state
    for (_, payload, _, _), outcome, took in zip(steps, pure, taken, strict=True):
        accepted = outcome[0] == "Appended"
        assert took == (accepted and not _has_odd(payload)), (outcome, payload)


def _sample_log() -> Log:
    log = Log(MemoryStore(), APPEND_SIGNER, policy=CheckpointPolicy(every_entries=2, every_ms=None))
    for i in range(3):
        log.append("bid", {"lot": "L1", "amount": 100 + i}, 100)
    return log


def _log_state(log: Log) -> tuple[Any, ...]:
    """Everything an append changes (or must leave alone)."""
    tree = log.tree
    return (
        tree.size,
        bytes(tree._levels[0]),
        tree.root(),
        log.last_time,
        log.last_leaf,
        list(log._pending_data),
        list(log._pending_leaves),
        log.checkpoints,
    )


def _readonly_log() -> Log:
    log = _sample_log()
    log.commit()
    return Log(log.store, readonly=True)


RefusedCase = tuple[str, Any, Any, Any]
REFUSED: list[RefusedCase] = [
    ("readonly", "bid", {"a": 1}, 200),
    ("earlier", "bid", {"a": 1}, 99),
    ("negative", "bid", {"a": 1}, -1),
    ("float", "bid", {"a": 1}, 150.0),
    ("bool", "bid", {"a": 1}, True),
    ("str", "bid", {"a": 1}, "150"),
    ("none", "bid", {"a": 1}, None),
    ("empty kind", "", {"a": 1}, 150),
    ("int kind", 7, {"a": 1}, 150),
    ("bytes kind", b"bid", {"a": 1}, 150),
    ("str subclass kind", type("K", (str,), {})("bid"), {"a": 1}, 150),
    *[(f"reserved {key}", "bid", {"a": 1, key: 1}, 150) for key in ("seq", "prev", "t", "kind")],
    ("all reserved", "bid", {"kind": 1, "t": 2, "prev": 3, "seq": 4}, 150),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_log_append_leaves_every_refusal_to_python(case: RefusedCase) -> None:
    """A refused append raises the pure path's LedgerError with the native path on, log_append itself
    declines it (None), and nothing changes: not the size, the root, the chain or the pending entries."""
    name, kind, payload, t = case
    make = _readonly_log if name == "readonly" else _sample_log
    messages = []
    for enabled in (False, True):
        with path(enabled):
            log = make()
            before = _log_state(log)
            with pytest.raises(LedgerError) as refused:
                log.append(kind, payload, t)
            messages.append(str(refused.value))
            assert _log_state(log) == before
            assert native.log_append(log, Appended, kind, payload, t) is None
            assert _log_state(log) == before
    assert messages[0] == messages[1]


def test_log_append_leaves_large_times_and_odd_payloads_to_python() -> None:
    """t from 2**63 (an int the entry can hold, beyond log_append's range) and a float in the payload:
    declined, then appended by Python (or refused by it) exactly as on the pure path."""
    results = []
    for enabled in (False, True):
        with path(enabled):
            log = _sample_log()
            if enabled:
                assert native.log_append(log, Appended, "bid", {"a": 1}, 2**63) is None
                assert native.log_append(log, Appended, "bid", {"a": 1.5}, 200) is None
            got = [tuple(log.append("bid", {"a": 1}, 2**63)), tuple(log.append("bid", {"a": 2}, 2**64 - 1))]
            with pytest.raises(CanonicalError) as odd:
                log.append("bid", {"a": 1.5}, 2**64 - 1)
            results.append((got, str(odd.value), _log_state(log)))
    assert results[0] == results[1]


JUNK: list[Any] = [
    None, 0, -1, 10**12, 2**70, 1.5, True, "", "bid", "\ud800", b"bid", bytearray(b"x"), [], {}, {"a": 1}, {"seq": 1},
    {1: 2}, (), (1, 2, 3), object(), Appended, tuple, Log, MerkleTree(), MerkleTree, int, type,
]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from([*JUNK, "log"]), max_size=7))
def test_log_append_takes_junk_arguments_without_crashing(picks: list[Any]) -> None:
    """Any arguments: an Appended for a real Log and arguments it accepts, else None (nothing changed),
    or TypeError for a call that is not log_append(log, tuple_subclass, kind, payload, t)."""
    log = _sample_log()
    args = [log if type(a) is str and a == "log" else a for a in picks]
    before = _log_state(log)
    try:
        result = native.log_append(*args)
    except TypeError:
        assert len(args) != 5 or not (isinstance(args[1], type) and issubclass(args[1], tuple))
        assert _log_state(log) == before
        return
    if result is None:
        assert _log_state(log) == before
    else:
        assert args[0] is log and type(result) is args[1] and result[0] == before[0]
        assert log.size == before[0] + 1


class _Tree(MerkleTree):
    __slots__ = ()


# Logs in states their own methods never leave: log_append declines each (Python then decides).
ODD_STATES: dict[str, Any] = {
    "tree a list": lambda log: setattr(log, "tree", []),
    "tree a subclass": lambda log: setattr(log, "tree", _Tree()),
    "levels[0] bytes": lambda log: log.tree._levels.__setitem__(0, bytes(log.tree._levels[0])),
    "levels empty": lambda log: setattr(log.tree, "_levels", []),
    "levels a tuple": lambda log: setattr(log.tree, "_levels", tuple(log.tree._levels)),
    "size unset": lambda log: delattr(log.tree, "_size"),
    "size a str": lambda log: setattr(log.tree, "_size", "3"),
    "size negative": lambda log: setattr(log.tree, "_size", -1),
    "pending a tuple": lambda log: setattr(log, "_pending_data", ()),
    "leaves missing": lambda log: delattr(log, "_pending_leaves"),
    "last leaf None": lambda log: setattr(log, "_last_leaf", None),
    "last t a float": lambda log: setattr(log, "_last_t", 1.5),
    "due None": lambda log: setattr(log, "_due_seq", None),
    "readonly 0": lambda log: setattr(log, "readonly", 0),
    "half made": None,
}


def _snapshot(log: Log) -> dict[str, Any]:
    """A Log's attributes by value (lists copied, the tree's slots read)."""
    snap = {k: list(v) if type(v) is list else v for k, v in vars(log).items()}
    tree = snap.get("tree")
    if isinstance(tree, MerkleTree):
        snap["tree"] = (getattr(tree, "_size", None), [bytes(level) for level in getattr(tree, "_levels", [])])
    return snap


@pytest.mark.parametrize("state", list(ODD_STATES))
def test_log_append_declines_a_log_in_an_odd_state(state: str) -> None:
    """None, and not one attribute of the Log or slot of its tree changed."""
    change = ODD_STATES[state]
    if change is None:
        log = Log.__new__(Log)
    else:
        log = _sample_log()
        change(log)
    before = _snapshot(log)
    assert native.log_append(log, Appended, "bid", {"a": 1}, 500) is None
    assert _snapshot(log) == before


def test_log_append_declines_while_a_class_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    """A patched MerkleTree method or a Log class attribute of a name it reads: log_append leaves the
    append to Python (which calls the patch), and takes appends again once the classes are restored."""
    calls = []
    original = MerkleTree.append

    def spy(self: MerkleTree, leaf: bytes) -> int:
        calls.append(leaf)
        return original(self, leaf)

    with path(True):
        log = _sample_log()
        with monkeypatch.context() as mp:
            mp.setattr(MerkleTree, "append", spy)
            assert native.log_append(log, Appended, "bid", {"a": 1}, 500) is None
            appended = log.append("bid", {"a": 1}, 500)
            assert calls == [appended.leaf]
        with monkeypatch.context() as mp:
            mp.setattr(Log, "_last_t", 0, raising=False)
            assert native.log_append(log, Appended, "bid", {"a": 2}, 500) is None
        assert native.log_append(log, Appended, "bid", {"a": 3}, 500) is not None
        assert log.size == 5 and len(calls) == 1


def test_log_append_errors_leave_the_python_state() -> None:
    """A held view of the leaf level (BufferError: log_append declines, Python raises it, nothing changed)
    and a failing checkpoint (raised once the entry is in): the same error and state on both paths."""
    results = []
    for enabled in (False, True):
        with path(enabled):
            log = _sample_log()
            view = memoryview(log.tree._levels[0])
            if enabled:
                assert native.log_append(log, Appended, "bid", {"a": 1}, 500) is None
            with pytest.raises(BufferError) as held:
                log.append("bid", {"a": 1}, 500)
            state_held = _log_state(log)
            view.release()

            def boom(now: int) -> None:
                raise RuntimeError(f"no checkpoint at {now}")

            log._maybe_checkpoint = boom
            with pytest.raises(RuntimeError) as failed:
                log.append("bid", {"a": 1}, 600)  # the policy signs every 2 entries: due now
            results.append((str(held.value), state_held, str(failed.value), _log_state(log)))
    assert results[0] == results[1]
    assert results[1][3][0] == 4  # the entry is in, as on the pure path


# -- the audit's chunk check ----------------------------------------------------------------------

SIGNER = Signer("native.test.example", bytes(range(32)))


def chunk_rows(n: int) -> list[tuple[int, bytes, bytes]]:
    log = Log(MemoryStore(), SIGNER, policy=CheckpointPolicy(every_entries=None, every_ms=None))
    for i in range(n):
        log.append("bid", {"lot": f"L{i % 3}", "amount": 100 + i, "x": [i, {"y": b"\x00"}]}, t=1000 + 7 * (i // 2))
    log.commit()
    return [tuple(r) for r in log.store.rows()]


ROWS = chunk_rows(40)


def tamper(rows: list[tuple[int, bytes, bytes]], rnd: random.Random) -> list[Any]:
    rows = list(rows)
    how = rnd.randrange(9)
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
        rows[i] = (seq + rnd.choice([-1, 1, 100]), data, leaf)
    elif how == 6:  # a field re-encoded with a valid leaf hash: t earlier, or seq, or kind empty
        entry = canonical.decode(data)
        field, value = rnd.choice([("t", 0), ("t", 2**64 - 1), ("seq", seq + 1), ("kind", ""), ("prev", bytes(32))])
        entry[field] = value
        data = canonical.encode(entry)
        rows[i] = (seq, data, hashlib.sha256(b"\x00" + data).digest())
    elif how == 7:  # not bytes
        rows[i] = (seq, data.decode("latin-1"), leaf)
    elif how == 8:  # a row of the wrong shape
        rows[i] = (seq, data)
    return rows


@SETTINGS
@given(st.randoms(use_true_random=False), st.integers(0, 39), st.sampled_from([0, 999, 1000, 1001]))
def test_audit_chunk_agrees_with_the_python_check(rnd: random.Random, cut: int, last_t: int) -> None:
    rows = tamper(ROWS, rnd)[cut:]
    if not rows:
        return
    start = cut
    prev = ROWS[cut - 1][2] if cut else bytes(32)
    with path(False):
        reference = audit._chunk_is_clean(rows, start, prev, last_t)
    got = native.audit_chunk(rows, start, prev, last_t)
    if reference is None:
        assert got is None
    else:
        leaves, t = reference
        assert got == (b"".join(leaves), t)


def test_audit_chunk_takes_the_rows_of_both_stores() -> None:
    prev = bytes(32)
    got = native.audit_chunk(ROWS, 0, prev, 0)
    assert got is not None and got[1] == 1000 + 7 * 19
    assert native.audit_chunk([], 0, prev, 0) is None
    assert native.audit_chunk(ROWS, 0, prev[:31], 0) is None


# -- the Merkle tree --------------------------------------------------------------------------------


@SETTINGS
@given(st.integers(0, 300), st.data())
def test_trees_roots_and_proofs_are_identical(n: int, data: st.DataObject) -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)]
    trees = []
    for enabled in (False, True):
        with path(enabled):
            tree = MerkleTree()
            cut = data.draw(st.integers(0, n))
            for leaf in leaves[:cut]:
                tree.append(leaf)
            tree.root()  # build part of it, then the rest
            tree.extend(leaves[cut:])
            trees.append(tree)
    pure, fast = trees
    assert [bytes(level) for level in pure._levels] == [bytes(level) for level in fast._levels]
    for size in range(n + 1):
        assert pure.root(size) == fast.root(size)
    if n:
        size = data.draw(st.integers(1, n))
        index = data.draw(st.integers(0, size - 1))
        assert pure.inclusion_proof(index, size) == fast.inclusion_proof(index, size)
        old = data.draw(st.integers(1, size))
        assert pure.consistency_proof(old, size) == fast.consistency_proof(old, size)


def test_hash_pairs_is_the_rfc_6962_node_hash() -> None:
    level = bytes(range(128))
    assert native.hash_pairs(level, 0, 128) == b"".join(
        hashlib.sha256(b"\x01" + level[o : o + 64]).digest() for o in (0, 64)
    )
    assert native.hash_pairs(bytearray(level), 64, 128) == hashlib.sha256(b"\x01" + level[64:]).digest()
    with pytest.raises(ValueError):
        native.hash_pairs(level, 0, 100)


@SETTINGS
@given(st.integers(1, 200), st.data())
def test_proof_root_follows_every_path_as_the_python_loop_does(n: int, data: st.DataObject) -> None:
    """The C inclusion-proof loop gives the pure loop's root, and None exactly where it does
    (wrong index or size, a path too long, too short, or not whole hashes), on real and bent proofs."""
    from ledger import certificate

    tree = MerkleTree()
    tree.extend([hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(n)])
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index, size)
    leaf = bytes(tree.leaf(index))
    blob = b"".join(proof)
    cases = [
        (leaf, index, size, blob),
        (leaf, data.draw(st.integers(-2, size + 2)), data.draw(st.integers(-1, size + 3)), blob),
        (leaf, index, size, blob + bytes(32)),
        (leaf, index, size, blob[:-32] if blob else blob),
        (leaf, index, size, blob + b"\x00"),
        (leaf[:31], index, size, blob),
        (leaf, index, size, data.draw(st.binary(max_size=8 * 32))),
    ]
    for case in cases:
        with path(False):
            want = certificate.proven_root_joined(*case)
        got = native.proof_root(*case)
        if len(case[0]) == 32:
            assert got == want, case[1:3]
        else:  # a leaf hash of the wrong length: "not clean", and the Python loop decides
            assert got is None
        with path(True):
            assert certificate.proven_root_joined(*case) == want
            if len(case[3]) % 32 == 0:  # the same path as a list of hashes
                hashes = [case[3][o : o + 32] for o in range(0, len(case[3]), 32)]
                assert certificate.proven_root(case[0], case[1], case[2], hashes) == want
    assert native.proof_root(leaf, index, size, blob) == tree.root(size)
    assert native.proof_root(leaf, 2**70, size, blob) is None  # no overflow, just "not clean"
    assert native.proof_root("leaf", index, size, blob) is None


B64_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \né", max_size=60)


@SETTINGS
@given(st.binary(max_size=200), B64_TEXT)
def test_canonical_base64_is_read_as_python_reads_it(data: bytes, noise: str) -> None:
    """b64 / b64_leaf take exactly the canonical spellings (the pure check: strict decoding and the
    same text on re-encoding), and give the pure result for every other text."""
    from ledger import certificate

    text = base64.b64encode(data).decode()
    assert native.b64(text) == data
    assert native.b64_leaf(text) == (data, hashlib.sha256(b"\x00" + data).digest())
    for t in (noise, text + noise, text[:-1] + noise[:1], noise + text):
        with path(False):
            want = certificate.canonical_b64(t)
            want_leaf = certificate.canonical_b64_leaf(t)
        assert native.b64(t) == want, t
        assert native.b64_leaf(t) == want_leaf, t
        with path(True):
            assert certificate.canonical_b64(t) == want
            assert certificate.canonical_b64_leaf(t) == want_leaf
    assert native.b64(b"QQ==") is None  # bytes, not text


def _pure_proof_head(text: str) -> tuple[int, bytes, str] | None:
    """The tlog-proof text as the pure pinned-field check reads it (None where it leaves it to the reference)."""
    head, sep, signed = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or len(lines) < 2 or lines[0] != "c2sp.org/tlog-proof@v1" or lines[1][:6] != "index ":
        return None
    digits = lines[1][6:]
    if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and len(digits) > 1):
        return None
    try:
        hashes = [binascii.a2b_base64(h, strict_mode=True) for h in lines[2:]]
    except (binascii.Error, ValueError):
        return None
    if any(len(h) != 32 for h in hashes):
        return None
    return int(digits), b"".join(hashes), signed


@SETTINGS
@given(st.integers(0, 10**12), st.lists(st.binary(min_size=32, max_size=32), max_size=6), st.data())
def test_tlog_proof_head_reads_the_text_as_python_does(index: int, hashes: list[bytes], data: st.DataObject) -> None:
    """A plain tlog-proof text is split the same way; a bent one is read the same way or left to Python."""
    signed = "market.example\n12\nAAAA\n\n\u2014 market.example abcd\n"
    text = (
        f"c2sp.org/tlog-proof@v1\nindex {index}\n"
        + "".join(base64.b64encode(h).decode() + "\n" for h in hashes)
        + "\n"
        + signed
    )
    assert native.tlog_proof_head(text) == (index, b"".join(hashes), signed) == _pure_proof_head(text)
    for _ in range(5):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        insert = data.draw(st.sampled_from(["", "\n", "0", "=", "A", " ", "é", "\n\n", "x"]))
        bent = text[:at] + insert + text[at + cut :]
        got = native.tlog_proof_head(bent)
        assert got is None or got == _pure_proof_head(bent), bent


# -- a certificate's proven entries and its code, in one call each -------------------------------


def _small_log(n: int) -> Log:
    log = Log(MemoryStore(), SIGNER, policy=CheckpointPolicy(every_entries=None, every_ms=None))
    for i in range(n):
        log.append("bid", {"lot": f"L{i % 3}", "amount": i * 1000, "note": "é" * (i % 4)}, 1_700_000_000_000 + i)
    return log


SIGNER = Signer("native.example", bytes(range(32)))


@SETTINGS
@given(st.integers(1, 40), st.data())
def test_proven_entry_accepts_what_the_python_checks_accept(n: int, data: st.DataObject) -> None:
    """`proven_entry` gives the pure path's (bytes, leaf hash, entry) for a real proven entry, and for
    every bent one (text, index, proof, size, root) the pure path's answer: None, or the same result."""
    from ledger import certificate

    log = _small_log(n)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    entry64 = base64.b64encode(log.entry_bytes(index)).decode()
    path_bytes = b"".join(log.tree.inclusion_proof(index, size))
    proof64 = base64.b64encode(path_bytes).decode()
    root = log.tree.root(size)
    good = native.proven_entry(entry64, index, proof64, size, root)
    assert good is not None and good[0] == log.entry_bytes(index)
    assert native.proven_entry(entry64, index, path_bytes, size, root) == good
    with path(False):
        assert typed(certificate.proven_entry_b64(entry64, index, proof64, size, root)) == typed(good)

    def bend(text: str) -> str:
        at = data.draw(st.integers(0, len(text)))
        insert = data.draw(st.sampled_from(["", "A", "=", "+", "/", " ", "\n", "é", "AA=="]))
        return text[:at] + insert + text[at + data.draw(st.integers(0, 2)) :]

    cases = [
        (bend(entry64), index, proof64, size, root),
        (entry64, index, bend(proof64), size, root),
        (entry64, data.draw(st.integers(-1, n + 1)), proof64, size, root),
        (entry64, index, proof64, data.draw(st.integers(0, n + 2)), root),
        (entry64, index, proof64, size, data.draw(st.binary(min_size=31, max_size=33))),
        (entry64, True, proof64, size, root),
        (entry64.encode(), index, proof64, size, root),
    ]
    for case in cases:
        with path(False):
            want = certificate.proven_entry_b64(*case)
        assert typed(native.proven_entry(*case)) == typed(want), case[1:4]


@SETTINGS
@given(st.sampled_from(["ZJ", "ABC", "WXYZ"]), st.dates(), st.sampled_from("EDFSAL"), st.integers(0, 10**9), st.data())
def test_code_fields_reads_a_code_as_the_python_check_does(
    prefix: str, day: Any, kind: str, index: int, data: st.DataObject
) -> None:
    """`code_fields` takes exactly the printed codes the pure check takes (same groups), for the
    genuine code and for every one-character change, swap, cut or insertion."""
    from ledger import certificate
    from ledger.txcode import make_code

    leaf = hashlib.sha256(index.to_bytes(8, "big")).digest()
    date = day.strftime("%y%m%d")
    code = make_code(prefix, date, kind, index, leaf)
    assert native.code_fields(code, index, leaf) == (prefix, date, kind, certificate._code_groups(code, index, leaf)[3])
    bent = [code]
    for _ in range(4):
        at = data.draw(st.integers(0, len(code) - 1))
        c = data.draw(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-az é"))
        bent += [code[:at] + c + code[at + 1 :], code[:at] + c + code[at:], code[:at] + code[at + 1 :]]
        if at + 1 < len(code):
            bent.append(code[:at] + code[at + 1] + code[at] + code[at + 2 :])
    bent += [code.replace(date, "000229"), code.replace(date, "240229"), code.replace(date, "230229")]
    for text in bent:
        for i in (index, index + 1):
            assert native.code_fields(text, i, leaf) == certificate._code_groups(text, i, leaf), (text, i)
    assert native.code_fields(code, index, leaf[:3]) is None
    assert native.code_fields(code.encode(), index, leaf) is None


# -- the nesting limit and duplicate keys: the native code stops where the format does ----------------


def _nested(levels: int, kinds: str) -> Any:
    """`levels` maps and lists (kinds[i % len(kinds)]: "m" a one-key map, "l" a one-item list), around 1."""
    value: Any = 1
    for i in range(levels):
        value = {"k": value} if kinds[i % len(kinds)] == "m" else [value]
    return value


@pytest.mark.parametrize("kinds", ["m", "ml", "mll"])
@pytest.mark.parametrize("levels", [31, 32, 33, 40])
def test_native_code_stops_at_the_formats_nesting_limit(levels: int, kinds: str) -> None:
    assert native.MAX_DEPTH == canonical.MAX_DEPTH == 32
    entry = {"x": _nested(levels - 1, kinds)}  # `levels` levels, the entry the first
    payload = {"x": entry["x"]}
    with path(False):
        expected = outcome(canonical.encode, entry)
        expected_entry = outcome(canonical.encode_entry, payload, 3, bytes(32), 5, "k")
    if levels <= 32:
        assert isinstance(expected, bytes)
        assert native.encode_flat(entry) == native.encode_value(entry) == expected
        assert native.encode_entry(payload, 3, bytes(32), 5, "k") == expected_entry
        assert native.is_canonical(expected) and typed(native.decode_entry(expected)) == typed(pure_decode(expected))
    else:
        assert expected[0] == "error" and "nested deeper than 32 levels of maps and lists" in expected[1]
        assert native.encode_flat(entry) is None and native.encode_value(entry) is None
        assert native.encode_entry(payload, 3, bytes(32), 5, "k") is None
        raw = msgpack.packb(canonical_sorted(entry), use_bin_type=True)
        assert not native.is_canonical(raw) and native.decode_entry(raw) is None and native.check_entry(raw) is None
        with path(False):
            reference = outcome(canonical.decode, raw)
        with path(True):
            assert outcome(canonical.decode, raw) == reference == expected  # one message on both paths
            assert outcome(canonical.encode, entry) == expected


def canonical_sorted(value: Any) -> Any:
    if type(value) is dict:
        return {k: canonical_sorted(value[k]) for k in sorted(value)}
    if type(value) is list:
        return [canonical_sorted(v) for v in value]
    return value


@pytest.mark.parametrize(
    "raw",
    [
        b"\x82\xa1a\x01\xa1a\x02",
        b"\x81\xa1m\x82\xa1z\x01\xa1z\x01",
        b"\x81\xa1l\x91\x82\xa1q\xc0\xa1q\xc0",
        b"\x85\xa4kind\xa1k\xa4prev\xc4\x20" + bytes(32) + b"\xa3seq\x00\xa3seq\x00\xa1t\x00",
    ],
)
def test_duplicate_map_keys_are_not_canonical_on_either_path(raw: bytes) -> None:
    assert not native.is_canonical(raw) and native.decode_entry(raw) is None and native.check_entry(raw) is None
    with path(False):
        reference = outcome(canonical.decode, raw)
    assert reference[0] == "error" and reference[1].endswith(": duplicate map key")
    with path(True):
        assert outcome(canonical.decode, raw) == reference
        assert canonical.decode_many([raw]) is None


def test_the_switch() -> None:
    with path(False):
        assert not _accel.active()
        assert canonical._native_encode_entry is None
    with path(True):
        assert _accel.active()
        assert canonical.decode(msgpack.packb({"a": 1})) == {"a": 1}
