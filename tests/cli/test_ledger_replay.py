"""`auction-engine ledger replay DB --vkey VKEY [--json]`: the store audit, then the rules, and its exit codes 0/1/2."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auction_engine.bidder_keys import sign_statement
from auction_engine.cli import main
from auction_engine.clock import ManualClock
from auction_engine.engine import Engine
from auction_engine.model import MINUTE
from auction_engine.signing import sign_command
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, canonical

T0 = 1_700_000_000_000
SIGNER = Signer("test.market", bytes(32))
IMPOSTOR = Signer("test.market", bytes(range(1, 33)))  # same name, another key
OP = "operator"
PARAMS = {"start_price": 100_000, "increment": 10_000, "free_ms": 10 * MINUTE, "countdown_ms": 2 * MINUTE}
SEED_A = bytes([7]) * 32  # bidder A's Ed25519 key
PARTIAL_LINE = "; entry {n} reads a sealed value that is not public yet (its lot is still being priced)"


def run(*args: Any) -> Result:
    return CliRunner().invoke(main, ["ledger", "replay", *(str(a) for a in args)])


def report(*args: Any) -> dict[str, Any]:
    result = run(*args, "--json")
    parsed: dict[str, Any] = json.loads(result.stdout)
    parsed["exit_code"] = result.exit_code
    return parsed


@dataclass
class Session:
    """A market on a manual clock writing to a signed SQLite ledger, and the entry indices worth naming."""

    path: Path
    log: Log
    clock: ManualClock
    engine: Engine
    seqs: dict[str, int]

    def ok(self, op: str, actor: str = OP, name: str | None = None, **fields: Any) -> int:
        result = self.engine.submit({"op": op, "actor": actor, **fields})
        assert result.ok, f"{op} by {actor} rejected: {result.code}: {result.message}"
        if name is not None:
            self.seqs[name] = result.seq
        return result.seq

    def advance(self, ms: int) -> None:
        self.clock.advance(self.clock.now() + ms)

    def signed_bid(self, lot: str, amount: int, idem: str, *, forged: bool = False) -> int:
        """A's bid carrying A's key in force and its signature (64 zero bytes when `forged`)."""
        private = Ed25519PrivateKey.from_private_bytes(SEED_A)
        key = private.public_key().public_bytes_raw()
        fields: dict[str, Any] = {"lot": lot, "amount": amount, "idem": idem, "key": key}
        sig = b"\x00" * 64 if forged else sign_command(private, self.log.origin, {"op": "bid", "actor": "A", **fields})
        return self.ok("bid", "A", name=f"bid_{idem}", **fields, sig=sig)

    def close(self) -> Path:
        self.log.sign_checkpoint()
        self.log.commit()
        self.log.close()
        return self.path


def session(tmp_path: Path, name: str = "market.db") -> Session:
    path = tmp_path / name
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(8, None))
    clock = ManualClock(T0)
    s = Session(path, log, clock, Engine(market="m", clock=clock, log=log), {})
    s.ok("bind_key", "A", statement=sign_statement(log.origin, "A", 0, SEED_A))
    return s


def open_english(s: Session, lot: str) -> None:
    s.ok("open_lot", lot=lot, mode="english", params=PARAMS)
    for party in ("A", "B", "C"):
        s.ok("deposit", lot=lot, party=party, amount=10_000)


def sold(s: Session, *, forged: bool = False) -> None:
    """Lot L1: A's signed bid, B's proxy (revealed when the lot closes), B buys."""
    open_english(s, "L1")
    s.signed_bid("L1", 100_000, "L1-1", forged=forged)
    s.ok("proxy", "B", lot="L1", max=150_000, name="proxy_L1")
    s.advance(30 * MINUTE)
    assert s.engine.lot("L1").phase == "awaiting_payment"


@pytest.fixture
def vkey(tmp_path: Path) -> Path:
    path = tmp_path / "market.vkey"
    path.write_text(SIGNER.verifier.encode() + "\n")
    return path


@pytest.fixture
def honest(tmp_path: Path) -> Session:
    s = session(tmp_path)
    sold(s)
    s.close()
    return s


# -- an honest ledger --------------------------------------------------------------------------------------


def test_an_honest_ledger_with_a_sale_replays(honest: Session, vkey: Path) -> None:
    result = run(honest.path, "--vkey", vkey)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"ledger {honest.path}: REPLAYED"
    size = honest.log.size
    assert "  origin:      test.market" in lines and f"  entries:     {size}" in lines
    assert "  commands:    7 replayed" in lines and "  deals:       1" in lines
    assert "  signatures:  1 bidder signatures checked, 0 pending (sealed, not yet revealed)" in lines
    assert "PARTIAL" not in result.stdout and "FAILED" not in result.stdout


def test_json_fields(honest: Session, vkey: Path) -> None:
    out = report(honest.path, "--vkey", SIGNER.verifier.encode())  # the key inline, as for `ledger verify`
    assert out.pop("exit_code") == 0
    assert set(out) == {
        "ok", "complete", "origin", "entries", "commands", "deals", "signatures_checked", "signatures_pending",
        "index", "message", "audit",
    }  # fmt: skip
    assert out["ok"] is True and out["complete"] is True
    assert out["origin"] == "test.market" and out["entries"] == honest.log.size
    assert (out["commands"], out["deals"], out["signatures_checked"], out["signatures_pending"]) == (7, 1, 1, 0)
    assert out["index"] is None and out["message"] is None
    verify = CliRunner().invoke(main, ["ledger", "verify", str(honest.path), "--vkey", str(vkey), "--json"])
    assert out["audit"] == json.loads(verify.stdout)  # the audit is `ledger verify`'s report


def test_replay_does_not_write_to_the_ledger(honest: Session, vkey: Path) -> None:
    before = honest.path.read_bytes()
    assert run(honest.path, "--vkey", vkey).exit_code == 0
    assert honest.path.read_bytes() == before


# -- failures: exit 1 --------------------------------------------------------------------------------------


def test_a_bid_with_a_bad_bidder_signature_fails_naming_the_entry(tmp_path: Path, vkey: Path) -> None:
    """The operator ran a bid whose signature is not A's: the rules only check that the key is in force."""
    s = session(tmp_path)
    sold(s, forged=True)
    s.close()
    bad = s.seqs["bid_L1-1"]
    result = run(s.path, "--vkey", vkey)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == f"ledger {s.path}: FAILED"
    said = f"  entry {bad}: the bid of A (entry {bad}) carries a signature that does not verify under its key in force"
    assert said in result.stdout
    out = report(s.path, "--vkey", vkey)
    assert out["exit_code"] == 1 and out["ok"] is False and out["complete"] is False
    assert out["index"] == bad and "does not verify" in out["message"]
    assert out["audit"]["ok"] is True  # the store itself is sound: the market signed what it ran


def test_a_re_signed_price_the_rules_do_not_produce_fails(honest: Session, tmp_path: Path, vkey: Path) -> None:
    """The operator rewrites the deal's price and signs the result with its key: the audit passes, the rules do not."""
    forged = tmp_path / "forged.db"
    log = Log(SQLiteStore(forged), SIGNER, policy=CheckpointPolicy(None, None))
    deal_at = None
    for data in _entries(honest.path):
        entry = canonical.decode(data)
        if entry["kind"] == "deal":
            deal_at, entry["price"] = entry["seq"], entry["price"] - 10_000
        log.append(entry["kind"], {k: v for k, v in entry.items() if k not in ("seq", "prev", "t", "kind")}, entry["t"])
    log.sign_checkpoint()
    log.close()
    assert CliRunner().invoke(main, ["ledger", "verify", str(forged), "--vkey", str(vkey)]).exit_code == 0
    result = run(forged, "--vkey", vkey)
    assert result.exit_code == 1, result.output
    assert f"  entry {deal_at}: the ledger holds [" in result.stdout and "but the rules produce [" in result.stdout


def test_a_wrong_vkey_fails_the_audit_as_ledger_verify_does(honest: Session) -> None:
    wrong = IMPOSTOR.verifier.encode()
    assert CliRunner().invoke(main, ["ledger", "verify", str(honest.path), "--vkey", wrong]).exit_code == 1
    result = run(honest.path, "--vkey", wrong)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[0] == f"ledger {honest.path}: FAILED"
    assert "  replay:      not run: the store audit failed" in result.stdout
    assert "FAIL [checkpoint_signature] checkpoint 8" in result.stdout
    out = report(honest.path, "--vkey", wrong)
    assert out["exit_code"] == 1 and out["ok"] is False and out["complete"] is False
    assert out["audit"]["ok"] is False and out["commands"] == 0
    assert out["message"].startswith("the store audit failed: [checkpoint_signature]")


def test_an_altered_entry_fails_the_audit_before_any_replay(honest: Session, vkey: Path) -> None:
    with sqlite3.connect(honest.path) as db:
        (data,) = db.execute("SELECT data FROM entries WHERE seq = 3").fetchone()
        db.execute("UPDATE entries SET data = ? WHERE seq = 3", (data.replace(b"L1", b"L9"),))
    db.close()
    result = run(honest.path, "--vkey", vkey)
    assert result.exit_code == 1, result.output
    assert "FAIL [leaf_hash] entry 3" in result.stdout and "not run: the store audit failed" in result.stdout
    assert report(honest.path, "--vkey", vkey)["index"] == 3


def test_a_ledger_that_is_not_a_market_fails(tmp_path: Path, vkey: Path) -> None:
    log = Log(SQLiteStore(tmp_path / "other.db"), SIGNER, policy=CheckpointPolicy(None, None))
    log.append("test.entry", {"n": 1}, t=1)
    log.sign_checkpoint()
    log.close()
    result = run(tmp_path / "other.db", "--vkey", vkey)
    assert result.exit_code == 1 and "  entry 0: the first entry is not open_market" in result.stdout


# -- bad input: exit 2 -------------------------------------------------------------------------------------


def test_unreadable_databases_exit_2(tmp_path: Path, vkey: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 100)
    for path in (tmp_path / "missing.db", garbage, tmp_path):
        result = run(path, "--vkey", vkey)
        assert result.exit_code == 2, (path, result.output)
        assert result.stderr.startswith("error: "), result.output
    assert not (tmp_path / "missing.db").exists()  # reading never creates a database


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vkey", "garbage+zz+!!"], "verifier key: "),
        (["--vkey", "no-such-file"], "cannot read verifier key file"),
        ([], "Missing option '--vkey'"),
    ],
)
def test_bad_usage_exits_2(honest: Session, args: list[str], message: str) -> None:
    result = run(honest.path, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


# -- a lot still being priced: PARTIAL, exit 0 -------------------------------------------------------------


def partial(tmp_path: Path, *, forged: bool = False) -> Session:
    """L1 sold; then L2 open, A's signed bid on it and C's standing proxy (its maximum sealed, not revealed)."""
    s = session(tmp_path)
    sold(s)
    open_english(s, "L2")
    s.signed_bid("L2", 100_000, "L2-1", forged=forged)
    s.ok("proxy", "C", lot="L2", max=200_000, name="proxy_L2")
    s.advance(MINUTE)
    assert s.engine.lot("L2").phase not in ("awaiting_payment", "no_sale")
    s.close()
    return s


def test_an_open_lot_with_a_standing_proxy_replays_partially(tmp_path: Path, vkey: Path) -> None:
    s = partial(tmp_path)
    n = s.seqs["proxy_L2"]
    result = run(s.path, "--vkey", vkey)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"ledger {s.path}: PARTIAL"
    assert f"PARTIAL: replayed up to entry {n}{PARTIAL_LINE.format(n=n)}" in lines
    assert f"  entry {n}: the proxy max of entry {n} is sealed and not revealed yet" in result.stdout
    # what was replayed: entries 0..n-1, L1's sale among them, and both of A's signed bids
    assert "  deals:       1" in lines and f"  entries:     {s.log.size}" in lines
    assert "  signatures:  2 bidder signatures checked, 0 pending (sealed, not yet revealed)" in lines
    commands = sum("ok" in canonical.decode(d) for d in _entries(s.path)[:n])
    assert f"  commands:    {commands} replayed" in lines
    out = report(s.path, "--vkey", vkey)
    assert out["exit_code"] == 0 and out["ok"] is True and out["complete"] is False
    assert out["index"] == n and "not revealed yet" in out["message"]
    assert (out["commands"], out["deals"], out["signatures_checked"]) == (commands, 1, 2)


def test_a_proxy_revealed_after_the_sealed_value_opens_in_the_partial_replay(tmp_path: Path, vkey: Path) -> None:
    """L1's proxy comes before L2's, but L1 closes (and reveals it) after: the replayed part still opens it."""
    s = session(tmp_path)
    open_english(s, "L1")
    s.signed_bid("L1", 100_000, "L1-1")
    s.ok("proxy", "B", lot="L1", max=150_000, name="proxy_L1")
    s.ok("open_lot", lot="L2", mode="english", params={**PARAMS, "free_ms": 60 * MINUTE})
    s.ok("deposit", lot="L2", party="C", amount=10_000)
    s.ok("proxy", "C", lot="L2", max=200_000, name="proxy_L2")
    s.advance(30 * MINUTE)
    assert (s.engine.lot("L1").phase, s.engine.lot("L2").phase) == ("awaiting_payment", "free")
    s.close()
    out = report(s.path, "--vkey", vkey)
    assert out["exit_code"] == 0 and out["complete"] is False, out
    assert out["index"] == s.seqs["proxy_L2"] and out["signatures_checked"] == 1
    assert out["commands"] == sum("ok" in canonical.decode(d) for d in _entries(s.path)[: s.seqs["proxy_L2"]])


def test_a_bad_signature_before_the_sealed_value_still_fails(tmp_path: Path, vkey: Path) -> None:
    """A partial replay checks every bidder signature of the part it replayed."""
    s = partial(tmp_path, forged=True)
    bad = s.seqs["bid_L2-1"]
    assert bad < s.seqs["proxy_L2"]
    result = run(s.path, "--vkey", vkey)
    assert result.exit_code == 1, result.output
    said = f"  entry {bad}: the bid of A (entry {bad}) carries a signature"
    assert "PARTIAL" not in result.stdout and said in result.stdout
    out = report(s.path, "--vkey", vkey)
    assert (out["exit_code"], out["ok"], out["complete"], out["index"]) == (1, False, False, bad)


def _entries(path: Path) -> list[bytes]:
    store = SQLiteStore(path, readonly=True)
    try:
        return [row.data for row in store.rows()]
    finally:
        store.close()
