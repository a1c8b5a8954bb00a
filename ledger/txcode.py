"""Transaction codes (技术交易码): short, readable, checked, and bound to one ledger entry.

Format ``PREFIX-YYMMDD-M-INDEX-HHHH-CC``: the market prefix, the deal's local date, a one-letter
type, the deal entry's leaf index, four base-36 characters of the deal entry's leaf hash, and two
ISO/IEC 7064 MOD 1271-36 check characters over everything before them (hyphens excluded). The
pure MOD 1271-36 system detects every single-character substitution and every adjacent
transposition. (Normative description: docs/formats.md.)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TxCode", "TxCodeError", "check_chars", "make_code", "parse_code"]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
MODULUS = 1271
RADIX = 36
HASH_CHARS = 4


class TxCodeError(ValueError):
    """A code is malformed or mistyped; `position` is the 1-based character at fault when known."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (character {position})")
        self.position = position


def check_chars(payload: str) -> str:
    """The two MOD 1271-36 check characters for an alphanumeric payload."""
    value = 0
    for c in payload:
        value = (value * RADIX + _VALUE[c]) % MODULUS
    check = (1 - value * RADIX * RADIX) % MODULUS
    return ALPHABET[check // RADIX] + ALPHABET[check % RADIX]


def _hash_part(leaf: bytes) -> str:
    n = int.from_bytes(leaf[:4], "big") % (RADIX**HASH_CHARS)
    out = ""
    for _ in range(HASH_CHARS):
        n, r = divmod(n, RADIX)
        out = ALPHABET[r] + out
    return out


@dataclass(frozen=True)
class TxCode:
    """A parsed transaction code."""

    prefix: str
    date: str  # YYMMDD
    kind: str  # one letter: the pricing mode
    index: int  # the deal entry's leaf index
    hash: str  # base-36 characters of the deal entry's leaf hash

    def matches(self, index: int, leaf: bytes) -> bool:
        """True when this code names the entry at `index` with leaf hash `leaf`."""
        return self.index == index and self.hash == _hash_part(leaf)


def make_code(prefix: str, date: str, kind: str, index: int, leaf: bytes) -> str:
    """The transaction code for the deal entry at `index` with leaf hash `leaf`."""
    if not (2 <= len(prefix) <= 4 and prefix.isascii() and prefix.isalpha() and prefix.isupper()):
        raise TxCodeError("prefix must be 2-4 upper-case letters")
    if not (len(date) == 6 and date.isdigit()):
        raise TxCodeError("date must be YYMMDD")
    if not (len(kind) == 1 and kind in ALPHABET[10:]):
        raise TxCodeError("kind must be one upper-case letter")
    fields = [prefix, date, kind, str(index), _hash_part(leaf)]
    body = "".join(fields)
    return "-".join([*fields, check_chars(body)])


def parse_code(text: str) -> TxCode:
    """Parse and check a code; a typo is reported with its position where it can be located."""
    code = text.strip().upper()
    parts = code.split("-")
    if len(parts) != 6:
        raise TxCodeError(f"a transaction code has 6 hyphen-separated groups, this has {len(parts)}")
    prefix, date, kind, index, hash_, check = parts
    pos = 1
    for c in code:
        if c != "-" and c not in _VALUE:
            raise TxCodeError(f"{c!r} is not a letter or digit", pos)
        pos += 1
    if not (2 <= len(prefix) <= 4 and prefix.isalpha()):
        raise TxCodeError("the first group must be 2-4 letters", 1)
    at = len(prefix) + 2
    if not (len(date) == 6 and date.isdigit()):
        raise TxCodeError("the date group must be 6 digits (YYMMDD)", at)
    month, day = int(date[2:4]), int(date[4:6])
    if not (1 <= month <= 12):
        raise TxCodeError(f"month {date[2:4]} does not exist", at + 2)
    if not (1 <= day <= 31):
        raise TxCodeError(f"day {date[4:6]} does not exist", at + 4)
    at += 7
    if not (len(kind) == 1 and kind.isalpha()):
        raise TxCodeError("the type group must be one letter", at)
    at += 2
    if not index.isdigit() or (len(index) > 1 and index[0] == "0"):
        raise TxCodeError("the index group must be a number without leading zeroes", at)
    at += len(index) + 1
    if len(hash_) != HASH_CHARS:
        raise TxCodeError(f"the hash group must be {HASH_CHARS} characters", at)
    at += HASH_CHARS + 1
    if len(check) != 2:
        raise TxCodeError("the check group must be 2 characters", at)
    if check_chars(prefix + date + kind + index + hash_) != check:
        raise TxCodeError("the check characters do not match: a character is wrong or two are swapped")
    return TxCode(prefix, date, kind, int(index), hash_)
