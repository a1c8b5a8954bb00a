"""Rejection messages are for people: money in yuan, instants in the lot's local time, shares in percent.

The codes are what programs check; these tests pin the formatters and the conventions of the messages
(one sentence, naming the lot or the field, no raw epoch milliseconds or basis points), so a message
read by an operator or a bidder, and written into the ledger, says what it means.
"""

from __future__ import annotations

import datetime
import re

from hypothesis import given
from hypothesis import strategies as st

from auction_engine.model import DAY, HOUR, MINUTE, SECOND, duration, local_time, percent, yuan

from .harness import T0, Harness
from .test_rules_doc import EXAMPLES

EPOCH_MS = re.compile(r"\b1\d{12}\b")  # an instant in epoch milliseconds (2001-2286), never shown to people


# -- the formatters -----------------------------------------------------------------------------------


def test_yuan() -> None:
    assert yuan(123456) == "¥1,234.56"
    assert yuan(0) == "¥0.00"
    assert yuan(5) == "¥0.05"
    assert yuan(-100) == "-¥1.00"
    assert yuan(61_000_000) == "¥610,000.00"


def test_local_time() -> None:
    assert local_time(1_614_560_400_000) == "2021-03-01 09:00 (UTC+08:00)"  # default: Asia/Shanghai
    assert local_time(1_614_560_400_000, 0) == "2021-03-01 01:00 (UTC+00:00)"
    assert local_time(1_614_560_400_000 + 30 * SECOND, 8 * HOUR) == "2021-03-01 09:00:30 (UTC+08:00)"
    assert local_time(1_614_560_400_000 + 250, 8 * HOUR) == "2021-03-01 09:00:00.250 (UTC+08:00)"
    assert local_time(0, -(5 * HOUR + 30 * MINUTE)) == "1969-12-31 18:30 (UTC-05:30)"
    assert local_time(T0, 8 * HOUR) == "2023-11-15 06:13:20 (UTC+08:00)"
    assert local_time(10**20, 0).startswith("100000000000000000000 ms")  # beyond year 9999: still a text


@given(st.integers(0, 2**42), st.integers(-14 * 60, 14 * 60))
def test_local_time_agrees_with_the_datetime_library(ms: int, offset_min: int) -> None:
    zone = datetime.timezone(datetime.timedelta(minutes=offset_min))
    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(milliseconds=ms)
    local = moment.astimezone(zone)
    text = local_time(ms, offset_min * MINUTE)
    assert text.startswith(local.strftime("%Y-%m-%d %H:%M"))
    sign = "-" if offset_min < 0 else "+"
    assert text.endswith(f"(UTC{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d})")


def test_duration() -> None:
    assert duration(5 * MINUTE) == "5 min"
    assert duration(90 * MINUTE) == "1 h 30 min"
    assert duration(15 * DAY) == "15 days"
    assert duration(DAY + 2 * HOUR) == "1 day 2 h"
    assert duration(90 * SECOND) == "1 min 30 s"
    assert duration(500) == "500 ms"
    assert duration(0) == "0 s"
    assert duration(-HOUR) == "-1 h"


def test_percent() -> None:
    assert percent(3_000) == "30%"
    assert percent(10_000) == "100%"
    assert percent(150) == "1.5%"
    assert percent(1) == "0.01%"
    assert percent(1_234) == "12.34%"
    assert percent(0) == "0%"
    assert percent(-5) == "-0.05%"


# -- the messages -------------------------------------------------------------------------------------


def test_worked_examples_show_no_epoch_milliseconds_nor_basis_points() -> None:
    for name, example in EXAMPLES.items():
        h, _ = example()
        for e in h.engine.events:
            message = e.data.get("message")
            if message is None:
                continue
            assert not EPOCH_MS.search(message), (name, message)
            assert not re.search(r"\d bp\b", message), (name, message)
            assert "a english" not in message, (name, message)


def test_times_are_in_the_lots_local_time() -> None:
    h = Harness()
    params = {"start_price": 1_000_000, "step": 50_000, "floor": 600_000, "wait_ms": 5 * MINUTE}
    h.open_lot("D1", "dutch", {"A": 100_000}, params=params)
    h.open_lot("D2", "dutch", {"A": 100_000}, params={**params, "utc_offset_ms": 0})
    r = h.rejected("clock_not_started", "accept", "A", lot="D1")
    assert r.message == (
        "the clock of lot D1 has not started: it starts at ¥10,000.00 on 2023-11-15 06:18:20 (UTC+08:00)"
    )
    r = h.rejected("clock_not_started", "accept", "A", lot="D2")
    assert r.message == (
        "the clock of lot D2 has not started: it starts at ¥10,000.00 on 2023-11-14 22:18:20 (UTC+00:00)"
    )


def test_deposit_messages_say_what_is_missing() -> None:
    h = Harness()
    h.open_lot("D1", "dutch", {"A": 40_000}, params={"start_price": 1_000_000, "step": 50_000, "floor": 600_000})
    r = h.rejected("not_qualified", "accept", "B", lot="D1")
    assert r.message == "B has not paid the deposit of ¥1,000.00 for lot D1"
    r = h.rejected("not_qualified", "accept", "A", lot="D1")
    assert r.message == "A has paid ¥400.00 of the deposit of ¥1,000.00 for lot D1"
    h.open_lot("D2", "dutch", params={"start_price": 1_000_000, "step": 50_000, "floor": 600_000, "deposit": 0})
    r = h.rejected("not_qualified", "accept", "A", lot="D2")
    assert r.message == "A is not admitted to lot D2 until the operator records its deposit (¥0.00)"


def test_field_messages_name_the_field_and_what_it_takes() -> None:
    h = Harness()
    h.open_lot("D1", "dutch", {"A": 100_000}, params={"start_price": 1_000_000, "step": 50_000, "floor": 600_000})
    assert h.rejected("bad_command", "accept", "A", lot="D1", price="5").message == (
        "field 'price' must be a whole number of fen, not '5'"
    )
    assert h.rejected("bad_command", "accept", "A", lot="D1", price=-5).message == (
        "field 'price' must not be negative (it is -5 fen)"
    )
    r = h.rejected("bad_command", "deposit", lot="D1", amount=5)
    assert r.message == "the deposit command needs the field 'party'"
    assert h.rejected("unknown_command", "bid", "A", lot="D1", amount=5).message == (
        "bid is not a command of lot D1, a Dutch lot (whose own commands are accept)"
    )


def test_grid_messages_give_the_nearest_valid_amounts() -> None:
    h = Harness()
    params = {"price": 1_000_000, "buyer": "B", "competing_offers": True, "auction_increment": 20_000}
    h.open_lot("A1", "agreement", {"C": 100_000}, params=params)
    r = h.rejected("not_increment_multiple", "offer", "C", lot="A1", amount=1_050_000)
    assert r.message == (
        "field 'amount' must be the agreed price of ¥10,000.00 for lot A1 plus a whole multiple of ¥200.00; "
        "the nearest valid offers are ¥10,400.00 and ¥10,600.00 (1040000 and 1060000 fen)"
    )


def test_parameter_messages_use_percent_yuan_and_durations() -> None:
    h = Harness()
    base = {"list_price": 1_000_000}
    r = h.rejected("bad_param", "open_lot", lot="L1", mode="listing", params={**base, "relist_price_bp": 0})
    assert r.message == ("parameter 'relist_price_bp' must be between 0.01% and 100% (1 to 10000 basis points), not 0%")
    r = h.rejected("bad_param", "open_lot", lot="L1", mode="listing", params={**base, "fee_bp": 10_001})
    assert r.message == "parameter 'fee_bp' must be between 0% and 100% (0 to 10000 basis points), not 100.01%"
    r = h.rejected("bad_param", "open_lot", lot="L1", mode="listing", params={**base, "auction_free_ms": 0})
    assert r.message == "parameter 'auction_free_ms' must be positive (it is 0 s)"
    r = h.rejected("bad_param", "open_lot", lot="L1", mode="listing", params={**base, "list_price": -100})
    assert r.message == "parameter 'list_price' must be positive (it is -¥1.00)"
    r = h.rejected("bad_param", "open_lot", lot="L1", mode="listing", params={**base, "reserve": 5})
    assert r.message == "unknown parameter 'reserve' for a listing lot"
    r = h.rejected("bad_param", "open_lot", lot="L1", mode="listing", params={**base, "appraisal_floor_bp": 5})
    assert r.message == "unknown parameter 'appraisal_floor_bp' for a listing lot (did you mean 'approval_floor_bp'?)"
    r = h.rejected("bad_param", "open_lot", lot="S1", mode="sealed", params={"price_rule": "first", "min_price": "1"})
    assert r.message == "parameter 'min_price' must be an integer, not '1'"
    r = h.rejected("bad_param", "open_lot", lot="S1", mode="sealed",
                   params={"price_rule": "first", "min_price": 1, "reserve": "1"})  # fmt: skip
    assert r.message == "parameter 'reserve' must be an integer or null, not '1'"
