"""C2SP tlog-checkpoint texts and C2SP tlog-proof@v1 files.

A checkpoint is the note text ``<origin>\\n<size>\\n<base64 root>\\n`` (plus optional extension
lines), signed as a signed-note. A proof file is ``c2sp.org/tlog-proof@v1``, an optional
``extra`` line, ``index N``, one base64 hash per line, a blank line, then the signed checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from .merkle import HASH_SIZE, ProofError, verify_inclusion
from .note import NoteError, OpenedNote, Verifier, open_note

__all__ = ["Checkpoint", "CheckpointError", "TlogProof", "verify_signed_checkpoint"]

PROOF_HEADER = "c2sp.org/tlog-proof@v1"


class CheckpointError(ValueError):
    """A checkpoint or proof text is malformed; the message names the line."""


_UINT64_DIGITS = len(str(2**64 - 1))


def _decimal(text: str, what: str) -> int:
    """A tree size or index: a decimal uint64 without leading zeroes (C2SP tlog-checkpoint, tlog-proof)."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        shown = repr(text) if len(text) <= 40 else f"{text[:24]!r}… ({len(text)} characters)"
        raise CheckpointError(f"{what} {shown} is not a decimal number without leading zeroes")
    if len(text) <= _UINT64_DIGITS:  # int() of a longer text is never a uint64 (and may pass Python's limit)
        value = int(text)
        if value < 2**64:
            return value
    shown = text if len(text) <= 40 else f"{text[:24]}… ({len(text)} digits)"
    raise CheckpointError(f"{what} {shown} is larger than 2^64 - 1")


_a2b = binascii.a2b_base64
_HASH_SIZE_EQ = HASH_SIZE.__eq__


def _hash(text: str, what: str) -> bytes:
    try:
        # base64.b64decode(..., validate=True) is exactly this, behind two more calls.
        raw = _a2b(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CheckpointError(f"{what} is not valid base64") from None
    if len(raw) != HASH_SIZE:
        raise CheckpointError(f"{what} is {len(raw)} bytes, not {HASH_SIZE}")
    return raw


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, size and root hash (tlog-checkpoint note text)."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = field(default=())

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text (not the signatures)."""
        if cls is Checkpoint and type(text) is str:
            return _parse_checkpoint_cache(text)  # a Checkpoint is immutable: share it
        return cls._parse(text)

    @classmethod
    def _parse(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint text needs origin, size and root lines")
        origin = lines[0]
        if not origin:
            raise CheckpointError("checkpoint line 1 (origin) is empty")
        size = _decimal(lines[1], "checkpoint line 2 (size)")
        root = _hash(lines[2], "checkpoint line 3 (root)")
        for i, ext in enumerate(lines[3:], start=4):
            if not ext:
                raise CheckpointError(f"checkpoint line {i} (extension) is empty")
        return cls(origin, size, root, tuple(lines[3:]))


# Every certificate and proof under one checkpoint carries its text: parse each text once (errors are
# not cached, so a bad text fails every time with its own message).
_parse_checkpoint_cache = functools.lru_cache(maxsize=64)(Checkpoint._parse)


def verify_signed_checkpoint(
    signed: str, verifier: Verifier, origin: str | None = None
) -> tuple[Checkpoint, OpenedNote]:
    """Verify a signed checkpoint's signature and parse it; optionally demand the origin."""
    opened = open_note(signed, verifier)
    cp = Checkpoint.parse(opened.text)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint origin {cp.origin!r} is not the expected {origin!r}")
    return cp, opened


@dataclass(frozen=True)
class TlogProof:
    """A C2SP tlog-proof@v1: an entry index, its inclusion proof and the signed checkpoint."""

    index: int
    proof: tuple[bytes, ...]
    signed_checkpoint: str
    extra: bytes | None = None

    def text(self) -> str:
        out = [PROOF_HEADER + "\n"]
        if self.extra is not None:
            out.append(f"extra {base64.b64encode(self.extra).decode()}\n")
        out.append(f"index {self.index}\n")
        out.extend(base64.b64encode(h).decode() + "\n" for h in self.proof)
        out.append("\n")
        out.append(self.signed_checkpoint)
        return "".join(out)

    @classmethod
    def parse(cls, text: str) -> TlogProof:
        """Parse a tlog-proof@v1 text; errors name the offending line."""
        head, sep, rest = text.partition("\n\n")
        if not sep:
            raise CheckpointError("tlog-proof has no blank line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != PROOF_HEADER:
            raise CheckpointError(f"tlog-proof line 1 must be {PROOF_HEADER!r}")
        i = 1
        extra = None
        if i < len(lines) and lines[i].startswith("extra "):
            try:
                extra = base64.b64decode(lines[i][6:].encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                raise CheckpointError(f"tlog-proof line {i + 1} (extra) is not valid base64") from None
            i += 1
        if i >= len(lines) or not lines[i].startswith("index "):
            raise CheckpointError(f"tlog-proof line {i + 1} must be 'index N'")
        index = _decimal(lines[i][6:], f"tlog-proof line {i + 1} (index)")
        try:  # every hash line at once; any problem: again line by line, for the message naming it
            proof = tuple([_a2b(h.encode("ascii"), strict_mode=True) for h in lines[i + 1 :]])
            ok = all(map(_HASH_SIZE_EQ, map(len, proof)))
        except (binascii.Error, UnicodeEncodeError):
            ok = False
        if not ok:
            proof = tuple(_hash(h, f"tlog-proof line {n} (hash)") for n, h in enumerate(lines[i + 1 :], start=i + 2))
        return cls(index, proof, rest, extra)

    def verify(self, leaf: bytes, verifier: Verifier, origin: str | None = None) -> Checkpoint:
        """Verify the checkpoint's signature and the leaf's inclusion under it; return the checkpoint."""
        try:
            cp, _ = verify_signed_checkpoint(self.signed_checkpoint, verifier, origin)
        except NoteError as exc:
            raise CheckpointError(f"checkpoint signature: {exc}") from None
        try:
            verify_inclusion(leaf, self.index, cp.size, self.proof, cp.root)
        except ProofError as exc:
            raise CheckpointError(f"inclusion proof: {exc}") from None
        return cp


def encode_hashes(hashes: Sequence[bytes]) -> str:
    """One base64 hash per line (the consistency-proof output format)."""
    return "".join(base64.b64encode(h).decode() + "\n" for h in hashes)
