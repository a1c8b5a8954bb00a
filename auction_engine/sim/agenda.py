"""Simulated time for one run: the agents' decisions and the engine's wake-ups on one simpy schedule.

Each decision is a callback on a simpy timeout (not a generator process per bidder), so entries run
in order of time, then of scheduling, and a run is deterministic. `collector_paused` keeps Python's
cyclic garbage collector out of a run.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

import simpy

from ..engine import Engine


class Agenda:
    """Simulated time for one run, on simpy: the agents' decisions and the engine's wake-ups.

    It is the engine's clock (`now`, `call_at`: the `Clock` protocol, like `clock.SimClock`) and the
    agents' scheduler. Each entry is a callback on a simpy timeout, so entries run in order of time,
    then of scheduling, and a run is deterministic. `t` is the current time (int ms). An entry pushed
    with an `engine` first fires that engine's rule deadlines due by then (see `Market.at`).
    """

    __slots__ = ("env", "stopped")

    def __init__(self, start: int) -> None:
        self.env: simpy.Environment | None = simpy.Environment(initial_time=start)
        self.stopped = False  # set by a callback: `run` returns after it

    @property
    def t(self) -> int:
        return self.env.now  # type: ignore[union-attr]

    def now(self) -> int:
        return self.env.now  # type: ignore[union-attr]

    def call_at(self, t: int, callback: Callable[[], None]) -> None:
        """Call back at t (now if t is past): the engine's wake-ups."""
        self.push(t, callback)

    def push(self, t: int, callback: Callable[[], None], engine: Engine | None = None) -> None:
        """Call back at t (now if t is past), after `engine`'s deadlines due by then when it is given."""
        env = self.env
        now = env.now  # type: ignore[union-attr]
        event = env.timeout(t - now if t > now else 0)  # type: ignore[union-attr]
        if engine is None:
            event.callbacks.append(lambda _event: callback())
        else:
            event.callbacks.append(lambda _event: (engine.fire_due(self.env.now), callback()))  # type: ignore[union-attr]

    def run(self) -> None:
        """Run entries in order until one sets `stopped` (the schedule must not run dry first)."""
        step = self.env.step  # type: ignore[union-attr]
        while not self.stopped:
            step()

    def close(self) -> None:
        """Drop the schedule (and with it the reference cycles of its pending callbacks)."""
        self.env = None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector meanwhile (restored after, even on an error; nestable).

    A run allocates mostly objects that live to its end (ledger rows, tree hashes, lots, records)
    or die by reference counting, so the collector's repeated passes over them find nothing.
    `Market.close` breaks the run's reference cycles, so that what
    is left is freed by reference counting, not by a later collection.
    """
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
