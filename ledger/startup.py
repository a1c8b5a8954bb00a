"""What a writer checks before it resumes a stored log: its key signed the log, and the store is intact.

A writer (the live market) signs new checkpoints on top of what it finds and serves the stored bytes
to the public, so before it opens the log for writing it must know that

- its signer key is the one that signed the stored checkpoints (`check_signer`): else every
  checkpoint it signs would fail verification with the market's published verifier key; and
- every stored entry still matches what was signed (`verify_stored`): the leaf hashes recomputed
  from the bytes, the `seq` and `prev` chain, every signed checkpoint's signature and root over
  those leaves, and every stored hash tile (the tree the log will prove from) recomputed from them —
  the whole of `audit_store`, whose checks these are (not a second copy of them) — after the store's
  own check of its file where it has one (SQLite's `quick_check`).

Both raise a LedgerError subclass whose message names the key IDs or the first entry at fault.
"""

from __future__ import annotations

from .audit import AuditReport, Problem, audit_store
from .log import LedgerError
from .note import NoteError, Signer, split_note
from .store.base import Store

__all__ = ["IntegrityError", "WrongKey", "check_signer", "verify_stored"]


class WrongKey(LedgerError):
    """The signer key is not the one that signed the stored checkpoints; the message names both key IDs."""


class IntegrityError(LedgerError):
    """The stored ledger does not match its signed checkpoints, or is damaged; the message names where."""

    def __init__(self, message: str, report: AuditReport) -> None:
        super().__init__(message)
        self.report = report

    @property
    def first(self) -> Problem:
        return self.report.problems[0]


def _key(name: str, key_id: bytes) -> str:
    return f"{name}+{key_id.hex()}"


def check_signer(store: Store, signer: Signer) -> None:
    """Refuse a signer whose key did not sign the latest stored checkpoint (none stored: nothing to check).

    Only the key IDs are compared here (name and the 4-byte hash of the key); `verify_stored`
    then checks every signature itself.
    """
    checkpoints = store.checkpoints()
    if not checkpoints:
        return
    latest = checkpoints[-1]
    try:
        _, signatures = split_note(latest.note)
    except NoteError as exc:
        raise LedgerError(f"the stored checkpoint of size {latest.size} is not a signed note: {exc}") from None
    ours = (signer.name, signer.key_id)
    if any((s.name, s.key_id) == ours for s in signatures):
        return
    theirs = ", ".join(dict.fromkeys(_key(s.name, s.key_id) for s in signatures)) or "no key"
    raise WrongKey(
        f"the signer key {_key(*ours)} is not the key that signed this ledger's checkpoints ({theirs},"
        f" on the latest, of size {latest.size}); refusing to sign with another key: give the market's own"
        " signer key"
    )


def verify_stored(store: Store, signer: Signer) -> list[bytes]:
    """Audit the whole store against the signer's verifier key; return every entry's bytes, in order.

    A store with a `check_structure` method (SQLite) first checks its own file with it. Raises
    IntegrityError naming the first problem (an entry index, or a checkpoint's size) and how many
    there are in all; StoreError if the store cannot be read or its file is damaged.
    """
    check_structure = getattr(store, "check_structure", None)  # SQLite: the file's own b-trees, indexes too
    if check_structure is not None:
        check_structure()
    entries: list[bytes] = []
    report = audit_store(store, signer.verifier, keep=entries)
    if report.ok:
        return entries
    first = report.problems[0]
    more = len(report.problems) - 1
    others = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    raise IntegrityError(
        f"the stored ledger does not match what was signed: {first.message}{others}",
        report,
    )
