"""A snapshot's engine state (issue 17): at every point between two commands of the showcase, the state
encoded, decoded and continued over the rest of the ledger ends exactly where the whole replay ends."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from auction_engine.clock import ManualClock
from auction_engine.engine import Engine
from auction_engine.replay import ReplayMismatch, replay_engine, replay_onto
from auction_engine.rules.base import Ranked
from auction_engine.rules.english import Proxy
from auction_engine.showcase import run_showcase
from auction_engine.state_codec import StateCodecError, decode_state, encode_state
from auction_engine.vault import MarketVault
from ledger import Log, MemoryStore
from ledger.note import generate_signer


def test_every_cut_of_the_showcase_continues_to_the_same_state() -> None:
    signer = generate_signer("example.org/state")
    store = MemoryStore()
    log = Log(store, signer)
    run_showcase(lambda clock: Engine(market="m", clock=clock, log=log))
    log.commit()
    raw = [row.data for row in store.rows()]
    vault = MarketVault.from_signer(signer)
    want = encode_state(replay_engine(raw, vault=vault, keep_events=False).state())
    cuts = 0
    for k in range(1, len(raw)):
        try:  # a cut inside one command's (or one deadline's) entries is no state the market was ever in
            prefix = replay_engine(raw[:k], vault=vault, keep_events=False)
        except ReplayMismatch:
            continue
        blob = encode_state(prefix.state())
        restored = Engine.from_state(decode_state(blob), k, log=None, clock=ManualClock(0), vault=vault)
        assert encode_state(restored.state()) == blob
        replay_onto(restored, raw[k:])
        assert encode_state(restored.state()) == want, f"continued from entry {k}"
        cuts += 1
    assert cuts > 50


atoms = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8) | st.binary(max_size=8)
values = st.recursive(
    atoms | st.builds(Proxy, st.integers(0, 10**9), st.integers(0, 10**12), st.integers(0, 99)),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        | st.frozensets(atoms, max_size=4)
        | st.builds(Ranked, st.text(max_size=4), st.integers(0, 99), st.integers(0, 99), st.integers(0, 9))
    ),
    max_leaves=20,
)


@given(values)
def test_the_codec_gives_back_equal_values_and_equal_bytes(value: Any) -> None:
    blob = encode_state(value)
    back = decode_state(blob)
    assert encode_state(back) == blob
    assert back == value


def test_shared_objects_stay_shared_and_floats_are_refused() -> None:
    shared = Proxy(1, 2, 3)
    back = decode_state(encode_state({"a": shared, "b": [shared]}))
    assert back["a"] is back["b"][0]
    try:
        encode_state({"x": 1.5})
    except StateCodecError as exc:
        assert "state['x']" in str(exc)
    else:
        raise AssertionError("a float was encoded")
