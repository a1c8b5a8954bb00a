"""Bidder-signed commands: the bytes a bidder signs with its own Ed25519 key (normative).

    message = b"auction-engine/signed-command/v1\\n" + market + b"\\n" + canonical(command)

`market` is the log's origin (UTF-8), so a signature cannot be replayed on another market;
`canonical(command)` is the canonical msgpack (docs/formats.md) of the command exactly as the
ledger records it, less the result fields and less `sig`: `op`, `actor`, `lot`, the op's own
arguments, `idem` (the idempotency key, which a signed command must carry, so the same signed
command can never be recorded twice) and `key` (the bidder's 32-byte public key). The ledger entry
holds `sig` (64 bytes) beside those fields, so an auditor checks a bid from the entry alone:
take the entry's fields less seq/prev/t/kind/ok/rule/reason/message/out/sig, add `op` = its kind,
encode canonically and verify `sig` under `key`. A sealed command (a proxy, whose `max` the entry
holds only as `commitment` and `sealed`) is checked once its lot's `proxy_reveal` has published the
maximum: `command_from_entry(entry, reveal)` puts it back. A refused reveal, whose entry withholds the
amount and nonce, cannot be checked from the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import canonical

from .market import RESULT_FIELDS, SEALED_FIELDS
from .vault import reveal_kind, reveal_seq_field

__all__ = [
    "PREFIX",
    "RESULT_AND_SIG",
    "SignatureAudit",
    "check_entries",
    "command_from_entry",
    "sign_command",
    "signed_message",
    "verify_command",
]

PREFIX = b"auction-engine/signed-command/v1\n"
RESULT_AND_SIG = RESULT_FIELDS | {"sig"}  # what the engine and the ledger add to a command, and the signature


def signed_message(market: str, command: Mapping[str, Any]) -> bytes:
    """The bytes signed for `command` (its `sig` field, if any, left out)."""
    fields = {k: v for k, v in command.items() if k != "sig"}
    return PREFIX + market.encode("utf-8") + b"\n" + canonical.encode(fields)


def sign_command(private_key: Ed25519PrivateKey, market: str, command: Mapping[str, Any]) -> bytes:
    """A bidder's signature over `command` (which must already hold `key` and `idem`)."""
    return private_key.sign(signed_message(market, command))


def verify_command(market: str, command: Mapping[str, Any], signature: bytes, pubkey: bytes) -> bool:
    """True when `signature` is the holder of `pubkey` signing `command` on `market`."""
    if len(signature) != 64 or len(pubkey) != 32:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pubkey).verify(signature, signed_message(market, command))
    except (InvalidSignature, ValueError):
        return False
    return True


def command_from_entry(entry: Mapping[str, Any], reveal: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The signed command a ledger entry records (for an auditor's check of `sig`).

    For a sealed command, pass the `<op>_reveal` entry that opened it: the command's sealed fields are
    then taken from it, in place of the entry's `commitment` and `sealed` (which the sender never sent).
    """
    out = {k: v for k, v in entry.items() if k not in RESULT_AND_SIG}
    out["op"] = entry["kind"]
    if reveal is not None:
        out.pop("commitment", None)
        out.pop("sealed", None)
        out.update((name, reveal[name]) for name in SEALED_FIELDS.get(out["op"], ()) if name in reveal)
    return out


@dataclass
class SignatureAudit:
    """Every bidder signature of a ledger checked: how many held, how many cannot be checked yet, the first bad
    (`bad_index`: its position among the entries given, which for a whole ledger is its index)."""

    checked: int = 0
    pending: int = 0  # sealed commands not revealed yet
    bad_index: int | None = None
    bad_message: str | None = None

    @property
    def ok(self) -> bool:
        return self.bad_index is None


def check_entries(entries: Iterable[Mapping[str, Any]], origin: str) -> SignatureAudit:
    """Check the `sig` of every accepted command entry that carries one against the entry's `key` on `origin`.

    A replay that agreed with the rules has already shown that an accepted entry's `key` is its
    bidder's key in force at that entry (`bidder_keys.check_signed`), so this checks every accepted
    command's signature against the key in force. A refused command changed nothing, and its `key`
    was not necessarily in force: it is not checked. Stops at the first signature that does not verify.
    """
    decoded = list(entries)
    reveals: dict[int, Mapping[str, Any]] = {}
    kinds = {reveal_kind(op): reveal_seq_field(op) for op in SEALED_FIELDS}
    for entry in decoded:
        seq_field = kinds.get(entry.get("kind", ""))
        if seq_field is not None and type(entry.get(seq_field)) is int:
            reveals[entry[seq_field]] = entry
    audit = SignatureAudit()
    for position, entry in enumerate(decoded):
        sig, key = entry.get("sig"), entry.get("key")
        if entry.get("ok") is not True or sig is None:
            continue
        sealed = "commitment" in entry
        reveal = reveals.get(entry.get("seq", -1)) if sealed else None
        if sealed and reveal is None:
            audit.pending += 1
            continue
        good = type(sig) is bytes and type(key) is bytes and type(origin) is str
        if good and verify_command(origin, command_from_entry(entry, reveal), sig, key):
            audit.checked += 1
            continue
        audit.bad_index = position
        shown = key.hex()[:16] if type(key) is bytes else repr(key)
        audit.bad_message = (
            f"the {entry.get('kind')} of {entry.get('actor')} (entry {entry.get('seq')}) carries a signature that"
            f" does not verify under its key in force ({shown}…) on {origin}"
        )
        return audit
    return audit
