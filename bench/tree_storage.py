"""The Merkle tree in storage against the tree in memory: opening the log, proofs, peak memory.

Claim (docs/performance.md, "Tree in storage"): with the tree kept in the store as hash tiles
(`ledger.stored_tree`), opening a 1,000,000-entry SQLite log takes <= 0.2 s, and an inclusion or a
consistency proof <= 5 ms at 10,000,000 entries, with O(log n) of the tree in memory.

The ledger — N entries of about 150 bytes, a signed checkpoint every 1,000 — is written directly
through the store (the entries encoded as the log encodes them, the tiles computed as the log
computes them), as bench/ledger_verify.py builds its ledgers: far faster than through the engine.
Each measurement then runs in a fresh child process, so that its peak RSS is its own:

- `stored`: open the `Log` (the edge of the tiles, the latest checkpoints) and make 1,000 random
  inclusion proofs and 1,000 random consistency proofs between checkpoint sizes;
- `memory`: what opening cost before the tiles — `MerkleTree(store.leaf_hashes())` — and the same
  proofs from it;
- `upgrade`: opening a copy of the ledger without its tiles (an older store), which writes them.

Each child runs `--runs` times; the script prints every run and the medians, and the ratios of the
stored tree to the tree in memory.

    python bench/tree_storage.py                 # 1,000,000 entries, 3 runs
    python bench/tree_storage.py 10000000 --runs 1
    python bench/tree_storage.py 20000 --runs 1  # a smoke test
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger import Checkpoint, Log, MerkleTree, Signer, SQLiteStore, _accel, canonical, sign_note
from ledger.store.base import Row, StoredCheckpoint
from ledger.stored_tree import StoredTree

EPOCH_MS = 1_795_219_200_000  # 2026-11-21T00:00:00Z
SIGNER = Signer("bench.tree.example", bytes(range(32)))
BATCH = 4096  # entries per commit while building
CHECKPOINT_EVERY = 1000
PROOFS = 1000


def build(path: Path, n: int) -> None:
    """A ledger of n entries with its tiles and a checkpoint every 1,000 entries, written through the store."""
    store = SQLiteStore(path)
    store.set_meta("origin", SIGNER.name)
    tree = StoredTree(store)
    prev = bytes(32)
    rows: list[Row] = []
    cps: list[StoredCheckpoint] = []
    for seq in range(n):
        body = {"lot": f"LOT-{seq % 40:04d}", "bidder": f"B-{(seq * 7919) % 1000:04d}", "amount": 1_000_000 + seq}
        data, leaf = canonical.encode_entry_and_leaf(body, seq, prev, EPOCH_MS + seq, "auction.bid")
        tree.append(leaf)
        rows.append(Row(seq, data, leaf))
        prev = leaf
        size = seq + 1
        if size % CHECKPOINT_EVERY == 0 or size == n:
            note = sign_note(Checkpoint(SIGNER.name, size, tree.root()).text(), SIGNER)
            cps.append(StoredCheckpoint(size, note))
        if len(rows) == BATCH or size == n:
            store.commit(rows, cps, tree.pending_tiles())
            tree.hand_off()
            tree.mark_durable(size)
            rows, cps = [], []
    store.close()


def _proofs(tree: StoredTree | MerkleTree, n: int, sizes: list[int]) -> dict[str, float]:
    """Median and 99th-percentile milliseconds of PROOFS random inclusion and consistency proofs."""
    rnd = random.Random(20261121)
    inclusion, consistency = [], []
    clock = time.perf_counter
    for _ in range(PROOFS):
        size = rnd.choice(sizes)
        index = rnd.randrange(size)
        t0 = clock()
        tree.inclusion_proof(index, size)
        inclusion.append(clock() - t0)
        old, new = sorted(rnd.sample(sizes, 2)) if len(sizes) > 1 else (n, n)
        t0 = clock()
        tree.consistency_proof(old, new)
        consistency.append(clock() - t0)
    out = {}
    for name, times in (("inclusion", inclusion), ("consistency", consistency)):
        times.sort()
        out[f"{name}_ms"] = statistics.median(times) * 1e3
        out[f"{name}_p99_ms"] = times[len(times) * 99 // 100] * 1e3
    return out


def child(kind: str, path: Path, n: int) -> dict[str, float]:
    """One measurement, in this (fresh) process."""
    out: dict[str, float] = {}
    started = time.perf_counter()
    if kind == "memory":
        store = SQLiteStore(path, readonly=True)
        tree: StoredTree | MerkleTree = MerkleTree(store.leaf_hashes())
        sizes = [cp.size for cp in store.checkpoints()]
    else:
        store = SQLiteStore(path)
        log = Log(store, SIGNER)
        tree = log.tree
        sizes = [cp.size for cp in log.checkpoints]
        assert isinstance(tree, StoredTree) and tree.size == n
    out["open_s"] = time.perf_counter() - started
    out["root_ms"] = _timed(lambda: tree.root()) * 1e3
    if kind != "upgrade":
        out.update(_proofs(tree, n, sizes))
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    return out


def _timed(call: object) -> float:
    t0 = time.perf_counter()
    call()  # type: ignore[operator]
    return time.perf_counter() - t0


def run_child(kind: str, path: Path, n: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, str(n), "--child", kind, "--db", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def without_tiles(src: Path, dst: Path) -> None:
    """A copy of the ledger as an older version wrote it: no tiles."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
        b.execute("DELETE FROM tiles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("entries", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-upgrade", action="store_true", help="skip timing the upgrade of a store without tiles")
    parser.add_argument("--child", choices=["stored", "memory", "upgrade"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db, args.entries)))
        return
    n = args.entries
    workdir = Path(tempfile.mkdtemp(prefix="bench-tree-"))
    try:
        path = workdir / "ledger.db"
        t0 = time.perf_counter()
        build(path, n)
        print(f"built {n:,} entries in {time.perf_counter() - t0:.1f}s ({path.stat().st_size / 1e6:.0f} MB)")
        print(f"ledger: {_accel.describe()}; python {platform.python_version()} on {platform.machine()}")
        run_child("stored", path, n)  # warm the page cache: not counted
        results: dict[str, list[dict[str, float]]] = {"stored": [], "memory": [], "upgrade": []}
        for k in range(args.runs):
            for kind in ("stored", "memory"):
                got = run_child(kind, path, n)
                results[kind].append(got)
                print(f"run {k + 1} {kind:>6}: " + ", ".join(f"{key} {value:.4g}" for key, value in got.items()))
            if not args.no_upgrade:
                copy = workdir / "older.db"
                without_tiles(path, copy)
                got = run_child("upgrade", copy, n)
                results["upgrade"].append(got)
                print(f"run {k + 1} upgrade: " + ", ".join(f"{key} {value:.4g}" for key, value in got.items()))
                copy.unlink()

        def med(kind: str, key: str) -> float:
            return statistics.median(r[key] for r in results[kind])

        print(f"\nmedians over {args.runs} run(s), {n:,} entries:")
        keys = ["open_s", "inclusion_ms", "inclusion_p99_ms", "consistency_ms", "consistency_p99_ms", "rss_mb"]
        for key in keys:
            unit = {"s": "s", "ms": "ms", "mb": "MB"}[key.rsplit("_", 1)[1]]
            stored, memory = med("stored", key), med("memory", key)
            print(
                f"  {key:<18} stored {stored:9.4f} {unit:<2}  in memory {memory:9.4f} {unit:<2}"
                f"  ratio {stored / memory:.3f}"
            )
        if results["upgrade"]:
            print(f"  upgrade (tiling an older store on open): {med('upgrade', 'open_s'):.2f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
