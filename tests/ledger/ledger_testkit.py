"""Shared helpers for the ledger tests (imported by conftest.py and the test modules): keys, payloads, BuiltLedger."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import Signer, SQLiteStore
from ledger.store.base import StoredCheckpoint

ORIGIN = "test.ledger.example"
SEED = bytes(range(32))
IMPOSTOR_SEED = bytes(range(32, 64))


def entry_body(i: int) -> dict[str, Any]:
    """A deterministic payload with nested maps, lists, bytes, negatives and non-ASCII text."""
    return {
        "lot": f"LOT-{i % 7:03d}",
        "amount": 1_000 + 37 * i,
        "delta": -i,
        "memo": f"出价 {i}",
        "blob": bytes([i % 256]) * (i % 5),
        "meta": {"b": [i, "x", None, True], "a": {"z": i % 3, "y": b"\x00"}},
    }


@dataclass
class BuiltLedger:
    """A ledger file built by the `make_ledger` fixture, and what an auditor would hold for it."""

    path: Path
    signer: Signer
    size: int
    checkpoints: list[StoredCheckpoint]
    vkey_file: Path

    @property
    def vkey(self) -> str:
        return self.signer.verifier.encode()

    def checkpoint(self, size: int) -> str:
        """The signed checkpoint note of exactly `size` entries."""
        return next(cp.note for cp in self.checkpoints if cp.size == size)

    def entries(self) -> list[bytes]:
        store = SQLiteStore(self.path, readonly=True)
        try:
            return [row.data for row in store.rows()]
        finally:
            store.close()

    def entries_b64(self) -> list[str]:
        return [base64.b64encode(d).decode() for d in self.entries()]
