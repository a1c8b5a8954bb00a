"""C2SP tlog-cosignature ``cosignature/v1`` with Ed25519 (signature type 0x04).

A cosignature is a signed-note signature line on a checkpoint:
``— <cosigner name> base64(key ID ‖ u64 big-endian timestamp ‖ 64-byte Ed25519 signature)``.
The key ID is SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte public key)[:4]. The signed message is
``cosignature/v1\\ntime <timestamp>\\n`` followed by the whole checkpoint note text (its final
newline included, no signature lines). Keys use the signed-note encodings with type 0x04:
verifier ``name+hex8+base64(0x04 ‖ public key)``, signer ``PRIVATE+KEY+name+hex8+base64(0x04 ‖ seed)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from .checkpoint import Checkpoint, CheckpointError
from .note import ALG_ED25519, NoteError, Signature, Signer, Verifier, generate_signer, split_note, valid_name

__all__ = [
    "ALG_COSIGNATURE_V1",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignatureError",
    "Cosigner",
    "CosignerVerifier",
    "cosigned_message",
    "cosigner_key_id",
    "generate_cosigner",
    "verify_cosignatures",
]

ALG_COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1"
MAX_TIMESTAMP = (1 << 63) - 1  # the spec's bound on the u64 timestamp
TIMESTAMP_BYTES = 8
SIGNATURE_BYTES = 64


class CosignatureError(ValueError):
    """A cosigner key, a cosignature or the text it signs is malformed or does not verify; the message says which."""


class CosignerKeyTypeError(CosignatureError):
    """A verifier key of another signature type than 0x04 (for example the log's own 0x01 key)."""


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 cosigner: SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def _check_timestamp(timestamp: int) -> None:
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature timestamp {timestamp!r} is not an integer from 0 to 2^63-1")


def cosigned_message(timestamp: int, checkpoint_text: str) -> bytes:
    """The bytes an Ed25519 cosigner signs: header line, timestamp line, then the checkpoint note text."""
    _check_timestamp(timestamp)
    try:
        Checkpoint.parse(checkpoint_text)  # origin, size and root lines: a cosignature is over a checkpoint
    except CheckpointError as exc:
        raise CosignatureError(f"not a checkpoint: {exc}") from None
    return f"{HEADER}\ntime {timestamp}\n{checkpoint_text}".encode()


def _b64(text: str, what: str) -> bytes:
    try:
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise CosignatureError(f"{what} is not valid base64") from None


def _key_parts(text: str, what: str) -> tuple[str, str, bytes]:
    """Split ``name+hex8+base64(type ‖ key)`` into name, hex8 and the decoded blob."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise CosignatureError(f"{what} must be name+hex8+base64")
    name, hex8, blob = parts
    if not valid_name(name):
        raise CosignatureError(f"{what} name {name!r} is not a valid note key name (no '+', no spaces)")
    if len(hex8) != 8 or any(c not in "0123456789abcdef" for c in hex8):
        raise CosignatureError(f"{what} key ID must be 8 lower-case hex digits")
    return name, hex8, _b64(blob, what)


@dataclass(frozen=True)
class Cosignature:
    """One cosignature/v1 line: who, when (POSIX seconds) and the Ed25519 signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def line(self) -> str:
        """The note signature line ``— name base64(key ID ‖ timestamp ‖ signature)\\n``."""
        raw = self.timestamp.to_bytes(TIMESTAMP_BYTES, "big") + self.signature
        return Signature(self.name, self.key_id, raw).line()

    @classmethod
    def from_signature(cls, signature: Signature) -> Cosignature:
        """Read the timestamp and the Ed25519 signature out of a note signature line's bytes."""
        raw = signature.signature
        if len(raw) != TIMESTAMP_BYTES + SIGNATURE_BYTES:
            raise CosignatureError(
                f"cosignature by {signature.name} is {len(raw) + 4} bytes, not 4 + 8 + 64 (key ID, time, signature)"
            )
        timestamp = int.from_bytes(raw[:TIMESTAMP_BYTES], "big")
        if timestamp > MAX_TIMESTAMP:
            raise CosignatureError(f"cosignature by {signature.name} has timestamp {timestamp}, beyond 2^63-1")
        return cls(signature.name, signature.key_id, timestamp, raw[TIMESTAMP_BYTES:])

    @classmethod
    def parse_line(cls, line: str) -> Cosignature:
        """Parse one ``— name base64`` line (with or without its newline)."""
        text = line if line.endswith("\n") else line + "\n"
        try:
            _, signatures = split_note("x\n\n" + text)
        except NoteError as exc:
            raise CosignatureError(f"cosignature line: {exc}") from None
        if len(signatures) != 1:
            raise CosignatureError("a cosignature line is exactly one signature line")
        return cls.from_signature(signatures[0])


@dataclass(frozen=True)
class CosignerVerifier:
    """A cosigner's name and Ed25519 public key: checks its cosignature/v1 lines."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    def encode(self) -> str:
        """The verifier key string ``name+hex8+base64(0x04 ‖ public key)``."""
        blob = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, vkey: str) -> CosignerVerifier:
        """Parse a type 0x04 verifier key; reject another type, a wrong length or a key ID that does not match."""
        if vkey.strip().startswith("PRIVATE+KEY+"):
            raise CosignatureError("this is a signer key (PRIVATE+KEY+…, secret), not a cosigner verifier key")
        name, hex8, raw = _key_parts(vkey, "cosigner verifier key")
        if len(raw) != 33 or raw[0] != ALG_COSIGNATURE_V1:
            kind = f"type 0x{raw[0]:02x}" if raw else "empty"
            raise CosignerKeyTypeError(
                f"cosigner verifier key is {kind}, not a cosignature/v1 key (0x04 ‖ 32-byte Ed25519 public key)"
            )
        verifier = cls(name, raw[1:])
        if verifier.key_id.hex() != hex8:
            raise CosignatureError(
                f"cosigner verifier key ID {hex8} does not match the key (expected {verifier.key_id.hex()})"
            )
        return verifier

    def matches(self, signature: Signature) -> bool:
        """True when a signature line names this cosigner and its key ID (else it is someone else's)."""
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, checkpoint_text: str, cosignature: Cosignature) -> None:
        """Check that `cosignature` is this cosigner's over `checkpoint_text`; CosignatureError if not."""
        if cosignature.name != self.name or cosignature.key_id != self.key_id:
            raise CosignatureError(
                f"cosignature is by {cosignature.name}+{cosignature.key_id.hex()}, not {self.name}+{self.key_id.hex()}"
            )
        message = cosigned_message(cosignature.timestamp, checkpoint_text)
        if not Verifier(self.name, self.public_key).verify(message, cosignature.signature):
            raise CosignatureError(
                f"cosignature by {self.name}+{self.key_id.hex()} at time {cosignature.timestamp} does not verify"
            )


class Cosigner:
    """A cosigner: a name and an Ed25519 private key (the 32-byte seed); signs cosignature/v1 lines."""

    __slots__ = ("_signer",)

    def __init__(self, name: str, seed: bytes) -> None:
        try:
            self._signer = Signer(name, seed)  # checks the name and the seed, holds the Ed25519 key
        except NoteError as exc:
            raise CosignatureError(f"cosigner key: {exc}") from None

    @property
    def name(self) -> str:
        return self._signer.name

    @property
    def seed(self) -> bytes:
        return self._signer.seed

    @property
    def public_key(self) -> bytes:
        return self._signer.public_key

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    @property
    def verifier(self) -> CosignerVerifier:
        return CosignerVerifier(self.name, self.public_key)

    def encode(self) -> str:
        """The signer key string ``PRIVATE+KEY+name+hex8+base64(0x04 ‖ seed)``; hex8 is the 0x04 key ID."""
        blob = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, skey: str) -> Cosigner:
        """Parse a signer key of type 0x04 (or a plain Ed25519 0x01 one, used as a cosigner: its key ID is
        then the 0x01 one in the file, and the 0x04 one in the cosignatures)."""
        text = skey.strip()
        if not text.startswith("PRIVATE+KEY+"):
            raise CosignatureError("signer key must be PRIVATE+KEY+name+hex8+base64")
        name, hex8, raw = _key_parts(text[len("PRIVATE+KEY+") :], "signer key")
        if len(raw) != 33 or raw[0] not in (ALG_COSIGNATURE_V1, ALG_ED25519):
            raise CosignatureError("signer key is not an Ed25519 key (0x04 or 0x01 ‖ 32-byte seed)")
        cosigner = cls(name, raw[1:])
        expected = cosigner.key_id if raw[0] == ALG_COSIGNATURE_V1 else cosigner._signer.key_id
        if expected.hex() != hex8:
            raise CosignatureError(f"signer key ID {hex8} does not match the key")
        return cosigner

    def cosign(self, checkpoint_text: str, timestamp: int) -> Cosignature:
        """Cosign a checkpoint note text at `timestamp` (POSIX seconds)."""
        signature = self._signer.sign(cosigned_message(timestamp, checkpoint_text))
        return Cosignature(self.name, self.key_id, timestamp, signature)


def generate_cosigner(name: str) -> Cosigner:
    """A new cosigner with a fresh random Ed25519 key."""
    try:
        return Cosigner(name, generate_signer(name).seed)
    except NoteError as exc:
        raise CosignatureError(f"cosigner key: {exc}") from None


def verify_cosignatures(signed_checkpoint: str, verifiers: Iterable[CosignerVerifier]) -> list[Cosignature]:
    """The valid cosignatures on a signed checkpoint by the given cosigners, in the note's order.

    Lines of other keys are ignored (the log's own signature among them); a line that names a given
    cosigner and its key ID but does not verify, or a cosigner that signed twice, is a CosignatureError.
    """
    try:
        text, signatures = split_note(signed_checkpoint)
    except NoteError as exc:
        raise CosignatureError(f"signed checkpoint: {exc}") from None
    known = {(v.name, v.key_id): v for v in verifiers}
    found: list[Cosignature] = []
    for signature in signatures:
        verifier = known.pop((signature.name, signature.key_id), None)
        if verifier is None:
            if any(c.name == signature.name and c.key_id == signature.key_id for c in found):
                raise CosignatureError(f"two cosignatures by {signature.name}+{signature.key_id.hex()}")
            continue
        cosignature = Cosignature.from_signature(signature)
        verifier.verify(text, cosignature)
        found.append(cosignature)
    return found
