"""Fixtures for the ledger tests: fixed keys, and small SQLite ledgers built the way the market builds them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ledger_testkit import IMPOSTOR_SEED, ORIGIN, SEED, BuiltLedger, entry_body

from ledger import CheckpointPolicy, Log, Signer, SQLiteStore


@pytest.fixture(scope="session")
def signer() -> Signer:
    """The market's signing key (fixed, so every run builds identical ledgers)."""
    return Signer(ORIGIN, SEED)


@pytest.fixture(scope="session")
def impostor() -> Signer:
    """A different key under the same name: what a forger without the market's key would use."""
    return Signer(ORIGIN, IMPOSTOR_SEED)


@pytest.fixture
def make_ledger(tmp_path: Path, signer: Signer) -> Callable[..., BuiltLedger]:
    """Build a SQLite ledger of `n` entries with a checkpoint every `every` entries (and one at the end)."""

    def make(
        n: int = 40,
        every: int | None = 10,
        *,
        name: str = "ledger.db",
        batch: int = 7,
        key: Signer | None = None,
        body: Callable[[int], dict[str, Any]] = entry_body,
        final_checkpoint: bool = True,
    ) -> BuiltLedger:
        key = key or signer
        path = tmp_path / name
        log = Log(SQLiteStore(path), key, policy=CheckpointPolicy(every_entries=every, every_ms=None))
        for i in range(n):
            log.append("test.entry", body(i), t=1_000 * i)
            if i % batch == batch - 1:
                log.commit()
        if final_checkpoint:
            log.sign_checkpoint()
        log.close()
        vkey_file = tmp_path / f"{name}.vkey"
        vkey_file.write_text(key.verifier.encode() + "\n")
        store = SQLiteStore(path, readonly=True)
        checkpoints = store.checkpoints()
        store.close()
        return BuiltLedger(path, key, n, checkpoints, vkey_file)

    return make
