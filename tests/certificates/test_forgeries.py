"""Re-run forgeries (docs/auditor.md §9): an operator holding the market key re-runs history with a changed stream.

Each forged ledger is built WITH THE ENGINE: two `Market`s (same SIGNER, same T0) are fed the honest
command stream and a changed one, and both close with a signed checkpoint. The forged ledger is then
chained and signed like any other: it passes `audit_store` and `replay()` (the rules reproduce it), so
those checks cannot catch it. What does:

- receipts (§8): the honest run's receipt of a bidder's entry at or after the first changed entry
  fails `receipt check` against the forged ledger with DIFFERENT (the entries are hash-chained);
- a witness that cosigned the honest checkpoint refuses the forged one (no consistency with it);
- bidder signatures, on a market whose bidders bound keys under `require_signed_bids`: an inserted
  bid and a rewritten sealed commitment carry no valid signature, so the replay fails naming the entry;
  a bid under a random key is refused by the rules (`signature_required`) and changes nothing.

The scenario: English lot E1 (A wins at 1 200 yuan; C's bid after the close is refused) and a
second-price sealed lot S1 (A 1 500, B 1 300, C 1 200 revealed: A wins paying 1 300).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auction_engine.bidder_keys import sign_statement
from auction_engine.cli import main
from auction_engine.model import HOUR, MINUTE
from auction_engine.replay import replay
from auction_engine.rules.sealed import commitment
from auction_engine.signing import sign_command
from ledger import Log, SQLiteStore, audit_store, canonical
from ledger.cosignature import Cosigner
from ledger.merkle import leaf_hash
from ledger.receipt import DEFAULT_WINDOW_MS, Receipt
from ledger.witness import Refusal, Witness
from ledger.witness_client import request_body
from ledger.witness_state import WitnessState

from .market import SIGNER, T0, Market

BIDDERS = ("A", "B", "C")
SEEDS = {b: hashlib.sha256(f"seed/{b}".encode()).digest() for b in BIDDERS}
RANDOM_SEED = hashlib.sha256(b"seed/random").digest()
SEALED = {"A": 150_000, "B": 130_000, "C": 120_000}
REWRITTEN = 160_000  # B's sealed bid, rewritten by the operator with B's revealed nonce
COSIGNER = Cosigner("witness.example/w1", bytes(range(100, 132)))
END = 2 * HOUR  # both lots are priced by then
FORGERIES = [
    "drop_winning_bid",
    "insert_bid",
    "double_countdown",
    "remove_deposit",
    "drop_reveal",
    "rewrite_sealed",
    "random_key_bid",
]
HONEST_DEALS = {"E1": ("A", 120_000), "S1": ("A", 130_000)}
DEALS = {  # each forgery's outcome (all but the last change one)
    "drop_winning_bid": {"E1": ("B", 110_000)},
    "insert_bid": {"E1": ("C", 130_000)},
    "double_countdown": {"E1": ("C", 130_000)},  # C's late bid is taken
    "remove_deposit": {"E1": ("A", 100_000)},  # B's bid is refused: A's first bid wins
    "drop_reveal": {"S1": ("B", 120_000)},  # A's bid stays unrevealed (forfeit)
    "rewrite_sealed": {"S1": ("B", 150_000)},
    "random_key_bid": {},
}
Step = tuple[int, str, dict[str, Any]]  # (time after T0, label, command)


def pub(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def nonce(bidder: str) -> bytes:
    return hashlib.sha256(f"nonce/{bidder}".encode()).digest()


def by(actor: str, op: str, signed: bool, **fields: Any) -> dict[str, Any]:
    """A bidder's command; signed with its own key when `signed` (the bidder bound that key)."""
    cmd: dict[str, Any] = {"op": op, "actor": actor, **fields, "idem": f"{actor}/{op}/{fields.get('amount', '-')}"}
    if signed:
        cmd["key"] = pub(SEEDS[actor])
        cmd["sig"] = sign_command(Ed25519PrivateKey.from_private_bytes(SEEDS[actor]), SIGNER.name, cmd)
    return cmd


def honest_stream(signed: bool) -> list[Step]:
    op = {"actor": "operator"}
    common = {"require_signed_bids": signed}
    english = {"start_price": 100_000, "increment": 10_000, "free_ms": 10 * MINUTE, "countdown_ms": 5 * MINUTE}
    sealed = {"price_rule": "second", "min_price": 100_000, "bid_ms": HOUR, "reveal_ms": 30 * MINUTE}
    bind = [{"op": "bind_key", "actor": b, "statement": sign_statement(SIGNER.name, b, 0, SEEDS[b])} for b in BIDDERS]
    steps: list[Step] = [(0, f"bind_{cmd['actor']}", cmd) for cmd in bind] if signed else []
    steps += [
        (0, "open_E1", {"op": "open_lot", **op, "lot": "E1", "mode": "english", "params": {**english, **common}}),
        (0, "open_S1", {"op": "open_lot", **op, "lot": "S1", "mode": "sealed", "params": {**sealed, **common}}),
        *(
            (0, f"deposit_{lot}_{b}", {"op": "deposit", **op, "lot": lot, "party": b, "amount": 20_000})
            for lot in ("E1", "S1")
            for b in BIDDERS
        ),
        (1 * MINUTE, "bid_A_100", by("A", "bid", signed, lot="E1", amount=100_000)),
        (2 * MINUTE, "bid_B_110", by("B", "bid", signed, lot="E1", amount=110_000)),
        *(
            (
                3 * MINUTE,
                f"commit_{b}",
                by(b, "commit", signed, lot="S1", hash=commitment("S1", b, SEALED[b], nonce(b))),
            )
            for b in BIDDERS
        ),
        (12 * MINUTE, "bid_A_120", by("A", "bid", signed, lot="E1", amount=120_000)),  # the winning bid
        (19 * MINUTE, "late_C_130", by("C", "bid", signed, lot="E1", amount=130_000)),  # after the close at 17 min
        *(
            (65 * MINUTE, f"reveal_{b}", by(b, "reveal", signed, lot="S1", amount=SEALED[b], nonce=nonce(b)))
            for b in BIDDERS
        ),
    ]
    return steps


def forged_stream(forgery: str, signed: bool) -> list[Step]:
    """The honest stream changed as the operator would: it cannot sign for the bidders."""
    steps = honest_stream(signed)
    index = {label: i for i, (_, label, _) in enumerate(steps)}

    def drop(label: str) -> None:
        del steps[index[label]]

    if forgery == "drop_winning_bid":
        drop("bid_A_120")
    elif forgery == "insert_bid":  # in C's name, with C's key in force (if any) and a signature it cannot make
        cmd: dict[str, Any] = {"op": "bid", "actor": "C", "lot": "E1", "amount": 130_000, "idem": "forged"}
        if signed:
            cmd.update(key=pub(SEEDS["C"]), sig=bytes(range(64)))
        steps.append((13 * MINUTE, "forged", cmd))
    elif forgery == "double_countdown":
        at, label, cmd = steps[index["open_E1"]]
        params = {**cmd["params"], "countdown_ms": 2 * cmd["params"]["countdown_ms"]}
        steps[index["open_E1"]] = (at, label, {**cmd, "params": params})
    elif forgery == "remove_deposit":
        drop("deposit_E1_B")
    elif forgery == "drop_reveal":
        drop("reveal_A")
    elif forgery == "rewrite_sealed":  # B's nonce, learnt at the reveal, opens a new commitment; B's sig is kept
        for label, field, value in (
            ("commit_B", "hash", commitment("S1", "B", REWRITTEN, nonce("B"))),
            ("reveal_B", "amount", REWRITTEN),
        ):
            at, _, cmd = steps[index[label]]
            steps[index[label]] = (at, label, {**cmd, field: value})
    elif forgery == "random_key_bid":
        cmd = {"op": "bid", "actor": "C", "lot": "E1", "amount": 130_000, "idem": "forged"}
        steps.append((13 * MINUTE, "forged", {**cmd, "key": pub(RANDOM_SEED), "sig": bytes(64)}))
    else:
        raise ValueError(f"unknown forgery {forgery!r}")
    return sorted(steps, key=lambda step: step[0])  # stable: an insertion goes after the commands of its time


@dataclass
class Run:
    """A closed market's ledger and what each labelled command was answered."""

    path: Path
    results: dict[str, Any]  # label -> engine Result
    deals: dict[str, tuple[str, int]]
    entries: list[bytes]
    checkpoint: str  # the latest signed checkpoint note
    consistency: dict[int, list[bytes]]  # old size -> proof to the final size (from this log's own tree)


def run(path: Path, steps: list[Step]) -> Run:
    m = Market(path)
    results = {}
    for at, label, cmd in steps:
        m.clock.run(T0 + at)
        results[label] = m.engine.submit(cmd)
    m.clock.run(T0 + END)
    deals = {lot: (d["buyer"], d["price"]) for lot, d in m.deals().items()}
    m.close()
    log = Log(SQLiteStore(path, readonly=True), readonly=True, origin=SIGNER.name)
    entries = list(log.entries())
    note = log.checkpoint().note
    proofs = {n: log.consistency(n, len(entries)) for n in range(1, len(entries))}
    log.store.close()
    return Run(path, results, deals, entries, note, proofs)


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(tmp_path_factory.mktemp("honest") / "ledger.db", honest_stream(signed=False))


@pytest.fixture(scope="module")
def honest_signed(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(tmp_path_factory.mktemp("honest_signed") / "ledger.db", honest_stream(signed=True))


def audit_ok(path: Path) -> bool:
    store = SQLiteStore(path, readonly=True)
    try:
        return audit_store(store, SIGNER.verifier).ok
    finally:
        store.close()


def first_difference(a: list[bytes], b: list[bytes]) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


def test_the_honest_markets_replay_and_have_the_expected_deals(honest: Run, honest_signed: Run) -> None:
    for market in (honest, honest_signed):
        assert market.deals == HONEST_DEALS
        assert market.results["late_C_130"].code == "lot_closed"
        assert audit_ok(market.path)
    assert replay(honest.entries).ok and replay(honest.entries).signatures_checked == 0
    report = replay(honest_signed.entries)
    assert report.ok and report.signatures_checked == 9  # 3 bids, 3 commits, 3 reveals (C's refused bid is not checked)


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """`forged(forgery, signed)`: the forged market's run (built once per module)."""
    built: dict[tuple[str, bool], Run] = {}

    def get(forgery: str, signed: bool = False) -> Run:
        if (forgery, signed) not in built:
            path = tmp_path_factory.mktemp(f"{forgery}_{'signed' if signed else 'unsigned'}") / "ledger.db"
            built[forgery, signed] = run(path, forged_stream(forgery, signed))
        return built[forgery, signed]

    return get


@pytest.mark.parametrize("forgery", FORGERIES)
def test_the_forged_ledger_passes_the_store_audit_and_replays(
    forgery: str, honest: Run, forged: Callable[..., Run]
) -> None:
    """(a) What the old checks see: a chained ledger under the market's signature that the rules reproduce."""
    fake = forged(forgery)
    assert audit_ok(fake.path)
    report = replay(fake.entries)
    assert report.ok, (report.index, report.message)
    assert fake.deals == {**HONEST_DEALS, **DEALS[forgery]}
    assert fake.entries != honest.entries
    if forgery == "random_key_bid":  # the rules refused it (C has no key in force): the outcome is the honest one
        assert fake.results["forged"].code == "no_key"
    if forgery == "double_countdown":
        assert fake.results["late_C_130"].ok


def receipt_check(tmp_path: Path, receipt: str, db: Path, now: int) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "receipt.txt"
    path.write_text(receipt, encoding="utf-8")
    args = ["receipt", "check", str(path), "--vkey", SIGNER.verifier.encode(), "--db", str(db), "--now", str(now)]
    result = CliRunner().invoke(main, [*args, "--json"])
    return result.exit_code, json.loads(result.output)


VICTIMS = {"drop_winning_bid": "bid_A_120", "drop_reveal": "reveal_A", "rewrite_sealed": "commit_B"}


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_bidders_receipt_from_the_honest_run_fails_against_the_forged_ledger(
    forgery: str, honest: Run, forged: Callable[..., Run], tmp_path: Path
) -> None:
    fake = forged(forgery)
    first = first_difference(honest.entries, fake.entries)
    # the receipt the live server gave the first bidder command at or after the first changed entry
    index, entry = next(
        (i, e)
        for i, e in enumerate(map(canonical.decode, honest.entries))
        if i >= first and "ok" in e and e.get("actor") in BIDDERS
    )
    receipt = Receipt(SIGNER.name, index, leaf_hash(honest.entries[index]), entry["t"], entry["t"] + DEFAULT_WINDOW_MS)
    signed = receipt.sign(SIGNER)
    now = T0 + END + HOUR
    code, out = receipt_check(tmp_path, signed, honest.path, now)
    assert (code, out["state"]) == (0, "covered"), out  # the same receipt holds against the honest ledger
    code, out = receipt_check(tmp_path, signed, fake.path, now)
    assert (code, out["state"], out["index"]) == (1, "different", index), out
    if forgery in VICTIMS:  # it is the receipt of the dropped or rewritten command itself
        assert index == honest.results[VICTIMS[forgery]].seq


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_witness_that_cosigned_the_honest_checkpoint_refuses_the_forged_one(
    forgery: str, honest: Run, forged: Callable[..., Run], tmp_path: Path
) -> None:
    fake = forged(forgery)
    state = WitnessState(tmp_path / "witness.db", COSIGNER.verifier.encode())
    fresh = WitnessState(tmp_path / "fresh.db", COSIGNER.verifier.encode())
    try:
        witness = Witness(COSIGNER, {SIGNER.name: [SIGNER.verifier]}, state, clock=lambda: T0 // 1000)
        assert witness.add_checkpoint(request_body(0, [], honest.checkpoint))
        size, size_f = len(honest.entries), len(fake.entries)
        proof = fake.consistency.get(size, []) if size_f > size else []
        with pytest.raises(Refusal) as refused:
            witness.add_checkpoint(request_body(size, proof, fake.checkpoint))
        # larger: its own proof does not reach the honest root; same size: another root; smaller: never cosigned
        expected = 422 if size_f > size else 409 if size_f == size else 400
        assert refused.value.status == expected, refused.value.message
        head = state.head(SIGNER.name)
        assert head is not None and head.note == honest.checkpoint  # the witness still holds the honest head
        # a witness that never saw the honest checkpoint cosigns the forged one: it is validly signed
        other = Witness(COSIGNER, {SIGNER.name: [SIGNER.verifier]}, fresh, clock=lambda: T0 // 1000)
        assert other.add_checkpoint(request_body(0, [], fake.checkpoint)).startswith("— witness.example/w1 ")
    finally:
        state.close()
        fresh.close()


SIGNED_VERDICT = {"insert_bid": "forged", "rewrite_sealed": "commit_B"}  # the entry the replay names


@pytest.mark.parametrize("forgery", FORGERIES)
def test_bidder_signatures_under_require_signed_bids(
    forgery: str, honest_signed: Run, forged: Callable[..., Run]
) -> None:
    """With bound keys, an inserted bid or a rewritten sealed bid fails the replay at its entry; a random
    key is refused by the rules; the other forgeries replay (receipts and witnesses catch those)."""
    fake = forged(forgery, signed=True)
    assert audit_ok(fake.path)
    report = replay(fake.entries)
    if forgery in SIGNED_VERDICT:
        result = fake.results[SIGNED_VERDICT[forgery]]
        assert result.ok  # the rules only check that the key is the one in force
        assert not report.ok and report.index == result.seq, (report.index, report.message)
        assert "signature" in (report.message or "") and f"entry {result.seq}" in (report.message or "")
    else:
        assert report.ok, (report.index, report.message)
        assert fake.deals == {**HONEST_DEALS, **DEALS[forgery]}
    if forgery == "random_key_bid":
        assert fake.results["forged"].code == "signature_required"
        assert fake.deals == honest_signed.deals == HONEST_DEALS
