"""Signed receipts: the market's promise that an entry is in its log, as a C2SP signed note (normative).

A receipt's text is exactly (every line ends with a newline):

    auction-engine/receipt/v1
    origin <the log's origin>
    index <the entry's index, decimal>
    leaf <standard base64 of the entry's 32-byte leaf hash, SHA-256(0x00 ‖ entry bytes)>
    time <the entry's time t, ms since the Unix epoch>
    covered-by <ms since the Unix epoch: a signed checkpoint will cover the entry by then>

signed by the log's key under its name (the key that signs the checkpoints; a receipt's first line
can never be a checkpoint's, whose second line is a tree size). A receipt whose entry the log does
not hold under a signed checkpoint once `covered-by` has passed is the holder's proof that the
operator dropped or changed its command.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .note import NoteError, Signer, Verifier, open_note, sign_note

__all__ = ["DEFAULT_WINDOW_MS", "HEADER", "MAX_RECEIPT", "Receipt", "ReceiptError", "open_receipt"]

HEADER = "auction-engine/receipt/v1"
MAX_RECEIPT = 4096
"""Characters: the longest receipt read (a real one is about 250, with one signature)."""
DEFAULT_WINDOW_MS = 10_000
"""How long after an entry's time a live market's receipt promises a signed checkpoint covering it. The
market signs a checkpoint at least every second while entries come (and on its tick in quiet periods),
so ten seconds leave room for a slow disk without promising what a healthy market can miss."""
_MAX_DECIMAL = 19  # digits: every count and time here fits in 63 bits


class ReceiptError(ValueError):
    """A receipt is malformed or its signature does not hold; the message says which line or why."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a receipt states."""

    origin: str
    index: int
    leaf: bytes
    time: int
    covered_by: int

    def text(self) -> str:
        """The note text (normative, see the module's text)."""
        leaf = base64.b64encode(self.leaf).decode("ascii")
        return (
            f"{HEADER}\norigin {self.origin}\nindex {self.index}\nleaf {leaf}\n"
            f"time {self.time}\ncovered-by {self.covered_by}\n"
        )

    def sign(self, signer: Signer) -> str:
        """The signed receipt note."""
        return sign_note(self.text(), signer)

    @classmethod
    def parse(cls, text: str) -> Receipt:
        """Parse a receipt's note text (its signatures already split off); errors name the line."""
        lines = text.split("\n")
        if lines[-1] != "" or len(lines) != 7:
            raise ReceiptError(f"a receipt is 6 lines, each ending with a newline ({HEADER} first)")
        if lines[0] != HEADER:
            raise ReceiptError(f"receipt line 1 must be {HEADER!r}")
        values = []
        for n, name in enumerate(("origin", "index", "leaf", "time", "covered-by"), start=2):
            label, _, value = lines[n - 1].partition(" ")
            if label != name or not value:
                raise ReceiptError(f"receipt line {n} must be '{name} <value>'")
            values.append(value)
        origin, index, leaf_text, time, covered_by = values
        try:
            leaf = binascii.a2b_base64(leaf_text.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            raise ReceiptError("receipt line 4 (leaf) is not base64") from None
        if len(leaf) != 32:
            raise ReceiptError("receipt line 4 (leaf) is not a 32-byte hash")
        return cls(origin, _decimal(index, 3), leaf, _decimal(time, 5), _decimal(covered_by, 6))


def _decimal(text: str, line: int) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DECIMAL or (text[0] == "0" and text != "0"):
        raise ReceiptError(f"receipt line {line} must end in a decimal number (no sign, no leading zero)")
    return int(text)


def open_receipt(signed: str, verifier: Verifier) -> Receipt:
    """A signed receipt verified against the market's key and parsed; ReceiptError naming what fails."""
    if len(signed) > MAX_RECEIPT:
        raise ReceiptError(f"a receipt is at most {MAX_RECEIPT} characters")
    try:
        opened = open_note(signed, verifier)
    except NoteError as exc:
        raise ReceiptError(f"the receipt's signature: {exc}") from None
    receipt = Receipt.parse(opened.text)
    if receipt.origin != verifier.name:
        raise ReceiptError(f"the receipt is for log {receipt.origin!r}, not {verifier.name!r}")
    return receipt
