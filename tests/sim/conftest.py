"""Helpers for the simulator tests: small scenarios built as TOML-shaped dicts, run in-process."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from auction_engine.sim.experiment import RunResult, RunSpec, run
from auction_engine.sim.scenario import Scenario, from_raw

BASE: dict[str, Any] = {
    "scenario": {"name": "test", "scale": 1_000_000},
    "experiment": {"runs": 2, "seed": 1},
    "market": {"params": {"deposit": 0}},
    "population": {"lots": 20, "bidders": 4},
    "values": {"dist": "uniform"},
    "strategy": {"name": "bne"},
    "mechanism": [
        {
            "name": "english",
            "mode": "english",
            "params": {"increment": 0.001, "free_ms": 60_000, "countdown_ms": 60_000},
        },
        {
            "name": "second-price",
            "mode": "sealed",
            "params": {"price_rule": "second", "bid_ms": 60_000, "reveal_ms": 60_000},
        },
    ],
}


def make(**changes: Any) -> Scenario:
    """BASE with top-level tables replaced (or merged, for dicts given with a leading '+')."""
    raw = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key.startswith("plus_"):
            raw[key[5:]].update(value)
        else:
            raw[key] = value
    return from_raw(raw)


def run_one(sc: Scenario, mechanism: str | None = None, rep: int = 0, seed: int = 1, **kw: Any) -> RunResult:
    mech = mechanism or sc.mechanisms[0]
    return run(RunSpec(sc.data, (), mech, rep, seed, **kw), keep_records=True)


@pytest.fixture
def base() -> Scenario:
    return make()
