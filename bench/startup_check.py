"""What the live server's start-up check costs: opening a market with the check against without it.

Claim (docs/performance.md): `LiveMarket` on an existing ledger first audits the whole store
against the signer's key (`ledger.startup`: the key ID, every leaf hash recomputed, the seq/prev
chain, every checkpoint's signature and root) and only then replays it; the audit hands the entry
bytes it read to the replay, so the check adds the hashing and checking, not a second read. This
script prints what that costs, as the ratio of start-up time with the check to start-up time
without it (`check_store=False`, which only benchmarks may use), on the same file in the same
process.

The ledger — 100,000 entries: 40 English lots, a deposit each for 50 bidders, then bids, a
checkpoint every 1,000 entries as the server signs them — is built once through the engine, as a
live market would write it. Then, alternately, the market is opened with and without the check
(each opening in a fresh store, closed afterwards); the script prints every repetition, both
medians, the check's own share, and the median of the per-pair ratios.

    python bench/startup_check.py             # 5 pairs over 100,000 entries
    python bench/startup_check.py --quick     # 10,000 entries, 2 pairs: a smoke test
"""

from __future__ import annotations

import argparse
import gc
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auction_engine.clock import ManualClock
from auction_engine.engine import Engine
from auction_engine.server.live import LiveMarket
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, _accel

EPOCH_MS = 1_795_219_200_000  # 2026-11-21T00:00:00Z
SIGNER = Signer("bench.startup.example", bytes(range(32)))
LOTS = 40
BIDDERS = 50
HOUR = 3_600_000


def build(path: Path, n: int) -> int:
    """A market ledger of at least n entries written through the engine; returns its size."""
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=1000, every_ms=None))
    clock = ManualClock(EPOCH_MS)
    engine = Engine(market=SIGNER.name, clock=clock, log=log, keep_events=False)
    params = {"start_price": 10_000, "increment": 100, "free_ms": 100 * HOUR, "countdown_ms": 60_000}
    for lot in range(LOTS):
        engine.submit(
            {"op": "open_lot", "actor": "operator", "lot": f"L{lot:02d}", "mode": "english", "params": params}
        )
        for b in range(BIDDERS):
            engine.submit(
                {"op": "deposit", "actor": "operator", "lot": f"L{lot:02d}", "party": f"B{b:03d}", "amount": 1000}
            )
    price = [10_000] * LOTS
    i = 0
    while log.size < n:
        lot = i % LOTS
        clock.advance(clock.now() + 1)
        result = engine.submit(
            {"op": "bid", "actor": f"B{(i * 7) % BIDDERS:03d}", "lot": f"L{lot:02d}", "amount": price[lot]}
        )
        assert result.ok, result
        price[lot] += 100
        i += 1
        if i % 256 == 0:
            log.commit()
    log.sign_checkpoint()
    log.close()
    return n


def open_market(path: Path, check: bool) -> tuple[float, float]:
    """Seconds to open the market (constructor: check, log, replay), and the check's own share of them."""
    gc.collect()
    started = time.perf_counter()
    store = SQLiteStore(path)
    market = LiveMarket(store, SIGNER, check_store=check)
    elapsed = time.perf_counter() - started
    assert market.restored > 0
    market.io.shutdown()
    store.close()
    return elapsed, market.check_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="10,000 entries, 2 pairs")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.pairs = 10_000, 2
    workdir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        path = workdir / "ledger.db"
        t0 = time.perf_counter()
        size = build(path, args.entries)
        print(f"built {size:,} entries in {time.perf_counter() - t0:.1f}s; ledger: {_accel.describe()}")
        print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or '?'}")
        with_check: list[float] = []
        without: list[float] = []
        shares: list[float] = []
        ratios: list[float] = []
        open_market(path, True)  # warm the page cache and the imports: not counted
        for k in range(args.pairs):
            on, share = open_market(path, True)
            off, _ = open_market(path, False)
            with_check.append(on)
            without.append(off)
            shares.append(share)
            ratios.append(on / off)
            print(
                f"pair {k + 1}: with the check {on:.3f}s (the check {share:.3f}s), without {off:.3f}s,"
                f" ratio {on / off:.3f}"
            )
        print(
            f"median start-up: with the check {statistics.median(with_check):.3f}s,"
            f" without {statistics.median(without):.3f}s; the check itself {statistics.median(shares):.3f}s"
        )
        print(f"ratio with/without (median of {args.pairs} pairs): {statistics.median(ratios):.3f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
