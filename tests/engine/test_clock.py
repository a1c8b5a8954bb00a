"""SimClock.run against simpy's own `run(until=...)`: the same events, in the same order, the same time after."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.clock import SimClock


def _reference_run(env: simpy.Environment, until: int) -> None:
    """The earlier SimClock.run, on simpy's public API: a stop event, then what is due exactly at `until`."""
    stop = env.timeout(until - env.now)
    env.run(until=stop)
    while env.peek() <= until:
        env.step()


def _play(delays: list[tuple[int, int]], stops: list[int], run: object) -> list[tuple[int, int, int]]:
    """Schedule timeouts (some of which schedule another when they fire), run to each stop in turn, then
    drain what is still pending: every firing with its time, and the clock's time after each stop."""
    clock = SimClock(start=1_000)
    env = clock.env
    fired: list[tuple[int, int, int]] = []

    def schedule(name: int, delay: int, then: int) -> None:
        def on_fire(_event: object) -> None:
            fired.append((name, env.now, -1))
            if then >= 0:  # a callback scheduling more, possibly at the same instant
                schedule(name + 1000, then, -1)

        env.timeout(delay).callbacks.append(on_fire)

    for name, (delay, then) in enumerate(delays):
        schedule(name, delay, then)
    t = env.now
    for gap in stops:
        t += gap
        run(clock, t)  # type: ignore[operator]
        fired.append((-1, env.now, -1))
    env.run()  # what is left, in order: the same events must still be pending
    return fired


@settings(max_examples=300, deadline=None)
@given(
    delays=st.lists(st.tuples(st.integers(0, 50), st.integers(-1, 20)), max_size=30),
    stops=st.lists(st.integers(0, 40), min_size=1, max_size=8),
)
def test_run_matches_simpy_run(delays: list[tuple[int, int]], stops: list[int]) -> None:
    ours = _play(delays, stops, lambda clock, t: clock.run(t))
    theirs = _play(delays, stops, lambda clock, t: _reference_run(clock.env, t))
    assert ours == theirs


def test_run_with_nothing_due_moves_the_clock() -> None:
    clock = SimClock(start=5)
    clock.run(5)
    assert clock.now() == 5
    clock.run(1_700_000_000_000)
    assert clock.now() == 1_700_000_000_000


def test_run_keeps_integer_time() -> None:
    clock = SimClock(start=1_700_000_000_000)
    clock.env.timeout(7)
    clock.run(1_700_000_000_003)
    assert clock.now() == 1_700_000_000_003 and type(clock.now()) is int
    clock.run(1_700_000_000_010)
    assert clock.now() == 1_700_000_000_010 and type(clock.now()) is int


def test_run_refuses_to_go_back() -> None:
    clock = SimClock(start=100)
    with pytest.raises(ValueError, match="cannot run the clock back from 100 to 99"):
        clock.run(99)
