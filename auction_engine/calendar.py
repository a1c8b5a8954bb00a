"""Working-day arithmetic on integer-millisecond time: weekends and configurable holidays.

Days are counted in the market's local time (UTC+8 by default for Zhejiang). "n working days
after t" is the same local time of day on the n-th following working day, so a listing opened
on Monday 10:00 with 20 working days ends four weeks later at Monday 10:00 (no holidays).
"""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass, field

from .model import DAY, HOUR, Ms

__all__ = ["Calendar"]

_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()


@functools.lru_cache(maxsize=65_536)
def _is_working_day(day: int, holidays: frozenset[str], workdays: frozenset[str]) -> bool:
    date = _dt.date.fromordinal(_EPOCH_ORDINAL + day)
    iso = date.isoformat()
    if iso in workdays:
        return True
    return date.weekday() < 5 and iso not in holidays


@functools.lru_cache(maxsize=65_536)
def _working_day_after(day: int, n: int, holidays: frozenset[str], workdays: frozenset[str]) -> int:
    """The n-th working day after `day` (memoised: a market's deals fall on a few days, and each deal
    asks for the same three or four deadlines)."""
    while n > 0:
        day += 1
        if _is_working_day(day, holidays, workdays):
            n -= 1
    return day


@dataclass(frozen=True)
class Calendar:
    """A working-day calendar: Saturday and Sunday off, plus `holidays` (ISO dates), in a UTC offset."""

    utc_offset_ms: Ms = 8 * HOUR
    holidays: frozenset[str] = field(default_factory=frozenset)
    workdays: frozenset[str] = field(default_factory=frozenset)  # weekend days worked (调休)

    def day_number(self, t: Ms) -> int:
        """Local calendar day of t, counted from 1970-01-01."""
        return (t + self.utc_offset_ms) // DAY

    def date(self, t: Ms) -> _dt.date:
        return _dt.date.fromordinal(_EPOCH_ORDINAL + self.day_number(t))

    def is_working_day(self, day: int) -> bool:
        return _is_working_day(day, self.holidays, self.workdays)

    def add_working_days(self, t: Ms, n: int) -> Ms:
        """The instant n working days after t (same local time of day)."""
        if n < 0:
            raise ValueError("working days must not be negative")
        day = self.day_number(t)
        offset = t + self.utc_offset_ms - day * DAY
        return _working_day_after(day, n, self.holidays, self.workdays) * DAY + offset - self.utc_offset_ms

    def working_days_between(self, start: Ms, end: Ms) -> int:
        """Working days d with start's day < d <= end's day."""
        a, b = self.day_number(start), self.day_number(end)
        return sum(1 for d in range(a + 1, b + 1) if self.is_working_day(d))
