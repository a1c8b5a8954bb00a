"""Secrets stay secret until the rules publish them (auction_engine/vault.py, docs/rules.md §10).

A proxy's maximum is recorded as a commitment plus a box only the market opens, and revealed in a
`proxy_reveal` entry when the lot's pricing ends; replay re-derives every automatic bid from the
reveals alone (an auditor) or from the box (the market's own key), and a tampered reveal fails. A
sealed-bid lot's refusals withhold every amount a buyer sent. The maxima used below are off the bid
grid and end in 7 fen, so no bid, price or automatic bid can equal one by chance: finding one in an
entry is a leak.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction_engine.clock import ManualClock, SimClock
from auction_engine.engine import Engine
from auction_engine.model import MINUTE, yuan
from auction_engine.replay import ReplayMismatch, command_of, replay, replay_engine
from auction_engine.rules.english import EnglishState
from auction_engine.rules.sealed import commitment as sealed_commitment
from auction_engine.showcase import run_showcase
from auction_engine.vault import MarketVault, RevealVault, SealError, commitment
from ledger import CheckpointPolicy, Log, MemoryStore, Signer, canonical

from .harness import OP, Harness

BASE = {"start_price": 100_000, "increment": 10_000, "free_ms": 10 * MINUTE, "countdown_ms": 2 * MINUTE}
DEPOSITS = {"A": 10_000, "B": 10_000, "C": 10_000, "D": 10_000}
SIGNER = Signer("test.market", bytes(32))  # the harness's key


def english(h: Harness, lot: str = "L1", deposits: dict[str, int] | None = None, **params: Any) -> None:
    h.open_lot(lot, "english", DEPOSITS if deposits is None else deposits, params={**BASE, **params})


def values(value: Any) -> list[Any]:
    """Every scalar inside a decoded entry (keys and values, at any depth)."""
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in (k, *values(v))]
    if isinstance(value, list):
        return [x for v in value for x in values(v)]
    return [value]


def leaks(raw: list[bytes], secrets: list[int]) -> list[str]:
    """Where any of the `secrets` (fen amounts) shows in the entries: as a value, in a text, or as bytes."""
    found = []
    for data in raw:
        entry = canonical.decode(data)
        for secret in secrets:
            words = (str(secret), yuan(secret))
            for v in values(entry):
                if v == secret and type(v) is int:
                    found.append(f"entry {entry['seq']} holds {secret}")
                elif type(v) is str and any(w in v for w in words):
                    found.append(f"entry {entry['seq']} says {secret} in {v!r}")
            if canonical.encode_value(secret) in data:
                found.append(f"entry {entry['seq']} holds the bytes of {secret}")
    return found


def entries(h: Harness) -> list[bytes]:
    return list(h.log.entries())


def decoded(h: Harness) -> list[dict[str, Any]]:
    return [canonical.decode(d) for d in entries(h)]


def tampered(raw: list[bytes], index: int, **changes: Any) -> list[bytes]:
    out = list(raw)
    entry = canonical.decode(out[index])
    entry.update(changes)
    out[index] = canonical.encode(entry)
    return out


def session(h: Harness) -> dict[str, int]:
    """A open English lot: A's proxy leads, B and C bid, A tries to lower, C's proxy is too low. The seqs."""
    english(h)
    seqs = {"proxy_a": h.ok("proxy", "A", lot="L1", max=195_007).seq}  # cap 190 000
    h.ok("bid", "B", lot="L1", amount=130_000)  # A answers at 140 000
    seqs["lowered"] = h.rejected("proxy_lowered", "proxy", "A", lot="L1", max=150_007).seq
    seqs["too_low"] = h.rejected("proxy_too_low", "proxy", "C", lot="L1", max=120_007).seq
    seqs["unqualified"] = h.rejected("not_qualified", "proxy", "E", lot="L1", max=170_007).seq
    seqs["proxy_b"] = h.ok("proxy", "B", lot="L1", max=160_007).seq  # B bids 160 000, A answers 170 000
    return seqs


MAXIMA = [195_007, 190_000, 150_007, 120_007, 170_007, 160_007]  # what was sent, and A's cap


# -- (a) an open lot: the maximum is nowhere public ------------------------------------------------------


def test_an_open_lots_proxy_maximum_is_in_no_entry_and_no_other_view(h: Harness) -> None:
    seqs = session(h)
    s: EnglishState = h.engine.lot("L1").state
    assert (s.leader, s.high) == ("A", 170_000)  # the proxies did bid
    leaked = leaks(entries(h), MAXIMA)
    assert not leaked, leaked
    proxy = decoded(h)[seqs["proxy_a"]]
    assert {"max", "out"}.isdisjoint(proxy) and len(proxy["commitment"]) == 32 and proxy["sealed"]
    lowered = decoded(h)[seqs["lowered"]]
    assert "max" not in lowered and "190" not in lowered["message"] and "1,900" not in lowered["message"]
    # the bidder sees its own rounded maximum; nobody else does
    assert h.engine.view("L1", "A")["my_proxy"] == 190_000
    assert h.engine.view("L1", "B")["my_proxy"] == 160_000  # B's own
    for viewer in ("B", "C", None, OP):
        view = h.engine.view("L1", viewer)
        assert 190_000 not in values(view) and 195_007 not in values(view), view
        assert viewer == "B" or "my_proxy" not in view, view


def test_a_sealed_maximums_bad_value_is_refused_without_showing_it(h: Harness) -> None:
    english(h)
    for bad in ("195007", -195_007, True):
        r = h.rejected("bad_command", "proxy", "A", lot="L1", max=bad)
        assert "195007" not in (r.message or "") and "max" in (r.message or ""), r.message
    assert not leaks(entries(h), [195_007, -195_007])


def test_a_proxy_command_cannot_bring_its_own_commitment(h: Harness) -> None:
    english(h)
    size = h.engine.recorder.size
    with pytest.raises(ValueError, match="written by the engine"):
        h.submit("proxy", "A", lot="L1", max=195_007, commitment=bytes(32))
    assert h.engine.recorder.size == size  # nothing recorded


# -- (b) the close reveals; replay re-derives; a tampered reveal fails ---------------------------------------


def test_the_close_reveals_every_maximum_the_rules_read_and_replay_re_derives_every_auto_bid(h: Harness) -> None:
    seqs = session(h)
    h.run(20 * MINUTE)
    ledger = decoded(h)
    close = next(e for e in ledger if e["kind"] == "close")
    deal = next(e for e in ledger if e["kind"] == "deal")
    reveals = [e for e in ledger if e["kind"] == "proxy_reveal"]
    # between the close and the deal, in ledger order: both accepted proxies and the two refusals that
    # depended on the maximum; not the refusal decided before it was read (not_qualified)
    assert [e["seq"] for e in reveals] == list(range(close["seq"] + 1, deal["seq"]))
    assert [e["proxy_seq"] for e in reveals] == [seqs["proxy_a"], seqs["lowered"], seqs["too_low"], seqs["proxy_b"]]
    assert [(e["bidder"], e["max"]) for e in reveals] == [("A", 195_007), ("A", 150_007), ("C", 120_007),
                                                          ("B", 160_007)]  # fmt: skip
    for e in reveals:  # anyone checks a reveal against the commitment it opens
        proxy = ledger[e["proxy_seq"]]
        assert commitment("proxy", e["bidder"], "L1", {"max": e["max"]}, e["nonce"]) == proxy["commitment"]
    assert (deal["buyer"], deal["price"]) == ("A", 170_000)
    # an auditor, from the entries alone (the reveals), re-derives every byte: every automatic bid
    report = replay(entries(h))
    assert report.ok, report.message
    again = replay_engine(entries(h), keep_events=True)
    auto = [e for e in h.engine.events if e.kind == "auto_bid"]
    assert len(auto) == 4 and [e for e in again.events if e.kind == "auto_bid"] == auto
    # and so does the market itself, opening its boxes with its key
    assert replay_engine(entries(h), vault=MarketVault.from_signer(SIGNER)).recorder.size == len(ledger)


def test_a_tampered_reveal_fails_replay_naming_the_entry(h: Harness) -> None:
    session(h)
    h.run(20 * MINUTE)
    raw = entries(h)
    reveal = next(e for e in decoded(h) if e["kind"] == "proxy_reveal")
    bad = tampered(raw, reveal["seq"], max=175_007)
    report = replay(bad)  # the auditor
    assert not report.ok and report.index == reveal["seq"] and not report.unrevealed
    assert f"does not open the commitment of entry {reveal['proxy_seq']}" in (report.message or "")
    with pytest.raises(ReplayMismatch) as err:  # the market, opening the box: the rules write the true reveal
        replay_engine(bad, vault=MarketVault.from_signer(SIGNER))
    assert err.value.index == reveal["seq"]
    # a reveal naming an entry that is not a proxy, and a nonce that does not open the commitment
    assert replay(tampered(raw, reveal["seq"], proxy_seq=1)).index == reveal["seq"]
    assert replay(tampered(raw, reveal["seq"], nonce=bytes(32))).index == reveal["seq"]


def test_an_open_lot_replays_with_the_markets_key_and_not_without(h: Harness) -> None:
    seqs = session(h)
    report = replay(entries(h))
    assert not report.ok and report.unrevealed and report.index == seqs["proxy_a"]
    assert f"the proxy max of entry {seqs['proxy_a']} is sealed and not revealed yet" in (report.message or "")
    rebuilt = replay_engine(entries(h), vault=MarketVault.from_signer(SIGNER))
    assert {b: p.cap for b, p in rebuilt.lot("L1").state.proxies.items()} == {"A": 190_000, "B": 160_000}
    with pytest.raises(ReplayMismatch, match="does not open with this market's key"):
        replay_engine(entries(h), vault=MarketVault.from_signer(Signer("test.market", bytes(range(32)))))
    raw = entries(h)
    box = canonical.decode(raw[seqs["proxy_a"]])["sealed"]
    broken = tampered(raw, seqs["proxy_a"], sealed=box[:-1] + bytes([box[-1] ^ 1]))
    with pytest.raises(ReplayMismatch, match="does not open with this market's key") as err:
        replay_engine(broken, vault=MarketVault.from_signer(SIGNER))
    assert err.value.index == seqs["proxy_a"]


def test_a_refusal_decided_before_the_maximum_is_never_revealed_and_still_replays(h: Harness) -> None:
    english(h)
    h.rejected("unknown_lot", "proxy", "A", lot="NOPE", max=195_007)
    h.rejected("operator_cannot_bid", "proxy", OP, lot="L1", max=195_007)
    h.rejected("not_qualified", "proxy", "E", lot="L1", max=195_007)
    h.run(20 * MINUTE)
    h.rejected("lot_closed", "proxy", "A", lot="L1", max=195_007)  # after the close: never revealed either
    assert not h.events("proxy_reveal")
    assert not leaks(entries(h), [195_007, 190_000])
    h.assert_replays()


def test_every_way_an_english_lot_ends_reveals_first(h: Harness) -> None:
    english(h, lot="W", operator_may_close=True)  # withdrawn (撤拍)
    h.ok("proxy", "A", lot="W", max=195_007)
    h.ok("withdraw_lot", lot="W", grounds="the seller withdrew the patent")
    kinds = [e.kind for e in h.events(lot="W")]
    assert kinds.index("withdrawn") + 1 == kinds.index("proxy_reveal") == kinds.index("no_sale") - 1
    english(h, lot="C", operator_may_close=True)  # closed early by the operator, twice
    h.ok("proxy", "B", lot="C", max=150_007)
    h.ok("close_phase", lot="C", grounds="free bidding cut short")
    h.ok("close_phase", lot="C", grounds="timed bidding cut short")
    kinds = [e.kind for e in h.events(lot="C")]
    assert kinds.index("close") < kinds.index("proxy_reveal") < kinds.index("deal")
    english(h, lot="N", reserve=500_000)  # reserve not met: no sale
    h.ok("proxy", "D", lot="N", max=120_007)
    h.run(20 * MINUTE)
    kinds = [e.kind for e in h.events(lot="N")]
    assert kinds.index("close") < kinds.index("proxy_reveal") < kinds.index("no_sale")
    h.assert_replays()


def test_the_showcase_reveals_its_proxies_including_a_converted_lots() -> None:
    log = Log(MemoryStore(), SIGNER, policy=CheckpointPolicy(None, None))
    show = run_showcase(lambda clock: Engine(market="zhejiang-pai.demo", clock=clock, log=log))
    events = show.engine.events
    proxies = [e for e in events if e.kind == "proxy" and e.data["ok"]]
    reveals = {e.data["proxy_seq"]: e for e in events if e.kind == "proxy_reveal"}
    assert proxies and {e.seq for e in proxies} <= set(reveals)
    assert any(show.engine.lot(e.data["lot"]).history[0] != "english" for e in proxies)  # a conversion
    report = replay(log.entries())
    assert report.ok, report.message


# -- (c) a sealed-bid lot's refusals withhold every amount ------------------------------------------------


def test_a_sealed_lots_refusals_withhold_the_amounts_a_buyer_sent(h: Harness) -> None:
    params = {"price_rule": "first", "min_price": 500_000, "bid_ms": 60 * MINUTE, "reveal_ms": 10 * MINUTE}
    h.open_lot("S1", "sealed", {"A": 50_000, "B": 50_000}, params=params)
    nonce = bytes(range(16))
    h.ok("commit", "A", lot="S1", hash=sealed_commitment("S1", "A", 700_007, nonce))
    bid = h.rejected("unknown_command", "bid", "A", lot="S1", amount=700_007)
    offer = h.rejected("unknown_command", "offer", "B", lot="S1", amount=650_007, price=650_007)
    proxy = h.rejected("unknown_command", "proxy", "B", lot="S1", max=650_007)
    again = h.rejected("already_committed", "commit", "A", lot="S1", hash=bytes(32), amount=700_007)
    ledger = decoded(h)
    assert ledger[bid.seq]["redacted"] == ["amount"] and "amount" not in ledger[bid.seq]
    assert ledger[offer.seq]["redacted"] == ["amount", "price"]
    assert "max" not in ledger[proxy.seq] and "commitment" in ledger[proxy.seq]  # sealed, as everywhere
    assert ledger[again.seq]["redacted"] == ["amount"] and ledger[again.seq]["hash"] == bytes(32)
    assert not leaks(entries(h), [700_007, 650_007])
    h.run(61 * MINUTE)
    h.ok("reveal", "A", lot="S1", amount=700_007, nonce=nonce)  # now the amount is the point
    h.run(10 * MINUTE)
    assert not h.events("proxy_reveal")  # the proxy on a sealed lot was never read
    refused = h.rejected("lot_closed", "bid", "B", lot="S1", amount=1)  # settlement: amounts are public again
    assert decoded(h)[refused.seq]["amount"] == 1
    h.assert_replays()


def test_a_deposit_refused_on_a_sealed_lot_keeps_its_amount(h: Harness) -> None:
    """Operator commands are not a buyer's secret: their refusal reads the amount and records it."""
    h.open_lot("S1", "sealed", {}, params={"price_rule": "first", "min_price": 500_000})
    r = h.rejected("bad_command", "deposit", lot="S1", amount=-5)
    assert decoded(h)[r.seq]["amount"] == -5 and "redacted" not in decoded(h)[r.seq]
    h.assert_replays()


# -- determinism and the vaults ---------------------------------------------------------------------------


def test_the_same_commands_give_the_same_bytes_and_another_key_other_commitments() -> None:
    def run(seed: bytes) -> list[bytes]:
        h = Harness()
        h.engine.vault = MarketVault.from_signer(Signer("test.market", seed))
        session(h)
        h.run(20 * MINUTE)
        return entries(h)

    first, second, other = run(bytes(32)), run(bytes(32)), run(bytes(range(32)))
    assert first == second

    def unchained(raw: list[bytes]) -> list[dict[str, Any]]:
        return [{k: v for k, v in canonical.decode(d).items() if k != "prev"} for d in raw]

    differ = {a["kind"] for a, b in zip(unchained(first), unchained(other), strict=True) if a != b}
    assert differ == {"proxy", "proxy_reveal"}  # the commitments, boxes and nonces; nothing the rules decided


def test_without_a_signer_the_vault_is_the_public_simulation_one() -> None:
    engine = Engine(market="sim.market", clock=SimClock(start=0))
    assert isinstance(engine.vault, MarketVault) and engine.vault.simulated
    signed = Engine(market="m", clock=ManualClock(0), log=Log(MemoryStore(), SIGNER, policy=CheckpointPolicy()))
    assert isinstance(signed.vault, MarketVault) and not signed.vault.simulated


def test_an_auditors_vault_cannot_seal() -> None:
    with pytest.raises(SealError, match="cannot seal"):
        RevealVault({}).seal(5, "proxy", "A", "L1", {"max": 1})


def test_a_ledger_with_a_maximum_in_clear_does_not_replay(h: Harness) -> None:
    seqs = session(h)
    raw = entries(h)
    entry = canonical.decode(raw[seqs["proxy_b"]])
    clear = {k: v for k, v in entry.items() if k not in ("commitment", "sealed")}
    raw[seqs["proxy_b"]] = canonical.encode({**clear, "max": 160_007})
    assert "max" in command_of(canonical.decode(raw[seqs["proxy_b"]]))
    with pytest.raises(ReplayMismatch, match="records 'max' in clear") as err:
        replay_engine(raw, vault=MarketVault.from_signer(SIGNER))
    assert err.value.index == seqs["proxy_b"]


def test_a_replay_that_needs_an_unrevealed_maximum_stops_there(h: Harness) -> None:
    """The reveals follow the reading: drop one reveal, and the replay stops at the refusal that read it."""
    english(h)
    r = h.rejected("proxy_too_low", "proxy", "A", lot="L1", max=7)
    h.run(20 * MINUTE)
    (reveal,) = h.events("proxy_reveal")
    assert reveal.data["proxy_seq"] == r.seq and reveal.data["max"] == 7
    raw = [d for d in entries(h) if canonical.decode(d)["kind"] != "proxy_reveal"]
    report = replay(raw)
    assert not report.ok and report.unrevealed and report.index == r.seq


# -- the property -----------------------------------------------------------------------------------------

step = st.one_of(
    st.tuples(st.just("bid"), st.sampled_from("ABCD"), st.integers(0, 20)),
    st.tuples(st.just("proxy"), st.sampled_from("ABCDE"), st.integers(0, 25)),
    st.tuples(st.just("wait"), st.just(""), st.integers(0, 4 * MINUTE)),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(step, max_size=30), st.booleans())
def test_no_maximum_before_the_close_and_an_auditor_replays_every_byte_after(
    steps: list[tuple[str, str, int]], withdraw: bool
) -> None:
    h = Harness()
    english(h, free_ms=3 * MINUTE)
    sent: list[int] = []
    for op, who, k in steps:
        if op == "bid":  # amounts are multiples of 1 000 fen: never a maximum (those end in 7)
            h.submit("bid", who, lot="L1", amount=100_000 + k * 5_000)
        elif op == "proxy":
            maximum = 100_007 + k * 9_000  # off the grid, ending in 7
            sent.append(maximum)
            h.submit("proxy", who, lot="L1", max=maximum)
        else:
            h.run(k)
        if h.engine.lot("L1").phase in ("free", "timed"):
            assert not leaks(entries(h), sent), leaks(entries(h), sent)
    if withdraw and h.engine.lot("L1").phase in ("free", "timed"):
        h.ok("withdraw_lot", lot="L1", grounds="withdrawn")
    h.run(60 * MINUTE)
    raw = entries(h)
    report = replay(raw)  # the auditor: no key, only the entries
    assert report.ok, f"entry {report.index}: {report.message}"
    accepted = {e.seq for e in h.events("proxy") if e.data["ok"]}
    assert accepted <= {e.data["proxy_seq"] for e in h.events("proxy_reveal")}
    rebuilt = replay_engine(raw, keep_events=True)
    assert [(e.seq, e.kind, e.data) for e in rebuilt.events] == [(e.seq, e.kind, e.data) for e in h.engine.events]


def test_the_formats_page_example_follows_from_its_own_text() -> None:
    """docs/formats.md §12.1, recomputed from the text with the primitives, equals the engine's and the page's."""
    import hashlib
    import hmac
    from pathlib import Path

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    seed, name = bytes(range(32)), "market.example/ledger"
    secret = HKDF(hashes.SHA256(), 32, None, b"auction-engine/market-secret/v1\n" + name.encode()).derive(seed)
    binding = {"actor": "B-0007", "lot": "L-0001", "op": "proxy", "seq": 5}
    nonce = hmac.digest(secret, b"auction-engine/sealed-nonce/v1\n" + canonical.encode(binding), "sha256")
    fields = {"max": 12_345_600}
    committed = {"actor": "B-0007", "fields": fields, "lot": "L-0001", "nonce": nonce, "op": "proxy"}
    digest = hashlib.sha256(b"auction-engine/sealed-field/v1\n" + canonical.encode(committed)).digest()
    key = hmac.digest(secret, b"auction-engine/sealed-key/v1", "sha256")
    iv = hmac.digest(secret, b"auction-engine/sealed-iv/v1\n" + digest, "sha256")[:12]
    plain = canonical.encode({"fields": fields, "nonce": nonce, "pad": b""})
    plain = canonical.encode({"fields": fields, "nonce": nonce, "pad": bytes(-len(plain) % 128)})
    assert len(plain) == 128
    box = AESGCM(key).encrypt(iv, plain, digest)
    assert MarketVault.from_signer(Signer(name, seed)).seal(5, "proxy", "B-0007", "L-0001", fields) == (
        nonce, digest, box)  # fmt: skip
    page = (Path(__file__).resolve().parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
    text = "".join(page.split("S          = ", 1)[1].split("(144 bytes)", 1)[0].split())
    for value in (secret, nonce, digest, box):
        assert value.hex() in text, value.hex()
    assert len(box) == 144


def test_a_box_is_as_long_for_any_maximum() -> None:
    """The box's length must not tell a small maximum from a large one (msgpack integers vary in size)."""
    vault = MarketVault.from_signer(SIGNER)
    sizes = {len(vault.seal(9, "proxy", "B-0007", "L-0001", {"max": m})[2]) for m in
             (0, 7, 127, 128, 65_535, 65_536, 2**32 - 1, 2**32, 10**15, -1, -(10**15))}  # fmt: skip
    assert sizes == {144}
