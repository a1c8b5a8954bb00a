"""Idempotency keys: (actor, key) → the last outcome of the command sent under it, kept and rebuilt.

A client sends `Idempotency-Key` so that a retried request gets the first one's answer instead of
running twice. The key is recorded in the command's ledger entry (field `idem`), so this map is
rebuilt from the ledger on a restart (`restore`) and a retry after a crash is answered as the first
request would have been. Only an acceptance is answered again: a command whose last outcome was a
refusal runs again when retried (a refusal may have depended on the time or the phase, so it is
never a key's permanent answer); the key stays bound to its command either way, by the command's
fingerprint, and a different command under a used key is an `IdempotencyConflict`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from ledger import canonical

__all__ = ["IDEM_FIELD", "IdempotencyConflict", "IdempotencyKeys", "Remembered", "fingerprint"]

IDEM_FIELD = "idem"
"""The field of a command (and of its ledger entry) that holds its idempotency key."""
_NOT_FINGERPRINTED = frozenset({IDEM_FIELD, "sig"})

Remembered = tuple[bool, int, str | None, str | None, str | None, int]
"""A key's last outcome: (ok, seq, code, message, rule, target), as `LiveMarket.submit` answers it."""


class IdempotencyConflict(Exception):
    """The idempotency key was used before by the same actor for a different command."""


def fingerprint(cmd: Mapping[str, Any], withheld: tuple[str, ...] = ()) -> bytes:
    """SHA-256 of the command less its idempotency key, signature and the fields in `withheld`.

    `withheld` names the fields a refused command's ledger entry left out (`redacted`: a reveal's
    amount and nonce before its window, a sealed-bid lot's amounts), which the fingerprint must leave
    out too, to be the same whether it is computed from the request or rebuilt from the ledger after
    a restart. (A sealed field, a proxy's maximum, is fingerprinted in clear: the restart opens it.)
    """
    kept = {k: v for k, v in cmd.items() if k not in _NOT_FINGERPRINTED and k not in withheld}
    return hashlib.sha256(canonical.encode(kept)).digest()


class IdempotencyKeys:
    """The last outcome of every (actor, key), with the fingerprint of the command it belongs to."""

    def __init__(self) -> None:
        # (actor, key) -> (ok, seq, code, message, rule, target, fingerprint, withheld fields): plain tuples of
        # atoms, which the garbage collector stops tracking, so a long market's map costs no collection pauses.
        self._known: dict[tuple[str, str], tuple[Any, ...]] = {}

    def accepted(self, actor: str, key: str, cmd: Mapping[str, Any], fp: bytes) -> Remembered | None:
        """The outcome to answer again if `key` accepted this command before; None if it is new or was refused.

        `fp` is `fingerprint(cmd)`. Raises IdempotencyConflict if the key was used for another command.
        """
        known = self._known.get((actor, key))
        if known is None:
            return None
        ok, seq, code, message, rule, target, known_fp, withheld = known
        if (fingerprint(cmd, withheld) if withheld else fp) != known_fp:
            raise IdempotencyConflict(f"idempotency key {key!r} was used for a different command (entry {seq})")
        return (ok, seq, code, message, rule, target) if ok else None

    def remember(
        self,
        actor: str,
        key: str,
        cmd: Mapping[str, Any],
        outcome: Remembered,
        withheld: tuple[str, ...] = (),
        fp: bytes | None = None,
    ) -> None:
        """Record the key's last outcome; `withheld`: the fields its entry left out (a refusal's `redacted`)."""
        if fp is None or withheld:
            fp = fingerprint(cmd, withheld)
        self._known[(actor, key)] = (*outcome, fp, withheld)

    def restore(self, entry: Mapping[str, Any], cmd: Mapping[str, Any]) -> None:
        """Record the outcome of a command entry read from the ledger; `cmd` is the command as sent (opened)."""
        withheld = tuple(entry.get("redacted", ()))
        outcome = (entry["ok"], entry["seq"], entry.get("reason"), entry.get("message"), entry.get("rule"))
        # the key's last entry wins: a refusal retried and then accepted
        self.remember(entry["actor"], entry[IDEM_FIELD], cmd, (*outcome, entry["seq"] + 1), withheld)
