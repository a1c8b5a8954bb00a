"""Sealed-bid auction: commit-reveal, first and second price, void bids, every rejection, and a property test."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from auction_engine.model import DAY, HOUR, Rejected
from auction_engine.rules.sealed import MODE, commitment

from .harness import T0, Harness

MIN = 1_000_000  # min_price
DEPOSIT = 100_000  # the default deposit: 10% of min_price
COMMIT_END, REVEAL_END = T0 + DAY, T0 + DAY + HOUR  # the default windows


def nonce_of(bidder: str, salt: str = "") -> bytes:
    """A bidder's (deterministic, for the tests) 32-byte secret nonce."""
    return hashlib.sha256(f"nonce/{bidder}/{salt}".encode()).digest()


def open_sealed(h: Harness, deposits: dict[str, int] | None = None, lot: str = "S1", **params: Any) -> None:
    """Open a second-price sealed lot (overridden by `params`) with the given deposits."""
    h.open_lot(
        lot,
        "sealed",
        {b: DEPOSIT for b in "ABC"} if deposits is None else deposits,
        params={"price_rule": "second", "min_price": MIN, **params},
    )


def commit(h: Harness, bidder: str, amount: int, lot: str = "S1") -> None:
    h.ok("commit", bidder, lot=lot, hash=commitment(lot, bidder, amount, nonce_of(bidder)))


def reveal(h: Harness, bidder: str, amount: int, lot: str = "S1") -> None:
    h.ok("reveal", bidder, lot=lot, amount=amount, nonce=nonce_of(bidder))


def assert_conserved(h: Harness, lot: str = "S1") -> None:
    money = h.money(lot)
    assert money["deposit"] == money["refund"] + money["forfeit"] + money["deposit_applied"]
    assert not any(h.engine.lot(lot).deposits.values())


def ints_and_bytes(value: Any) -> list[Any]:
    """Every int and bytes value inside an entry's data."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in ints_and_bytes(v)]
    if isinstance(value, list):
        return [x for v in value for x in ints_and_bytes(v)]
    return [value] if type(value) in (int, bytes) else []


def leaked_before(h: Harness, t: int, secrets: set[Any]) -> list[Any]:
    """Secret amounts or nonces found in entries before t (lot openings and deposits aside: the test wrote those)."""
    return [
        x
        for e in h.engine.events
        if e.t < t and e.kind not in ("open_lot", "deposit")
        for x in ints_and_bytes(e.data)
        if x in secrets
    ]


class StubCtx:
    """A Ctx that only knows the time: for rule checks the engine never lets through."""

    def __init__(self, now: int) -> None:
        self.now = now

    def accept(self, rule: str, **fields: Any) -> None:
        raise AssertionError(f"accepted by {rule}")


def test_commitment_format_is_pinned() -> None:
    nonce = bytes(range(16))
    expected = "63ee02c4d3c2b5e8632254dee0f8e715f19db335483ad126c0fe85f5cd1aaacf"
    assert commitment("S1", "A", 123_456, nonce).hex() == expected
    assert hashlib.sha256(b"auction-engine/sealed-bid/v1\nS1\nA\n123456\n" + nonce).hexdigest() == expected
    with pytest.raises(ValueError):
        commitment("S1", "A\nB", 1, nonce)
    with pytest.raises(ValueError):
        commitment("S1", "A", -1, nonce)


def test_second_price_session_reaches_deal_and_replays(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_500_000)
    h.run(HOUR)
    commit(h, "B", 1_300_000)
    commit(h, "C", 1_200_000)
    assert leaked_before(h, COMMIT_END, {1_500_000, 1_300_000, 1_200_000}) == []
    h.run_until(COMMIT_END)
    phase = h.last("phase")
    assert (phase["phase"], phase["until"], phase["commitments"]) == ("reveal", REVEAL_END, 3)
    reveal(h, "C", 1_200_000)
    reveal(h, "A", 1_500_000)
    reveal(h, "B", 1_300_000)
    assert h.events("reveal", "S1")[0].data["out"] == {"valid": True}
    h.run_until(REVEAL_END)
    close = h.last("close")
    assert [(r["bidder"], r["amount"], r["valid"]) for r in close["revealed"]] == [
        ("A", 1_500_000, True),
        ("B", 1_300_000, True),
        ("C", 1_200_000, True),
    ]
    assert close["unrevealed"] == []
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"], deal["rule"]) == ("A", 1_300_000, "sealed.second_price")
    assert h.events("deal")[0].t == REVEAL_END
    assert [(r["party"], r["reason"]) for r in h.refunds("S1")] == [("C", "lost")]  # B: runner-up
    h.ok("pay", lot="S1", amount=1_300_000 - DEPOSIT)
    assert h.engine.lot("S1").phase == "settled"
    assert_conserved(h)
    h.assert_replays()


def test_first_price_winner_pays_its_bid(h: Harness) -> None:
    open_sealed(h, price_rule="first")
    commit(h, "A", 1_500_000)
    commit(h, "B", 1_300_000)
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_500_000)
    reveal(h, "B", 1_300_000)
    h.run_until(REVEAL_END)
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"], deal["rule"]) == ("A", 1_500_000, "sealed.first_price")
    h.assert_replays()


def test_default_windows_a_day_to_commit_then_an_hour_to_reveal(h: Harness) -> None:
    open_sealed(h)
    view = h.engine.view("S1")
    assert (view["commit_until"], view["reveal_until"], view["deadline"]) == (COMMIT_END, REVEAL_END, COMMIT_END)
    h.run_until(COMMIT_END - 1)
    commit(h, "A", 1_100_000)
    h.run(1)
    assert h.engine.lot("S1").phase == "reveal"
    assert h.engine.view("S1")["deadline"] == REVEAL_END
    h.rejected("commit_closed", "commit", "B", lot="S1", hash=commitment("S1", "B", MIN, nonce_of("B")))
    h.run_until(REVEAL_END - 1)
    assert h.engine.lot("S1").phase == "reveal"
    h.run(1)
    h.rejected("lot_closed", "reveal", "A", lot="S1", amount=1_100_000, nonce=nonce_of("A"))
    h.rejected("lot_closed", "commit", "B", lot="S1", hash=commitment("S1", "B", MIN, nonce_of("B")))
    assert h.last("forfeit") == {"lot": "S1", "party": "A", "amount": DEPOSIT, "reason": "unrevealed"}
    assert h.last("no_sale")["reason"] == "no_valid_bids"
    assert_conserved(h)
    h.assert_replays()


def test_nobody_reads_a_bid_before_close(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_234_567)
    public, operator, mine, other = (h.engine.view("S1", v) for v in (None, "operator", "A", "B"))
    assert public["commitments"] == operator["commitments"] == 1
    assert 1_234_567 not in ints_and_bytes(public) + ints_and_bytes(operator) + ints_and_bytes(mine)
    assert mine["my_commitment"]["revealed"] is False
    assert mine["my_commitment"]["hash"] == commitment("S1", "A", 1_234_567, nonce_of("A")).hex()
    assert other["my_commitment"] is None and "my_commitment" not in public
    entry = h.events("commit", "S1")[0].data
    assert set(entry) == {"actor", "lot", "hash", "ok", "rule"}
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_234_567)
    assert h.engine.view("S1", "A")["my_commitment"]["revealed"] is True
    assert h.engine.view("S1")["revealed"] == 1
    assert leaked_before(h, COMMIT_END, {1_234_567, nonce_of("A")}) == []
    h.assert_replays()


def test_an_early_reveal_does_not_leak_the_bid(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_234_567)
    h.rejected("reveal_not_open", "reveal", "A", lot="S1", amount=1_234_567, nonce=nonce_of("A"))
    h.rejected("unknown_lot", "reveal", "A", lot="S9", amount=1_234_567, nonce=nonce_of("A"))  # a mistyped lot
    assert leaked_before(h, COMMIT_END, {1_234_567, nonce_of("A")}) == []
    assert h.events("reveal")[-1].data["redacted"] == ["amount", "nonce"]
    h.assert_replays()


def test_void_bids_forfeit_their_deposit_by_default(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_500_000)
    commit(h, "B", 2_000_000)  # never revealed
    commit(h, "C", MIN - 1)  # below min_price
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_500_000)
    reveal(h, "C", MIN - 1)
    assert h.events("reveal", "S1")[-1].data["out"] == {"valid": False}
    h.run_until(REVEAL_END)
    close = h.last("close")
    assert [(r["bidder"], r["valid"]) for r in close["revealed"]] == [("A", True), ("C", False)]
    assert close["unrevealed"] == ["B"]
    forfeits = [(e.data["party"], e.data["amount"], e.data["reason"]) for e in h.events("forfeit", "S1")]
    assert forfeits == [("B", DEPOSIT, "unrevealed"), ("C", DEPOSIT, "below_min_price")]
    deal = h.last("deal")
    assert (deal["buyer"], deal["price"]) == ("A", MIN)  # one valid bid: max(min_price, no reserve)
    h.ok("pay", lot="S1", amount=MIN - DEPOSIT)
    assert_conserved(h)
    h.assert_replays()


def test_void_bids_are_refunded_when_the_rules_say_so(h: Harness) -> None:
    open_sealed(h, unrevealed="refund")
    commit(h, "A", 1_500_000)
    commit(h, "B", 2_000_000)
    commit(h, "C", MIN - 1)
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_500_000)
    reveal(h, "C", MIN - 1)
    h.run_until(REVEAL_END)
    assert h.events("forfeit", "S1") == []
    assert sorted(r["party"] for r in h.refunds("S1")) == ["B", "C"]
    h.ok("pay", lot="S1", amount=MIN - DEPOSIT)
    assert_conserved(h)
    h.assert_replays()


def test_mismatching_reveal_is_refused_and_may_be_retried(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_500_000)
    h.run_until(COMMIT_END)
    result = h.rejected("commitment_mismatch", "reveal", "A", lot="S1", amount=1_500_001, nonce=nonce_of("A"))
    assert "'amount'" in (result.message or "") and "'nonce'" in (result.message or "")
    h.rejected("commitment_mismatch", "reveal", "A", lot="S1", amount=1_500_000, nonce=nonce_of("A", "x"))
    assert h.engine.view("S1", "A")["my_commitment"]["revealed"] is False
    reveal(h, "A", 1_500_000)
    h.rejected("already_revealed", "reveal", "A", lot="S1", amount=1_500_000, nonce=nonce_of("A"))
    h.assert_replays()


def test_a_copied_commitment_cannot_be_opened(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_500_000)
    h.ok("commit", "B", lot="S1", hash=h.events("commit", "S1")[0].data["hash"])
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_500_000)
    h.rejected("commitment_mismatch", "reveal", "B", lot="S1", amount=1_500_000, nonce=nonce_of("A"))
    h.assert_replays()


def test_a_commitment_binds_its_lot(h: Harness) -> None:
    open_sealed(h)
    open_sealed(h, lot="S2")
    h.ok("commit", "A", lot="S2", hash=commitment("S1", "A", 1_500_000, nonce_of("A")))
    h.run_until(COMMIT_END)
    h.rejected("commitment_mismatch", "reveal", "A", lot="S2", amount=1_500_000, nonce=nonce_of("A"))
    h.assert_replays()


def test_commit_rejections(h: Harness) -> None:
    open_sealed(h, {"A": DEPOSIT, "D": DEPOSIT - 1, "A\nB": DEPOSIT})
    good = commitment("S1", "A", 1_500_000, nonce_of("A"))
    h.rejected("not_qualified", "commit", "C", lot="S1", hash=good)
    h.rejected("not_qualified", "commit", "D", lot="S1", hash=good)
    result = h.rejected("bad_hash", "commit", "A", lot="S1", hash=good[:31])
    assert "'hash'" in (result.message or "")
    h.rejected("bad_command", "commit", "A", lot="S1", hash=good.hex())
    h.rejected("bad_command", "commit", "A", lot="S1")
    h.rejected("bad_command", "commit", "A\nB", lot="S1", hash=good)
    h.ok("commit", "A", lot="S1", hash=good)
    h.rejected("already_committed", "commit", "A", lot="S1", hash=commitment("S1", "A", 2_000_000, nonce_of("A")))
    h.rejected("unknown_command", "bid", "A", lot="S1", amount=MIN)
    h.assert_replays()


def test_reveal_rejections(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_500_000)
    h.rejected("reveal_not_open", "reveal", "B", lot="S1", amount=0, nonce=bytes(16))
    h.run_until(COMMIT_END)
    h.rejected("no_commitment", "reveal", "B", lot="S1", amount=1_500_000, nonce=nonce_of("B"))
    result = h.rejected("nonce_too_short", "reveal", "A", lot="S1", amount=1_500_000, nonce=nonce_of("A")[:15])
    assert "'nonce'" in (result.message or "")
    h.rejected("bad_command", "reveal", "A", lot="S1", amount="1500000", nonce=nonce_of("A"))
    h.rejected("bad_command", "reveal", "A", lot="S1", amount=1_500_000, nonce=nonce_of("A").hex())
    h.rejected("bad_command", "reveal", "A", lot="S1", nonce=nonce_of("A"))
    reveal(h, "A", 1_500_000)
    h.assert_replays()


def test_nonce_length_is_a_parameter(h: Harness) -> None:
    open_sealed(h, min_nonce_bytes=32)
    h.ok("commit", "A", lot="S1", hash=commitment("S1", "A", MIN, bytes(16)))
    h.run_until(COMMIT_END)
    h.rejected("nonce_too_short", "reveal", "A", lot="S1", amount=MIN, nonce=bytes(16))
    h.assert_replays()


def test_single_valid_bid_pays_the_reserve_under_second_price(h: Harness) -> None:
    open_sealed(h, reserve=1_200_000)
    commit(h, "A", 1_500_000)
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_500_000)
    h.run_until(REVEAL_END)
    assert (h.last("deal")["buyer"], h.last("deal")["price"]) == ("A", 1_200_000)
    h.assert_replays()


def test_reserve_lifts_a_lower_second_bid(h: Harness) -> None:
    open_sealed(h, reserve=1_400_000)
    commit(h, "A", 1_500_000)
    commit(h, "B", 1_100_000)
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_500_000)
    reveal(h, "B", 1_100_000)
    h.run_until(REVEAL_END)
    assert (h.last("deal")["buyer"], h.last("deal")["price"]) == ("A", 1_400_000)
    h.assert_replays()


@pytest.mark.parametrize("price_rule", ["first", "second"])
def test_reserve_not_met_is_no_sale(h: Harness, price_rule: str) -> None:
    open_sealed(h, reserve=2_000_000, price_rule=price_rule)
    commit(h, "A", 1_500_000)
    h.run_until(COMMIT_END)
    reveal(h, "A", 1_500_000)
    h.run_until(REVEAL_END)
    assert h.last("no_sale")["reason"] == "reserve_not_met"
    assert [r["reason"] for r in h.refunds("S1")] == ["no_sale"] * 3
    assert_conserved(h)
    h.assert_replays()


def test_ties_go_to_the_earlier_commitment(h: Harness) -> None:
    open_sealed(h)
    commit(h, "B", 1_500_000)
    h.run(1)
    commit(h, "A", 1_500_000)
    commit(h, "C", 1_500_000)  # same time as A, later arrival
    h.run_until(COMMIT_END)
    for bidder in "CAB":
        reveal(h, bidder, 1_500_000)
    h.run_until(REVEAL_END)
    assert [r["bidder"] for r in h.last("close")["revealed"]] == ["B", "A", "C"]
    assert (h.last("deal")["buyer"], h.last("deal")["price"]) == ("B", 1_500_000)
    assert [r["party"] for r in h.refunds("S1")] == ["C"]  # A is the runner-up
    h.assert_replays()


def test_no_commitments_closes_at_the_end_of_the_commit_window(h: Harness) -> None:
    open_sealed(h)
    h.run_until(COMMIT_END)
    assert [(e.t, e.data["reason"]) for e in h.events("no_sale", "S1")] == [(COMMIT_END, "no_bids")]
    assert h.events("phase", "S1") == []
    h.rejected("lot_closed", "reveal", "A", lot="S1", amount=MIN, nonce=nonce_of("A"))
    assert_conserved(h)
    h.assert_replays()


def test_windows_resolve_from_the_submarket(h: Harness) -> None:
    h.ok("open_submarket", submarket="fast", params={"bid_ms": HOUR, "reveal_ms": 60_000, "price_rule": "first"})
    h.open_lot("S1", "sealed", {"A": DEPOSIT}, submarket="fast", params={"min_price": MIN})
    view = h.engine.view("S1")
    assert (view["price_rule"], view["commit_until"], view["reveal_until"]) == ("first", T0 + HOUR, T0 + HOUR + 60_000)
    h.assert_replays()


def test_rule_checks_behind_the_engine(h: Harness) -> None:
    open_sealed(h)
    commit(h, "A", 1_500_000)
    lot = h.engine.lot("S1")
    commit_cmd = {"op": "commit", "actor": "B", "lot": "S1", "hash": bytes(32)}
    reveal_cmd = {"op": "reveal", "actor": "A", "lot": "S1", "amount": 1_500_000, "nonce": nonce_of("A")}
    cases = [("commit", commit_cmd, COMMIT_END, "late_commit")]
    h.run_until(COMMIT_END)
    cases.append(("reveal", reveal_cmd, REVEAL_END, "late_reveal"))
    for op, cmd, now, code in cases:
        if op == "commit":
            lot.phase = "commit"
        else:
            lot.phase = "reveal"
        with pytest.raises(Rejected) as rej:
            MODE.commands[op](StubCtx(now), lot, cmd)  # type: ignore[arg-type]
        assert rej.value.code == code
    lot.phase = "closed"
    with pytest.raises(Rejected) as closed:
        MODE.commands["reveal"](StubCtx(COMMIT_END), lot, reveal_cmd)  # type: ignore[arg-type]
    assert closed.value.code == "lot_closed"
    assert MODE.next_deadline(lot) is None


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"min_price": MIN}, "missing_param", "price_rule"),
        ({"price_rule": "first"}, "missing_param", "min_price"),
        ({"price_rule": "third", "min_price": MIN}, "bad_param", "price_rule"),
        ({"price_rule": "first", "min_price": 0}, "bad_param", "min_price"),
        ({"price_rule": "first", "min_price": MIN, "reserve": 0}, "bad_param", "reserve"),
        ({"price_rule": "first", "min_price": MIN, "bid_ms": 0}, "bad_param", "bid_ms"),
        ({"price_rule": "first", "min_price": MIN, "reveal_ms": 0}, "bad_param", "reveal_ms"),
        ({"price_rule": "first", "min_price": MIN, "unrevealed": "keep"}, "bad_param", "unrevealed"),
        ({"price_rule": "first", "min_price": MIN, "min_nonce_bytes": 0}, "bad_param", "min_nonce_bytes"),
        ({"price_rule": "first", "min_price": MIN, "increment": 1}, "bad_param", "increment"),
    ],
)
def test_bad_params_are_named(h: Harness, params: dict[str, Any], code: str, field: str) -> None:
    result = h.rejected(code, "open_lot", lot="S1", mode="sealed", params=params)
    assert f"'{field}'" in (result.message or "")
    h.assert_replays()


# -- property ---------------------------------------------------------------------------------------

# Distinctive amounts (unlikely to collide with times, counts or deposits), with repeats for ties.
AMOUNTS = [MIN - 3_331, MIN, MIN + 7_919, MIN + 104_729, MIN + 350_377]
BEHAVIOURS = ["good", "good", "mismatch_then_good", "mismatch", "none", "late"]

bidder_plans = st.tuples(
    st.sampled_from([True, True, True, False]),  # qualified (mostly)
    st.integers(0, DAY + HOUR + HOUR // 2) | st.sampled_from([0, HOUR, DAY - 1, DAY]),  # commit time (ties, edges)
    st.sampled_from(AMOUNTS),
    st.sampled_from(BEHAVIOURS),
    st.integers(0, HOUR - 1) | st.sampled_from([0, HOUR - 1]),  # reveal time within the window
)


@settings(max_examples=300, deadline=None)
@given(
    price_rule=st.sampled_from(["first", "second"]),
    reserve=st.sampled_from([None, MIN, MIN + 7_919, MIN + 200_000]),
    unrevealed=st.sampled_from(["forfeit", "refund"]),
    plans=st.lists(bidder_plans, max_size=6),
)
def test_property_highest_valid_revealed_bid_wins(
    price_rule: str, reserve: int | None, unrevealed: str, plans: list[tuple[bool, int, int, str, int]]
) -> None:
    h = Harness()
    bidders = [f"P{i}" for i in range(len(plans))]
    params: dict[str, Any] = {"price_rule": price_rule, "min_price": MIN, "unrevealed": unrevealed}
    if reserve is not None:
        params["reserve"] = reserve
    h.open_lot("S1", "sealed", {b: DEPOSIT for b, plan in zip(bidders, plans, strict=True) if plan[0]}, params=params)

    timeline: list[tuple[int, int, str, str]] = []  # (t, arrival, op, bidder)
    for i, (b, (_, commit_dt, _, behaviour, reveal_dt)) in enumerate(zip(bidders, plans, strict=True)):
        timeline.append((T0 + commit_dt, i, "commit", b))
        if behaviour != "none":
            late = HOUR if behaviour == "late" else 0
            timeline.append((COMMIT_END + late + reveal_dt, len(plans) + i, "reveal", b))
    timeline.sort()

    plan_of = dict(zip(bidders, plans, strict=True))
    committed: dict[str, tuple[int, int]] = {}  # bidder -> (commit time, arrival order)
    revealed: dict[str, int] = {}
    for t, _, op, b in timeline:
        qualified, _, amount, behaviour, _ = plan_of[b]
        h.run_until(t)
        closed = t >= REVEAL_END or (t >= COMMIT_END and not committed)
        if op == "commit":
            result = h.submit("commit", b, lot="S1", hash=commitment("S1", b, amount, nonce_of(b)))
            if closed:
                assert result.code == "lot_closed"
            elif t >= COMMIT_END:
                assert result.code == "commit_closed"
            elif not qualified:
                assert result.code == "not_qualified"
            else:
                assert result.ok
                committed[b] = (t, len(committed) + 1)
            continue
        if behaviour in ("mismatch_then_good", "mismatch") and not closed and b in committed:
            h.rejected("commitment_mismatch", "reveal", b, lot="S1", amount=amount, nonce=nonce_of(b, "wrong"))
        if behaviour == "mismatch":
            continue
        result = h.submit("reveal", b, lot="S1", amount=amount, nonce=nonce_of(b))
        if closed:
            assert result.code == "lot_closed"
        elif b not in committed:
            assert result.code == "no_commitment"
        else:
            assert result.ok
            revealed[b] = amount
    h.run_until(max(h.now, REVEAL_END))

    # Nothing but hashes before the reveal window; nothing accepted outside its window.
    secrets: set[Any] = {plan[2] for plan in plans} | {nonce_of(b) for b in bidders}
    assert leaked_before(h, COMMIT_END, secrets) == []
    assert all(e.t >= COMMIT_END for e in h.events("reveal"))
    assert all(e.t < COMMIT_END for e in h.events("commit") if e.data["ok"])
    assert all(COMMIT_END <= e.t < REVEAL_END for e in h.events("reveal") if e.data["ok"])

    # The outcome under price-then-time.
    valid = sorted((-a, *committed[b], b) for b, a in revealed.items() if a >= MIN)
    if committed:
        listed = [(r["bidder"], r["amount"]) for r in h.last("close")["revealed"]]
        by_priority = sorted((-a, *committed[b], b) for b, a in revealed.items())
        assert listed == [(b, -neg) for neg, _, _, b in by_priority]
    forfeits = sorted(e.data["party"] for e in h.events("forfeit", "S1"))
    void = sorted(b for b in committed if revealed.get(b, 0) < MIN)
    assert forfeits == (void if unrevealed == "forfeit" else [])
    no_sale = h.events("no_sale", "S1")
    event("outcome: " + (no_sale[0].data["reason"] if no_sale else f"deal ({len(valid)} valid bids)"))
    if not committed:
        assert [e.data["reason"] for e in no_sale] == ["no_bids"]
    elif not valid:
        assert [e.data["reason"] for e in no_sale] == ["no_valid_bids"]
    elif reserve is not None and -valid[0][0] < reserve:
        assert [e.data["reason"] for e in no_sale] == ["reserve_not_met"]
    else:
        top = -valid[0][0]
        second = -valid[1][0] if len(valid) > 1 else 0
        price = top if price_rule == "first" else max(second, MIN, reserve or 0)
        deal = h.last("deal")
        assert (deal["buyer"], deal["price"]) == (valid[0][3], price)
        h.ok("pay", lot="S1", amount=price - DEPOSIT)
        assert h.engine.lot("S1").phase == "settled"
    assert_conserved(h)
    h.assert_replays()
