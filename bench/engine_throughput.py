"""Simulated English auctions: bids processed per second with the ledger on, and the ledger's share.

Runs the same seeded market twice in one process — ledger on (canonical encoding, SHA-256 leaf
hashes, the incremental Merkle tree, an in-memory store, a signed checkpoint every simulated
second) and ledger off — and prints bids/s for each, the ratio, and the ledger's share of the
run. Targets (issue 3): ≥ 100 000 bids/s per core with the ledger on; ledger < half of the run.

Each run is timed twice: wall clock (as before) and the process's CPU time (`time.process_time`).
The run is single-threaded and does no I/O, so CPU time is its time on one core; on a shared
machine it is not inflated by the other jobs' time slices, which is why the per-core target and
the share are judged on it. Both are printed.
With `--stub-engine`, bids skip the engine (they only set the lot's price and leader and write their
entry): the ceiling of this harness and ledger, reported without a target.
Usage: python bench/engine_throughput.py [--lots 10000] [--bidders 20] [--repeat 3] [--quick] [--stub-engine]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auction_engine.clock import SimClock
from auction_engine.engine import Engine
from auction_engine.model import MINUTE, SECOND
from ledger import CheckpointPolicy, Log, MemoryStore, Signer

START = 1_700_000_000_000
INCREMENT = 1_000_00


def run_market(
    lots: int, bidders: int, seed: int, ledger_on: bool, stub_engine: bool = False
) -> tuple[int, float, float, int]:
    """Run the market; return (bids submitted, wall and CPU seconds of the bidding, ledger entries).

    `stub_engine`: bids skip the engine and its rules, and only set the lot's price and leader and write
    the bid's entry: the harness's own ceiling (no checks, no timers re-armed).
    """
    rng = np.random.default_rng(seed)
    clock = SimClock(start=START)
    log = None
    if ledger_on:
        log = Log(MemoryStore(), Signer("bench.market", bytes(32)), policy=CheckpointPolicy(None, SECOND))
    engine = Engine(market="bench.market", clock=clock, log=log, keep_events=False)
    env = clock.env
    names = [f"B{i:02d}" for i in range(bidders)]
    # Values: how far each bidder will go, in increments above the start price; gaps between bids
    # and who bids next, drawn once (as Python lists: numpy scalar indexing costs more than a bid).
    limits = rng.integers(1, 40, size=(lots, bidders)).tolist()
    gaps = rng.integers(1, 20 * SECOND, size=(lots, 64)).tolist()
    picks = rng.integers(0, bidders, size=(lots, 64)).tolist()
    submitted = 0
    # Setup (untimed): open every lot and admit its bidders with their deposits (one entry per lot).
    admission = [{"party": name, "amount": 1_000_00} for name in names]
    for i in range(lots):
        lot = f"L{i}"
        engine.submit(
            {
                "op": "open_lot",
                "actor": "operator",
                "lot": lot,
                "mode": "english",
                "params": {"start_price": 10_000_00, "increment": INCREMENT, "free_ms": 0, "countdown_ms": 5 * MINUTE},
            }
        )
        engine.submit({"op": "deposit", "actor": "operator", "lot": lot, "parties": admission})

    class LotBidders:
        """One lot's bidders: at each drawn gap, a willing bidder raises the price by one increment.

        Each bid waits on one simpy timeout whose callback is this object's `step` (a callback per
        timeout costs less than resuming a generator process)."""

        __slots__ = ("gap", "k", "limit", "lot", "pick", "state")

        def __init__(self, i: int) -> None:
            self.k = 0
            self.lot = f"L{i}"
            self.state = engine.lot(self.lot).state
            self.limit, self.gap, self.pick = limits[i], gaps[i], picks[i]
            env.timeout(self.gap[0]).callbacks.append(self.step)

        def step(self, _event: object) -> None:
            nonlocal submitted
            state, limit, k = self.state, self.limit, self.k
            level = 0 if state.high is None else (state.high - 10_000_00) // INCREMENT + 1
            leader = state.leader
            b = self.pick[k]
            for _ in range(bidders):  # the drawn bidder, or the next one still willing to raise
                if limit[b] >= level and names[b] != leader:
                    break
                b = b + 1 if b + 1 < bidders else 0
            else:
                return  # nobody but the leader will go higher: the countdown will close the lot
            submit({"op": "bid", "actor": names[b], "lot": self.lot, "amount": 10_000_00 + level * INCREMENT})
            submitted += 1
            self.k = k = k + 1
            if k < 64:
                env.timeout(self.gap[k]).callbacks.append(self.step)

    submit = engine.submit
    if stub_engine:
        lots_by_id, write, now = engine.market.lots, engine.recorder.write, clock.now

        def submit(cmd: dict[str, object]) -> None:  # type: ignore[misc]
            actor, lot, amount = cmd["actor"], cmd["lot"], cmd["amount"]
            state = lots_by_id[lot].state
            state.high, state.leader = amount, actor
            write(
                "bid",
                {"actor": actor, "lot": lot, "amount": amount, "ok": True, "rule": "english.increment.timed"},
                now(),
            )

    for i in range(lots):
        LotBidders(i)
    # The collector as `auction-engine serve` sets it once a market is loaded: the setup's objects
    # frozen out of collections, a larger young generation (the run allocates a dict or two per bid
    # and keeps most of them only briefly). The same for both runs, so the ratio compares like with like.
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, 50, 1000)
    try:
        began, cpu_began = time.perf_counter(), time.process_time()
        clock.run(START + 24 * 3600 * SECOND)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    entries = log.size if log is not None else engine.recorder.size
    return submitted, elapsed, cpu, entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=10_000)
    parser.add_argument("--bidders", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--quick", action="store_true", help="a small run for a smoke test")
    parser.add_argument(
        "--stub-engine", action="store_true", help="bids only write their entry: the harness's own ceiling (no target)"
    )
    args = parser.parse_args()
    if args.quick:
        args.lots, args.repeat = 500, 1
    on_rates, off_rates, shares = [], [], []
    cpu_on_rates, cpu_off_rates, cpu_shares = [], [], []
    for r in range(args.repeat):
        bids_off, t_off, c_off, _ = run_market(args.lots, args.bidders, args.seed, False, args.stub_engine)
        bids_on, t_on, c_on, entries = run_market(args.lots, args.bidders, args.seed, True, args.stub_engine)
        assert bids_on == bids_off, "the ledger changed the outcome"
        on_rates.append(bids_on / t_on)
        off_rates.append(bids_off / t_off)
        shares.append((t_on - t_off) / t_on)
        cpu_on_rates.append(bids_on / c_on)
        cpu_off_rates.append(bids_off / c_off)
        cpu_shares.append((c_on - c_off) / c_on)
        print(
            f"run {r + 1}: {bids_on} bids, {entries} entries; ledger on {t_on:.2f} s "
            f"({bids_on / t_on:,.0f} bids/s), off {t_off:.2f} s ({bids_off / t_off:,.0f} bids/s); "
            f"CPU on {c_on:.2f} s ({bids_on / c_on:,.0f}/s), off {c_off:.2f} s ({bids_off / c_off:,.0f}/s)"
        )
    on, off, share = statistics.median(on_rates), statistics.median(off_rates), statistics.median(shares)
    c_on, c_off, c_share = (statistics.median(x) for x in (cpu_on_rates, cpu_off_rates, cpu_shares))
    target = "the stub engine: the harness's ceiling, no target" if args.stub_engine else "target ≥ 100,000 per core"
    print(f"median bids/s with the ledger on:  {on:,.0f} wall, {c_on:,.0f} per CPU second ({target})")
    print(f"median bids/s with the ledger off: {off:,.0f} wall, {c_off:,.0f} per CPU second")
    print(f"ratio on/off: {on / off:.2f} wall, {c_on / c_off:.2f} CPU")
    print(f"the ledger's share of the run (median of paired runs): {share:.0%} wall, {c_share:.0%} CPU (target < 50%)")


if __name__ == "__main__":
    main()
