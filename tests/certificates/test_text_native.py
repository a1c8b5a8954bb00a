"""The optional native text formatting (auction_engine/_speedups.c) against the Python functions.

A certificate's human fields (four local times, two price texts) are recomputed on every
verification; the native functions must give exactly the Python texts, or None where they decline
(and the caller then runs the Python function).
"""

from __future__ import annotations

import datetime as _dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine import certificates
from auction_engine.model import yuan

try:
    from auction_engine import _speedups as native
except ImportError:
    pytest.skip(
        "native text formatting not tested: the C extension auction_engine._speedups is not built"
        " (it needs a C compiler when the package is installed)",
        allow_module_level=True,
    )

SETTINGS = settings(max_examples=2000, derandomize=True, deadline=None)
LIMIT = 2**62
DAY = 86_400_000
FIRST = (_dt.date(1, 1, 1) - _dt.date(1970, 1, 1)).days * DAY  # 0001-01-01T00:00 UTC, in ms
LAST = ((_dt.date(9999, 12, 31) - _dt.date(1970, 1, 1)).days + 1) * DAY - 1
INSTANTS = st.one_of(
    st.integers(FIRST - 2 * DAY, LAST + 2 * DAY),  # the whole calendar and a little beyond
    st.integers(-(10**13), 10**13),  # 1653-2286: where deals are
    st.sampled_from([0, -1, 1, 999, 1000, DAY - 1, DAY, -DAY, FIRST, FIRST - 1, LAST, LAST + 1]),
    st.integers(-(2**70), 2**70),
)
OFFSETS = st.one_of(
    st.sampled_from([0, 8 * 3_600_000, -5 * 3_600_000, 5 * 3_600_000 + 45 * 60_000, -(12 * 3_600_000), 1, -1]),
    st.integers(-2 * DAY, 2 * DAY),
)


def _python_local(t: object, offset: int) -> str | None:
    return certificates._local(t, offset, certificates._offset_text(offset))


@SETTINGS
@given(INSTANTS, OFFSETS)
def test_local_time_is_the_python_text(t: int, offset: int) -> None:
    suffix = certificates._offset_text(offset)
    got = native.local_iso(t, offset, suffix)
    want = _python_local(t, offset)
    if abs(t) < LIMIT:
        assert got == want, (t, offset)
    else:  # beyond +-2^62 it declines, and the Python function decides
        assert got is None


@pytest.mark.parametrize("t", [True, 1.0, "1", None, 2**62, -(2**62)])
def test_local_time_declines_what_is_not_a_small_int(t: object) -> None:
    assert native.local_iso(t, 0, "+00:00") is None


@SETTINGS
@given(
    st.one_of(
        st.integers(-(10**12), 10**12),
        st.integers(-(2**63), 2**63),
        st.sampled_from([0, 1, -1, 99, -99, 100, 1000_00, -1000_00, 10**17, -(10**17)]),
    )
)
def test_price_texts_are_the_python_texts(fen: int) -> None:
    want = (certificates._price_yuan(fen), yuan(fen))
    got = native.yuan_texts(fen)
    if abs(fen) < LIMIT:
        assert got == want, fen
    else:
        assert got is None


@pytest.mark.parametrize("fen", [True, 1.5, "100", None])
def test_price_texts_decline_what_is_not_an_int(fen: object) -> None:
    assert native.yuan_texts(fen) is None


ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False),
    st.binary(max_size=4),
)
TIMES = st.one_of(INSTANTS, ANY)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "lot": ANY,
            "seller": ANY,
            "buyer": ANY,
            "mode": ANY,
            "rule": ANY,
            "price": st.one_of(st.integers(-(10**15), 10**15), ANY),
            "t": TIMES,
            "due": TIMES,
            "publication_until": TIMES,
        },
    ),
    st.fixed_dictionaries({"utc_offset_ms": OFFSETS}, optional={"title": ANY, "submarket": ANY, "t": TIMES}),
)
def test_the_deal_section_is_the_python_one(deal: dict[str, object], record: dict[str, object]) -> None:
    """`describe` natively: the Python section (same keys, order, values and types), or None where it declines."""
    offset = record["utc_offset_ms"]
    want = certificates.describe(deal, record)
    got = native.describe(deal, record, offset, certificates._offset_text(offset))
    big = [
        v
        for v in (deal.get("price"), deal.get("t"), deal.get("due"), deal.get("publication_until"), record.get("t"))
        if type(v) is int and abs(v) >= LIMIT
    ]
    if big:
        assert got is None
    else:
        assert got is not None
        assert list(got.items()) == list(want.items())
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
    assert certificates._describe_fast(deal, record, offset, certificates._offset_text(offset)) == want


def test_the_deal_section_declines_what_is_not_a_dict() -> None:
    assert native.describe([], {}, 0, "+00:00") is None
    assert native.describe({}, {}, 2**70, "+00:00") is None
    assert native.describe({}, {}, 0, None) is None
