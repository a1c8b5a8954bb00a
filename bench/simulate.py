"""Simulated auctions per second (ledger on and off) and the process executor's speed-up on 2 cores.

Claims (issue "The research simulator"): 100,000 five-bidder auctions in under a minute on one
core with the ledger on (≈ 600 µs per auction, all entries signed into the Merkle tree); the
process executor on 2 cores at least 1.8× as fast as serial.

What runs: the shipped validation scenario scenarios/validation/revenue-equivalence.toml at n = 5
(50 lots per run, one engine and one signed in-memory ledger per run, deposits of 0), each format
on its own, through the ordinary `experiment.run` — agents, engine, rules, ledger, metrics. CPU
time (`time.process_time`) is reported next to wall time because the machine may be shared;
with --repeats N every figure is the median of N measurements (the spread is printed too).
Usage: python bench/simulate.py [--auctions 20000] [--speedup-runs 1000] [--repeats 1] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auction_engine.sim.executors import execute
from auction_engine.sim.experiment import plan, run
from auction_engine.sim.scenario import apply_overrides, load

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "validation" / "revenue-equivalence.toml"
LOTS = 50


def specs_for(mechanism: str, runs: int, ledger: bool, seed: int = 1) -> list:
    sc = apply_overrides(load(SCENARIO), {"population.bidders": 5, "population.lots": LOTS})
    out = [s for s in plan(sc, runs, seed, detail=False, ledgers="none", ledger_on=ledger) if s.mechanism == mechanism]
    return [replace(s, keep_ledger=False) for s in out]


def rate(mechanism: str, auctions: int, ledger: bool) -> tuple[float, float, int]:
    """(auctions per CPU second, auctions per wall second, ledger entries per auction)."""
    specs = specs_for(mechanism, max(1, auctions // LOTS), ledger)
    run(specs[0])  # warm caches (bid functions, imports)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    entries = sum(run(s).row["ledger_size"] for s in specs)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    n = len(specs) * LOTS
    return n / cpu, n / wall, round(entries / n)


def speedup(runs: int, workers: int) -> tuple[float, float]:
    """(serial wall seconds, process-pool wall seconds) for the same specs (second-price, ledger on)."""
    specs = specs_for("second-price", runs, True, seed=2)
    t0 = time.perf_counter()
    serial = {r.key: r.row["ledger_root"] for r in execute(specs, "serial")}
    t_serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    pooled = {r.key: r.row["ledger_root"] for r in execute(specs, "process", workers=workers)}
    t_pool = time.perf_counter() - t0
    assert serial == pooled, "the process executor changed a result"
    return t_serial, t_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auctions", type=int, default=20_000, help="auctions per format and ledger setting")
    parser.add_argument(
        "--speedup-runs",
        type=int,
        default=1000,
        help="runs of 50 auctions for the speed-up (enough to amortise the pool's start-up)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1, help="measure each figure this many times: report medians")
    parser.add_argument("--quick", action="store_true", help="a small run for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.auctions, args.speedup_runs = 500, 8
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(
        f"{'format':<14}{'ledger':>7}{'entries':>9}{'auctions/CPU-s':>16}{'auctions/s':>12}"
        f"{'100k (CPU)':>12}{'µs/auction':>12}"
    )
    repeats = max(1, args.repeats)
    for mech in ("english", "dutch", "first-price", "second-price"):
        results = {}
        for ledger in (False, True):
            runs = [rate(mech, args.auctions, ledger) for _ in range(repeats)]
            cpu_rate = statistics.median(r[0] for r in runs)
            wall_rate = statistics.median(r[1] for r in runs)
            entries = runs[0][2]
            results[ledger] = cpu_rate
            spread = f"  (µs/auction {min(1e6 / r[0] for r in runs):.0f}–{max(1e6 / r[0] for r in runs):.0f})"
            print(
                f"{mech:<14}{'on' if ledger else 'off':>7}{entries:>9}{cpu_rate:>16,.0f}{wall_rate:>12,.0f}"
                f"{100_000 / cpu_rate:>11.0f}s{1e6 / cpu_rate:>12.0f}{spread if repeats > 1 else ''}"
            )
        print(f"{'':<14}ledger on/off ratio {results[True] / results[False]:.2f}")
    times = [speedup(args.speedup_runs, args.workers) for _ in range(repeats)]
    ratios = [s / p for s, p in times]
    t_serial, t_pool = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
    each = f" (each: {', '.join(f'{r:.2f}' for r in ratios)})" if repeats > 1 else ""
    print(
        f"process executor, {args.workers} workers, {args.speedup_runs * LOTS:,} auctions: serial {t_serial:.1f} s, "
        f"pool {t_pool:.1f} s, speed-up {statistics.median(ratios):.2f}×{each} (target ≥ 1.8×)"
    )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
