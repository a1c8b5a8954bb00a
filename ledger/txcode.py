"""Transaction codes (技术交易码): short, readable over the phone, checked, and bound to one ledger entry.

Printed form ``PREFIX-YYMMDD-M-INDEX-HHHH-CC``, six groups:

====== ====================================================================================
PREFIX 2-4 letters: the market (``ZJ``)
YYMMDD the local date of the deal (a real calendar date, 20YY)
M      one letter: the pricing mode (the market decides the letters; see docs/certificates.md)
INDEX  the deal entry's leaf index in the ledger, decimal, no leading zero
HHHH   4 base-36 characters of the deal entry's RFC 6962 leaf hash: the first 4 bytes as a
       big-endian integer, modulo 36^4, written with 4 digits of ``0-9A-Z``
CC     two ISO/IEC 7064 MOD 1271-36 check characters (pure system) over the other 23-ish
       characters, hyphens excluded
====== ====================================================================================

Why MOD 1271-36: its check value satisfies ``Σ cᵢ·36^(n-i) ≡ 1 (mod 1271)`` over the whole code,
check characters included, and since 1271 = 31 × 41 is prime to every difference of two symbols
(|d| ≤ 35 < 41, and 36, 35 are prime to 1271), *every* single-character substitution and *every*
transposition of two adjacent characters changes the sum: both are always detected, anywhere in the
code, check characters included. Other errors (twin, jump, two substitutions) go undetected with a
probability near 1/1271 only.

Reading a code is tolerant of presentation, strict on content (normative; see docs/certificates.md):
letters may be lower case; full-width forms (``ＺＪ－…``) are folded (NFKC); the five separators
may be hyphens, dashes or spaces, and are optional — but all five or none, and only between groups
(so a hyphen that moved, or was mistyped as a character, is an error too). O and 0, I and 1 are
*not* merged: where a group admits only digits or only letters the error names the likely
confusion, and elsewhere the check characters catch it.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "ALPHABET",
    "TxCode",
    "TxCodeError",
    "check_chars",
    "checksum_ok",
    "hash_part",
    "is_real_date",
    "make_code",
    "normalise",
    "parse_code",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
MODULUS = 1271
RADIX = 36
HASH_CHARS = 4
CHECK_CHARS = 2
GROUPS = ("market prefix", "date", "type letter", "index", "hash", "check")
# Characters read as a group separator (after NFKC folding): ASCII hyphen and space, Unicode dashes
# and minus, and any other white space.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d")
_PRINTED = re.compile(r"([A-Z]{2,4})-([0-9]{6})-([A-Z])-(0|[1-9][0-9]*)-([0-9A-Z]{4})-([0-9A-Z]{2})")
_LOOKALIKE_DIGIT = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6"}
_LOOKALIKE_LETTER = {v: k for k, v in (("O", "0"), ("I", "1"), ("Z", "2"), ("S", "5"), ("B", "8"), ("G", "6"))}


class TxCodeError(ValueError):
    """A code is malformed or mistyped.

    `position` is the 1-based character (in the text as given) at fault when it can be located,
    `positions` every character involved (two for a swap), else both are empty/None.
    """

    def __init__(self, message: str, position: int | None = None, positions: tuple[int, ...] = ()) -> None:
        positions = positions or ((position,) if position is not None else ())
        where = ""
        if len(positions) == 1:
            where = f" (character {positions[0]})"
        elif positions:
            where = f" (characters {' and '.join(map(str, positions))})"
        super().__init__(message + where)
        self.message = message
        self.position = positions[0] if positions else None
        self.positions = positions


# -- the check characters ---------------------------------------------------------------------------


def _horner(chars: str) -> int:
    if chars.isascii() and chars.isalnum() and chars == chars.upper():
        # Only 0-9 and A-Z: the same digits as int(..., 36), so the same value mod 1271.
        return int(chars, RADIX) % MODULUS
    value = 0
    for c in chars:  # anything else: a KeyError names the first character outside the alphabet
        value = (value * RADIX + _VALUE[c]) % MODULUS
    return value


def check_chars(payload: str) -> str:
    """The two ISO/IEC 7064 MOD 1271-36 check characters for an upper-case alphanumeric payload."""
    check = (1 - _horner(payload) * RADIX * RADIX) % MODULUS
    return ALPHABET[check // RADIX] + ALPHABET[check % RADIX]


def checksum_ok(compact: str) -> bool:
    """True when a compact code (payload and check characters, no separators) satisfies MOD 1271-36."""
    return _horner(compact) == 1


def hash_part(leaf: bytes) -> str:
    """The HHHH group: the first 4 bytes of the leaf hash, big-endian, modulo 36^4, in 4 base-36 digits."""
    n = int.from_bytes(leaf[:4], "big") % (RADIX**HASH_CHARS)
    out = ""
    for _ in range(HASH_CHARS):
        n, r = divmod(n, RADIX)
        out = ALPHABET[r] + out
    return out


# -- the code -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TxCode:
    """A parsed, checked transaction code."""

    prefix: str
    date: str  # YYMMDD
    kind: str  # one letter: the pricing mode
    index: int  # the deal entry's leaf index
    hash: str  # base-36 characters of the deal entry's leaf hash

    @property
    def payload(self) -> str:
        return f"{self.prefix}{self.date}{self.kind}{self.index}{self.hash}"

    @property
    def check(self) -> str:
        return check_chars(self.payload)

    @property
    def text(self) -> str:
        """The canonical printed form, with hyphens."""
        return f"{self.prefix}-{self.date}-{self.kind}-{self.index}-{self.hash}-{self.check}"

    @property
    def compact(self) -> str:
        """The form without separators (what the check characters cover, plus them)."""
        return self.payload + self.check

    @property
    def day(self) -> _dt.date:
        return _dt.date(2000 + int(self.date[:2]), int(self.date[2:4]), int(self.date[4:]))

    def matches(self, index: int, leaf: bytes) -> bool:
        """True when this code names the entry at `index` with leaf hash `leaf`."""
        return self.index == index and self.hash == hash_part(leaf)

    def __str__(self) -> str:
        return self.text


def make_code(prefix: str, date: str, kind: str, index: int, leaf: bytes) -> str:
    """The transaction code (printed form) for the deal entry at `index` with leaf hash `leaf`."""
    if not (2 <= len(prefix) <= 4 and prefix.isascii() and prefix.isalpha() and prefix.isupper()):
        raise TxCodeError(f"prefix {prefix!r} must be 2-4 upper-case letters")
    if not (len(date) == 6 and date.isascii() and date.isdigit()) or _date_problem(date) is not None:
        raise TxCodeError(f"date {date!r} must be a real calendar date YYMMDD")
    if not (len(kind) == 1 and kind in ALPHABET[10:]):
        raise TxCodeError(f"type {kind!r} must be one upper-case letter")
    if type(index) is not int or index < 0:
        raise TxCodeError(f"index {index!r} must be a non-negative integer")
    if len(leaf) != 32:
        raise TxCodeError("a leaf hash is 32 bytes")
    return TxCode(prefix, date, kind, index, hash_part(leaf)).text


# -- reading a code -------------------------------------------------------------------------------


def is_real_date(date: str) -> bool:
    """Whether a code's YYMMDD group (six ASCII digits) is a real calendar date of 20YY."""
    return _date_problem(date) is None


def _date_problem(date: str) -> tuple[tuple[int, ...], str] | None:
    """None for a real YYMMDD date, else (offsets within the group that must be wrong, message).

    A month outside 01-12 or a day outside 01-31 is in those two digits; a day that the month or
    year does not have (0230, 0431, 230229) may be an error in any of them: no offsets then.
    """
    month, day = int(date[2:4]), int(date[4:6])
    if not 1 <= month <= 12:
        return (2, 3), f"month {date[2:4]} does not exist"
    if not 1 <= day <= 31:
        return (4, 5), f"day {date[4:6]} does not exist"
    try:
        _dt.date(2000 + int(date[:2]), month, day)
    except ValueError:
        return (), f"20{date[:2]}-{date[2:4]} has no day {date[4:6]}"
    return None


def _scan(text: str) -> tuple[str, list[int], list[int]]:
    """Fold the text; return its characters, their 1-based positions, and where separators fall.

    A separator boundary is recorded as the compact index of the character it precedes; a run of
    separator characters is one separator; leading and trailing separators are ignored.
    """
    chars: list[str] = []
    positions: list[int] = []
    boundaries: list[int] = []
    pending = False
    for pos, raw in enumerate(text, start=1):
        c = unicodedata.normalize("NFKC", raw)
        if len(c) == 1 and c.isascii() and c.isalnum():
            if pending and chars:
                boundaries.append(len(chars))
            pending = False
            chars.append(c.upper())
            positions.append(pos)
        elif c in _DASHES or c.isspace() or raw in _DASHES or raw.isspace():
            pending = True
        else:
            raise TxCodeError(f"{raw!r} is not a letter, a digit or a separator", pos)
    return "".join(chars), positions, boundaries


def _digit_error(c: str, what: str, pos: int) -> TxCodeError:
    hint = f" (the letter {c} where a digit is expected: {_LOOKALIKE_DIGIT[c]}?)" if c in _LOOKALIKE_DIGIT else ""
    return TxCodeError(f"the {what} must be digits; {c!r} is not a digit{hint}", pos)


def _letter_error(c: str, what: str, pos: int) -> TxCodeError:
    hint = f" (the digit {c} where a letter is expected: {_LOOKALIKE_LETTER[c]}?)" if c in _LOOKALIKE_LETTER else ""
    return TxCodeError(f"the {what} must be letters; {c!r} is not a letter{hint}", pos)


def _split_positional(s: str, pos: list[int]) -> list[tuple[int, int]]:
    """Group spans (start, end) of a code written without separators, read left to right."""
    n = len(s)
    k = 0
    while k < n and s[k].isalpha():
        k += 1
    if k == 0:
        if not s:
            raise TxCodeError("the code is empty")
        raise _letter_error(s[0], "market prefix", pos[0])
    if k < 2:
        if k == n:
            raise TxCodeError(f"the code is too short: {n} character, at least 16 are needed")
        raise TxCodeError(f"the market prefix has 2-4 letters; {s[k]!r} comes after only 1", pos[k])
    if k > 4:
        raise TxCodeError("the market prefix has at most 4 letters (a date of 6 digits follows it)", pos[4])
    spans = [(0, k), (k, k + 6), (k + 6, k + 7)]
    if n < k + 7 + 1 + HASH_CHARS + CHECK_CHARS:
        raise TxCodeError(
            f"the code is too short: {n} characters without separators, at least {k + 14} are needed",
            pos[-1] if n > k else None,
        )
    spans += [(k + 7, n - 6), (n - 6, n - 2), (n - 2, n)]
    return spans


def _split_groups(s: str, pos: list[int], boundaries: list[int]) -> list[tuple[int, int]]:
    """Group spans from the separators; they must be exactly five."""
    if len(boundaries) != len(GROUPS) - 1:
        at = pos[boundaries[len(GROUPS) - 1]] if len(boundaries) >= len(GROUPS) else None
        raise TxCodeError(
            f"a code has six groups with five separators between them (or no separator at all);"
            f" this has {len(boundaries) + 1} groups",
            at,
        )
    edges = [0, *boundaries, len(s)]
    return [(edges[i], edges[i + 1]) for i in range(len(GROUPS))]


def _check_groups(s: str, pos: list[int], spans: list[tuple[int, int]]) -> tuple[str, ...]:
    """Check each group's length and character class; return the six groups."""
    groups = tuple(s[a:b] for a, b in spans)
    prefix, date, kind, index, hash_, check = groups
    (pa, _), (da, _), (ka, _), (ia, _), (ha, _), (ca, _) = spans
    for i, c in enumerate(prefix):
        if not c.isalpha():
            raise _letter_error(c, "market prefix", pos[pa + i])
    if not 2 <= len(prefix) <= 4:
        raise TxCodeError(f"the market prefix has 2-4 letters, not {len(prefix)}", pos[pa])
    for i, c in enumerate(date):
        if not c.isdigit():
            raise _digit_error(c, "date (YYMMDD)", pos[da + i])
    if len(date) != 6:
        raise TxCodeError(f"the date group has 6 digits (YYMMDD), not {len(date)}", pos[da])
    problem = _date_problem(date)
    if problem is not None:
        raise TxCodeError(problem[1], positions=tuple(pos[da + i] for i in problem[0]))
    if len(kind) != 1:
        raise TxCodeError(f"the type group is one letter, not {len(kind)} characters", pos[ka])
    if not kind.isalpha():
        raise _letter_error(kind, "type group", pos[ka])
    for i, c in enumerate(index):
        if not c.isdigit():
            raise _digit_error(c, "index", pos[ia + i])
    if len(index) > 1 and index[0] == "0":
        raise TxCodeError("the index has no leading zero", pos[ia])
    if len(hash_) != HASH_CHARS:
        raise TxCodeError(f"the hash group has {HASH_CHARS} characters, not {len(hash_)}", pos[ha])
    if len(check) != CHECK_CHARS:
        raise TxCodeError(f"the check group has {CHECK_CHARS} characters, not {len(check)}", pos[ca])
    return groups


def _structurally_valid(s: str, spans: list[tuple[int, int]]) -> bool:
    try:
        _check_groups(s, list(range(1, len(s) + 1)), spans)
    except TxCodeError:
        return False
    return True


def _locate(s: str, pos: list[int], spans: list[tuple[int, int]]) -> tuple[int, ...]:
    """The characters a failed check points at, if one substitution or one swap explains it uniquely.

    The syndrome (sum − 1 mod 1271) of a single substitution at compact index p by a difference d
    is d·36^(n−1−p); of a swap of p and p+1 it is (x − y)(36 − 1)·36^(n−2−p). Every explanation that
    also leaves a well-formed code is a candidate; a position is reported only when all candidates
    agree on it.
    """
    n = len(s)
    syndrome = (_horner(s) - 1) % MODULUS
    weights = [pow(RADIX, n - 1 - p, MODULUS) for p in range(n)]
    found: set[tuple[int, ...]] = set()
    for p in range(n):
        d = syndrome * pow(weights[p], -1, MODULUS) % MODULUS
        if d > MODULUS // 2:
            d -= MODULUS
        original = _VALUE[s[p]] - d
        if d and 0 <= original < RADIX:
            fixed = s[:p] + ALPHABET[original] + s[p + 1 :]
            if _structurally_valid(fixed, spans):
                found.add((pos[p],))
    for p in range(n - 1):
        x, y = _VALUE[s[p]], _VALUE[s[p + 1]]
        if x != y and (x - y) * (weights[p] - weights[p + 1]) % MODULUS == syndrome:
            fixed = s[:p] + s[p + 1] + s[p] + s[p + 2 :]
            if _structurally_valid(fixed, spans):
                found.add((pos[p], pos[p + 1]))
    return found.pop() if len(found) == 1 else ()


def parse_code(text: str) -> TxCode:
    """Parse and check a code; a typo is reported with its position where it can be located."""
    if type(text) is not str:
        raise TxCodeError("a transaction code is text")
    printed = _PRINTED.fullmatch(text)
    if printed is not None:  # fast path: a valid code in its printed form
        prefix, date, kind, index, hash_, check = printed.groups()
        if _date_problem(date) is None and checksum_ok(f"{prefix}{date}{kind}{index}{hash_}{check}"):
            return TxCode(prefix, date, kind, int(index), hash_)
    s, pos, boundaries = _scan(text)
    spans = _split_groups(s, pos, boundaries) if boundaries else _split_positional(s, pos)
    prefix, date, kind, index, hash_, _ = _check_groups(s, pos, spans)
    if not checksum_ok(s):
        where = _locate(s, pos, spans)
        if len(where) == 2:
            message = "the check characters do not match; if two neighbours were swapped, it is these"
        elif where:
            message = "the check characters do not match; if one character is wrong, it is this one"
        else:
            message = "the check characters do not match: a character is wrong or two are swapped"
        raise TxCodeError(message, positions=where)
    return TxCode(prefix, date, kind, int(index), hash_)


def normalise(text: str) -> str:
    """The canonical printed form of a code as typed (raises TxCodeError if it is not valid)."""
    return parse_code(text).text
