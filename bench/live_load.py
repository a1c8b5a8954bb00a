"""Live server load: durable bids per second and latency at 200 concurrent bidders over loopback.

Starts `auction-engine serve` on a fresh SQLite ledger (a real server process, fsync on every group
commit), opens English lots, admits 200 bidders with deposits, then drives them from a load
generator in a *separate process* (asyncio + uvloop, raw keep-alive HTTP/1.1, one connection per
bidder). Each bid is acknowledged only once its ledger entry is durable. It measures, in one run:

1. the baseline: the same server (same framework, same process) answering a trivial endpoint
   (`GET /api/time`), at saturation (closed loop) and at the target rate;
2. bids at the target rate (open loop: each bidder sends on its own schedule, 5,000/s in all by
   default), for the sustained acknowledged rate and p50/p99 latency;
3. bids at saturation (closed loop: each bidder sends its next bid as soon as the last is answered);
4. with `--signed`, the same two runs by another 200 bidders who have bound Ed25519 keys
   (`PUT /api/me/key`): each bid carries the bidder's signature (made in the load generator) and an
   idempotency key, and the server verifies it before the bid runs. Printed beside the unsigned runs,
   with the ratio signed / unsigned.

Every figure is also printed as a ratio against the baseline. A bid's amount comes from a
microsecond clock on the increment grid, so almost every bid outbids the last one on its lot;
the few that arrive after a higher one are refused by the rules (below the increment) — those
are durable ledger entries acknowledged with their index too, and are counted separately.
At the end the server is stopped and the ledger audited: its entry count must cover every ack.

    python bench/live_load.py [--bidders 200] [--rate 5000] [--seconds 10] [--lots 20] [--signed] [--serve-arg=…]
                               [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-operator-token-0123456789"
START_PRICE = 1_000_000
INCREMENT = 100


# -- the server -------------------------------------------------------------------------------------


def start_server(directory: Path, extra: list[str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    key = directory / "market.key"
    if not key.exists():
        subprocess.run(
            [sys.executable, "-m", "auction_engine", "keygen", "--name", ORIGIN, "--out", str(key)],
            check=True,
            capture_output=True,
        )
    cmd = [
        sys.executable,
        "-m",
        "auction_engine",
        "serve",
        "--db",
        str(directory / "ledger.db"),
        "--key",
        str(key),
        "--port",
        "0",
        "--operator-token",
        TOKEN,
        "--log-level",
        "warning",
        *(extra or []),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    deadline = time.time() + 60
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline().decode()
        if not line:
            break
        lines.append(line)
        m = re.search(r"listening on http://[^:]+:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    proc.kill()
    raise RuntimeError("the server did not start:\n" + "".join(lines))


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def request(port: int, method: str, path: str, body: Any = None, token: str | None = TOKEN) -> dict[str, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, None if body is None else json.dumps(body), headers)
    resp = conn.getresponse()
    data = json.loads(resp.read() or b"null")
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{method} {path}: {resp.status} {data}")
    return data


ORIGIN = "bench.market"
Bidder = tuple[str, str, str, bytes | None]  # lot, token, bidder id, the seed of its bound key (None: unsigned)


def admit_bidders(port: int, bidders: int, lots: int, signed: bool) -> list[Bidder]:
    """Admit `bidders` bidders, each with a deposit on one of the lots; `signed`: each binds a key first."""
    from auction_engine.bidder_keys import sign_statement

    out: list[Bidder] = []
    prefix = "s" if signed else "b"
    for b in range(bidders):
        name = f"{prefix}{b:04d}"
        token = request(port, "POST", "/api/bidders", {"bidder": name})["token"]
        lot = f"L{b % lots}"
        request(port, "POST", f"/api/lots/{lot}/deposits", {"party": name, "amount": START_PRICE})
        seed = None
        if signed:
            seed = (b + 1).to_bytes(32, "big")
            request(port, "PUT", "/api/me/key", {"statement": sign_statement(ORIGIN, name, 0, seed)}, token=token)
        out.append((lot, token, name, seed))
    return out


def setup_market(port: int, bidders: int, lots: int) -> list[Bidder]:
    """Open `lots` English lots, admit `bidders` bidders, each with a deposit on one lot."""
    params = {
        "start_price": START_PRICE,
        "increment": INCREMENT,
        "free_ms": 3_600_000,
        "countdown_ms": 300_000,
        "leader_may_raise": True,
    }
    for i in range(lots):
        request(port, "POST", "/api/lots", {"lot": f"L{i}", "mode": "english", "params": params})
    return admit_bidders(port, bidders, lots, signed=False)


# -- the load generator (runs in its own process) ---------------------------------------------------


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection answering one request at a time."""

    def __init__(self) -> None:
        self.buf = b""
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = self.buf[:head_end]
        i = head.lower().find(b"content-length:")
        j = head.find(b"\r\n", i)
        n = int(head[i + 15 : j if j > 0 else None])
        if len(self.buf) < head_end + 4 + n:
            return
        status = int(head[9:12])
        body = self.buf[head_end + 4 : head_end + 4 + n]
        self.buf = self.buf[head_end + 4 + n :]
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def call(self, raw: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(raw)
        return await self.waiter


def _bid_request(lot: str, token: str, amount: int) -> bytes:
    body = b'{"amount":%d}' % amount
    return (
        b"POST /api/lots/%s/bids HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    ) % (lot.encode(), token.encode(), len(body), body)


def _signed_bid_request(lot: str, token: str, name: str, key: Any, public: bytes, amount: int, idem: str) -> bytes:
    """A bid signed by the bidder's key (auction_engine/signing.py), with its idempotency key."""
    from auction_engine.signing import sign_command

    cmd = {"op": "bid", "actor": name, "lot": lot, "amount": amount, "idem": idem, "key": public}
    body = b'{"amount":%d,"sig":"%s"}' % (amount, sign_command(key, ORIGIN, cmd).hex().encode())
    return (
        b"POST /api/lots/%s/bids HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer %s\r\nIdempotency-Key: %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    ) % (lot.encode(), token.encode(), idem.encode(), len(body), body)


# The origin of bid amounts (µs since the epoch): the bench's start, handed to the spawned load generators
# through the environment, so amounts rise through every run of one bench and stay far below 10^15 fen.
BASE_US = int(os.environ.setdefault("LIVE_LOAD_BASE_US", str(time.time_ns() // 1000)))
TRIVIAL = b"GET /api/time HTTP/1.1\r\nHost: bench\r\n\r\n"


async def _drive(port: int, kind: str, bidders: list[Bidder], rate: float | None, seconds: float) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in bidders:
        _, proto = await loop.create_connection(_Conn, "127.0.0.1", port)
        conns.append(proto)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    t0 = time.perf_counter()
    stop = t0 + seconds
    base_us = BASE_US

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    async def bidder(i: int, conn: _Conn, lot: str, token: str, name: str, seed: bytes | None) -> None:
        n = 0
        key = Ed25519PrivateKey.from_private_bytes(seed) if seed is not None else None
        public = key.public_key().public_bytes_raw() if key is not None else b""
        interval = None if rate is None else len(bidders) / rate
        next_at = t0 + (interval * i / len(bidders) if interval else 0.0)
        while True:
            if interval is not None:
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            now = time.perf_counter()
            if now >= stop:
                return
            if kind == "trivial":
                raw = TRIVIAL
            else:
                k = time.time_ns() // 1000 - base_us  # microseconds: one grid step each
                amount = START_PRICE + INCREMENT * (k * 1000 + i % 1000 + 1)
                if key is None:
                    raw = _bid_request(lot, token, amount)
                else:
                    raw = _signed_bid_request(lot, token, name, key, public, amount, f"{base_us}-{k}-{n}")
            status, _ = await conn.call(raw)
            latencies.append(time.perf_counter() - now)
            statuses[status] = statuses.get(status, 0) + 1
            n += 1

    await asyncio.gather(*(bidder(i, c, *who) for i, (c, who) in enumerate(zip(conns, bidders, strict=True))))
    elapsed = time.perf_counter() - t0
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    latencies.sort()
    n = len(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(n - 1, int(n * p))] * 1000, 2) if n else float("nan")

    return {
        "kind": kind,
        "mode": "open loop" if rate else "closed loop",
        "target_rate": rate,
        "requests": n,
        "per_second": round(n / elapsed, 1),
        "accepted_per_second": round(statuses.get(200, 0) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
        "seconds": round(elapsed, 2),
    }


def _child(port: int, kind: str, bidders: list[Bidder], rate: float | None, seconds: float, out: Any) -> None:
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        run = asyncio.run
    out.send(run(_drive(port, kind, bidders, rate, seconds)))
    out.close()


def drive(port: int, kind: str, bidders: list[Bidder], rate: float | None, seconds: float) -> dict[str, Any]:
    """Run the load generator in a separate process; return its measurements."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(port, kind, bidders, rate, seconds, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def _server_cpu(pid: int) -> float:
    """CPU seconds used so far by a process (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bidders", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5000.0, help="target bids per second (open loop)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--lots", type=int, default=20)
    parser.add_argument("--server", default="granian", choices=["granian", "uvicorn"], help="the ASGI server")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra `auction-engine serve` argument (repeatable), e.g. --serve-arg=--runtime-threads=1",
    )
    parser.add_argument("--signed", action="store_true", help="also measure bids signed by the bidders' bound keys")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="live-load-") as tmp:
        directory = Path(tmp)
        proc, port = start_server(directory, ["--server", args.server, *args.serve_arg])
        try:
            bidders = setup_market(port, args.bidders, args.lots)
            drive(port, "trivial", bidders, None, 1.0)  # warm-up
            runs: dict[str, dict[str, Any]] = {}
            for name, rate in (("trivial_saturation", None), ("trivial_at_rate", args.rate)):
                cpu0, load0 = _server_cpu(proc.pid), os.getloadavg()[0]
                run = runs[name] = drive(port, "trivial", bidders, rate, args.seconds)
                run["load_average"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
                run["server_cpu_us_per_request"] = round(
                    (_server_cpu(proc.pid) - cpu0) / max(1, run["requests"]) * 1e6, 1
                )
            for name, rate in (("bids_at_rate", args.rate), ("bids_saturation", None)):
                cpu0, commits0 = _server_cpu(proc.pid), request(port, "GET", "/api/market", token=None)["commits"]
                load0 = os.getloadavg()[0]
                run = runs[name] = drive(port, "bid", bidders, rate, args.seconds)
                run["load_average"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
                cpu = _server_cpu(proc.pid) - cpu0
                commits = request(port, "GET", "/api/market", token=None)["commits"] - commits0
                run["server_cpu_us_per_request"] = round(cpu / max(1, run["requests"]) * 1e6, 1)
                run["entries_per_commit"] = round(run["requests"] / max(1, commits), 1)
            if args.signed:
                signers = admit_bidders(port, args.bidders, args.lots, signed=True)
                for name, rate in (("signed_bids_at_rate", args.rate), ("signed_bids_saturation", None)):
                    cpu0, load0 = _server_cpu(proc.pid), os.getloadavg()[0]
                    run = runs[name] = drive(port, "bid", signers, rate, args.seconds)
                    run["load_average"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
                    run["server_cpu_us_per_request"] = round(
                        (_server_cpu(proc.pid) - cpu0) / max(1, run["requests"]) * 1e6, 1
                    )
            market = request(port, "GET", "/api/market", token=None)
        finally:
            stop_server(proc)
        from ledger import open_store

        store = open_store(str(directory / "ledger.db"), readonly=True)
        entries = store.size()
        store.close()
    acked = sum(r["requests"] for k, r in runs.items() if "bids" in k)
    base = runs["trivial_saturation"]["per_second"]
    result = {
        "server": args.server,
        "serve_args": args.serve_arg,
        "bidders": args.bidders,
        "lots": args.lots,
        "cores": os.cpu_count(),
        "runs": runs,
        "ratio_bids_at_rate_vs_trivial_saturation": round(runs["bids_at_rate"]["per_second"] / base, 3),
        "ratio_bids_saturation_vs_trivial_saturation": round(runs["bids_saturation"]["per_second"] / base, 3),
        **(
            {
                "ratio_signed_vs_unsigned_at_rate": round(
                    runs["signed_bids_at_rate"]["per_second"] / runs["bids_at_rate"]["per_second"], 3
                ),
                "ratio_signed_vs_unsigned_saturation": round(
                    runs["signed_bids_saturation"]["per_second"] / runs["bids_saturation"]["per_second"], 3
                ),
            }
            if args.signed
            else {}
        ),
        "ledger_entries": entries,
        "ledger_covers_every_ack": entries >= acked,
        "market_entries_reported": market["entries"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"live load: {args.bidders} bidders on {args.lots} lots, {os.cpu_count()} cores, {args.seconds:.0f} s per run"
    )
    for name, r in runs.items():
        print(
            f"  {name:20s} {r['per_second']:9.1f}/s (accepted {r['accepted_per_second']:.1f}/s)"
            f"  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  statuses {r['statuses']}"
            f"  load {r['load_average'][0]:.2f}->{r['load_average'][1]:.2f}"
        )
    print(f"  ratio bids@rate / trivial saturation:     {result['ratio_bids_at_rate_vs_trivial_saturation']}")
    print(f"  ratio bids saturation / trivial saturation: {result['ratio_bids_saturation_vs_trivial_saturation']}")
    if args.signed:
        print(f"  ratio signed / unsigned at rate:            {result['ratio_signed_vs_unsigned_at_rate']}")
        print(f"  ratio signed / unsigned saturation:         {result['ratio_signed_vs_unsigned_saturation']}")
    print(f"  ledger: {entries} entries, covers every acknowledgement: {result['ledger_covers_every_ack']}")


if __name__ == "__main__":
    main()
