"""Certificates, the generic part: one ledger entry, its C2SP tlog-proof, and the code bound to it.

A certificate is a JSON object. Three fields are pinned (outside verifiers rely on them):

- ``code``: a transaction code (`ledger.txcode`), bound to the entry's leaf index and leaf hash;
- ``entry``: base64 of the entry's canonical bytes (`ledger.canonical`);
- ``tlog_proof``: a ``c2sp.org/tlog-proof@v1`` text proving the entry's inclusion under a checkpoint
  signed by the log.

It may carry more proven entries (``records``: name → `ProvenEntry`, each proven under the same
checkpoint) for whoever interprets them. This module checks, with nothing but the log's verifier
key, in a fixed order, and stops at the first failure with a stable reason code: the JSON and the
pinned fields, the entry encodings, the proof texts, the checkpoint signature and origin, every
inclusion proof, the code's form and its binding to (index, leaf hash). It also checks a checkpoint
the auditor trusted earlier against the certificate's one with a consistency proof. It knows nothing
of auctions: what the entries mean is checked by the layer above (`auction_engine.certificates`).
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import canonical, strictjson
from ._accel import kernels
from .checkpoint import PROOF_HEADER, Checkpoint, CheckpointError, TlogProof, verify_signed_checkpoint
from .merkle import HASH_SIZE, ProofError, root_from_inclusion_proof, verify_consistency
from .note import NoteError, Signature, Verifier, split_note
from .txcode import TxCode, TxCodeError, is_real_date, parse_code

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "PINNED",
    "REASONS",
    "CertificateError",
    "Clean",
    "ProvenEntry",
    "Verified",
    "check_pinned",
    "check_pinned_clean",
    "check_trusted",
    "load_certificate",
    "parse_consistency",
    "proven_entry_b64",
    "verify_certificate",
    "verify_proven",
]

PINNED = ("code", "entry", "tlog_proof")
_a2b, _b2a = binascii.a2b_base64, binascii.b2a_base64
_PROVEN_KEYS = {"index", "entry", "proof"}
EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2

# Stable reason codes, in the order the checks run (the auction layer adds its own after these).
REASONS = {
    "unreadable": "the file is not readable JSON holding an object",
    "duplicate_key": "an object of the JSON repeats a key (readers keeping the first or the last copy disagree)",
    "missing_field": "a pinned field (code, entry, tlog_proof) is missing or not a string",
    "encoding": "an entry is not base64 of canonical bytes",
    "proof_format": "a proof is malformed (tlog-proof text, index, hashes)",
    "checkpoint_signature": "the checkpoint is not signed by the given key for the expected origin",
    "inclusion": "an entry's leaf hash is not at its index under the checkpoint's root",
    "code_format": "the code is malformed or mistyped",
    "code_mismatch": "the code does not name this entry (index, leaf hash) or its record disagrees",
    "trusted_checkpoint": "the trusted checkpoint is not signed by the given key for the expected origin",
    "needs_consistency": "the trusted checkpoint has another size and no consistency proof was given",
    "consistency": "the certificate's checkpoint and the trusted one are not one history",
}
_UNREADABLE = frozenset({"unreadable", "missing_field", "needs_consistency", "no_transcript"})


class CertificateError(Exception):
    """A check failed: `reason` is a stable code, `message` says exactly what, `index` the entry if any."""

    def __init__(self, reason: str, message: str, index: int | None = None) -> None:
        super().__init__(f"[{reason}] {message}")
        self.reason = reason
        self.message = message
        self.index = index

    @property
    def exit_code(self) -> int:
        """2 when the input could not be judged (unreadable, incomplete), 1 when a check failed."""
        return EXIT_UNREADABLE if self.reason in _UNREADABLE else EXIT_FAILED


def _b64(text: Any, what: str, reason: str) -> bytes:
    """Strict, canonical base64 (RFC 4648 with padding, no line breaks, zero pad bits), or fail with `reason`."""
    if type(text) is not str:
        raise CertificateError(reason, f"{what} is not a base64 string")
    try:
        raw = _a2b(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise CertificateError(reason, f"{what} is not valid base64") from None
    if _b2a(raw, newline=False).decode() != text:
        raise CertificateError(reason, f"{what} is not in canonical base64 (its padding bits are not zero)")
    return raw


def _decode_entry(data: bytes, what: str, index: int | None) -> dict[str, Any]:
    try:
        return canonical.decode(data)
    except canonical.CanonicalError as exc:
        raise CertificateError("encoding", f"{what} is not a canonical entry: {exc}", index) from None


@dataclass(frozen=True)
class ProvenEntry:
    """An entry proven under a checkpoint given elsewhere.

    JSON: ``{"index": N, "entry": base64(canonical bytes), "proof": base64(h₁ ‖ h₂ ‖ …)}``, the proof
    being the RFC 6962 inclusion path (leaf to root) as one base64 string of 32-byte hashes.
    """

    index: int
    data: bytes
    proof: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "entry": _b2a(self.data, newline=False).decode(),
            "proof": _b2a(b"".join(self.proof), newline=False).decode(),
        }

    @classmethod
    def from_json(cls, obj: Any, what: str, *, reason: str = "proof_format") -> ProvenEntry:
        """Parse a proven entry; a malformed one fails with `reason` (proof_format by default)."""
        if type(obj) is not dict or obj.keys() != _PROVEN_KEYS:
            raise CertificateError(reason, f"{what} must be an object with exactly index, entry and proof")
        index = obj["index"]
        if type(index) is not int or index < 0:
            raise CertificateError(reason, f"{what}: index must be a non-negative integer")
        data = _b64(obj["entry"], f"{what}: entry", "encoding" if reason == "proof_format" else reason)
        blob = _b64(obj["proof"], f"{what}: proof", reason)
        if len(blob) % HASH_SIZE:
            raise CertificateError(reason, f"{what}: proof is {len(blob)} bytes, not a multiple of {HASH_SIZE}")
        return cls(index, data, tuple([blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]))


@dataclass(frozen=True)
class Verified:
    """What a verified certificate establishes: this entry is at `index` in the log signed at `checkpoint`."""

    code: TxCode
    data: bytes
    entry: dict[str, Any]
    leaf: bytes
    index: int
    checkpoint: Checkpoint
    signed_checkpoint: str
    verifier: Verifier
    records: dict[str, tuple[int, bytes, dict[str, Any]]]  # name -> (index, bytes, decoded), all proven


def load_certificate(raw: bytes | str) -> dict[str, Any]:
    """Parse certificate JSON strictly (`ledger.strictjson`) and check the pinned fields are present strings.

    A key repeated in an object fails verification (`duplicate_key`, exit 1): the copy a reader keeps
    decides what it sees, so one text would be two certificates. Anything else unreadable is exit 2.
    """
    try:
        obj = strictjson.loads(raw)
    except strictjson.DuplicateKeyError as exc:
        raise CertificateError(
            "duplicate_key", f"{exc}: a reader keeping the first copy would see another certificate"
        ) from None
    except strictjson.StrictJSONError as exc:
        raise CertificateError("unreadable", f"not JSON: {exc}") from None
    return check_pinned(obj)


def check_pinned(obj: Any) -> dict[str, Any]:
    """Check a loaded certificate is an object whose pinned fields are strings; return it."""
    if type(obj) is not dict:
        raise CertificateError("unreadable", f"a certificate is a JSON object, not {type(obj).__name__}")
    for name in PINNED:
        if name not in obj:
            raise CertificateError("missing_field", f"the pinned field {name!r} is missing")
        if type(obj[name]) is not str:
            raise CertificateError("missing_field", f"the pinned field {name!r} is not a string")
    return obj


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def verify_proven(proven: ProvenEntry, checkpoint: Checkpoint, what: str, *, reason: str = "inclusion") -> bytes:
    """Check `proven` is in the tree of `checkpoint` (whose signature the caller checked); return its leaf."""
    leaf = _leaf(proven.data)
    try:
        root = root_from_inclusion_proof(leaf, proven.index, checkpoint.size, proven.proof)
    except ProofError as exc:
        raise CertificateError(reason, f"{what} (entry {proven.index}): {exc}", proven.index) from None
    if root != checkpoint.root:
        raise CertificateError(
            reason,
            f"{what} (entry {proven.index}): its leaf hash and proof do not lead to the root of the checkpoint"
            f" of size {checkpoint.size} (the entry or the proof was altered, or belongs to another entry)",
            proven.index,
        )
    return leaf


def _check_seq(entry: dict[str, Any], index: int, what: str) -> None:
    if entry.get("seq") != index or type(entry.get("seq")) is not int:
        raise CertificateError(
            "inclusion", f"{what} says seq {entry.get('seq')!r} but is proven at index {index}", index
        )


def verify_certificate(obj: Mapping[str, Any], verifier: Verifier, *, origin: str | None = None) -> Verified:
    """Run the generic checks on a loaded certificate; raise CertificateError at the first failure.

    `origin` is the checkpoint origin the auditor expects (default: the verifier key's name).
    """
    if "records" not in obj:  # the pinned fields alone: the single pass first (see check_pinned_clean)
        clean = check_pinned_clean(obj, verifier, origin)
        if clean is not None:
            code = TxCode(clean.prefix, clean.date, clean.kind, clean.index, clean.hash)
            return Verified(
                code, clean.data, clean.entry, clean.leaf, clean.index, clean.checkpoint, clean.signed_checkpoint,
                verifier, {},
            )  # fmt: skip
    expected_origin = verifier.name if origin is None else origin
    # -- encodings and proof texts
    data = _b64(obj["entry"], "entry", "encoding")
    entry = _decode_entry(data, "entry", None)
    try:
        tlog = TlogProof.parse(obj["tlog_proof"])
    except CheckpointError as exc:
        raise CertificateError("proof_format", f"tlog_proof: {exc}") from None
    raw_records = obj.get("records", {})
    if type(raw_records) is not dict:
        raise CertificateError("proof_format", "records must be an object of proven entries")
    proven = {name: ProvenEntry.from_json(value, f"record {name!r}") for name, value in raw_records.items()}
    decoded = {name: _decode_entry(p.data, f"record {name!r}", p.index) for name, p in proven.items()}
    # -- the checkpoint signature, then every inclusion proof under it
    try:
        checkpoint, _ = verify_signed_checkpoint(tlog.signed_checkpoint, verifier, expected_origin)
    except (NoteError, CheckpointError) as exc:
        raise CertificateError(
            "checkpoint_signature",
            f"checkpoint not verified with {verifier.name}+{verifier.key_id.hex()}: {exc}",
        ) from None
    leaf = verify_proven(ProvenEntry(tlog.index, data, tlog.proof), checkpoint, "entry")
    _check_seq(entry, tlog.index, "entry")
    for name, p in proven.items():
        verify_proven(p, checkpoint, f"record {name!r}")
        _check_seq(decoded[name], p.index, f"record {name!r}")
    # -- the code: well formed, canonical, and naming this entry
    try:
        code = parse_code(obj["code"])
    except TxCodeError as exc:
        raise CertificateError("code_format", f"code {obj['code']!r}: {exc}") from None
    if code.text != obj["code"]:
        raise CertificateError("code_format", f"code {obj['code']!r} is not in its printed form {code.text!r}")
    if code.index != tlog.index:
        raise CertificateError(
            "code_mismatch", f"code {code.text} names entry {code.index}, but the proof is for entry {tlog.index}"
        )
    if not code.matches(tlog.index, leaf):
        raise CertificateError(
            "code_mismatch", f"code {code.text}: its hash group {code.hash} does not match the entry's leaf hash"
        )
    records = {name: (p.index, p.data, decoded[name]) for name, p in proven.items()}
    return Verified(code, data, entry, leaf, tlog.index, checkpoint, tlog.signed_checkpoint, verifier, records)


def parse_consistency(text: str) -> list[bytes]:
    """A consistency proof as `auction-engine ledger consistency` prints it: one base64 hash a line."""
    hashes = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            raw = _a2b(line, strict_mode=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"line {n} is not base64") from None
        if len(raw) != HASH_SIZE:
            raise ValueError(f"line {n} is {len(raw)} bytes, not a {HASH_SIZE}-byte hash")
        hashes.append(raw)
    return hashes


def check_trusted(
    checkpoint: Checkpoint,
    trusted_note: str,
    proof: list[bytes] | None,
    verifier: Verifier,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Check that `checkpoint` and a checkpoint trusted earlier describe one log; return the trusted one.

    The smaller of the two must be a prefix of the larger: `proof` is the RFC 6962 consistency proof
    from the smaller size to the larger (either direction). Equal sizes need equal roots and no proof.
    """
    expected_origin = verifier.name if origin is None else origin
    try:
        trusted, _ = verify_signed_checkpoint(trusted_note, verifier, expected_origin)
    except (NoteError, CheckpointError) as exc:
        raise CertificateError("trusted_checkpoint", f"trusted checkpoint: {exc}") from None
    old, new = (trusted, checkpoint) if trusted.size <= checkpoint.size else (checkpoint, trusted)
    if old.size == new.size:
        if old.root != new.root:
            raise CertificateError(
                "consistency",
                f"the trusted checkpoint and the certificate's both have size {old.size} but different"
                " roots: the log forked",
            )
        if proof:
            raise CertificateError(
                "consistency", "the checkpoints have equal sizes; the consistency proof must be empty"
            )
        return trusted
    if old.size == 0:
        return trusted
    if proof is None:
        raise CertificateError(
            "needs_consistency",
            f"the trusted checkpoint has size {trusted.size} and the certificate's {checkpoint.size}: give the"
            f" consistency proof from {old.size} to {new.size} (auction-engine ledger consistency DB {old.size}"
            f" {new.size})",
        )
    try:
        verify_consistency(old.size, new.size, proof, old.root, new.root)
    except ProofError as exc:
        which = "trusted checkpoint" if old is trusted else "certificate's checkpoint"
        raise CertificateError(
            "consistency",
            f"the log of size {new.size} does not extend the {which} of size {old.size}: {exc}",
        ) from None
    return trusted


# -- the single pass ----------------------------------------------------------------------------------
#
# `verify_certificate` above is the reference: it runs each check in the normative order and names the
# first that fails. A valid certificate needs no names, only the same verdict, so `check_pinned_clean`
# makes the same checks in one pass with the least Python overhead and answers None at the first thing
# it does not like (or does not handle: extra lines, several signatures by the key, ...); the caller
# then runs the reference, which finds the failure and says exactly what it is. It never accepts what
# the reference refuses: every check below is the reference's, or implies it (noted where it differs).

# The printed form of a code (`ledger.txcode`): the only form a certificate may carry.
_PRINTED = re.compile(r"([A-Z]{2,4})-([0-9]{6})-([A-Z])-(0|[1-9][0-9]*)-([0-9A-Z]{4})-([0-9A-Z]{2})")
_HASH_MOD = 36**4
_MODULUS = 1271  # ISO/IEC 7064 MOD 1271-36 (ledger.txcode)


_proven_entry_root = kernels.proven_entry_root
_unpackb = canonical.unpack_canonical


def proven_entry_b64(
    text: Any, index: int, proof: Any, size: int, root: bytes
) -> tuple[bytes, bytes, dict[str, Any]] | None:
    """A proven entry of a certificate, checked in one pass: its bytes, leaf hash and decoded entry, or None.

    `text` must be the canonical base64 of canonical entry bytes whose seq is `index`, and `proof` the
    canonical base64 of its inclusion path (hashes joined) leading to `root` in a tree of `size`. None
    means "not shown valid here" (`verify_proven` names what is wrong).
    """
    proven = _proven_entry_root(text, index, size, proof, False)
    if proven is None or proven[2] != root:
        return None
    return proven[0], proven[1], _unpackb(proven[0])


@functools.lru_cache(maxsize=1024)
def _real_date(date: str) -> bool:
    """A code's YYMMDD is a real calendar date of 20YY (as `parse_code` demands)."""
    return is_real_date(date)


@functools.lru_cache(maxsize=64)
def _signed_parts(signed: str) -> tuple[Checkpoint, bytes, tuple[Signature, ...], str]:
    """A signed checkpoint's parsed text, the bytes its signatures sign, the signatures, the root in base64.

    Parsing only, cached by the text (every certificate under one checkpoint carries the same text);
    a malformed text raises and is not cached. The signature is verified by the caller, every time.
    """
    text, sigs = split_note(signed)
    cp = Checkpoint.parse(text)
    return cp, text.encode(), tuple(sigs), _b2a(cp.root, newline=False).decode()


class Clean(NamedTuple):
    """What `check_pinned_clean` established (the same as `Verified`, and the code's groups)."""

    data: bytes
    entry: dict[str, Any]
    leaf: bytes
    index: int
    checkpoint: Checkpoint
    signed_checkpoint: str
    root64: str  # the checkpoint's root in base64
    prefix: str
    date: str
    kind: str
    hash: str


def _code_groups(code_text: str, index: int, leaf: bytes) -> tuple[str, str, str, str] | None:
    """The groups (prefix, date, kind, hash) of a code in its printed form naming this index and leaf hash.

    None unless the check characters are the ones `check_chars` prints (so the MOD 1271-36 sum holds
    and the form is canonical), the number is `index`, the hash group is `leaf`'s and the date real.
    """
    m = _PRINTED.fullmatch(code_text)
    if m is None:
        return None
    prefix, date, kind, index_text, hash_text, check = m.groups()
    # The printed check characters: 1271-1295 would satisfy the sum too. In 0-9A-Z, int(..., 36) is the fold.
    payload = int(f"{prefix}{date}{kind}{index_text}{hash_text}", 36) % _MODULUS
    if int(check, 36) != (1 - payload * 1296) % _MODULUS or int(index_text) != index:
        return None
    if int(hash_text, 36) != int.from_bytes(leaf[:4], "big") % _HASH_MOD:  # 4 digits each: same text
        return None
    return (prefix, date, kind, hash_text) if _real_date(date) else None


def check_pinned_clean(obj: Mapping[str, Any], verifier: Verifier, origin: str | None = None) -> Clean | None:
    """`verify_certificate`'s checks of the pinned fields in a single pass: what they prove, or None.

    None means "not shown valid here": run `verify_certificate`, which names the failure (or, for an
    unusual but valid form this pass leaves to it, accepts). The checkpoint's signature is verified on
    every call; only the parsing of the checkpoint text is cached.
    """
    try:
        code_text, entry64, proof_text = obj["code"], obj["entry"], obj["tlog_proof"]
        # -- the tlog-proof text: header, "index N", hashes, a blank line, the signed checkpoint
        head, sep, signed = proof_text.partition("\n\n")
        header, _, rest = head.partition("\n")
        index_line, _, hash_lines = rest.partition("\n")
        if not sep or header != PROOF_HEADER or index_line[:6] != "index ":
            return None  # no blank line, another header, an "extra" line...: the reference decides
        digits = index_line[6:]
        if not (digits.isascii() and digits.isdigit()) or (digits[0] == "0" and len(digits) > 1):
            return None
        index = int(digits)
        # -- the checkpoint: exactly one signature by this key, which verifies; the expected origin
        cp, message, sigs, root64 = _signed_parts(signed)
        name = verifier.name
        if cp.origin != (name if origin is None else origin):
            return None
        if len(sigs) == 1:  # the log's own signature alone (as the market signs)
            mine = sigs if sigs[0].name == name and sigs[0].key_id == verifier.key_id else ()
        else:  # cosigned: the other signatures are not read (open_note ignores unknown keys)
            mine = tuple(s for s in sigs if s.name == name and s.key_id == verifier.key_id)
        if len(mine) != 1 or not verifier.verify(message, mine[0].signature):
            return None
        # -- the entry, canonical base64 of canonical bytes whose seq is the index, under the root.
        # The hash lines must be canonical base64 here (TlogProof.parse takes any strict spelling:
        # a proof spelled otherwise goes to the reference, which decides).
        proven = _proven_entry_root(entry64, index, cp.size, hash_lines, True)
        if proven is None or proven[2] != cp.root:
            return None
        data, leaf, _ = proven
        entry = _unpackb(data)
        groups = _code_groups(code_text, index, leaf)
        # -- the code: its printed form, naming this index and this leaf hash, on a real date
        if groups is None:
            return None
        prefix, date, kind, hash_text = groups
    except (KeyError, TypeError, ValueError, binascii.Error, canonical.CanonicalError, NoteError, CheckpointError):
        return None
    return Clean(data, entry, leaf, index, cp, signed, root64, prefix, date, kind, hash_text)
