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
    assert certificates._local_fast(t, offset, suffix) == want


@pytest.mark.parametrize("t", [True, 1.0, "1", None, 2**62, -(2**62)])
def test_local_time_declines_what_is_not_a_small_int(t: object) -> None:
    assert native.local_iso(t, 0, "+00:00") is None
    assert certificates._local_fast(t, 0, "+00:00") == certificates._local(t, 0, "+00:00")


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
    assert certificates._price_texts(fen) == want


@pytest.mark.parametrize("fen", [True, 1.5, "100", None])
def test_price_texts_decline_what_is_not_an_int(fen: object) -> None:
    assert native.yuan_texts(fen) is None
    assert certificates._price_texts(fen) == (certificates._price_yuan(fen), None)
