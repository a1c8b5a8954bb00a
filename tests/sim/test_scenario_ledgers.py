"""Every shipped scenario's ledger replays: one run of each mechanism, rebuilt from its entries alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from auction_engine.replay import replay
from auction_engine.sim.experiment import plan, run
from auction_engine.sim.scenario import apply_overrides, load
from ledger import MemoryStore, Verifier, audit_store
from ledger.store import Row, StoredCheckpoint

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").rglob("*.toml"))
QUICK = {"zhejiang-2021.toml": {"population.arrival.days": 20}}  # a quick cut of the calibrated market


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(REPO / "scenarios")))
def test_each_scenario_s_ledger_replays_and_audits(path: Path) -> None:
    scenario = load(path)
    if path.name in QUICK:
        scenario = apply_overrides(scenario, QUICK[path.name])
    specs = [s for s in plan(scenario, runs=1, seed=7, detail=False) if s.keep_ledger]
    assert specs, f"{path.name}: no run keeps its ledger"
    for spec in specs:
        ledger = run(spec).ledger
        assert ledger is not None
        entries = [data for _seq, data, _leaf in ledger["rows"]]
        report = replay(entries)
        assert report.ok, f"{path.name} / {spec.mechanism}: replay diverged at {report.index}: {report.message}"
        store = MemoryStore()
        store.set_meta("origin", ledger["origin"])
        store.commit([Row(*r) for r in ledger["rows"]], [StoredCheckpoint(*c) for c in ledger["checkpoints"]])
        audit = audit_store(store, Verifier.parse(ledger["vkey"]))
        assert audit.ok, audit.problems
