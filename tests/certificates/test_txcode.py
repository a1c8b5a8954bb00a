"""Transaction codes: the check characters catch every single substitution and adjacent swap, exhaustively.

For random codes, every character of the printed form (hyphens included) is replaced by every other
symbol of the alphabet plus the hyphen, and every pair of neighbours is swapped; the same is done to
the compact form (no separators). Each altered code must be rejected. Positions, where given, must
point at the altered character; tolerant input (case, spaces, full-width forms) must read the same.
"""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import leaf_hash
from ledger.txcode import (
    ALPHABET,
    TxCode,
    TxCodeError,
    check_chars,
    checksum_ok,
    hash_part,
    make_code,
    normalise,
    parse_code,
)

SYMBOLS = ALPHABET + "-"


def random_code(rng: random.Random) -> str:
    prefix = "".join(rng.choice(ALPHABET[10:]) for _ in range(rng.randint(2, 4)))
    date = f"{rng.randint(0, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    kind = rng.choice("AELDSX")
    index = rng.choice([0, rng.randint(1, 99), rng.randint(100, 10**6), rng.randint(10**6, 10**12)])
    return make_code(prefix, date, kind, index, leaf_hash(rng.randbytes(40)))


CODES = [random_code(random.Random(seed)) for seed in range(24)] + [
    "ZJ-231115-E-20-EVZM-OR",  # O and 0 both appear
    make_code("ZJ", "240229", "E", 0, bytes(32)),
]


def rejected(text: str) -> TxCodeError | None:
    try:
        parse_code(text)
    except TxCodeError as exc:
        return exc
    return None


# -- the standard ---------------------------------------------------------------------------------


def test_iso_7064_mod_1271_36_example() -> None:
    # ISO/IEC 7064's worked example for MOD 1271-36: "ISO79" gets the check characters "3W".
    assert check_chars("ISO79") == "3W"
    assert checksum_ok("ISO793W")
    assert not checksum_ok("ISO793X")


def test_code_layout_and_binding() -> None:
    leaf = leaf_hash(b"a deal entry")
    code = make_code("ZJ", "231115", "E", 1234, leaf)
    parsed = parse_code(code)
    assert parsed == TxCode("ZJ", "231115", "E", 1234, hash_part(leaf))
    assert code == f"ZJ-231115-E-1234-{hash_part(leaf)}-{check_chars('ZJ231115E1234' + hash_part(leaf))}"
    assert parsed.text == code and parsed.compact == code.replace("-", "")
    assert parsed.matches(1234, leaf)
    assert not parsed.matches(1235, leaf) and not parsed.matches(1234, leaf_hash(b"another"))
    assert parsed.day.isoformat() == "2023-11-15"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("Z", "231115", "E", 1), "prefix"),
        (("ZJKLM", "231115", "E", 1), "prefix"),
        (("zj", "231115", "E", 1), "prefix"),
        (("ZJ", "231315", "E", 1), "date"),
        (("ZJ", "230229", "E", 1), "date"),
        (("ZJ", "23111", "E", 1), "date"),
        (("ZJ", "231115", "e", 1), "type"),
        (("ZJ", "231115", "1", 1), "type"),
        (("ZJ", "231115", "E", -1), "index"),
    ],
)
def test_make_code_refuses_what_cannot_be_read_back(args: tuple[str, str, str, int], fragment: str) -> None:
    with pytest.raises(TxCodeError, match=fragment):
        make_code(*args, leaf_hash(b"x"))


# -- exhaustive error detection -----------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_every_single_substitution_is_detected(code: str) -> None:
    assert parse_code(code).text == code
    for form in (code, code.replace("-", "")):
        for i, original in enumerate(form):
            for c in SYMBOLS:
                if c == original:
                    continue
                typo = form[:i] + c + form[i + 1 :]
                assert rejected(typo) is not None, f"{typo!r} (char {i + 1} of {form!r}) was accepted"


@pytest.mark.parametrize("code", CODES)
def test_every_adjacent_transposition_is_detected(code: str) -> None:
    for form in (code, code.replace("-", "")):
        for i in range(len(form) - 1):
            if form[i] == form[i + 1]:
                continue
            typo = form[:i] + form[i + 1] + form[i] + form[i + 2 :]
            assert rejected(typo) is not None, f"{typo!r} (swap {i + 1},{i + 2} of {form!r}) was accepted"


@pytest.mark.parametrize("code", CODES)
def test_swaps_across_a_hyphen_are_detected(code: str) -> None:
    """Neighbours on either side of a hyphen (adjacent in the compact form) swapped, hyphen kept."""
    for i, c in enumerate(code):
        if c != "-" or code[i - 1] == code[i + 1]:
            continue
        typo = code[: i - 1] + code[i + 1] + "-" + code[i - 1] + code[i + 2 :]
        assert rejected(typo) is not None, f"{typo!r} was accepted"


@pytest.mark.parametrize("code", CODES[:8])
def test_located_positions_point_at_the_error(code: str) -> None:
    """A position, when the parser gives one, is always the character that was changed."""
    located = total = 0
    for i, original in enumerate(code):
        for c in ALPHABET:
            if c == original or original == "-":
                continue
            exc = rejected(code[:i] + c + code[i + 1 :])
            assert exc is not None
            total += 1
            if exc.positions:
                assert i + 1 in exc.positions, f"{code!r}: char {i + 1} -> {c}: {exc}"
                located += 1
    for i in range(len(code) - 1):
        if "-" in code[i : i + 2] or code[i] == code[i + 1]:
            continue
        exc = rejected(code[:i] + code[i + 1] + code[i] + code[i + 2 :])
        assert exc is not None
        if exc.positions:
            assert {i + 1, i + 2} & set(exc.positions), f"{code!r}: swap {i + 1}: {exc}"
    assert located > total // 2  # structure errors are always located; check failures often


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(CODES),
    st.integers(min_value=0, max_value=40),
    st.sampled_from(SYMBOLS),
)
def test_property_any_substitution_is_rejected(code: str, at: int, c: str) -> None:
    i = at % len(code)
    if code[i] != c:
        assert rejected(code[:i] + c + code[i + 1 :]) is not None


# -- reading codes as people type them ------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "zj-231115-e-20-evzm-or",
        "ZJ 231115 E 20 EVZM OR",
        "ZJ231115E20EVZMOR",
        "  ZJ - 231115 - E - 20 - EVZM - OR  ",
        "ＺＪ－２３１１１５－Ｅ－２０－ＥＶＺＭ－ＯＲ",
        "ZJ\u2013231115\u2013E\u201320\u2013EVZM\u2013OR",
        "ZJ\u3000231115\u3000E\u300020\u3000EVZM\u3000OR",
    ],
)
def test_case_spaces_dashes_and_full_width_are_tolerated(typed: str) -> None:
    assert normalise(typed) == "ZJ-231115-E-20-EVZM-OR"


@pytest.mark.parametrize(
    ("typed", "position", "fragment"),
    [
        ("ZJ-2311I5-E-20-EVZM-OR", 8, "I where a digit is expected: 1?"),
        ("ZJ-231I15-E-20-EVZM-OR", 7, "digit"),
        ("ZJ-231115-E-2O-EVZM-OR", 14, "O where a digit is expected: 0?"),
        ("Z0-231115-E-20-EVZM-OR", 2, "0 where a letter is expected: O?"),
        ("ZJ-231115-1-20-EVZM-OR", 11, "letter"),
        ("ZJ-231315-E-20-EVZM-OR", 6, "month 13"),
        ("ZJ-231132-E-20-EVZM-OR", 8, "day 32"),
        ("ZJ-231115-E-020-EVZM-OR", 13, "leading zero"),
        ("ZJ-231115-E-20-EVZ-MOR", 16, "hash group"),
        ("ZJ-231115-E-20-EVZM-O", 21, "check group"),
        ("ZJ-231115-E-20-EVZM-OR!", 23, "not a letter, a digit or a separator"),
        ("ZJ-231115-E-20-EVZM-0R", 21, "if one character is wrong"),
        ("ZJ-231115-E-20-EVZM-RO", 21, "swapped"),
    ],
)
def test_errors_name_the_position(typed: str, position: int, fragment: str) -> None:
    exc = rejected(typed)
    assert exc is not None and exc.position == position, f"{typed}: {exc}"
    assert fragment in str(exc) and f"character{'s' if len(exc.positions) > 1 else ''} {position}" in str(exc)


@pytest.mark.parametrize(
    "typed",
    [
        "ZJ-231115E-20-EVZM-OR",  # four separators: all five or none
        "ZJ-231115-E-20-EVZM-O-R",  # seven groups
        "",
        "-",
        "ZJ231115E",
    ],
)
def test_separators_all_or_none_and_too_short(typed: str) -> None:
    assert rejected(typed) is not None


def test_a_day_the_month_lacks_is_not_pinned_on_one_digit() -> None:
    exc = rejected("ZJ-230229-E-20-EVZM-OR")
    assert exc is not None and exc.positions == () and "2023-02 has no day 29" in str(exc)


def test_a_code_read_as_text_only() -> None:
    with pytest.raises(TxCodeError):
        parse_code(12345)  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=30) | st.text(alphabet="ZJE0123456789-ABCDXYZ ", max_size=30))
def test_any_text_is_read_or_refused_with_a_txcode_error(text: str) -> None:
    """Whatever a person (or a fuzzer) types, the parser answers with a code or a TxCodeError."""
    with contextlib.suppress(TxCodeError):
        parse_code(text)
