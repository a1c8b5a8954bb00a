"""C2SP signed-note with Ed25519 keys in the Go `golang.org/x/mod/sumdb/note` encodings.

Verifier key: ``name+hex8+base64(0x01 ‖ public key)``; signer key:
``PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)``; key ID = first 4 bytes of
SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key). A signed note is the text, a blank line, then one
``— name base64(key ID ‖ signature)`` line per signature. Unknown signatures are kept but not
trusted, so a note cosigned by witnesses still verifies against the log's key alone.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "NoteError",
    "Signature",
    "Signer",
    "Verifier",
    "generate_signer",
    "open_note",
    "sign_note",
    "valid_name",
]

ALG_ED25519 = 0x01
_DASH = "\u2014"  # em dash that starts every signature line
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A key, note or signature is malformed or does not verify; the message says which."""


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def valid_name(name: str) -> bool:
    """A key name as C2SP signed-note allows it: non-empty, printable, no '+' and no white space."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name) and name.isprintable()


_a2b = binascii.a2b_base64


def _b64decode(text: str, what: str) -> bytes:
    try:
        # base64.b64decode(..., validate=True) is exactly this, behind two more calls.
        return _a2b(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64") from None


# Verifiers are rebuilt freely (a property, a parse, a copy) but keys are few: their key IDs and
# public-key objects are kept here instead of being recomputed for every note.
_key_id_cache = functools.lru_cache(maxsize=256)(key_id)
_public_key_cache = functools.lru_cache(maxsize=256)(Ed25519PublicKey.from_public_bytes)  # errors are not cached


def _cached_key_id(name: str, public_key: bytes) -> bytes:
    try:
        return _key_id_cache(name, public_key)
    except TypeError:  # an unhashable key (a bytearray): as before, uncached
        return key_id(name, public_key)


def _public_key(raw: bytes) -> Ed25519PublicKey:
    try:
        return _public_key_cache(raw)
    except TypeError:  # unhashable: as before, uncached (and any TypeError of its own raised again)
        return Ed25519PublicKey.from_public_bytes(raw)


@dataclass(frozen=True)
class Verifier:
    """A note verifier: a name and an Ed25519 public key."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return _cached_key_id(self.name, self.public_key)

    def encode(self) -> str:
        """The verifier key string ``name+hex8+base64(0x01 ‖ pub)``."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse a verifier key string; reject a wrong hash, algorithm or key length."""
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise NoteError("verifier key must be name+hex8+base64")
        name, hex8, blob = parts
        if not valid_name(name):
            raise NoteError(f"verifier key name {name!r} is not a valid note key name")
        if len(hex8) != 8 or any(c not in "0123456789abcdef" for c in hex8):
            raise NoteError("verifier key ID must be 8 lower-case hex digits")
        raw = _b64decode(blob, "verifier key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key (0x01 ‖ 32-byte public key)")
        verifier = cls(name, raw[1:])
        if verifier.key_id.hex() != hex8:
            raise NoteError(f"verifier key ID {hex8} does not match the key (expected {verifier.key_id.hex()})")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when signature is this key's Ed25519 signature of message."""
        try:
            _public_key(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """A note signer: a name and an Ed25519 private key (the 32-byte seed)."""

    __slots__ = ("_private", "name", "public_key", "seed")

    def __init__(self, name: str, seed: bytes) -> None:
        if not valid_name(name):
            raise NoteError(f"signer name {name!r} is not a valid note key name (no '+', no spaces)")
        if len(seed) != 32:
            raise NoteError("an Ed25519 seed is 32 bytes")
        self.name = name
        self.seed = seed
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        return _cached_key_id(self.name, self.public_key)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.public_key)

    def encode(self) -> str:
        """The signer key string ``PRIVATE+KEY+name+hex8+base64(0x01 ‖ seed)``."""
        blob = base64.b64encode(bytes([ALG_ED25519]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse a signer key string; reject a wrong prefix, hash, algorithm or length."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise NoteError("signer key must be PRIVATE+KEY+name+hex8+base64")
        _, _, name, hex8, blob = parts
        raw = _b64decode(blob, "signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("signer key is not an Ed25519 key (0x01 ‖ 32-byte seed)")
        signer = cls(name, raw[1:])
        if signer.key_id.hex() != hex8:
            raise NoteError(f"signer key ID {hex8} does not match the key")
        return signer

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


def generate_signer(name: str) -> Signer:
    """A new signer with a fresh random key (the only place randomness enters the ledger)."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    return Signer(name, seed)


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{_DASH} {self.name} {blob}\n"


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f]")  # every control character but the newline


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    found = _CONTROL.search(text)  # the first one, as a scan would find it
    if found is not None:
        raise NoteError(f"note text contains control character U+{ord(found.group()):04X}")


def sign_note(text: str, *signers: Signer) -> str:
    """Sign note text with each signer; return the signed note."""
    _check_text(text)
    lines = []
    for s in signers:
        lines.append(Signature(s.name, s.key_id, s.sign(text.encode())).line())
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class OpenedNote:
    """A verified note: its text, the signatures that verified, and the unknown ones."""

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def split_note(signed: str) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and its (unverified) signature lines."""
    try:
        text, sigs = _split_note_cache(signed)
    except TypeError:  # not hashable: parse it uncached (and any TypeError of its own is raised again)
        text, sigs = _split_note(signed)
    return text, list(sigs)


def _split_note(signed: str) -> tuple[str, tuple[Signature, ...]]:
    at = signed.rfind("\n\n")
    if at < 0:
        raise NoteError("signed note has no blank line before its signatures")
    text, block = signed[: at + 1], signed[at + 2 :]
    if not block.endswith("\n"):
        raise NoteError("signature block must end with a newline")
    sigs: list[Signature] = []
    for n, line in enumerate(block[:-1].split("\n"), start=1):
        if not line.startswith(_DASH + " "):
            raise NoteError(f"signature line {n} does not start with '{_DASH} '")
        fields = line[2:].split(" ")
        if len(fields) != 2 or not valid_name(fields[0]):
            raise NoteError(f"signature line {n} is not '{_DASH} name base64'")
        raw = _b64decode(fields[1], f"signature line {n}")
        if len(raw) < 5:
            raise NoteError(f"signature line {n} is too short")
        sigs.append(Signature(fields[0], raw[:4], raw[4:]))
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError(f"more than {MAX_SIGNATURES} signatures")
    _check_text(text)
    return text, tuple(sigs)


# Many proofs share one signed checkpoint (every certificate issued under it): parse each text once.
# Only the parsing is cached (errors are not): `open_note` verifies the signatures on every call.
_split_note_cache = functools.lru_cache(maxsize=64)(_split_note)


def open_note(signed: str, *verifiers: Verifier) -> OpenedNote:
    """Verify a signed note against known verifiers; unknown signatures are ignored.

    Raises NoteError if the note is malformed, a known key's signature is invalid or repeated,
    or no known key signed it.
    """
    text, sigs = split_note(signed)
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[Signature] = []
    unknown: list[Signature] = []
    seen: set[tuple[str, bytes]] = set()
    for s in sigs:
        v = known.get((s.name, s.key_id))
        if v is None:
            unknown.append(s)
            continue
        if (s.name, s.key_id) in seen:
            raise NoteError(f"two signatures by the same key {s.name}+{s.key_id.hex()}")
        seen.add((s.name, s.key_id))
        if not v.verify(text.encode(), s.signature):
            raise NoteError(f"signature by {s.name}+{s.key_id.hex()} does not verify")
        good.append(s)
    if not good:
        names = ", ".join(f"{v.name}+{v.key_id.hex()}" for v in verifiers) or "none given"
        raise NoteError(f"no signature by a known key (known: {names})")
    return OpenedNote(text, tuple(good), tuple(unknown))
