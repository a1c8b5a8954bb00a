"""Full-audit speed (`ledger.audit_store`) as a ratio against a bare decode + SHA-256 loop.

Claim (docs/performance.md): a full audit — strict canonical decoding, seq/prev/time checks,
stored leaf hashes, the Merkle tree, every checkpoint's signature, root and consistency — runs
at >= 0.5 of the rate of the least any reader must do with the same entries: `msgpack.unpackb`
and one SHA-256 (of 0x00 ‖ bytes, the leaf hash) per entry.

The ledger (100,000 bid-like entries, a checkpoint every 1,000) is built once. Per repetition:
the audit reads from the SQLite file (opened read-only); baseline A (the pinned baseline) loops
over the same entry bytes already in memory; baseline B reads the same rows from the same file
with one plain `SELECT` and then does the same loop, so that the file reading is on both sides.
The script prints every repetition, the medians and both ratios (A is the headline), each the
median of the per-repetition ratios.

    python bench/ledger_verify.py            # 5 repetitions over 100,000 entries
    python bench/ledger_verify.py --quick    # a few seconds: smoke test
    LEDGER_PURE_PYTHON=1 python bench/ledger_verify.py   # the pure-Python kernels (ledger/_kernels.py)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgpack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import CheckpointPolicy, Log, Signer, SQLiteStore, _accel, audit_store

TARGET = 0.5
EPOCH_MS = 1_795_219_200_000  # 2026-11-21T00:00:00Z
SIGNER = Signer("bench.ledger.example", bytes(range(32)))


def build(path: Path, n: int) -> None:
    """A ledger of n bid-like entries, 1 ms apart, a checkpoint every 1000, committed every 256."""
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=1000, every_ms=None))
    for i in range(n):
        body = {
            "lot": f"LOT-{i % 40:04d}",
            "bidder": f"B-{(i * 7919) % 1000:04d}",
            "amount": 1_000_000 + 500 * i,
            "session": "S-20261121-01",
        }
        log.append("auction.bid", body, t=EPOCH_MS + i)
        if i % 256 == 255:
            log.commit()
    log.sign_checkpoint()
    log.close()


def time_audit(path: Path) -> float:
    store = SQLiteStore(path, readonly=True)
    start = time.perf_counter_ns()
    report = audit_store(store, SIGNER.verifier)
    elapsed = (time.perf_counter_ns() - start) / 1e9
    store.close()
    if not report.ok:
        raise SystemExit(f"the benchmark ledger failed its audit: {report.problems[:3]}")
    return elapsed


def time_bare_memory(entries: list[bytes]) -> float:
    unpackb, sha256 = msgpack.unpackb, hashlib.sha256
    start = time.perf_counter_ns()
    for data in entries:
        unpackb(data)
        sha256(b"\x00" + data).digest()
    return (time.perf_counter_ns() - start) / 1e9


def time_bare_file(path: Path) -> float:
    unpackb, sha256 = msgpack.unpackb, hashlib.sha256
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    start = time.perf_counter_ns()
    for (data,) in db.execute("SELECT data FROM entries ORDER BY seq"):
        unpackb(data)
        sha256(b"\x00" + data).digest()
    elapsed = (time.perf_counter_ns() - start) / 1e9
    db.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 (the ratio is reported, not enforced)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short repetition (smoke test)")
    parser.add_argument("-n", "--entries", type=int, help="entries in the ledger (default 100000; quick 10000)")
    parser.add_argument("--reps", type=int, help="repetitions (default 5; quick 1)")
    parser.add_argument("--dir", help="directory for the database file (default: a temporary one)")
    args = parser.parse_args(argv)
    n = args.entries or (10_000 if args.quick else 100_000)
    reps = args.reps or (1 if args.quick else 5)

    workdir = Path(tempfile.mkdtemp(prefix="ledger-verify-", dir=args.dir))
    path = workdir / "ledger.db"
    audit_rates: list[float] = []
    memory_rates: list[float] = []
    file_rates: list[float] = []
    try:
        build(path, n)
        store = SQLiteStore(path, readonly=True)
        entries = [row.data for row in store.rows()]
        store.close()
        size = sum(map(len, entries)) / len(entries)
        print(f"ledger_verify: {n} entries (mean {size:.0f} bytes) x {reps} repetitions, a checkpoint every 1000")
        print(f"ledger kernels: {_accel.describe()}")
        for rep in range(reps):
            audit = time_audit(path)
            memory = time_bare_memory(entries)
            from_file = time_bare_file(path)
            audit_rates.append(n / audit)
            memory_rates.append(n / memory)
            file_rates.append(n / from_file)
            print(
                f"  rep {rep + 1}: audit {n / audit:>9,.0f}/s   bare (memory) {n / memory:>9,.0f}/s"
                f"   bare (file) {n / from_file:>9,.0f}/s"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    audit_median = statistics.median(audit_rates)
    memory_median = statistics.median(memory_rates)
    file_median = statistics.median(file_rates)
    # Paired per repetition (measured back to back), then the median: robust to a drifting machine.
    ratio_a = statistics.median(a / m for a, m in zip(audit_rates, memory_rates, strict=True))
    ratio_b = statistics.median(a / f for a, f in zip(audit_rates, file_rates, strict=True))
    print(f"median full audit:            {audit_median:>9,.0f} entries/s")
    print(f"median bare loop (in memory): {memory_median:>9,.0f} entries/s   (baseline A)")
    print(f"median bare loop (from file): {file_median:>9,.0f} entries/s   (baseline B)")
    verdict = "met" if ratio_a >= TARGET else "MISSED"
    print(f"ratio A (median of the paired ratios): {ratio_a:.3f} (target >= {TARGET}: {verdict})")
    print(f"ratio B (median of the paired ratios): {ratio_b:.3f} (same file reads on both sides)")
    print(f"ratios of the medians: A {audit_median / memory_median:.3f}, B {audit_median / file_median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
