"""Durable ledger appends per second, as a ratio against plain batched SQLite inserts of the same bytes.

Claim (docs/performance.md): appending through `ledger.Log` into a `SQLiteStore` — canonical
encoding, hash chain, Merkle tree, a signed checkpoint every second, group commit — runs at
>= 0.5 of the rate of plain batched SQLite inserts of the very same rows.

Both sides use one SQLite file in WAL mode with synchronous=FULL and commit every `--batch`
entries (default 256) in one transaction. The ledger side uses CheckpointPolicy(every_ms=1000,
every_entries=None) and gives each entry t = wall-clock milliseconds since the run started (plus a
fixed epoch), so a checkpoint is signed once per real second, as a live market would. The
baseline inserts the rows the ledger run produced (seq, canonical bytes, leaf hash) into the same
schema, so both write the same bytes. Each repetition runs the ledger, then the baseline, in
fresh files; the script prints every repetition, the medians, and the median of the paired
ratios (the headline ratio) beside the ratio of the medians.

    python bench/ledger_append.py            # 5 repetitions of 100,000 entries
    python bench/ledger_append.py --quick    # a few seconds: smoke test
    LEDGER_PURE_PYTHON=1 python bench/ledger_append.py   # the pure-Python kernels (ledger/_kernels.py)
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, _accel
from ledger.store.base import Row

TARGET = 0.5
EPOCH_MS = 1_795_219_200_000  # 2026-11-21T00:00:00Z: entry times start here
SIGNER = Signer("bench.ledger.example", bytes(range(32)))


def payload(i: int) -> dict[str, object]:
    """A bid-like entry body (about 150 bytes once the ledger fields are added)."""
    return {
        "lot": f"LOT-{i % 40:04d}",
        "bidder": f"B-{(i * 7919) % 1000:04d}",
        "amount": 1_000_000 + 500 * i,
        "session": "S-20261121-01",
    }


def run_ledger(path: Path, n: int, batch: int) -> tuple[float, int]:
    """Append n entries durably; return (seconds, checkpoints signed)."""
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=None, every_ms=1000))
    bodies = [payload(i) for i in range(n)]
    clock = time.perf_counter_ns
    start = clock()
    for i, body in enumerate(bodies):
        log.append("auction.bid", body, t=EPOCH_MS + (clock() - start) // 1_000_000)
        if i % batch == batch - 1:
            log.commit()
    log.commit()
    elapsed = (clock() - start) / 1e9
    signed = len(log.checkpoints)
    log.close()
    return elapsed, signed


def run_baseline(path: Path, rows: list[Row], batch: int) -> float:
    """Insert the same rows with plain batched SQLite transactions; return seconds."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE entries (seq INTEGER PRIMARY KEY, data BLOB NOT NULL, leaf BLOB NOT NULL)")
    start = time.perf_counter_ns()
    for k in range(0, len(rows), batch):
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO entries (seq, data, leaf) VALUES (?, ?, ?)", rows[k : k + batch])
        db.execute("COMMIT")
    elapsed = (time.perf_counter_ns() - start) / 1e9
    db.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 (the ratio is reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short repetition (smoke test)")
    parser.add_argument("-n", "--entries", type=int, help="entries per repetition (default 100000; quick 10000)")
    parser.add_argument("--reps", type=int, help="repetitions (default 5; quick 1)")
    parser.add_argument("--batch", type=int, default=256, help="entries per commit (default 256)")
    parser.add_argument("--dir", help="directory for the database files (default: a temporary one)")
    args = parser.parse_args(argv)
    n = args.entries or (10_000 if args.quick else 100_000)
    reps = args.reps or (1 if args.quick else 5)

    workdir = Path(tempfile.mkdtemp(prefix="ledger-append-", dir=args.dir))
    ledger_rates: list[float] = []
    base_rates: list[float] = []
    print(f"ledger_append: {n} entries x {reps} repetitions, commit every {args.batch}, checkpoint every 1000 ms")
    print(f"files in {workdir} (WAL, synchronous=FULL)")
    print(f"ledger kernels: {_accel.describe()}")
    try:
        for rep in range(reps):
            ledger_db = workdir / f"ledger-{rep}.db"
            seconds, signed = run_ledger(ledger_db, n, args.batch)
            store = SQLiteStore(ledger_db, readonly=True)
            rows = list(store.rows())
            store.close()
            base_seconds = run_baseline(workdir / f"baseline-{rep}.db", rows, args.batch)
            ledger_rates.append(n / seconds)
            base_rates.append(n / base_seconds)
            print(
                f"  rep {rep + 1}: ledger {n / seconds:>9,.0f}/s ({signed} checkpoints)"
                f"   sqlite {n / base_seconds:>9,.0f}/s   ratio {base_seconds / seconds:.3f}"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ledger_median = statistics.median(ledger_rates)
    base_median = statistics.median(base_rates)
    # Each repetition pairs a ledger run with a baseline run made right after it: the median of those
    # paired ratios is less sensitive to a machine whose speed drifts than the ratio of the medians.
    ratio = statistics.median(a / b for a, b in zip(ledger_rates, base_rates, strict=True))
    print(f"median ledger appends:  {ledger_median:>9,.0f} entries/s (durable, signed checkpoints)")
    print(f"median sqlite inserts:  {base_median:>9,.0f} rows/s (same bytes, same batches)")
    print(f"ratio of the medians: {ledger_median / base_median:.3f}")
    verdict = "met" if ratio >= TARGET else "MISSED"
    print(f"ratio (median of the paired ratios): {ratio:.3f} (target >= {TARGET}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
