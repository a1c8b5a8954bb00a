"""What readable CLI lines show people: the market's local time with its offset, and yuan, never fen."""

from __future__ import annotations

from auction_engine.display import for_people, iso_for_people, market_offset, market_time
from auction_engine.model import HOUR, MINUTE


def test_market_time_is_local_with_its_offset() -> None:
    assert market_time(1_796_627_445_000) == "2026-12-07 15:10:45 +08:00"
    assert market_time(1_796_627_445_250) == "2026-12-07 15:10:45.250 +08:00"
    assert market_time(0, 0) == "1970-01-01 00:00:00 +00:00"
    assert market_time(0, -(5 * HOUR + 30 * MINUTE)) == "1969-12-31 18:30:00 -05:30"
    assert market_time(10**18) == "1000000000000000000 ms after 1970-01-01 00:00:00 UTC (not a calendar date)"


def test_a_certificates_iso_time_reads_as_the_other_times() -> None:
    assert iso_for_people("2021-03-01T10:11:00+08:00") == "2021-03-01 10:11:00 +08:00"
    assert iso_for_people("2021-03-01T10:11:00.120+08:00") == "2021-03-01 10:11:00.120 +08:00"
    assert iso_for_people("yesterday") == "yesterday" and iso_for_people(None) == "None"


def test_rules_messages_keep_the_yuan_and_lose_the_fen() -> None:
    assert for_people("the next valid bid is ¥620,000.00 (62000000 fen)") == "the next valid bid is ¥620,000.00"
    assert (
        for_people("the nearest valid offers are ¥10,400.00 and ¥10,600.00 (1040000 and 1060000 fen)")
        == "the nearest valid offers are ¥10,400.00 and ¥10,600.00"
    )
    assert for_people("field 'price' must not be negative (it is -5 fen)") == (
        "field 'price' must not be negative (it is -¥0.05)"
    )
    assert for_people("lot L1 takes reveals from 2021-03-01 11:00 (UTC+08:00)") == (
        "lot L1 takes reveals from 2021-03-01 11:00 (UTC+08:00)"
    )


def test_the_markets_offset_comes_from_its_genesis() -> None:
    assert market_offset({"kind": "open_market", "params": {"utc_offset_ms": HOUR}}) == HOUR
    assert market_offset({"kind": "open_market", "params": {}}) == 8 * HOUR
    assert market_offset({"params": {"utc_offset_ms": "1h"}}) == 8 * HOUR
    assert market_offset(None) == 8 * HOUR
