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

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import canonical

from ..market import RESULT_FIELDS, SEALED_FIELDS

__all__ = ["PREFIX", "RESULT_AND_SIG", "command_from_entry", "sign_command", "signed_message", "verify_command"]

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
