"""The market's vocabulary: money in integer fen, time in integer milliseconds, rejections.

No floats anywhere a value is hashed, signed or compared for a winner: money is `Fen` (1 yuan =
100 fen), time is `Ms` (milliseconds since the Unix epoch, UTC), shares are basis points.

Messages for people never show those raw integers: `yuan`, `local_time`, `duration` and `percent`
format them (pure functions of their arguments, so a message in the ledger replays exactly).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

__all__ = [
    "DAY",
    "HOUR",
    "MAX_INT",
    "MINUTE",
    "SECOND",
    "BasisPoints",
    "Command",
    "Fen",
    "Ms",
    "Rejected",
    "apply_bp",
    "duration",
    "local_datetime",
    "local_time",
    "percent",
    "yuan",
]

Fen = int
Ms = int
BasisPoints = int  # 10_000 = 100%

MAX_INT = 10**15
"""The largest magnitude of any integer a command or a rule parameter carries (docs/rules.md, "Limits").

Money up to 10^15 fen (¥10,000,000,000,000.00, ten trillion yuan), durations and times in ms up to
about the year 33,000: far beyond any market, and far inside the ledger's 64-bit integers, so no
sum, product or deposit the rules compute from such values can leave the range the ledger encodes.
"""

SECOND: Ms = 1_000
MINUTE: Ms = 60 * SECOND
HOUR: Ms = 60 * MINUTE
DAY: Ms = 24 * HOUR

Command = dict[str, Any]
"""A command: {"op": name, "actor": who, "lot": lot id (most ops), ...arguments}."""


class Rejected(Exception):
    # A rejection is an outcome, not an error: hence not named ...Error.
    """A rule refuses a command: `code` is machine-readable, `message` says why to a person.

    A command's secret fields (a sealed bid's amount and nonce) are left out of a rejection's ledger
    entry unless the rule sets `disclose` (the rejection happened where revealing them is the point).
    """

    def __init__(self, code: str, message: str, *, disclose: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.disclose = disclose


def apply_bp(amount: Fen, bp: BasisPoints) -> Fen:
    """amount × bp / 10 000, rounded down to the fen (integer arithmetic only)."""
    return amount * bp // 10_000


def yuan(fen: Fen) -> str:
    """Format fen as yuan for people: 123456 -> '¥1,234.56'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def percent(bp: BasisPoints) -> str:
    """Format basis points as a percentage for people: 3000 -> '30%', 150 -> '1.5%', 1 -> '0.01%'."""
    sign = "-" if bp < 0 else ""
    whole, frac = divmod(abs(bp), 100)
    return f"{sign}{whole}%" if frac == 0 else f"{sign}{whole}.{frac:02d}".rstrip("0") + "%"


_EPOCH = _dt.datetime(1970, 1, 1)


def local_datetime(ms: Ms, utc_offset_ms: Ms) -> _dt.datetime | None:
    """The instant `ms` as a naive local date and time at `utc_offset_ms`, by integer arithmetic from the
    epoch; None outside the years 1-9999."""
    try:
        return _EPOCH + _dt.timedelta(milliseconds=ms + utc_offset_ms)
    except OverflowError:
        return None


def local_time(ms: Ms, utc_offset_ms: Ms = 8 * HOUR) -> str:
    """Format an instant for people, in the given local time: '2021-03-01 10:00 (UTC+08:00)'.

    Pure integer arithmetic from the epoch (no wall clock, no time-zone database): seconds and
    milliseconds are shown only when they are not zero, so the text is exact. An instant outside the
    years 1-9999 is shown as its raw millisecond count.
    """
    t = local_datetime(ms, utc_offset_ms)
    if t is None:
        return f"{ms} ms after 1970-01-01 00:00 UTC"
    text = f"{t:%Y-%m-%d %H:%M}"
    if t.second or t.microsecond:
        text += f":{t.second:02d}"
    if t.microsecond:
        text += f".{t.microsecond // 1000:03d}"
    sign = "-" if utc_offset_ms < 0 else "+"
    hours, rest = divmod(abs(utc_offset_ms), HOUR)
    minutes, rest = divmod(rest, MINUTE)
    zone = f"UTC{sign}{hours:02d}:{minutes:02d}"
    if rest:
        zone += f":{rest // SECOND:02d}" + (f".{rest % SECOND:03d}" if rest % SECOND else "")
    return f"{text} ({zone})"


def duration(ms: Ms) -> str:
    """Format a length of time for people: '5 min', '1 h 30 min', '15 days', '1 day 2 h', '500 ms'."""
    if ms == 0:
        return "0 s"
    sign = "-" if ms < 0 else ""
    rest = abs(ms)
    parts = []
    for size, one, many in ((DAY, "day", "days"), (HOUR, "h", "h"), (MINUTE, "min", "min"), (SECOND, "s", "s")):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    if rest:
        parts.append(f"{rest} ms")
    return sign + " ".join(parts)
