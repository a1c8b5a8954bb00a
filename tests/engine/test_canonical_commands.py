"""Whatever form a command arrives in, its entry's bytes are a function of the canonical command only.

The engine hands the rules the command as its ledger entry decodes (`canonical.normalize`: maps in
key order, tuples as lists), so a message a rule builds from a field's value is the same live and
in a replay. The property: any sequence of commands of the rules, with fields of any shape in any
key order, gives a ledger that replays byte for byte; and the same commands with their maps in
another order give the same ledger.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.market import COMMAND_OPS
from auction_engine.model import MAX_INT
from auction_engine.replay import replay

from .harness import Harness

_ATOMS = st.one_of(
    st.integers(min_value=-MAX_INT, max_value=MAX_INT),
    st.text(max_size=12),
    st.booleans(),
    st.none(),
    st.binary(max_size=8),
)
_VALUES = st.recursive(
    _ATOMS,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda v: tuple(v) if len(v) % 2 else v)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)
_FIELDS = st.dictionaries(
    st.sampled_from(["amount", "max", "price", "hash", "nonce", "grounds", "party", "parties", "params",
                     "mode", "down", "schedule", "upheld", "approved", "objection", "payer", "x"]),
    _VALUES,
    max_size=4,
)  # fmt: skip
_COMMAND = st.tuples(
    st.sampled_from(sorted(COMMAND_OPS)),
    st.sampled_from(["operator", "A", "B", "seller"]),
    st.sampled_from(["E1", "S1", "nolot"]),
    _FIELDS,
)


def _reversed(value: Any) -> Any:
    """The same value with every map's keys in reverse order (and tuples as lists)."""
    if isinstance(value, dict):
        return {k: _reversed(value[k]) for k in reversed(list(value))}
    if isinstance(value, (list, tuple)):
        return [_reversed(v) for v in value]
    return value


def _run(commands: list[tuple[str, str, str, dict[str, Any]]], flip: bool) -> Harness:
    h = Harness()
    h.open_lot("E1", "english", {"A": 10_000, "B": 10_000}, params={"start_price": 100_000, "increment": 10_000})
    h.open_lot("S1", "sealed", {"A": 10_000}, params={"price_rule": "second", "min_price": 100_000})
    for op, actor, lot, fields in commands:
        cmd = {"lot": lot, **fields}
        if flip:
            cmd = _reversed(cmd)
        with contextlib.suppress(ValueError):  # refused before anything was written (a reserved field…)
            h.submit(op, actor, **cmd)
        h.run(1_000)
    return h


@settings(max_examples=60, deadline=None)
@given(commands=st.lists(_COMMAND, max_size=12))
def test_any_commands_in_any_key_order_replay(commands: list[tuple[str, str, str, dict[str, Any]]]) -> None:
    straight = _run(commands, flip=False)
    straight.assert_replays()
    flipped = _run(commands, flip=True)
    assert [e.data for e in flipped.engine.events] == [e.data for e in straight.engine.events]


def test_a_refused_map_field_replays() -> None:
    """The attacker's case: a bid whose amount is a map, its keys out of order."""
    h = Harness()
    h.open_lot("E1", "english", {"A": 10_000}, params={"start_price": 100_000, "increment": 10_000})
    result = h.submit("bid", "A", lot="E1", amount={"b": 1, "a": 2})
    assert not result.ok
    h.assert_replays()


@pytest.mark.parametrize("op", ["txcode", "deal", "final", "auto_bid", "refund", "open_market", "nosuch"])
def test_an_entry_kind_is_not_a_command(op: str) -> None:
    h = Harness()
    before = len(h.engine.events)
    with pytest.raises(ValueError, match="is not a command of these rules"):
        h.submit(op, "operator", lot="E1", code="forged")
    assert len(h.engine.events) == before


def test_integers_beyond_the_limit_are_refused_before_the_ledger() -> None:
    h = Harness()
    h.open_lot("E1", "english", {"A": 10_000}, params={"start_price": 100_000, "increment": 10_000})
    before = len(h.engine.events)
    with pytest.raises(ValueError, match="amount"):
        h.submit("bid", "A", lot="E1", amount=MAX_INT + 1)
    assert len(h.engine.events) == before
    result = h.submit("open_lot", "operator", lot="BIG", mode="english",
                      params={"start_price": 2**63, "increment": 1})  # fmt: skip
    assert not result.ok and result.code == "bad_param" and "start_price" in (result.message or "")
    h.assert_replays()


def test_a_standing_proxy_on_a_lot_still_priced_replays_with_the_key_and_stops_without_it() -> None:
    # Found by the property above: a proxy's max is sealed until the lot's pricing ends, so a replay
    # from the entries alone stops there (unrevealed, not a divergence); the market's vault opens it.
    h = Harness()
    h.open_lot("E1", "english", {"A": 10_000}, params={"start_price": 100_000, "increment": 10_000, "proxy": True})
    placed = h.submit("proxy", "A", lot="E1", max=500_000)
    assert placed.ok
    public = replay(h.log.entries())
    assert not public.ok and public.unrevealed and public.index == placed.seq
    assert replay(h.log.entries(), h.engine.vault).ok
    h.assert_replays()
