"""Market-level rules: withdrawal, who may act as a buyer, and checked market settings."""

from __future__ import annotations

import pytest

from auction_engine.engine import Engine

from .harness import Harness

ENGLISH = {"start_price": 100_000, "increment": 10_000}


def test_operator_withdraws_a_lot_and_every_deposit_is_refunded(h: Harness) -> None:
    h.open_lot("L1", "english", {"A": 10_000, "B": 10_000}, params=ENGLISH)
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.rejected("forbidden", "withdraw_lot", "A", lot="L1", grounds="mine")
    h.rejected("bad_command", "withdraw_lot", lot="L1")
    h.ok("withdraw_lot", lot="L1", grounds="the seller's patent was invalidated")
    assert h.last("withdrawn")["grounds"] == "the seller's patent was invalidated"
    assert h.last("no_sale")["reason"] == "withdrawn"
    assert h.money("L1")["refund"] == 20_000
    h.rejected("lot_closed", "withdraw_lot", lot="L1", grounds="again")
    h.rejected("lot_closed", "bid", "B", lot="L1", amount=110_000)
    h.assert_replays()


@pytest.mark.parametrize(
    "mode, op, fields",
    [
        ("english", "bid", {"amount": 100_000}),
        ("dutch", "accept", {}),
        ("listing", "register", {}),
    ],
)
def test_neither_the_seller_nor_an_operator_may_act_as_a_buyer(h: Harness, mode: str, op: str, fields: dict) -> None:
    params = {
        "english": ENGLISH,
        "dutch": {"start_price": 100_000, "step": 1_000, "floor": 50_000},
        "listing": {"list_price": 100_000},
    }[mode]
    h.open_lot("L1", mode, {"S": 10_000, "operator": 10_000}, seller="S", params=params)
    h.rejected("seller_cannot_bid", op, "S", lot="L1", **fields)
    h.rejected("operator_cannot_bid", op, "operator", lot="L1", **fields)
    h.assert_replays()


def test_seller_and_title_must_be_strings(h: Harness) -> None:
    h.rejected("bad_command", "open_lot", lot="L1", mode="english", seller=7, params=ENGLISH)
    h.rejected("bad_command", "open_lot", lot="L1", mode="english", title="", params=ENGLISH)


def test_a_misspelt_market_setting_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="countdwn_ms"):
        Engine(params={"countdwn_ms": 1})


def test_every_entry_naming_a_lot_carries_the_lot_s_own_running_number(h: Harness) -> None:
    h.open_lot("L1", "english", {"A": 10_000}, params={**ENGLISH, "free_ms": 0})
    h.open_lot("L2", "english", {"A": 10_000}, params=ENGLISH)
    h.rejected("below_start", "bid", "A", lot="L1", amount=1)
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.run(10 * 60_000)
    for lot in ("L1", "L2"):
        numbers = [e.data["lot_seq"] for e in h.engine.events if e.data.get("lot") == lot]
        assert numbers == list(range(len(numbers))), (lot, numbers)
    assert "lot_seq" not in h.engine.events[0].data  # the genesis names no lot
    h.assert_replays()


def test_a_command_the_ledger_cannot_encode_is_refused_before_anything_is_recorded(h: Harness) -> None:
    h.open_lot("L1", "english", {"A": 10_000}, params=ENGLISH)
    size = h.log.size
    for bad in ({"amount": 1.5}, {"amount": 2**70}, {"amount": 100_000, "note": "\ud800"}):
        with pytest.raises(ValueError):
            h.submit("bid", "A", lot="L1", **bad)
    assert h.log.size == size and h.engine.lot("L1").state.high is None
    h.assert_replays()


@pytest.mark.parametrize(
    "mode, params, after",
    [
        ("english", ENGLISH, ["timed", "awaiting_payment"]),
        ("dutch", {"start_price": 100_000, "step": 1_000, "floor": 50_000}, ["no_sale"]),
        ("sealed", {"price_rule": "first", "min_price": 100_000}, ["no_sale"]),
        ("listing", {"list_price": 100_000}, ["awaiting_payment"]),
    ],
)
def test_operator_closes_a_phase_early_only_where_the_lot_allows_it(
    h: Harness, mode: str, params: dict, after: list[str]
) -> None:
    h.open_lot("L0", mode, {"A": 10_000}, params=params)
    h.rejected("not_allowed", "close_phase", lot="L0", grounds="hurry")  # the default: timers only
    h.open_lot("L1", mode, {"A": 10_000}, params={**params, "operator_may_close": True})
    if mode == "english":
        h.ok("bid", "A", lot="L1", amount=100_000)
    if mode == "listing":
        h.ok("register", "A", lot="L1")
    h.rejected("forbidden", "close_phase", "A", lot="L1", grounds="mine")
    for phase in after:
        h.ok("close_phase", lot="L1", grounds="the session ends early (power cut)")
        assert h.engine.lot("L1").phase == phase
    h.rejected("no_phase_to_close", "close_phase", lot="L1", grounds="again")
    assert h.last("phase_closed")["grounds"] == "the session ends early (power cut)"
    h.assert_replays()


def test_the_legal_public_notice_can_never_be_cut_short(h: Harness) -> None:
    h.open_lot("L1", "agreement", params={"price": 100_000, "buyer": "A", "operator_may_close": True})
    h.rejected("not_allowed", "close_phase", lot="L1", grounds="hurry")


def test_a_batch_deposit_admits_every_party_in_one_entry(h: Harness) -> None:
    h.ok("open_lot", lot="L1", mode="english", params={**ENGLISH, "deposit": 10_000})
    before = h.engine.recorder.size
    parties = [{"party": "A", "amount": 10_000, "note": "bank"}, {"party": "B", "amount": 5_000}]
    h.ok("deposit", lot="L1", parties=parties)
    assert h.engine.recorder.size == before + 1
    assert h.engine.lot("L1").deposits == {"A": 10_000, "B": 5_000}
    h.ok("deposit", lot="L1", party="B", amount=5_000)  # the single form adds up with the batch
    h.ok("bid", "A", lot="L1", amount=100_000)
    h.ok("bid", "B", lot="L1", amount=110_000)
    h.ok("withdraw_lot", lot="L1", grounds="test")
    assert h.money("L1") == {"deposit": 20_000, "refund": 20_000, "forfeit": 0, "deposit_applied": 0}
    h.assert_replays()


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"parties": []}, "field 'parties' must be a non-empty list"),
        ({"parties": {"A": 1}}, "field 'parties' must be a non-empty list"),
        ({"parties": [{"party": "A", "amount": 1}], "party": "A"}, "not both (field 'party')"),
        ({"parties": ["A"]}, "parties[0] must be a map"),
        ({"parties": [{"party": "A", "amount": 1}, {"amount": 1}]}, "parties[1].party must be a non-empty string"),
        ({"parties": [{"party": "A", "amount": -1}]}, "parties[0].amount must be a whole number of fen ≥ 0"),
        ({"parties": [{"party": "A", "amount": 1}, {"party": "A", "amount": 2}]}, "parties[1]: A appears twice"),
    ],
)
def test_a_bad_batch_deposit_is_refused_whole_naming_the_item(h: Harness, fields: dict, message: str) -> None:
    h.ok("open_lot", lot="L1", mode="english", params=ENGLISH)
    result = h.rejected("bad_command", "deposit", lot="L1", **fields)
    assert message in (result.message or "")
    assert h.engine.lot("L1").deposits == {}


def test_replay_refuses_a_ledger_of_another_rules_version(h: Harness) -> None:
    from auction_engine.engine import RULES_VERSION
    from auction_engine.replay import replay
    from ledger import canonical

    h.open_lot("L1", "english", {"A": 10_000}, params=ENGLISH)
    entries = list(h.log.entries())
    genesis = canonical.decode(entries[0])
    assert genesis["rules_version"] == RULES_VERSION
    genesis["rules_version"] = "1"
    report = replay([canonical.encode(genesis), *entries[1:]])
    assert not report.ok and report.index == 0
    assert f"recorded under rules version '1'; this engine runs version {RULES_VERSION!r}" in (report.message or "")
