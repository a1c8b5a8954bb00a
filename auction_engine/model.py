"""The market's vocabulary: money in integer fen, time in integer milliseconds, rejections.

No floats anywhere a value is hashed, signed or compared for a winner: money is `Fen` (1 yuan =
100 fen), time is `Ms` (milliseconds since the Unix epoch, UTC), shares are basis points.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "BasisPoints",
    "Command",
    "Fen",
    "Ms",
    "Rejected",
    "apply_bp",
    "yuan",
]

Fen = int
Ms = int
BasisPoints = int  # 10_000 = 100%

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
