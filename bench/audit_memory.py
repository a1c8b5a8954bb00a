"""The full audit's time and peak memory: streaming (`ledger.audit_store` now) against the whole tree in memory.

Claim (docs/performance.md, "Streaming audit"; issue 17): the full audit — every entry, every checkpoint's
root, every stored tile — keeps O(log n) of the Merkle tree in memory (`ledger.frontier.Frontier`), so its
peak RSS does not grow with the ledger, and it takes no longer than the audit that built a whole
`MerkleTree` (64 bytes per entry: 64 MB at a million entries).

The ledger — N bid-like entries, a signed checkpoint every 1,000, committed every 4,096 — is written
through `ledger.Log` (tiles and all, as the market writes it). Each measurement runs in a fresh child
process that opens the SQLite file read-only and audits it, so that its peak RSS (`ru_maxrss`) is its own:

- `stream`: `audit_store(store, verifier)`, as `auction-engine ledger verify` and the server's start-up
  and background audits run it;
- `tree`: the audit before streaming, kept here as the baseline: the same entry checks (the audit's own
  `_check_entries`) feeding a whole `MerkleTree`, then every checkpoint's root and the roots of each
  successive pair read from it, and every stored tile compared with `MerkleTree.subtree_hashes`;
- `floor`: the same process opening the store and reading its checkpoints, auditing nothing: the part
  of the RSS that is the interpreter and its imports.

Runs alternate between the kinds; the script prints every run, the medians and the ratios stream / tree.

    python bench/audit_memory.py                      # 100,000 and 1,000,000 entries, 3 runs each
    python bench/audit_memory.py 100000 --runs 5
    python bench/audit_memory.py 20000 --runs 1       # a smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import CheckpointPolicy, Log, MerkleTree, Signer, SQLiteStore, _accel, audit, audit_store
from ledger.checkpoint import verify_signed_checkpoint
from ledger.store.base import TILE_HEIGHT, TILE_WIDTH

EPOCH_MS = 1_795_219_200_000  # 2026-11-21T00:00:00Z
SIGNER = Signer("bench.audit.example", bytes(range(32)))
KINDS = ("stream", "tree", "floor")


def build(path: Path, n: int) -> None:
    """A ledger of n bid-like entries, 1 ms apart, a checkpoint every 1,000, committed every 4,096."""
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=1000, every_ms=None))
    for i in range(n):
        body = {"lot": f"LOT-{i % 40:04d}", "bidder": f"B-{(i * 7919) % 1000:04d}", "amount": 1_000_000 + i}
        log.append("auction.bid", body, t=EPOCH_MS + i)
        if i % 4096 == 4095:
            log.commit()
    log.sign_checkpoint()
    log.close()


def tree_audit(store: SQLiteStore) -> audit.AuditReport:
    """The baseline: the audit as it was with a whole `MerkleTree` (its checks on an intact ledger)."""
    report = audit.AuditReport(origin=store.get_meta("origin") or SIGNER.name)
    tree = MerkleTree()
    audit._check_entries(store, report, tree)
    report.size, report.root = tree.size, tree.root()
    previous = None
    for stored in store.checkpoints():
        cp, _ = verify_signed_checkpoint(stored.note, SIGNER.verifier, report.origin)
        if cp.size > tree.size or cp.root != tree.root(cp.size):
            report.add("checkpoint_root", f"checkpoint of size {cp.size}", size=cp.size)
        if previous is not None and cp.root == tree.root(cp.size) and previous.root != tree.root(previous.size):
            report.add("fork", f"checkpoint of size {previous.size}", size=previous.size)
        previous = cp
        report.checkpoints_verified += 1
    level = 1
    while tree.size >> (TILE_HEIGHT * level):
        count = tree.size >> (TILE_HEIGHT * level)
        for tile in store.tiles(level):
            width = min(TILE_WIDTH, count - tile.idx * TILE_WIDTH)
            if tile.hashes != tree.subtree_hashes(TILE_HEIGHT * level, tile.idx * TILE_WIDTH, width):
                report.add("tile", f"tile {level}/{tile.idx}")
        level += 1
    return report


def child(kind: str, path: Path) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    started = time.perf_counter()
    store = SQLiteStore(path, readonly=True)
    if kind == "stream":
        report = audit_store(store, SIGNER.verifier)
    elif kind == "tree":
        report = tree_audit(store)
    else:
        report = audit.AuditReport(origin=None, checkpoints_verified=len(store.checkpoints()))
    elapsed = time.perf_counter() - started
    store.close()
    if report.problems:
        raise SystemExit(f"the benchmark ledger failed its {kind} audit: {report.problems[:3]}")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"audit_s": elapsed, "rss_mb": rss_mb, "size": report.size, "checkpoints": report.checkpoints_verified}


def run_child(kind: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--db", str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(n: int, runs: int, workdir: Path) -> None:
    path = workdir / f"ledger-{n}.db"
    t0 = time.perf_counter()
    build(path, n)
    took, mb = time.perf_counter() - t0, path.stat().st_size / 1e6
    print(f"\nbuilt {n:,} entries through ledger.Log in {took:.1f}s ({mb:.0f} MB)")
    run_child("stream", path)  # warm the page cache: not counted
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    for k in range(runs):
        for kind in KINDS:
            got = run_child(kind, path)
            results[kind].append(got)
            print(f"  run {k + 1} {kind:>6}: audit {got['audit_s']:.3f} s, peak RSS {got['rss_mb']:.1f} MB")
    stream_sizes = {r["size"] for r in results["stream"]} | {r["size"] for r in results["tree"]}
    assert stream_sizes == {n}, stream_sizes

    def med(kind: str, key: str) -> float:
        return statistics.median(r[key] for r in results[kind])

    s_t, t_t = med("stream", "audit_s"), med("tree", "audit_s")
    s_m, t_m, f_m = med("stream", "rss_mb"), med("tree", "rss_mb"), med("floor", "rss_mb")
    # The ratios per run (measured back to back), then their median: robust to a drifting machine.
    time_ratio = statistics.median(
        s["audit_s"] / t["audit_s"] for s, t in zip(results["stream"], results["tree"], strict=True)
    )
    print(f"  medians over {runs} run(s), {n:,} entries, {int(results['stream'][0]['checkpoints'])} checkpoints:")
    print(f"    audit time   stream {s_t:7.3f} s   tree {t_t:7.3f} s   ratio {time_ratio:.3f}")
    print(
        f"    peak RSS     stream {s_m:7.1f} MB  tree {t_m:7.1f} MB  ratio {s_m / t_m:.3f}"
        f"   (floor: open only, {f_m:.1f} MB; above it: stream {s_m - f_m:.1f} MB, tree {t_m - f_m:.1f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", help="directory for the database files (default: a temporary one)")
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db)))
        return
    print(f"audit_memory: {_accel.describe()}; python {platform.python_version()} on {platform.machine()}")
    workdir = Path(tempfile.mkdtemp(prefix="bench-audit-", dir=args.dir))
    try:
        for n in args.entries:
            bench(n, args.runs, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
