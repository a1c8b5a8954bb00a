"""A lot whose bids are signed: its certificate's transcript carries its bidders' key entries and replays.

Whether a bidder's command is accepted depends on its key in force, which `bind_key` and `reset_key`
entries (naming no lot) set: a transcript without them would not replay. The certificate's replay
then checks every bidder signature of the lot, and a forged one fails it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auction_engine.bidder_keys import sign_statement
from auction_engine.certificates import issue, transcript_indices, verify
from auction_engine.certificates.issuer import Issuer
from auction_engine.model import DAY, MINUTE
from auction_engine.signing import sign_command
from ledger import Log, SQLiteStore, canonical

from .market import SIGNER, Market, rebuild

KEYS = {bidder: Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32) for n, bidder in enumerate("AB", start=1)}


def _signed(m: Market, bidder: str, idem: str, **fields: Any) -> None:
    key = KEYS[bidder]
    cmd: dict[str, Any] = {"actor": bidder, "idem": idem, "key": key.public_key().public_bytes_raw(), **fields}
    cmd["sig"] = sign_command(key, SIGNER.name, cmd)
    result = m.engine.submit(cmd)
    assert result.ok, (result.code, result.message)


def _signed_market(path: Path) -> tuple[Market, str]:
    m = Market(path)
    for bidder, key in KEYS.items():
        m.ok("bind_key", bidder, statement=sign_statement(SIGNER.name, bidder, 0, key.private_bytes_raw()))
    m.ok(
        "open_lot",
        lot="L1",
        mode="english",
        params={"start_price": 100_000, "increment": 10_000, "require_signed_bids": True},
    )
    m.ok("open_lot", lot="L2", mode="english", params={"start_price": 100_000, "increment": 10_000})
    for party in ("A", "B", "C"):
        m.ok("deposit", lot="L1", party=party, amount=20_000)
    m.no("bid", "C", lot="L1", amount=100_000)  # C has bound no key: refused on L1
    _signed(m, "A", "a1", op="bid", lot="L1", amount=100_000)
    _signed(m, "B", "b1", op="bid", lot="L1", amount=110_000)
    m.run(61 * MINUTE)
    _signed(m, "A", "a2", op="bid", lot="L1", amount=120_000)
    m.run(10 * MINUTE)
    deal = m.deals()["L1"]
    m.ok("pay", lot="L1", amount=deal["cash"])
    m.run(8 * DAY)
    m.close()
    code = next(e.data["code"] for e in m.engine.events if e.kind == "txcode")
    return m, code


def test_the_transcript_carries_the_key_entries_and_checks_the_signatures(tmp_path: Path) -> None:
    m, code = _signed_market(tmp_path / "signed.db")
    log = Log(SQLiteStore(m.path, readonly=True), readonly=True, origin=SIGNER.name)
    entries = list(log.entries())
    indices = transcript_indices(entries, "L1", "main")
    kinds = [canonical.decode(entries[i])["kind"] for i in indices]
    assert kinds.count("bind_key") == 2  # A's and B's (C acted on L1 but has no key entry)
    many = Issuer(log, many=True)
    assert many.transcript("L1", "main", len(entries)) == indices  # the one-pass index agrees
    cert = issue(log, code, transcript=True)
    verdict = verify(cert, SIGNER.verifier, replay=True)
    assert verdict.ok, (verdict.reason, verdict.message)


def test_a_forged_signature_in_the_transcript_fails_the_replay(tmp_path: Path) -> None:
    """The operator, holding the market key, rewrites A's signed winning bid's amount: chain and
    signatures of the log hold, the rules accept it (the key is in force), the bidder signature does not."""
    m, _ = _signed_market(tmp_path / "honest.db")
    log = Log(SQLiteStore(m.path, readonly=True), readonly=True, origin=SIGNER.name)
    entries = list(log.entries())

    def change(entry: dict[str, Any]) -> None:
        if entry["kind"] == "bid" and entry.get("idem") == "a1":
            entry["sig"] = bytes(64)  # a bid A never signed

    forged_path = rebuild(entries, tmp_path / "forged.db", change)
    forged = Log(SQLiteStore(forged_path, readonly=True), readonly=True, origin=SIGNER.name)
    forged_code = next(
        e["code"] for e in map(canonical.decode, forged.entries()) if e["kind"] == "txcode"
    )  # re-derived from the re-chained deal entry
    cert = issue(forged, forged_code, transcript=True)
    verdict = verify(cert, SIGNER.verifier, replay=True)
    assert not verdict.ok and verdict.reason == "replay"
    forged_at = next(
        i for i, e in enumerate(map(canonical.decode, forged.entries())) if e["kind"] == "bid" and e.get("idem") == "a1"
    )
    assert f"entry {forged_at} (bid)" in (verdict.message or "") and "signature" in (verdict.message or "")
    assert base64.b64decode(cert["entry"])  # the certificate itself was issued: only the replay catches it
