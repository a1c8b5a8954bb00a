"""`premium` is a ratio to an opening price the seller set: never to one the simulator filled in.

A sealed lot without a minimum price opens at 1 fen so that the rules accept it; a premium over that
read 667,242 for first-price in revenue-equivalence.toml. Such deals are left out, `premium_share`
says how many were measured, and the report says what the figure is and when it is blank.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from auction_engine.cli import main
from auction_engine.sim.agents import LotRecord
from auction_engine.sim.experiment import plan, run
from auction_engine.sim.mechanism import lot_terms
from auction_engine.sim.metrics import METRICS, run_row
from auction_engine.sim.scenario import loads

SCENARIO = """
[scenario]
name = "premium"

[market]
params = { deposit = 0 }

[population]
lots = 8
bidders = 3

[[mechanism]]
name = "first-price"
mode = "sealed"
params = { price_rule = "first", bid_ms = 60_000, reveal_ms = 60_000 }

[[mechanism]]
name = "first-price-min"
mode = "sealed"
params = { price_rule = "first", bid_ms = 60_000, reveal_ms = 60_000, min_price = 0.1 }

[[mechanism]]
name = "english-start"
mode = "english"
params = { increment = 0.01, free_ms = 60_000, countdown_ms = 60_000, start_price = 0.2 }
"""


def _key(mode: str, params: dict[str, object], seller: dict[str, object] | None = None) -> str | None:
    sc = loads(SCENARIO)
    option = {"mode": mode, "params": params, "seller": seller or {}}
    return lot_terms(option, sc.data, lot_scale=1.0, seller_value=0.0, appraisal=1.0, n_hint=3).premium_key


def test_which_opening_price_is_the_sellers() -> None:
    sealed = {"price_rule": "first", "bid_ms": 60_000, "reveal_ms": 60_000}
    assert _key("sealed", sealed) is None  # 1 fen, so that the rules take the lot
    assert _key("sealed", {**sealed, "min_price": 0.1}) == "min_price"
    assert _key("sealed", sealed, {"reserve": {"rule": "fixed", "value": 0.3}}) == "reserve"
    english = {"increment": 0.01}
    assert _key("english", english) is None  # one increment
    assert _key("english", {**english, "start_price": 0.2}) == "start_price"
    assert _key("english", english, {"start": {"rule": "appraisal", "factor": 0.5}}) == "start_price"
    assert _key("english", english, {"reserve": {"rule": "fixed", "value": 0.3}}) == "start_price"  # at the reserve
    assert _key("dutch", {"step": 0.01}) is None  # the top of the value distribution
    assert _key("dutch", {"step": 0.01, "start_price": 0.9}) == "start_price"
    assert _key("listing", {}, {"list_price": {"rule": "fixed", "value": 0.5}}) == "list_price"
    assert _key("agreement", {}) == "price"


def _record(price: int, premium_base: int) -> LotRecord:
    return LotRecord(
        lot="L",
        option=0,
        mode="sealed",
        submarket="main",
        scale=1.0,
        unit=1_000_000.0,
        n=2,
        values=np.array([0.9, 0.5]),
        seller_value=0.0,
        opening_price=1 if premium_base == 0 else premium_base,
        premium_base=premium_base,
        outcome="deal",
        buyer=0,
        price=price,
    )


def test_the_mean_leaves_out_deals_without_a_sellers_opening_price() -> None:
    row = run_row([_record(600_000, 0), _record(600_000, 400_000), _record(500_000, 500_000)], 1.0, False, ["sealed"])
    assert row["premium"] == (600_000 / 400_000 - 1 + 0) / 2 and row["premium_share"] == 2 / 3
    none = run_row([_record(600_000, 0)], 1.0, False, ["sealed"])
    assert math.isnan(none["premium"]) and none["premium_share"] == 0
    assert "premium_share" in METRICS and "filled in" in METRICS["premium"]


def test_a_run_measures_premium_only_over_the_sellers_prices() -> None:
    specs = plan(loads(SCENARIO), 1, 7)
    rows = {s.mechanism: run(s).row for s in specs}
    assert math.isnan(rows["first-price"]["premium"]) and rows["first-price"]["premium_share"] == 0
    for mechanism in ("first-price-min", "english-start"):
        row = rows[mechanism]
        assert row["premium_share"] == 1 and 0 <= row["premium"] < 10, row  # prices in [0.1, 1] over 0.1 or 0.2
    assert rows == {s.mechanism: run(s).row for s in specs}  # deterministic


def test_the_report_says_what_the_premium_is(tmp_path: Path) -> None:
    (tmp_path / "premium.toml").write_text(SCENARIO, encoding="utf-8")
    out = tmp_path / "out"
    args = ["simulate", str(tmp_path / "premium.toml"), "--runs", "2", "--seed", "1", "--out", str(out), "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = (out / "report.md").read_text(encoding="utf-8")
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| cell | mechanism | runs |"))
    index = [c.strip() for c in lines[start].split("|")].index("premium")
    rows = [line.split("|") for line in lines[start + 2 : lines.index("", start)]]  # the results table
    premium = {cells[2].strip(): cells[index].strip() for cells in rows}
    assert premium["first-price"] == "–" and premium["first-price-min"] != "–", premium
    assert "**premium**: price ÷ opening price − 1, over the deals whose opening price the seller set" in report
    assert "a sealed lot's 1-fen minimum" in report
