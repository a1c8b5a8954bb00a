"""bench/engine_throughput.py's drivers: the pre-worked stream is what the reacting bidders send.

The default driver feeds bids worked out before the run; that measures the engine, not the bidders'
decisions, only if the stream is exactly what bidders reacting to the market would send. The
reacting driver (a heap of arrivals) must therefore write the very same ledger, and the simpy
driver (an event per arrival) the same bids.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def bench(repo_root: Path) -> ModuleType:
    path = repo_root / "bench" / "engine_throughput.py"
    spec = importlib.util.spec_from_file_location("engine_throughput_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_stream_driver_writes_the_reacting_bidders_ledger(bench: ModuleType) -> None:
    stream = bench.run_market(150, 20, 7, True, driver="stream")
    reactive = bench.run_market(150, 20, 7, True, driver="reactive")
    simpy_events = bench.run_market(150, 20, 7, True, driver="simpy")
    assert stream.bids > 150 * 5
    assert (stream.bids, stream.entries, stream.root) == (reactive.bids, reactive.entries, reactive.root)
    assert simpy_events.bids == stream.bids


def test_ledger_off_gives_the_same_bids(bench: ModuleType) -> None:
    on, off = bench.run_market(100, 20, 11, True), bench.run_market(100, 20, 11, False)
    assert on.bids == off.bids and off.root is None and on.root is not None


def test_stub_engine_runs(bench: ModuleType) -> None:
    assert bench.run_market(50, 20, 3, True, stub_engine=True).bids == bench.run_market(50, 20, 3, True).bids
