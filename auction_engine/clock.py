"""The injected clock: simulated time on simpy for research and replay, wall-clock time for live use.

The engine asks only two things of a clock: what time it is (integer ms) and to be called back
at or after an instant. Callbacks cannot be cancelled (simpy timeouts cannot be), so the engine
treats every wake-up as a hint and re-reads its own deadlines when it fires.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Protocol

import simpy

from .model import Ms

__all__ = ["Clock", "ManualClock", "SimClock", "WallClock"]


class Clock(Protocol):
    def now(self) -> Ms: ...

    def call_at(self, t: Ms, callback: Callable[[], None]) -> None: ...


class SimClock:
    """Simulated time on a simpy Environment; time is integer milliseconds."""

    __slots__ = ("env",)

    def __init__(self, env: simpy.Environment | None = None, start: Ms = 0) -> None:
        self.env = env if env is not None else simpy.Environment(initial_time=start)

    def now(self) -> Ms:
        return self.env.now  # integer: the engine only ever schedules integer delays

    def call_at(self, t: Ms, callback: Callable[[], None]) -> None:
        delay = max(0, t - self.env.now)
        event = self.env.timeout(delay)
        event.callbacks.append(lambda _event: callback())

    def run(self, until: Ms) -> None:
        """Process every event due at or before `until`, in simpy's order, then stop with the clock at `until`.

        A driver that feeds commands from outside simpy (a recorded stream, the requests a server
        receives) calls it before each command. simpy's own `run(until=...)` stops *before* the events
        due exactly at `until` (its stop event is urgent) and refuses an `until` equal to the current
        time, so this steps through the due events itself; when that leaves the clock short of
        `until`, one empty timeout at `until` moves it there (nothing else is due by then).
        """
        env = self.env
        if until < env.now:
            raise ValueError(f"cannot run the clock back from {env.now} to {until}")
        while env.peek() <= until:
            env.step()
        if env.now < until:
            env.timeout(until - env.now)  # an integer delay keeps the clock on integer milliseconds
            env.step()


class ManualClock:
    """Time set by the caller (replay, tests); callbacks fire from `advance`."""

    def __init__(self, start: Ms = 0) -> None:
        self._now = start
        self._pending: list[tuple[Ms, int, Callable[[], None]]] = []
        self._n = 0

    def now(self) -> Ms:
        return self._now

    def call_at(self, t: Ms, callback: Callable[[], None]) -> None:
        self._n += 1
        heapq.heappush(self._pending, (t, self._n, callback))

    def advance(self, t: Ms) -> None:
        if t < self._now:
            raise ValueError(f"cannot move the clock back from {self._now} to {t}")
        while self._pending and self._pending[0][0] <= t:
            due, _, callback = heapq.heappop(self._pending)
            self._now = max(self._now, due)
            callback()
        self._now = t


class WallClock:
    """Wall-clock time for the live server; callbacks are handed to a scheduler (e.g. asyncio)."""

    def __init__(self, schedule: Callable[[float, Callable[[], None]], None] | None = None) -> None:
        self._schedule = schedule
        self._last = 0

    def now(self) -> Ms:
        # Monotonic across calls even if the system clock steps back.
        self._last = max(self._last, time.time_ns() // 1_000_000)
        return self._last

    def call_at(self, t: Ms, callback: Callable[[], None]) -> None:
        if self._schedule is None:
            return
        self._schedule(max(0.0, (t - self.now()) / 1000.0), callback)
