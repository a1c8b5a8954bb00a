"""Idempotency keys: (actor, key) → the last outcome of the command sent under it, kept and rebuilt.

A client sends `Idempotency-Key` so that a retried request gets the first one's answer instead of
running twice. The key is recorded in the command's ledger entry (field `idem`), so this map is
rebuilt from the ledger on a restart (`restore`) and a retry after a crash is answered as the first
request would have been. Only an acceptance is answered again: a command whose last outcome was a
refusal runs again when retried (a refusal may have depended on the time or the phase, so it is
never a key's permanent answer); the key stays bound to its command either way, by the command's
fingerprint, and a different command under a used key is an `IdempotencyConflict`.

A key is kept for a window (`DEFAULT_WINDOW_MS`, 24 hours) of ledger time after its last command
entry, then forgotten (`prune`): a request repeated within the window gets its first answer, also
after a restart (the keys travel in the market's snapshot, docs/formats.md §14, and the entries after
it); one repeated later runs as a new command. The window is measured in entry times, not the wall
clock, so the keys a snapshot holds are a function of the ledger alone.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Mapping
from typing import Any

from ledger import canonical

__all__ = ["DEFAULT_WINDOW_MS", "IDEM_FIELD", "IdempotencyConflict", "IdempotencyKeys", "Remembered", "fingerprint"]

DEFAULT_WINDOW_MS = 24 * 3600 * 1000
"""How long (in ledger time) a key is remembered after its last command: 24 hours."""

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
    """The last outcome of every (actor, key) used within the window, with the fingerprint of its command."""

    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS) -> None:
        self.window_ms = window_ms
        # (actor, key) -> (ok, seq, code, message, rule, target, fingerprint, withheld fields, t): plain tuples of
        # atoms, which the garbage collector stops tracking, so a long market's map costs no collection pauses.
        self._known: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._order: deque[tuple[int, tuple[str, str]]] = deque()  # (t, key) as remembered, oldest first

    def __len__(self) -> int:
        return len(self._known)

    def accepted(self, actor: str, key: str, cmd: Mapping[str, Any], fp: bytes) -> Remembered | None:
        """The outcome to answer again if `key` accepted this command before; None if it is new or was refused.

        `fp` is `fingerprint(cmd)`. Raises IdempotencyConflict if the key was used for another command.
        """
        known = self._known.get((actor, key))
        if known is None:
            return None
        ok, seq, code, message, rule, target, known_fp, withheld, _ = known
        if (fingerprint(cmd, withheld) if withheld else fp) != known_fp:
            raise IdempotencyConflict(f"idempotency key {key!r} was used for a different command (entry {seq})")
        return (ok, seq, code, message, rule, target) if ok else None

    def remember(
        self,
        actor: str,
        key: str,
        cmd: Mapping[str, Any],
        outcome: Remembered,
        t: int,
        withheld: tuple[str, ...] = (),
        fp: bytes | None = None,
    ) -> None:
        """Record the key's last outcome, of a command entry at time `t`; `withheld`: the fields its entry
        left out (a refusal's `redacted`)."""
        if fp is None or withheld:
            fp = fingerprint(cmd, withheld)
        name = (actor, key)
        self._known.pop(name, None)  # re-inserted last: the map stays in the order of the last use
        self._known[name] = (*outcome, fp, withheld, t)
        self._order.append((t, name))

    def restore(self, entry: Mapping[str, Any], cmd: Mapping[str, Any]) -> None:
        """Record the outcome of a command entry read from the ledger; `cmd` is the command as sent (opened)."""
        withheld = tuple(entry.get("redacted", ()))
        outcome = (entry["ok"], entry["seq"], entry.get("reason"), entry.get("message"), entry.get("rule"))
        # the key's last entry wins: a refusal retried and then accepted
        self.remember(entry["actor"], entry[IDEM_FIELD], cmd, (*outcome, entry["seq"] + 1), entry["t"], withheld)

    def prune(self, now: int) -> int:
        """Forget every key last used before `now - window_ms` (ledger time); return how many."""
        horizon = now - self.window_ms
        order, known = self._order, self._known
        dropped = 0
        while order and order[0][0] < horizon:
            t, name = order.popleft()
            record = known.get(name)
            if record is not None and record[-1] == t:  # not used again since
                del known[name]
                dropped += 1
        return dropped

    def state(self) -> list[tuple[Any, ...]]:
        """Every key's record as (actor, key, ...the record), in the order of their last use.

        The record's target (the log size its answer waited for) is given as the entry's index + 1, as
        `restore` rebuilds it: after a restart everything is durable, so the two answer alike.
        """
        return [(*name, *record[:5], record[1] + 1, *record[6:]) for name, record in self._known.items()]

    @classmethod
    def from_state(cls, records: list[tuple[Any, ...]], window_ms: int = DEFAULT_WINDOW_MS) -> IdempotencyKeys:
        keys = cls(window_ms)
        for actor, key, *record in records:
            keys._known[(actor, key)] = tuple(record)
            keys._order.append((record[-1], (actor, key)))
        return keys
