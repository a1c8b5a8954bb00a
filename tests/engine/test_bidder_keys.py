"""Bidder keys bound in the ledger (docs/rules.md §2.6) and the signed commands they imply.

What is tested here:

- `bind_key`: proof of possession, another key's signature, another market's or bidder's statement,
  a statement used twice, rotation (signed by the old and the new key, or only the new), an
  over-long statement, an operator binding a key; `reset_key`: its reason, who may reset, no key.
- Signed commands: a key in force makes `key`, `sig` and `idem` required; `require_signed_bids`
  refuses a bidder without a key; replay checks every signature (`signatures_checked`).
- Forgeries by an operator who holds the market key and re-runs history with a changed command
  stream (so the hash chain and the market's signature hold): an inserted bid in a bidder's name
  with its key in force and a bad `sig`, a rewritten signed bid, a bid under a random key, an
  unsigned bid on a `require_signed_bids` lot.
- Properties: a statement's text parses back to what it was made from; changing any one character
  of a valid statement's text makes `bind_key` refuse it.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.bidder_keys import MAX_STATEMENT, parse_statement, sign_statement, statement_text
from auction_engine.engine import Engine
from auction_engine.replay import replay, replay_engine
from auction_engine.signing import sign_command
from ledger import Signer, note
from ledger.audit import audit_store

from .harness import Harness

ORIGIN = "test.market"  # the harness log's origin, which statements and signatures name
A_SEED, B_SEED, OTHER_SEED = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32
ENGLISH = {"start_price": 10_000, "increment": 100}
CLOSE_MS = 2 * 3_600_000  # past the end of free bidding and its countdown


def pub(seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()


def signed(seed: bytes, cmd: dict[str, Any], origin: str = ORIGIN) -> dict[str, Any]:
    """`cmd` carrying the key of `seed` and its signature (`cmd` holds its `idem`)."""
    out = {**cmd, "key": pub(seed)}
    out["sig"] = sign_command(Ed25519PrivateKey.from_private_bytes(seed), origin, out)
    return out


def bid(actor: str, amount: int, lot: str = "E1", **extra: Any) -> dict[str, Any]:
    return {"op": "bid", "actor": actor, "lot": lot, "amount": amount, **extra}


def bind(actor: str, seed: bytes, epoch: int = 0, old: bytes | None = None) -> dict[str, Any]:
    return {"op": "bind_key", "actor": actor, "statement": sign_statement(ORIGIN, actor, epoch, seed, old)}


def lot_with_deposits(h: Harness, **params: Any) -> None:
    h.open_lot("E1", "english", {"A": 1_000, "B": 1_000, "C": 1_000}, params={**ENGLISH, **params})


def code_of(h: Harness, cmd: dict[str, Any]) -> str | None:
    result = h.engine.submit(cmd)
    return None if result.ok else result.code


# -- bind_key and reset_key ---------------------------------------------------------------------


def test_a_statement_with_proof_of_possession_binds_the_key(h: Harness) -> None:
    result = h.engine.submit(bind("A", A_SEED))
    assert result.ok and result.rule == "keys.bind"
    assert h.last("bind_key")["out"] == {"key": pub(A_SEED), "epoch": 1}
    h.assert_replays()


def test_statements_for_another_key_market_or_bidder_are_refused(h: Harness) -> None:
    text = statement_text(ORIGIN, "A", 0, None, pub(A_SEED))
    by_other = note.sign_note(text, note.Signer("A", OTHER_SEED))
    h.rejected("bad_signature", "bind_key", "A", statement=by_other)
    h.rejected("bad_statement", "bind_key", "A", statement=sign_statement("other.market", "A", 0, A_SEED))
    h.rejected("bad_statement", "bind_key", "A", statement=sign_statement(ORIGIN, "B", 0, A_SEED))
    h.rejected("bad_statement", "bind_key", "A", statement="not a note")
    h.rejected("bad_command", "bind_key", "A")
    h.rejected("operator_cannot_bid", "bind_key", statement=sign_statement(ORIGIN, "operator", 0, A_SEED))
    h.assert_replays()


def test_a_statement_binds_once(h: Harness) -> None:
    statement = bind("A", A_SEED)
    assert h.engine.submit(statement).ok
    assert code_of(h, statement) == "stale_statement"
    assert code_of(h, bind("A", A_SEED, epoch=1, old=A_SEED)) == "same_key"
    h.assert_replays()


def test_an_over_long_statement_is_refused(h: Harness) -> None:
    statement = bind("A", A_SEED)["statement"]
    padded = statement + "— A " + "A" * (MAX_STATEMENT - len(statement)) + "\n"
    assert len(padded) > MAX_STATEMENT
    result = h.rejected("bad_statement", "bind_key", "A", statement=padded)
    assert str(MAX_STATEMENT) in (result.message or "")


def test_rotation_needs_the_old_key_s_signature(h: Harness) -> None:
    h.ok("bind_key", "A", statement=bind("A", A_SEED)["statement"])
    text = statement_text(ORIGIN, "A", 1, pub(A_SEED), pub(B_SEED))
    only_new = note.sign_note(text, note.Signer("A", B_SEED))
    h.rejected("bad_signature", "bind_key", "A", statement=only_new)
    h.rejected("bad_statement", "bind_key", "A", statement=sign_statement(ORIGIN, "A", 1, B_SEED))  # old '-'
    result = h.engine.submit(bind("A", B_SEED, epoch=1, old=A_SEED))
    assert result.ok and result.rule == "keys.rotate"
    assert h.last("bind_key")["out"] == {"key": pub(B_SEED), "epoch": 2}
    h.assert_replays()


def test_reset_key_refusals_without_grounds(h: Harness) -> None:
    h.ok("bind_key", "A", statement=bind("A", A_SEED)["statement"])
    h.rejected("bad_command", "reset_key", bidder="A")
    h.rejected("bad_command", "reset_key", bidder="")
    h.rejected("forbidden", "reset_key", "A", bidder="A")
    h.assert_replays()


def test_the_operator_resets_a_key_only_with_grounds(h: Harness) -> None:
    h.ok("bind_key", "A", statement=bind("A", A_SEED)["statement"])
    h.rejected("bad_command", "reset_key", bidder="A", grounds="   ")
    h.rejected("forbidden", "reset_key", "A", bidder="A", grounds="mine")
    h.rejected("no_key", "reset_key", bidder="B", grounds="lost phone")
    result = h.ok("reset_key", bidder="A", grounds="the bidder reported its key lost")
    assert result.rule == "keys.reset"
    assert h.last("reset_key")["out"] == {"epoch": 2}
    h.rejected("no_key", "reset_key", bidder="A", grounds="again")
    h.ok("bind_key", "A", statement=bind("A", B_SEED, epoch=2)["statement"])  # binds afresh, no old key
    h.assert_replays()


# -- signed commands ----------------------------------------------------------------------------


def test_a_bidder_with_a_key_must_sign_and_the_ledger_replays_every_signature(h: Harness) -> None:
    lot_with_deposits(h)
    assert h.engine.submit(bind("A", A_SEED)).ok
    assert code_of(h, bid("A", 10_000)) == "signature_required"
    assert code_of(h, bid("A", 10_000, key=pub(B_SEED), idem="x")) == "signature_required"
    assert code_of(h, bid("A", 10_000, key=pub(A_SEED), idem="x")) == "signature_required"  # no sig
    assert code_of(h, signed(A_SEED, bid("A", 10_000))) == "signature_required"  # signed, but no idem
    assert code_of(h, signed(A_SEED, bid("A", 10_000, idem="a1"))) is None
    assert code_of(h, signed(A_SEED, bid("A", 10_100, idem="a2"))) == "already_leading"  # signed, refused
    assert code_of(h, bid("B", 10_100)) is None  # B has no key: unsigned is fine on this lot
    assert h.engine.submit(bind("B", B_SEED)).ok
    assert code_of(h, signed(B_SEED, bid("B", 10_200, idem="b1"))) == "already_leading"
    assert code_of(h, signed(A_SEED, bid("A", 10_200, idem="a3"))) is None
    h.run(CLOSE_MS)
    assert h.last("deal")["buyer"] == "A" and h.last("deal")["price"] == 10_200
    report = replay(h.log.entries())
    assert report.ok, (report.index, report.message)
    # accepted signed commands are checked; refused ones changed nothing and are not
    assert report.signatures_checked == sum(1 for e in h.engine.events if "sig" in e.data and e.data["ok"]) == 2
    assert report.signatures_pending == 0


def test_require_signed_bids_refuses_a_bidder_without_a_key(h: Harness) -> None:
    lot_with_deposits(h, require_signed_bids=True)
    assert code_of(h, bid("C", 10_000)) == "signature_required"
    assert code_of(h, bid("C", 10_000, idem="c1", sig=bytes(64))) == "no_key"
    assert code_of(h, signed(OTHER_SEED, bid("C", 10_000, idem="c2"))) == "no_key"
    assert h.engine.submit(bind("A", A_SEED)).ok
    assert code_of(h, bid("A", 10_000)) == "signature_required"
    assert code_of(h, signed(A_SEED, bid("A", 10_000, idem="a1"))) is None
    assert replay_engine(h.log.entries()).market.lots["E1"].state.high is not None


# -- forgeries: an operator re-running history with a changed command stream -------------------


def honest_stream(**params: Any) -> list[dict[str, Any]]:
    op = "operator"
    return [
        {"op": "open_lot", "actor": op, "lot": "E1", "mode": "english", "params": {**ENGLISH, **params}},
        *({"op": "deposit", "actor": op, "lot": "E1", "party": p, "amount": 1_000} for p in "ABC"),
        bind("A", A_SEED),
        bind("B", B_SEED),
        signed(A_SEED, bid("A", 10_000, idem="a1")),
        signed(B_SEED, bid("B", 10_100, idem="b1")),
    ]


def run(stream: list[dict[str, Any]]) -> tuple[Harness, list[str | None]]:
    """A market run from `stream` to the close under the market's key; each command's refusal code."""
    h = Harness()
    codes = [code_of(h, cmd) for cmd in stream]
    h.run(CLOSE_MS)
    h.log.sign_checkpoint()
    assert audit_store(h.log.store, Signer(ORIGIN, bytes(32)).verifier).ok  # chain and market signature hold
    return h, codes


def deal(h: Harness) -> tuple[str, int]:
    found = h.last("deal")
    return found["buyer"], found["price"]


def test_the_honest_run_replays_with_every_signature_checked() -> None:
    h, codes = run(honest_stream())
    assert codes == [None] * 8 and deal(h) == ("B", 10_100)
    report = replay(h.log.entries())
    assert report.ok and report.signatures_checked == 2


def test_an_inserted_bid_with_the_key_in_force_but_no_valid_signature_fails_the_replay() -> None:
    forged = bid("A", 10_200, idem="a2", key=pub(A_SEED), sig=bytes(range(64)))
    h, codes = run([*honest_stream(), forged])
    assert codes[-1] is None and deal(h) == ("A", 10_200)  # the rules only check the key is in force
    seq = next(e.seq for e in h.engine.events if e.data.get("idem") == "a2")
    report = replay(h.log.entries())
    assert not report.ok and report.index == seq
    assert "signature" in (report.message or "") and "bid of A" in (report.message or "")


def test_a_rewritten_signed_bid_fails_the_replay() -> None:
    stream = honest_stream()
    stream[-1] = {**stream[-1], "amount": 10_500}  # B's bid raised, B's signature of 10 100 kept
    h, codes = run(stream)
    assert codes[-1] is None and deal(h) == ("B", 10_500)
    seq = next(e.seq for e in h.engine.events if e.data.get("idem") == "b1")
    report = replay(h.log.entries())
    assert not report.ok and report.index == seq and "signature" in (report.message or "")


def test_a_bid_under_a_random_key_is_refused_and_changes_nothing() -> None:
    forged = bid("A", 10_200, idem="a2", key=pub(OTHER_SEED), sig=bytes(64))
    h, codes = run([*honest_stream(), forged])
    assert codes[-1] == "signature_required" and deal(h) == ("B", 10_100)
    rebuilt = replay_engine(h.log.entries())  # the rules, replayed, refuse it again
    assert [e.data["buyer"] for e in rebuilt.events if e.kind == "deal"] == ["B"]
    report = replay(h.log.entries())  # a refused command changed nothing: its signature is not checked
    assert report.ok and report.signatures_checked == 2


def test_an_unsigned_bid_on_a_lot_requiring_signatures_is_refused() -> None:
    honest, _ = run(honest_stream(require_signed_bids=True))
    h, codes = run([*honest_stream(require_signed_bids=True), bid("A", 10_200), bid("C", 10_200)])
    assert codes[-2:] == ["signature_required", "signature_required"]
    assert deal(h) == deal(honest) == ("B", 10_100)
    report = replay(h.log.entries())
    assert report.ok and report.signatures_checked == 2


# -- properties ---------------------------------------------------------------------------------

NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", min_size=1, max_size=40)
KEY = st.binary(min_size=32, max_size=32)


@settings(max_examples=50, deadline=None)
@given(origin=NAME, bidder=NAME, epoch=st.integers(0, 10**6), old=st.none() | KEY, new=KEY)
def test_a_statement_parses_back(origin: str, bidder: str, epoch: int, old: bytes | None, new: bytes) -> None:
    text = statement_text(origin, bidder, epoch, old, new)
    statement = note.sign_note(text, note.Signer(bidder, A_SEED), note.Signer(bidder, B_SEED))
    assert parse_statement(statement) == (origin, bidder, epoch, old, new)


@settings(max_examples=50, deadline=None)
@given(data=st.data(), rotation=st.booleans())
def test_changing_one_character_of_a_statement_s_text_never_binds(data: st.DataObject, rotation: bool) -> None:
    engine = Engine(market="m", origin="m")
    if rotation:
        assert engine.submit({"op": "bind_key", "actor": "A", "statement": sign_statement("m", "A", 0, A_SEED)}).ok
    statement = sign_statement("m", "A", 1, B_SEED, A_SEED) if rotation else sign_statement("m", "A", 0, A_SEED)
    text_length = statement.index("\n\n") + 1
    at = data.draw(st.integers(0, text_length - 1), label="at")
    char = data.draw(st.characters(exclude_categories=("Cs",)).filter(lambda c: c != statement[at]), label="char")
    changed = statement[:at] + char + statement[at + 1 :]
    result = engine.submit({"op": "bind_key", "actor": "A", "statement": changed})
    assert not result.ok
    assert result.code in {"bad_statement", "bad_signature", "stale_statement", "same_key"}
