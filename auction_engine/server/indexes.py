"""What the live market keeps beside the engine, folded from the ledger: each lot's entries, the codes, the keys.

- `sessions`: every entry naming a lot, by lot, and the sub-market openings (a certificate's
  transcript is then read from the store without reading the whole ledger);
- `codes_at`: transaction code -> index of its txcode entry;
- `keys`: the idempotency keys' outcomes within their window (`idempotency.py`).

All three are a fold of the ledger: `add` takes each entry in order, live (from the engine's events)
or on a restart (from the stored entries after the snapshot); `state` / `from_state` carry them in a
snapshot, and a snapshot check compares `state()` with that of a fold of the ledger prefix.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any

from ..certificates import index_entry, new_session_index
from ..market import SEALED_FIELDS
from ..replay import command_of
from ..vault import Vault
from .idempotency import DEFAULT_WINDOW_MS, IDEM_FIELD, IdempotencyKeys

__all__ = ["MarketIndexes"]


def _int_array() -> array[int]:
    return array("q")


class MarketIndexes:
    """The sessions index, the codes' entries and the idempotency keys of one market."""

    def __init__(self, window_ms: int = DEFAULT_WINDOW_MS) -> None:
        self.sessions = new_session_index(_int_array)
        self.codes_at: dict[str, int] = {}
        self.keys = IdempotencyKeys(window_ms)

    def add(self, seq: int, kind: str, fields: Mapping[str, Any]) -> None:
        """Index one entry (live: the engine's event; its idempotency key is remembered by `submit`)."""
        index_entry(self.sessions, seq, kind, fields)
        if kind == "txcode":
            self.codes_at[fields["code"]] = seq

    def restore(self, entry: Mapping[str, Any], vault: Vault) -> None:
        """Index one entry read from the ledger, with its idempotency key (the command opened by `vault`)."""
        self.add(entry["seq"], entry["kind"], entry)
        if "ok" not in entry or IDEM_FIELD not in entry:
            return
        cmd = command_of(dict(entry))
        if entry["kind"] in SEALED_FIELDS and "commitment" in cmd:  # the command as sent: its sealed fields opened
            fields, _ = vault.open(entry["seq"], cmd) or ({}, b"")
            cmd = {k: v for k, v in cmd.items() if k not in ("commitment", "sealed")} | fields
        self.keys.restore(entry, cmd)

    def state(self, now: int) -> dict[str, Any]:
        """The indexes as plain data, the keys pruned to the window ending at ledger time `now`."""
        self.keys.prune(now)
        by_lot, openings, actors, key_entries = self.sessions
        return {
            "by_lot": {lot: seqs.tobytes() for lot, seqs in by_lot.items()},
            "openings": {name: seqs.tobytes() for name, seqs in openings.items()},
            "actors": {lot: sorted(names) for lot, names in actors.items()},
            "key_entries": {holder: seqs.tobytes() for holder, seqs in key_entries.items()},
            "codes_at": self.codes_at,
            "keys": self.keys.state(),
            "window_ms": self.keys.window_ms,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MarketIndexes:
        indexes = cls(state["window_ms"])
        by_lot, openings, actors, key_entries = indexes.sessions
        for target, source in (
            (by_lot, state["by_lot"]),
            (openings, state["openings"]),
            (key_entries, state["key_entries"]),
        ):
            for name, data in source.items():
                seqs = _int_array()
                seqs.frombytes(data)
                target[name] = seqs
        for lot, names in state["actors"].items():
            actors[lot] = set(names)
        indexes.codes_at = dict(state["codes_at"])
        indexes.keys = IdempotencyKeys.from_state([tuple(r) for r in state["keys"]], state["window_ms"])
        return indexes
