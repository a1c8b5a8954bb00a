"""Fixtures for certificate tests: the session market (see market.py) and its certificates."""

from __future__ import annotations

import pytest

from auction_engine.certificates import issue
from ledger import Log, SQLiteStore

from .market import SIGNER, Built, run_market


@pytest.fixture(scope="session")
def market(tmp_path_factory: pytest.TempPathFactory) -> Built:
    path = tmp_path_factory.mktemp("market") / "ledger.db"
    m = run_market(path)
    codes = {lot: code for code, lot in m.engine.codes.items()}
    log = Log(SQLiteStore(path, readonly=True), readonly=True, origin=SIGNER.name)
    certs = {lot: issue(log, code, transcript=True) for lot, code in codes.items()}
    entries = list(log.entries())
    log.store.close()
    return Built(path, codes, certs, entries)
