"""Simulated English auctions: bids processed per second with the ledger on, and the ledger's share.

Runs the same seeded market twice in one process — ledger on (canonical encoding, SHA-256 leaf
hashes, the incremental Merkle tree, an in-memory store, a signed checkpoint every simulated
second) and ledger off — and prints bids/s for each, the ratio, and the ledger's share of the
run. Target: the ledger < half of the run. The bids/s figures are reported, not targets: the
default driver's (a bid stream worked out before the run) and `--driver reactive`'s (bidders
reacting to each arrival).

Each run is timed twice: wall clock and the process's CPU time (`time.process_time`). The run is
single-threaded and does no I/O, so CPU time is its time on one core; on a shared machine it is
not inflated by the other jobs' time slices, which is why the per-core rates and the share are
judged on it. Both are printed.
The bidders' bids are worked out lot by lot before the timed run (a lot's bidders react only to its
own price and leader) and fed in time order, the way the live server feeds the requests it receives:
the simulated clock runs to each bid's time, firing the engine's due timers (phase changes, countdowns
that close lots) on simpy, then the bid is submitted; afterwards the run checks that every bid was
accepted, so the stream is what the bidders would have sent reacting live. `--driver reactive` has
the bidders decide at each arrival (a heap of arrivals); `--driver simpy` makes every arrival its own
simpy timeout.
With `--stub-engine`, bids skip the engine (they only set the lot's price and leader and write their
entry): the ceiling of this harness and ledger, reported without a target.
Usage: python bench/engine_throughput.py [--lots 10000] [--bidders 20] [--repeat 3] [--quick]
       [--driver stream|reactive|simpy] [--stub-engine]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS threads would spin and count as CPU time
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auction_engine.clock import SimClock
from auction_engine.engine import Engine
from auction_engine.model import MINUTE, SECOND
from ledger import CheckpointPolicy, Log, MemoryStore, Signer

START = 1_700_000_000_000
START_PRICE = 10_000_00
INCREMENT = 1_000_00


class Run(NamedTuple):
    """One run: bids submitted, wall and CPU seconds of the bidding, entries, and the ledger's root hash."""

    bids: int
    wall: float
    cpu: float
    entries: int
    root: bytes | None


def run_market(
    lots: int, bidders: int, seed: int, ledger_on: bool, stub_engine: bool = False, driver: str = "stream"
) -> Run:
    """Run the market; return the bids submitted, the wall and CPU seconds of the bidding, the entries.

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
                "params": {
                    "start_price": START_PRICE,
                    "increment": INCREMENT,
                    "free_ms": 0,
                    "countdown_ms": 5 * MINUTE,
                },
            }
        )
        engine.submit({"op": "deposit", "actor": "operator", "lot": lot, "parties": admission})

    states = [engine.lot(f"L{i}").state for i in range(lots)]
    lot_ids = [f"L{i}" for i in range(lots)]
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

    def willing(limit: list[int], level: int, leader: str | None, b: int) -> int | None:
        """The drawn bidder `b`, or the next one willing to bid at `level`; None if only the leader would."""
        for _ in range(bidders):
            if limit[b] >= level and names[b] != leader:
                return b
            b = b + 1 if b + 1 < bidders else 0
        return None

    def bid(i: int, k: int) -> bool:
        """Lot i's k-th arrival: a willing bidder raises the price by one increment. False if nobody but
        the leader would go higher (the countdown will close the lot)."""
        state = states[i]
        level = 0 if state.high is None else (state.high - START_PRICE) // INCREMENT + 1
        b = willing(limits[i], level, state.leader, picks[i][k])
        if b is None:
            return False
        submit({"op": "bid", "actor": names[b], "lot": lot_ids[i], "amount": START_PRICE + level * INCREMENT})
        return True

    def bidding_stream() -> list[list[Any]]:
        """The bids these bidders send, worked out lot by lot before the run, merged in time order: five
        columns (time, lot index, bidder index, amount, and the lot's id as text), ties by lot index, as
        `drive_by_arrivals` orders them.

        A lot's bidders react only to its own price and leader, which only their own bids change; so
        if every bid is accepted, this is exactly what they send live. The run checks that afterwards
        (`check_every_bid_accepted`). Columns of fresh integers in stream order, so that feeding them reads
        memory in order, as a server reads the requests it has just received (a sorted list of tuples
        built lot by lot would be read in random order: a cache miss per bid that is the harness's own)."""
        times, lot_index, bidder, amounts = [], [], [], []
        for i in range(lots):
            t, level, leader, limit, pick, gap = START, 0, None, limits[i], picks[i], gaps[i]
            for k in range(64):
                t += gap[k]
                b = willing(limit, level, leader, pick[k])
                if b is None:
                    break  # nobody but the leader will go higher: the countdown will close the lot
                times.append(t)
                lot_index.append(i)
                bidder.append(b)
                amounts.append(START_PRICE + level * INCREMENT)
                level, leader = level + 1, names[b]
        order = np.lexsort((np.array(lot_index), np.array(times)))  # by time, then lot index
        columns = [np.array(column, dtype=np.int64)[order].tolist() for column in (times, lot_index, bidder, amounts)]
        return [*columns, [f"L{i}" for i in columns[1]]]  # and each bid's lot id as a request's own text

    def drive_by_stream() -> None:
        """Feed the pre-worked stream: the clock runs to each bid's time (firing the engine's due timers
        on simpy), then the bid is submitted, as the live server submits the requests it receives."""
        nonlocal submitted
        run = clock.run
        times, _, bidder, amounts, lot_texts = stream
        for t, b, amount, lot in zip(times, bidder, amounts, lot_texts, strict=True):
            run(t)
            submit({"op": "bid", "actor": names[b], "lot": lot, "amount": amount})
        submitted = len(stream[0])

    def check_every_bid_accepted() -> None:
        """Each lot's count of accepted bids and final price are the stream's: no bid was refused, so the
        stream is what the bidders would have sent reacting to the market."""
        expected: dict[int, tuple[int, int]] = {}
        for i, amount in zip(stream[1], stream[3], strict=True):
            expected[i] = (expected.get(i, (0, 0))[0] + 1, amount)
        for i, state in enumerate(states):
            count, high = expected.get(i, (0, None))
            assert state.high == high and (stub_engine or state.bids == count), f"lot L{i}: a bid was refused"

    def drive_by_arrivals() -> None:
        """Every lot's arrivals merged in time order (a heap; ties by lot index), the bidders deciding at
        each: the clock runs to the arrival (firing the engine's due timers), then the bid is submitted."""
        nonlocal submitted
        arrivals = [(START + gaps[i][0], i) for i in range(lots)]
        heapq.heapify(arrivals)
        arrived = [0] * lots  # how many arrivals each lot has had
        while arrivals:
            t, i = arrivals[0]
            clock.run(t)
            k = arrived[i]
            if not bid(i, k):  # the lot's bidders are done: its countdown will close it
                heapq.heappop(arrivals)
                continue
            submitted += 1
            arrived[i] = k = k + 1
            if k < 64:
                heapq.heapreplace(arrivals, (t + gaps[i][k], i))
            else:
                heapq.heappop(arrivals)

    def drive_by_simpy_events() -> None:
        """Each arrival is its own simpy timeout whose callback bids (the earlier driver)."""

        def arrive(i: int, k: int) -> None:
            nonlocal submitted
            if not bid(i, k):
                return
            submitted += 1
            if k + 1 < 64:
                env.timeout(gaps[i][k + 1]).callbacks.append(lambda _event: arrive(i, k + 1))

        for i in range(lots):
            env.timeout(gaps[i][0]).callbacks.append(lambda _event, i=i: arrive(i, 0))

    stream = bidding_stream() if driver == "stream" else [[]] * 5
    # The collector as `auction-engine serve` sets it once a market is loaded: the setup's objects
    # frozen out of collections, a larger young generation (the run allocates a dict or two per bid
    # and keeps most of them only briefly). The same for both runs, so the ratio compares like with like.
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(10_000, 50, 1000)
    try:
        began, cpu_began = time.perf_counter(), time.process_time()
        if driver == "stream":
            drive_by_stream()
        elif driver == "reactive":
            drive_by_arrivals()
        else:
            drive_by_simpy_events()
        clock.run(START + 24 * 3600 * SECOND)  # every lot's countdown ends, the lots close and settle
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    if driver == "stream":
        check_every_bid_accepted()
    entries = log.size if log is not None else engine.recorder.size
    root = log.tree.root(log.size) if log is not None else None
    return Run(submitted, elapsed, cpu, entries, root)


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
    parser.add_argument(
        "--driver",
        choices=("stream", "reactive", "simpy"),
        default="stream",
        help="the bids worked out before the run and fed in time order (default); the bidders reacting "
        "to each arrival, from a heap of arrivals; or each arrival a simpy timeout",
    )
    args = parser.parse_args()
    if args.quick:
        args.lots, args.repeat = 500, 1
    on_rates, off_rates, shares = [], [], []
    cpu_on_rates, cpu_off_rates, cpu_shares = [], [], []
    for r in range(args.repeat):
        bids_off, t_off, c_off, _, _ = run_market(
            args.lots, args.bidders, args.seed, False, args.stub_engine, args.driver
        )
        bids_on, t_on, c_on, entries, _ = run_market(
            args.lots, args.bidders, args.seed, True, args.stub_engine, args.driver
        )
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
    what = "the stub engine: the harness's ceiling" if args.stub_engine else f"driver {args.driver}"
    print(
        f"median bids/s with the ledger on:  {on:,.0f} wall, {c_on:,.0f} per CPU second ({what}; reported, no target)"
    )
    print(f"median bids/s with the ledger off: {off:,.0f} wall, {c_off:,.0f} per CPU second")
    print(f"ratio on/off: {on / off:.2f} wall, {c_on / c_off:.2f} CPU")
    print(f"the ledger's share of the run (median of paired runs): {share:.0%} wall, {c_share:.0%} CPU (target < 50%)")


if __name__ == "__main__":
    main()
