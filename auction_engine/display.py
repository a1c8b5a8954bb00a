"""How readable lines (the command line's, a verdict's) show people times and money: local time, yuan.

Only for the readable lines: `--json` output keeps its machine fields (integer ms since the epoch,
integer fen), which are a contract. A time reads `2026-12-07 15:04:05 +08:00` — the market's zone
(a market parameter, `utc_offset_ms`; Asia/Shanghai, UTC+08:00, unless the market's genesis entry
sets another), never raw milliseconds or UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .model import HOUR, local_datetime, yuan

__all__ = ["DEFAULT_OFFSET_MS", "for_people", "iso_for_people", "market_offset", "market_time"]

DEFAULT_OFFSET_MS = 8 * HOUR  # Asia/Shanghai, the market's zone when its genesis sets none


def market_time(ms: int, offset_ms: int = DEFAULT_OFFSET_MS) -> str:
    """An instant (ms since the epoch) as the market's local time: '2026-12-07 15:04:05 +08:00'.

    Integer arithmetic only; milliseconds are shown when not zero ('15:04:05.250'). An instant outside
    the years 1-9999 cannot be a date: it is shown as its millisecond count, saying so.
    """
    t = local_datetime(ms, offset_ms)
    if t is None:
        return f"{ms} ms after 1970-01-01 00:00:00 UTC (not a calendar date)"
    text = f"{t:%Y-%m-%d %H:%M:%S}"
    if t.microsecond:
        text += f".{t.microsecond // 1000:03d}"
    sign = "-" if offset_ms < 0 else "+"
    minutes = abs(offset_ms) // 60_000
    return f"{text} {sign}{minutes // 60:02d}:{minutes % 60:02d}"


_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2}:\d{2})")


def iso_for_people(text: Any) -> str:
    """An ISO 8601 local time as a certificate states it ('2021-03-01T10:11:00+08:00') in the readable
    form '2021-03-01 10:11:00 +08:00'; anything else as it is (a certificate's field is shown, not fixed)."""
    match = _ISO.fullmatch(text) if isinstance(text, str) else None
    return " ".join(match.groups()) if match else str(text)


# The rules' messages give an amount in yuan and, where the command's field is in fen, the fen in
# brackets after it (docs/rules.md §1: "¥620,000.00 (62000000 fen)"); people read the yuan.
_FEN_AFTER_YUAN = re.compile(r"(¥[\d,]+\.\d{2}) \((-?\d+) fen\)")
_FEN_PAIR_AFTER_YUAN = re.compile(r"(¥[\d,]+\.\d{2} and ¥[\d,]+\.\d{2}) \((-?\d+) and (-?\d+) fen\)")
_FEN = re.compile(r"(?<![\w.,])(-?\d+) fen\b")


def for_people(message: str) -> str:
    """A rules message (as a ledger entry holds it) with its amounts in yuan only, for a readable line."""
    text = _FEN_PAIR_AFTER_YUAN.sub(r"\1", message)
    text = _FEN_AFTER_YUAN.sub(r"\1", text)
    return _FEN.sub(lambda m: yuan(int(m.group(1))), text)


def market_offset(genesis: Mapping[str, Any] | None) -> int:
    """The market's UTC offset in ms, from its genesis entry's `params` (the default when it sets none)."""
    params = genesis.get("params") if genesis is not None else None
    offset = params.get("utc_offset_ms") if isinstance(params, Mapping) else None
    return offset if type(offset) is int else DEFAULT_OFFSET_MS
