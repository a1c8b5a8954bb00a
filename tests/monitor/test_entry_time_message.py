"""The monitor names an entry whose time goes back in the market's time, as people read it, not in ms."""

from __future__ import annotations

import pytest

from auction_engine.monitor import ZERO_HASH, ViolationFound, check_entry_fields
from ledger import canonical
from ledger.merkle import leaf_hash

T0 = 1_796_627_445_000  # 2026-12-07 15:10:45 +08:00


def _entry(seq: int, prev: bytes, t: object) -> bytes:
    return canonical.encode({"kind": "note", "prev": prev, "seq": seq, "t": t})


def test_a_time_going_back_is_shown_in_the_markets_time() -> None:
    first = _entry(0, ZERO_HASH, T0)
    second = _entry(1, leaf_hash(first), T0 - 1_000)
    with pytest.raises(ViolationFound) as found:
        check_entry_fields([first, second], 0, ZERO_HASH, 0)
    assert found.value.violation.index == 1
    assert found.value.violation.message == (
        "entry 1's time 2026-12-07 15:10:44 +08:00 is before the previous entry's, 2026-12-07 15:10:45 +08:00"
    )


def test_a_time_that_is_not_an_integer_is_shown_as_it_is() -> None:
    with pytest.raises(ViolationFound) as found:
        check_entry_fields([_entry(0, ZERO_HASH, "noon")], 0, ZERO_HASH, 0)
    assert found.value.violation.message == "entry 0's time 'noon' is not an integer (ms since the epoch)"
