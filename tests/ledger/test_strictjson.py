"""ledger.strictjson: json's objects, but a repeated key, NaN/Infinity and a lone surrogate are refused, named."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ledger.strictjson import DuplicateKeyError, StrictJSONError, loads, quick_loads

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


# -- quick_loads, the certificate verifier's fast reader: orjson, when its output gives the text back ----------


def write_layout(value: Any, indent: str | None, level: int = 0) -> str:
    """JSON text for `value` as json.dumps(indent=..., ensure_ascii=False) lays it out (compact for None),
    repeated keys written as they are."""
    comma, colon = (",", ": ") if indent is not None else (",", ":")
    inner = "" if indent is None else "\n" + indent * (level + 1)
    outer = "" if indent is None else "\n" + indent * level
    if type(value) is Obj:
        if not value.members:
            return "{}"
        parts = [
            json.dumps(k, ensure_ascii=False) + colon + write_layout(v, indent, level + 1) for k, v in value.members
        ]
        return "{" + inner + (comma + inner).join(parts) + outer + "}"
    if type(value) is list:
        if not value:
            return "[]"
        return "[" + inner + (comma + inner).join(write_layout(v, indent, level + 1) for v in value) + outer + "]"
    return json.dumps(value, ensure_ascii=False)


@SETTINGS
@given(documents, st.data())
def test_quick_loads_never_accepts_what_loads_refuses_and_agrees_with_it(doc: Any, data: st.DataObject) -> None:
    """Whatever the layout (json's indented one and the compact one included, where quick_loads answers),
    with repeated keys anywhere: quick_loads gives loads' document, or None."""
    layout = data.draw(st.sampled_from(["indented", "indented+newline", "compact", "random"]))
    if layout == "random":
        text = write(doc, data.draw)
    else:
        text = write_layout(doc, None if layout == "compact" else "  ") + ("\n" if layout.endswith("newline") else "")
    raw: str | bytes = text.encode("utf-8") if data.draw(st.booleans()) else text
    quick = quick_loads(raw)
    try:
        value = loads(raw)
    except StrictJSONError:
        assert quick is None
        return
    assert quick is None or quick == value


@SETTINGS
@given(documents)
def test_quick_loads_reads_the_layout_certificates_are_written_in(doc: Any) -> None:
    """A document without repeats, 64-bit integers and no floats, as `certificates.dumps` writes it (and
    compact): quick_loads reads it, so the fast path is taken."""
    value = plain(doc)
    assume(first_repeat(doc) is None)
    assume(all(type(x) is not float and (type(x) is not int or -(2**63) <= x < 2**64) for x in _leaves(value)))
    for text in (
        json.dumps(value, indent=2, ensure_ascii=False) + "\n",
        json.dumps(value, separators=(",", ":"), ensure_ascii=False),
    ):
        assert quick_loads(text) == value
        assert quick_loads(text.encode("utf-8")) == value


@pytest.mark.parametrize(
    "text",
    [
        '{\n  "a": 1,\n  "a": 2\n}',
        '{"a":1,"a":2}',
        '{"x":{"a":[],"a":[]}}',
        "[NaN]",
        '{"a":"\\ud800"}',
        '{"a":1e400}',
    ],
)
def test_quick_loads_leaves_repeats_and_what_json_refuses_to_loads(text: str) -> None:
    assert quick_loads(text) is None and quick_loads(text.encode()) is None
