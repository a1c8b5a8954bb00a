"""What a long history costs the live server: restart, memory, certificates, proofs and bids against history size.

Claim (issue 17, docs/performance.md "History scale"): with snapshots, a restart reads the latest
snapshot and replays only the entries after it, so its time does not grow with the history; without
one (the baseline, measured in the same run on the same file) it replays everything.

For each size the script builds, through the engine, a SQLite ledger of about that many entries: English
lots one after another (3 bidders with deposits, 12 bids, the deal, the payment, the publication and
the transaction code), then about 1,000 lots left open. Then, with a real `auction-engine serve`
process on it:

1. *full*: the first start (no snapshot yet: audit and replay of everything), time from process start
   to the first answer of /api/health, and the resident memory then; a clean stop writes a snapshot;
2. *snapshot*: the next start, timed the same way, and its memory;
3. the median latency of 50 certificate downloads (`GET /api/certificates/CODE`, an early lot's) and of
   200 inclusion proofs (`GET /api/log/proof/N`, random N);
4. bids/s: 1,000 bids by one bidder, one request after another, each acknowledged durable.

It prints one line per size and the ratio snapshot/full restart (the baseline), and the bids/s at
each size against the smallest.

    python bench/history_scale.py                       # 100,000 and 1,000,000 entries
    python bench/history_scale.py --sizes 20000         # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from auction_engine.clock import ManualClock
from auction_engine.engine import Engine
from ledger import CheckpointPolicy, Log, Signer, SQLiteStore

EPOCH_MS = 1_795_219_200_000  # 2026-11-21T00:00:00Z
SIGNER = Signer("bench.history.example", bytes(range(32)))
TOKEN = "bench-operator-token-0123456789"
MINUTE = 60_000
OPEN_LOTS = 1_000


def build(path: Path, n: int) -> tuple[int, int]:
    """A ledger of about `n` entries (closed lots, then OPEN_LOTS open ones); returns (size, closed lots)."""
    log = Log(SQLiteStore(path), SIGNER, policy=CheckpointPolicy(every_entries=1000, every_ms=None))
    clock = ManualClock(EPOCH_MS)
    engine = Engine(market=SIGNER.name, clock=clock, log=log, keep_events=False)
    params = {"start_price": 10_000, "increment": 100, "free_ms": 10 * MINUTE, "countdown_ms": MINUTE}
    bidders = ("B1", "B2", "B3")
    lots = 0
    while log.size < n - OPEN_LOTS * 4:
        lot = f"H{lots:07d}"
        engine.submit({"op": "open_lot", "actor": "operator", "lot": lot, "mode": "english", "params": params})
        for b in bidders:
            engine.submit({"op": "deposit", "actor": "operator", "lot": lot, "party": b, "amount": 1000})
        for i in range(12):
            clock.advance(clock.now() + 20_000)
            engine.submit({"op": "bid", "actor": bidders[i % 3], "lot": lot, "amount": 10_000 + 100 * i})
        clock.advance(clock.now() + 12 * MINUTE)
        engine.fire_due(clock.now())
        deal = engine.lots[lot].deal
        if deal is not None:
            engine.submit({"op": "pay", "actor": "operator", "lot": lot, "amount": deal.cash - deal.paid})
        lots += 1
        if lots % 200 == 0:
            log.commit()
    clock.advance(clock.now() + 40 * 24 * 60 * MINUTE)  # every publication period over: codes issued
    engine.fire_due(clock.now())
    far = dict(params, free_ms=365 * 24 * 60 * MINUTE)
    for i in range(OPEN_LOTS):
        lot = f"O{i:05d}"
        engine.submit({"op": "open_lot", "actor": "operator", "lot": lot, "mode": "english", "params": far})
        engine.submit({"op": "deposit", "actor": "operator", "lot": lot, "party": "B1", "amount": 1000})
        engine.submit({"op": "bid", "actor": "B1", "lot": lot, "amount": 10_000})
    log.sign_checkpoint()
    log.close()
    return log.size, lots


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(url: str, body: Any = None, token: str = TOKEN, method: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if body is not None else "GET"))
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        body = r.read()
        return json.loads(body) if r.headers.get_content_type() == "application/json" else body


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, db: Path, key: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "auction_engine", "serve", "--db", str(db), "--key", str(key),
               "--port", str(self.port), "--operator-token", TOKEN]  # fmt: skip
        self.log_path = db.with_suffix(".serve.log")
        with self.log_path.open("ab") as log_file:  # a file, not a pipe nobody reads: the server never blocks on it
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_file)
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                call(f"{self.url}/api/health")
                break
            except OSError:
                time.sleep(0.01)
        self.start_seconds = time.perf_counter() - started
        self.rss = rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=300)


def wait_for_history_audit(url: str) -> float:
    """Wait until the background audit of the history before the snapshot is over (the steady state the
    bids are measured in); the seconds waited."""
    t0 = time.perf_counter()
    while call(f"{url}/api/health").get("history_audit") == "running":
        time.sleep(0.1)
    return time.perf_counter() - t0


def median_ms(fn: Any, times: int) -> float:
    spans = []
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        spans.append((time.perf_counter() - t0) * 1000)
    return statistics.median(spans)


def measure(directory: Path, n: int) -> dict[str, Any]:
    db = directory / f"h{n}.db"
    t0 = time.perf_counter()
    size, closed = build(db, n)
    built = time.perf_counter() - t0
    key = directory / "market.key"
    key.write_text(SIGNER.encode() + "\n")
    full = Server(db, key)
    full_s, full_rss = full.start_seconds, full.rss
    full.stop()
    snap = Server(db, key)
    try:
        rng = random.Random(17)
        codes = call(f"{snap.url}/api/certificates")
        listed = codes["codes"]  # code -> lot (or a list of codes)
        code = next(iter(listed), None)
        cert_ms = median_ms(lambda: call(f"{snap.url}/api/certificates/{code}"), 50) if code else float("nan")
        proof_ms = median_ms(lambda: call(f"{snap.url}/api/log/proof/{rng.randrange(size - 10)}"), 200)
        audit_s = wait_for_history_audit(snap.url)
        tokens = []
        for name in ("LOAD1", "LOAD2"):  # two bidders taking turns: a leader may not raise its own bid
            tokens.append(call(f"{snap.url}/api/bidders", {"bidder": name})["token"])
            call(f"{snap.url}/api/lots/O00001/deposits", {"party": name, "amount": 1000})
        amount = 10_100
        t1 = time.perf_counter()
        for i in range(1000):
            call(f"{snap.url}/api/lots/O00001/bids", {"amount": amount}, token=tokens[i % 2])
            amount += 100
        bids_s = 1000 / (time.perf_counter() - t1)
        steady_rss = rss_mb(snap.proc.pid)
    finally:
        snap.stop()
    return {
        "entries": size, "closed_lots": closed, "build_s": round(built, 1),
        "full_restart_s": round(full_s, 3), "full_rss_mb": round(full_rss),
        "snapshot_restart_s": round(snap.start_seconds, 3),
        "snapshot_rss_mb": round(snap.rss), "steady_rss_mb": round(steady_rss), "certificate_ms": round(cert_ms, 2),
        "proof_ms": round(proof_ms, 2), "bids_per_s": round(bids_s), "history_audit_s": round(audit_s, 1),
        "db_mb": round(db.stat().st_size / 2**20),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated history sizes (entries)")
    parser.add_argument("--keep", type=Path, help="build the ledgers in this directory and keep them")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    directory = args.keep or Path(tempfile.mkdtemp(prefix="history-scale-"))
    directory.mkdir(parents=True, exist_ok=True)
    print(
        f"# {time.strftime('%Y-%m-%d')} {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    rows = []
    try:
        for n in sizes:
            row = measure(directory, n)
            rows.append(row)
            ratio = row["snapshot_restart_s"] / row["full_restart_s"]
            print(json.dumps(row), f"snapshot/full restart = {ratio:.3f}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)
    base = rows[0]["bids_per_s"]
    for row in rows:
        print(
            f"{row['entries']:>10,} entries: bids/s {row['bids_per_s']} = {row['bids_per_s'] / base:.2f} x the smallest"
        )


if __name__ == "__main__":
    main()
