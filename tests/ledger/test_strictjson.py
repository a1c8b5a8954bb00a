"""ledger.strictjson: json's objects, but a repeated key, NaN/Infinity and a lone surrogate are refused, named."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.strictjson import DuplicateKeyError, StrictJSONError, loads

SETTINGS = settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- examples -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "path"),
    [
        ('{"a": 1, "a": 2}', "a", "a"),
        ('{"deal": {"amount": 1, "lot": "L1", "amount": 2}}', "amount", "deal.amount"),
        ('{"transcript": [{"index": 1}, {"index": 2, "entry": "", "index": 3}]}', "index", "transcript[1].index"),
        ('[[], [{"x": {"y": 1, "y": 1}}]]', "y", "[1][0].x.y"),
        ('{"a.b": {"": 0, "": 0}}', "", '["a.b"][""]'),
        ('{"7": 0, "7": 0}', "7", '["7"]'),
        ('{"a": 1, "\\u0061": 2}', "a", "a"),  # the same key spelled two ways
        ('{"\\ud83d\\ude00": 1, "😀": 2}', "😀", '["😀"]'),  # an escaped surrogate pair is one character
    ],
)
def test_a_repeated_key_is_refused_naming_it_and_its_path(text: str, key: str, path: str) -> None:
    with pytest.raises(DuplicateKeyError) as err:
        loads(text)
    assert (err.value.key, err.value.path) == (key, path)
    assert str(err.value) == f"duplicate key {key!r} at {path}"
    assert isinstance(err.value, StrictJSONError) and isinstance(err.value, ValueError)
    with pytest.raises(DuplicateKeyError):
        loads(text.encode("utf-8"))  # bytes alike


def test_the_first_repeat_in_document_order_is_named() -> None:
    # The repeat of "b" inside "a" comes before the repeat of "a" itself in the text.
    with pytest.raises(DuplicateKeyError) as err:
        loads('{"a": {"b": 1, "b": 2}, "a": 3}')
    assert err.value.path == "a.b"
    with pytest.raises(DuplicateKeyError) as err:
        loads('{"a": 1, "a": {"b": 1, "b": 2}}')
    assert err.value.path == "a"


@pytest.mark.parametrize(
    ("text", "message", "path"),
    [
        ("NaN", "the document: NaN is not JSON (not a number)", ""),
        ('{"price": Infinity}', "price: Infinity is not JSON (not a number)", "price"),
        ('{"a": [1, -Infinity]}', "a[1]: -Infinity is not JSON (not a number)", "a[1]"),
        ('{"seller": "\\ud800x"}', "seller: a string with a lone surrogate (it has no UTF-8 form)", "seller"),
        ('["\\udc00"]', "[0]: a string with a lone surrogate (it has no UTF-8 form)", "[0]"),
        ('{"\\ud800": 1}', '["\\ud800"]: a key with a lone surrogate (it has no UTF-8 form)', '["\\ud800"]'),
        ('{"k": "\ud800"}', "k: a string with a lone surrogate (it has no UTF-8 form)", "k"),  # in a str itself
    ],
)
def test_nan_infinity_and_lone_surrogates_are_refused_with_their_path(text: str, message: str, path: str) -> None:
    with pytest.raises(StrictJSONError) as err:
        loads(text)
    assert not isinstance(err.value, DuplicateKeyError)
    assert (str(err.value), err.value.path) == (message, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1,", "Expecting value: line 1 column 4 (char 3)"),
        ('{"a": 1} x', "Extra data: line 1 column 10 (char 9)"),
        ('{"a": 1, "a": 2} x', "Extra data: line 1 column 18 (char 17)"),  # not JSON before a repeated key
        (b'{"a": "\xff"}', "not valid UTF-8: invalid start byte at byte 7"),
        (b'{"a": "\xed\xa0\x80"}', "not valid UTF-8: invalid continuation byte at byte 7"),  # a surrogate, encoded
        ("[" * 100_000, "nested too deeply for the JSON parser"),
        ("1" * 5000, "Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits;"),
    ],
)
def test_text_that_is_not_json_is_one_line_without_a_path(text: str | bytes, message: str) -> None:
    with pytest.raises(StrictJSONError) as err:
        loads(text)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert err.value.path is None and err.value.key is None


@pytest.mark.parametrize(
    "text",
    [
        '{"a": "\\\\ud800"}',  # a backslash, then "ud800": no surrogate at all
        '["\\ud83d\\ude00", "\\u00e9"]',  # a pair, and an escape outside the surrogates
        b'\xef\xbb\xbf{"k": [1, 2.5, true, null]}',  # UTF-8 with a BOM, as json.loads reads bytes
        '{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}',  # one key in several objects is no repeat
        "[]",
        '"x"',
    ],
)
def test_what_json_reads_and_nothing_refuses_gives_the_same_objects(text: str | bytes) -> None:
    assert loads(text) == json.loads(text)


def test_a_non_text_argument_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        loads(3)  # type: ignore[arg-type]


# -- the property: random documents with random repeated keys at random depths ---------------------------


@dataclass
class Obj:
    """A JSON object as written: its members in order, a key possibly repeated."""

    members: list[tuple[str, Any]]


KEYS = st.sampled_from(["a", "b", "amount", "deal", "é", "a.b", "", "0", "😀", 'q"uote']) | st.text(max_size=4)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
documents = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(KEYS, inner), max_size=5).map(Obj),
    max_leaves=25,
)


def escape_all(key: str) -> str:
    """The key with every character written as a \\u escape (a character beyond U+FFFF as a surrogate pair)."""
    units = key.encode("utf-16-be")
    return '"' + "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2)) + '"'


def write(value: Any, draw: Any) -> str:
    """JSON text for `value`, with random white space, and keys now and then spelled with escapes only."""
    space = draw(st.sampled_from(["", " ", "\n  ", "\t"]))
    if type(value) is Obj:
        parts = []
        for key, v in value.members:
            spelled = escape_all(key) if draw(st.integers(0, 4)) == 0 else json.dumps(key, ensure_ascii=False)
            parts.append(f"{space}{spelled}{space}:{space}{write(v, draw)}")
        return "{" + ",".join(parts) + space + "}"
    if type(value) is list:
        return "[" + ",".join(space + write(v, draw) for v in value) + space + "]"
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


def member_path(parent: str, key: str) -> str:
    """The path format (ledger.strictjson): .key for a plain key, ["…"] (JSON string syntax) for another."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def first_repeat(value: Any, path: str = "") -> tuple[str, str] | None:
    """(key, path) of the first repeated key in document order (a key comes before its value), else None."""
    if type(value) is Obj:
        seen: set[str] = set()
        for key, v in value.members:
            at = member_path(path, key)
            if key in seen:
                return key, at
            seen.add(key)
            found = first_repeat(v, at)
            if found:
                return found
    elif type(value) is list:
        for i, v in enumerate(value):
            found = first_repeat(v, f"{path}[{i}]")
            if found:
                return found
    return None


def plain(value: Any) -> Any:
    """The objects json.loads gives for a document without repeats."""
    if type(value) is Obj:
        return {k: plain(v) for k, v in value.members}
    if type(value) is list:
        return [plain(v) for v in value]
    return value


@SETTINGS
@given(documents, st.data())
def test_refused_exactly_when_a_key_repeats_and_the_first_repeat_is_named(doc: Any, data: st.DataObject) -> None:
    text = write(doc, data.draw)
    repeat = first_repeat(doc)
    if repeat is None:
        value = loads(text)
        assert value == plain(doc) == json.loads(text)
        assert all(not isinstance(x, float) or math.isfinite(x) for x in _leaves(value))
    else:
        with pytest.raises(DuplicateKeyError) as err:
            loads(text.encode("utf-8") if data.draw(st.booleans()) else text)
        assert (err.value.key, err.value.path) == repeat


def _leaves(value: Any) -> list[Any]:
    if type(value) is dict:
        return [x for v in value.values() for x in _leaves(v)]
    if type(value) is list:
        return [x for v in value for x in _leaves(v)]
    return [value]


# -- the certificate verifier's fast path: orjson reads, the native count of keys finds a repeat ----------


@SETTINGS
@given(documents, st.data())
def test_the_native_key_count_sees_a_repeat_exactly_when_loads_refuses_one(doc: Any, data: st.DataObject) -> None:
    """`_speedups.json_keys_unique(text, orjson.loads(text))` is what lets the single pass of
    auction_engine.certificates read with orjson (which keeps one copy of a repeated key, silently)."""
    from ledger import _accel

    if not _accel.available():
        pytest.skip(f"native ledger path not tested: {_accel.why_unavailable()}")
    orjson = pytest.importorskip("orjson")
    text = write(doc, data.draw)
    # Strings with quotes and backslashes where the count must not take them for a key's end.
    text = text.replace('"a"', data.draw(st.sampled_from(['"a"', '"\\\\"', '"\\":"', '"a\\\\\\"b"'])))
    raw: str | bytes = text.encode("utf-8") if data.draw(st.booleans()) else text
    try:
        loads(raw)
        repeated = False
    except DuplicateKeyError:
        repeated = True
    assert _accel._speedups.json_keys_unique(raw, orjson.loads(raw)) is not repeated
