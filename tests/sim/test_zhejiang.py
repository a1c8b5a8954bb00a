"""The calibrated scenario reproduces the 浙江拍 seed figures within the tolerances it states."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auction_engine.sim import load
from auction_engine.sim.experiment import plan, run

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "zhejiang-2021.toml"
TARGETS = {  # (target, relative tolerance) — as stated in the scenario's header
    "deals": (1304, 0.04),
    "revenue_yuan": (495e6, 0.06),
    "revenue_yuan_agreement": (320e6, 0.08),
    "revenue_yuan_listing": (18e6, 0.15),
    "revenue_yuan_english": (157e6, 0.10),
}


def _means(runs: int, seed: int) -> pd.Series:
    sc = load(SCENARIO)
    rows = [run(spec).row for spec in plan(sc, runs, seed, detail=False, ledgers="none")]
    return pd.DataFrame(rows).mean(numeric_only=True)


def _check(means: pd.Series) -> None:
    for key, (target, tol) in TARGETS.items():
        assert abs(means[key] / target - 1) <= tol, f"{key}: {means[key]:,.0f} vs {target:,.0f} ± {tol:.0%}"


def test_zhejiang_calibration_quick() -> None:
    _check(_means(3, 2021))


@pytest.mark.slow
def test_zhejiang_calibration_ten_runs() -> None:
    _check(_means(10, 7))
