"""The native path for an English bid (auction_engine/_bidpath.c) against the Python rules it stands in for.

Two engines get the same random commands and clock moves; one takes plain valid bids through the
native path, the other runs everything in Python. After every command the answers must be equal,
and at the end the ledgers byte for byte, the events, the lots' states and the engines' own fields.
The commands mix what the native path takes with everything it must leave to Python: rejections of
every kind, proxies, non-ASCII names, extra fields, the seller, the operator, the leader raising.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import auction_engine.engine as engine_module
from auction_engine.clock import ManualClock, SimClock
from auction_engine.engine import Engine, Event, Result
from auction_engine.model import MINUTE
from ledger import CheckpointPolicy, Log, MemoryStore, Signer, _accel

T0 = 1_700_000_000_000
pytestmark = pytest.mark.skipif(
    engine_module._native_bid is None, reason="auction_engine._bidpath is not built (it needs a C compiler)"
)

LOTS = {
    "E1": {"start_price": 100_000, "increment": 10_000, "free_ms": 10 * MINUTE, "countdown_ms": 5 * MINUTE},
    "E2": {
        "start_price": 50_000,
        "increment": 5_000,
        "free_ms": 0,
        "countdown_ms": 2 * MINUTE,
        "max_extensions": 3,
        "hard_close_ms": 20 * MINUTE,
        "leader_may_raise": True,
        "reserve": 80_000,
    },
    "E3": {"start_price": 100_000, "increment": 10_000, "free_ms": 5 * MINUTE, "deposit_bp": 500, "proxy": True},
}
PARTIES = ["A", "B", "C", "D", "seller", "operator", "Ä"]


@contextmanager
def python_only() -> Iterator[None]:
    """Run the engine with the native bid path out of the way (the ledger's own path stays as it is)."""
    saved = engine_module._native_bid
    engine_module._native_bid = None
    try:
        yield
    finally:
        engine_module._native_bid = saved


class Side:
    """One engine on its own simulated clock and in-memory signed ledger."""

    def __init__(self, *, keep_events: bool, watch: bool, manual: bool = False) -> None:
        # A simulated clock (whose time the native path reads directly) or a manual one (it asks
        # `clock.now()`, as it asks the live server's wall clock).
        self.clock: SimClock | ManualClock = ManualClock(T0) if manual else SimClock(start=T0)
        self.log = Log(MemoryStore(), Signer("test.market", bytes(32)), policy=CheckpointPolicy(7, 60_000))
        self.seen: list[tuple[Any, ...]] = []
        self.run = self.clock.advance if isinstance(self.clock, ManualClock) else self.clock.run
        self.engine = Engine(market="test.market", clock=self.clock, log=self.log, keep_events=keep_events)
        if watch:  # an on_event callback that looks at the engine while the entry is handed on
            engine = self.engine
            self.engine.on_event = lambda event: self.seen.append(
                (event, engine.now, engine._current, engine._accepted, engine._in_rule, engine._rule)
            )
        for lot, params in LOTS.items():
            self.submit({"op": "open_lot", "actor": "operator", "lot": lot, "mode": "english", "params": params})
        deposits = [{"party": p, "amount": a} for p, a in (("A", 30_000), ("B", 30_000), ("C", 2_000), ("Ä", 30_000))]
        for lot in LOTS:
            self.submit({"op": "deposit", "actor": "operator", "lot": lot, "parties": deposits})

    def submit(self, cmd: dict[str, Any]) -> Result | str:
        try:
            return self.engine.submit(dict(cmd))
        except Exception as exc:  # an error is an answer to compare too
            return f"{type(exc).__name__}: {exc}"

    def snapshot(self) -> dict[str, Any]:
        engine = self.engine
        lots = {
            lot_id: (lot.mode, lot.phase, repr(lot.state), dict(lot.deposits), repr(lot.deal), lot.entries, lot.armed)
            for lot_id, lot in engine.lots.items()
        }
        fields = ("_t", "_current", "_accepted", "_in_rule", "_rule", "_last_t", "_lot_seq", "_heap")
        fields += ("_wakes",)
        return {
            "lots": lots,
            "engine": {name: getattr(engine, name) for name in fields},
            "size": engine.recorder.size,
            "events": engine.events,
            "seen": self.seen,
            "ledger": list(self.log.entries()),
            "checkpoints": list(self.log.checkpoints),
        }


amounts = st.one_of(
    st.integers(0, 40).map(lambda k: 50_000 + 5_000 * k),  # on either lot's grid, or off it
    st.integers(0, 400_000),
    st.sampled_from([True, -10_000, 2**63, 2**70, "100000", None]),
)


def draw_command(data: st.DataObject, side: Side) -> dict[str, Any]:
    """Mostly a bid a rule would accept (the next valid amount or a few increments more), else anything."""
    lot = data.draw(st.sampled_from([*LOTS, "nope"]))
    actor = data.draw(st.sampled_from(["A", "B", "C"]) if data.draw(st.integers(0, 3)) else st.sampled_from(PARTIES))
    if lot in LOTS and data.draw(st.integers(0, 3)):
        state, params = side.engine.lot(lot).state, side.engine.lot(lot).params
        base = params.start_price if state.high is None else state.high + params.increment
        amount: Any = base + params.increment * data.draw(st.integers(0, 3))
    else:
        amount = data.draw(amounts)
    cmd: dict[str, Any] = {"op": "bid", "actor": actor, "lot": lot, "amount": amount}
    odd = data.draw(st.integers(0, 9))
    if odd == 0:
        cmd["note"] = "an extra field"
    elif odd == 1:
        del cmd["amount"]
    elif odd == 2:
        cmd = {"amount": amount, "lot": lot, "actor": actor, "op": "bid"}  # the same fields in another order
    elif odd == 3:
        cmd = {"op": "proxy", "actor": actor, "lot": lot, "max": amount}
    elif odd == 4:
        cmd["actor"] = data.draw(st.sampled_from(["", "Ä", "\ud800"]))
    return cmd


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), keep_events=st.booleans(), watch=st.booleans(), manual=st.booleans())
def test_native_bid_path_is_the_python_path(data: st.DataObject, keep_events: bool, watch: bool, manual: bool) -> None:
    if not _accel.active():
        pytest.skip("the native paths are switched off (LEDGER_PURE_PYTHON)")
    native = Side(keep_events=keep_events, watch=watch, manual=manual)
    python = Side(keep_events=keep_events, watch=watch, manual=manual)
    taken = 0
    for _ in range(data.draw(st.integers(0, 80))):
        if data.draw(st.integers(0, 5)) == 0:
            wait = data.draw(st.integers(0, 90_000) if data.draw(st.integers(0, 4)) else st.integers(0, 8 * MINUTE))
            native.run(native.clock.now() + wait)
            with python_only():
                python.run(python.clock.now() + wait)
            continue
        cmd = draw_command(data, python)
        before = native.engine.recorder.size
        with python_only():
            expected = python.submit(cmd)
        answer = native.submit(cmd)
        assert answer == expected, cmd
        taken += isinstance(answer, Result) and answer.ok and native.engine.recorder.size == before + 1
    event(f"plain accepted bids: {min(taken // 10 * 10, 50)}+")
    with python_only():
        python.run(T0 + 3 * 3600_000)
    native.run(T0 + 3 * 3600_000)
    assert native.snapshot() == python.snapshot()


def test_native_path_takes_plain_bids_and_declines_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above means something only if the native path really answers: count what it takes."""
    if not _accel.active():
        pytest.skip("the native paths are switched off (LEDGER_PURE_PYTHON)")
    taken: list[dict[str, Any]] = []
    real = engine_module._native_bid

    def counting(engine: Engine, cmd: dict[str, Any], now: int) -> Result | None:
        result = real(engine, cmd, now)
        if result is not None:
            taken.append(cmd)
        return result

    monkeypatch.setattr(engine_module, "_native_bid", counting)
    side = Side(keep_events=True, watch=False)
    ok = side.submit({"op": "bid", "actor": "A", "lot": "E1", "amount": 100_000})
    assert isinstance(ok, Result) and ok.ok and ok.rule == "english.start.free"
    assert side.submit({"op": "bid", "actor": "B", "lot": "E1", "amount": 130_000}).rule == "english.increment.free"
    assert len(taken) == 2
    assert side.engine.events[-1] == Event(
        ok.seq + 1,
        T0,
        "bid",
        {"actor": "B", "lot": "E1", "amount": 130_000, "ok": True, "rule": "english.increment.free", "lot_seq": 3},
    )
    declined = [
        {"op": "bid", "actor": "B", "lot": "E1", "amount": 135_000},  # off the grid: rejected in Python
        {"op": "bid", "actor": "B", "lot": "E1", "amount": 140_000},  # the leader raising: rejected in Python
        {"op": "bid", "actor": "C", "lot": "E1", "amount": 150_000},  # deposit short of the 5%: rejected
        {"op": "bid", "actor": "A", "lot": "E1", "amount": 150_000, "x": 1},  # an extra field: accepted in Python
        {"op": "proxy", "actor": "A", "lot": "E3", "max": 200_000},
        {"op": "bid", "actor": "B", "lot": "E3", "amount": 100_000},  # a proxy stands on E3: Python answers
    ]
    for cmd in declined:
        side.submit(cmd)
    assert len(taken) == 2
    side.clock.run(T0 + 11 * MINUTE)  # E1 into timed bidding: the countdown restarts on a native bid
    result = side.submit({"op": "bid", "actor": "B", "lot": "E1", "amount": 160_000})
    assert result.ok and result.rule == "english.increment.timed" and len(taken) == 3
    state = side.engine.lot("E1").state
    assert state.deadline == T0 + 16 * MINUTE and state.extensions == 1 and state.leader == "B"
    assert dataclasses.asdict(state)["best"]["B"] == ("B", 160_000, T0 + 11 * MINUTE, state.order)
