"""`serve --standby` on PostgreSQL: kill -9 the serving market under load, again and again; a standby takes over.

Real processes on the store tests' throwaway PostgreSQL cluster (tests/store/conftest.py). Each cycle:
standbys wait behind the serving market (bound, not listening: a health check finds them down);
bidders bid as fast as they are answered (test_crash's load); the market is killed with SIGKILL;
one standby takes over within the measured time (kill → its `/api/health` answering), another is
started behind it. After each takeover the ledger must hold every acknowledged command at the index
its acknowledgement gave, the lots whose deadlines passed during the outage must close, and at
the end `auction-engine ledger verify` must pass and the ledger replay exactly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auction_engine.replay import replay
from ledger import audit_store, canonical, open_store
from ledger.store import PostgresStore
from ledger.store.postgres import WriterLocked, WriterLockWatch
from tests.store.conftest import PgCluster, postgres_server  # noqa: F401 - the session fixture

from .conftest import OP_TOKEN, LiveServer, english, http_json, signer
from .test_crash import Book, _load, _setup

TAKEOVER_LIMIT_S = 5.0
STARTED = re.compile(r"(\d+) entries checked in ([0-9.]+s) and restored in ([0-9.]+s)")
OUTAGE_MARGIN_S = 0.03  # the kill comes this long before a lot's deadline (a takeover takes longer)
WAITING = re.compile(r"standby: waiting for the writer lock held by (.*) http://[^:]+:(\d+) opens once ")


# -- one standby process --------------------------------------------------------------------------------


@dataclass
class Standby:
    """A `serve --standby` process: its LiveServer (started on a thread, so `start` returns once it listens)."""

    server: LiveServer
    started: concurrent.futures.Future[None]
    port: int = 0  # the port it bound, from its waiting message

    def waiting_line(self, timeout: float = 60.0) -> str:
        """Its latest "waiting for the writer lock" line (after it printed one); fail if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = [line for line in list(self.server.log) if WAITING.search(line)]
            if lines:
                self.port = int(WAITING.search(lines[-1]).group(2))  # type: ignore[union-attr]
                return lines[-1]
            if self.started.done():
                self.started.result()  # raises why it did not start
                raise AssertionError("the standby listened without waiting:\n" + "".join(self.server.log))
            time.sleep(0.02)
        raise AssertionError("the standby never said it was waiting:\n" + "".join(self.server.log))


def stop_waiting(standby: Standby) -> int | None:
    """SIGTERM a standby (its LiveServer's thread is blocked reading its output); its exit status."""
    proc = standby.server.proc
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(20)


def start_standby(pool: concurrent.futures.ThreadPoolExecutor, directory: Path, url: str, *extra: str) -> Standby:
    server = LiveServer(directory, db_url=url, extra=[*SERVE_OPTIONS, *extra, "--standby"])
    standby = Standby(server, pool.submit(server.start, 600.0))
    standby.waiting_line()
    return standby


SERVE_OPTIONS = ["--snapshot-every", "500"]  # so the takeovers restore from a snapshot and the entries after it


def refuses(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port (the connection is refused)."""
    with socket.socket() as s:
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
    return False


def healthy(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/api/health")
        ok = conn.getresponse().status == 200
        conn.close()
    except OSError:
        return False
    return ok


def lot_phases(server: LiveServer) -> dict[str, str]:
    status, lots = http_json("GET", f"{server.url}/api/lots")
    assert status == 200, lots
    return {v["lot"]: v["phase"] for v in lots["lots"]}


def wait_closed(server: LiveServer, lots: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phases = lot_phases(server)
        if all(phases[lot] == "no_sale" for lot in lots):
            return
        time.sleep(0.05)
    raise AssertionError(f"lots still open {timeout}s after the takeover: { {lot: phases[lot] for lot in lots} }")


def open_lot(server: LiveServer, lot: str, free_ms: int) -> float:
    """An English lot nobody bids on: its timer ends it (no_sale) `free_ms` + 300 ms from now; when, monotonic."""
    due = time.monotonic() + (free_ms + 300) / 1000
    params = english(free_ms=free_ms, countdown_ms=300)
    status, body = http_json("POST", f"{server.url}/api/lots", {"lot": lot, "mode": "english", "params": params})
    assert status == 200, body
    return due


def check_ledger(url: str, book: Book, *, full: bool = False) -> int:
    """The ledger holds every acknowledged command where its answer said; if `full`, it also audits and replays.

    Audit only a ledger nobody writes (`full`, at the end): `audit_store` reads the entries, then the
    checkpoints, so a checkpoint committed in between by a live market reads as "signed but the log has
    only N entries".
    """
    store = open_store(url, readonly=True)
    try:
        report = audit_store(store, signer().verifier) if full else None
        raw = [row.data for row in store.rows()]
    finally:
        store.close()
    assert report is None or report.ok, [p.message for p in report.problems]
    entries = [canonical.decode(d) for d in raw]
    for key, body in book.acks.items():
        seq = body["seq"]
        assert seq < len(entries), f"acknowledged entry {seq} is missing (the ledger has {len(entries)})"
        e = entries[seq]
        assert (e["actor"], e.get("idem")) == key and e["amount"] == book.sent[key], (body, e)
        assert e["ok"] is body["ok"]
    if full:
        rep = replay(raw)
        assert rep.ok, f"replay diverged at {rep.index}: {rep.message}"
    return len(entries)


# -- the kill -9 cycles ---------------------------------------------------------------------------------


@dataclass
class Failovers:
    takeovers: list[float] = field(default_factory=list)  # kill -> the new market's /api/health answering, s
    reported: list[float] = field(default_factory=list)  # what the standbys said ("took over after X s")
    restored: list[str] = field(default_factory=list)  # what they said of the start-up ("… checked in …")
    book: Book = field(default_factory=Book)
    size: int = 0
    due_in_outage: int = 0  # cycles in which the D lot's deadline passed while no market served


def failover_loop(tmp_path: Path, url: str, cycles: int, bidders_n: int, standbys_n: int, seed: int) -> Failovers:
    rng = random.Random(seed)
    result = Failovers()
    book = result.book
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=standbys_n + 2)
    primary = LiveServer(tmp_path, db_url=url, extra=list(SERVE_OPTIONS))
    waiting: list[Standby] = []
    try:
        primary.start()
        bidders = _setup(primary, bidders_n)
        waiting = [start_standby(pool, tmp_path, url) for _ in range(standbys_n)]
        for k in range(cycles):
            for standby in waiting:
                assert "application 'auction-engine-ledger'" in standby.waiting_line()
                assert refuses(standby.port), "a waiting standby listens"
            after_due = open_lot(primary, f"A{k}", 4_000)  # due after the takeover
            current = primary

            async def run(k: int = k, current: LiveServer = current) -> float:
                loader = asyncio.create_task(_load(current, bidders, book, 30.0, rng))
                await asyncio.sleep(rng.uniform(0.2, 0.8))
                due = open_lot(current, f"D{k}", 300)  # to close while no market serves
                await asyncio.sleep(max(0.0, due - OUTAGE_MARGIN_S - time.monotonic()))
                killed = time.monotonic()
                current.kill()  # SIGKILL, mid-load, just before the lot's deadline
                assert killed < due, "the lot's deadline passed before the kill"
                await loader
                return killed, due

            killed, outage_due = asyncio.run(run())
            winner = None
            while winner is None:
                for standby in waiting:
                    if healthy(standby.port):
                        winner = standby
                        break
                else:
                    assert time.monotonic() - killed < 30, "no standby took over:\n" + "".join(
                        "".join(s.server.log) for s in waiting
                    )
                    time.sleep(0.01)
            up = time.monotonic()
            result.takeovers.append(up - killed)
            result.due_in_outage += outage_due < up
            winner.started.result(timeout=30)  # it printed "listening on"
            primary = winner.server
            waiting.remove(winner)
            said = re.search(r"standby: took over after ([0-9.]+)s", "".join(primary.log))
            assert said, "".join(primary.log)
            result.reported.append(float(said.group(1)))
            start_up = re.search(STARTED, "".join(primary.log))
            assert start_up, "".join(primary.log)
            result.restored.append("{}: {} + {}".format(*start_up.groups()))
            for standby in waiting:  # the others wait on: none serves beside the new market
                assert not standby.started.done() and refuses(standby.port)
            result.size = check_ledger(url, book)  # every acknowledged command survived the kill
            wait_closed(primary, [f"D{k}"], timeout=5.0)  # the timer due during the outage fired, late
            waiting.append(start_standby(pool, tmp_path, url))
        asyncio.run(_load(primary, bidders, book, 1.0, rng))  # the last kill's retries
        time.sleep(max(0.0, after_due - time.monotonic()) + 0.5)
        wait_closed(primary, [f"A{k}" for k in range(cycles)] + [f"D{k}" for k in range(cycles)], timeout=5.0)
        last = primary.proc
        primary.stop()
        assert last is not None and last.returncode == 0
        log = "".join(primary.log) + (last.stderr.read() or b"").decode(errors="replace")  # type: ignore[union-attr]
        assert "Traceback" not in log, log
    finally:
        primary.stop()
        for standby in waiting:
            stop_waiting(standby)
        pool.shutdown(wait=False, cancel_futures=True)
    assert not book.pending, "some command was never answered"
    result.size = check_ledger(url, book, full=True)
    vkey = signer().verifier.encode()
    done = subprocess.run(
        [sys.executable, "-m", "auction_engine", "ledger", "verify", url, "--vkey", vkey],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return result


def _report(name: str, result: Failovers) -> None:
    t = result.takeovers
    print(
        f"\n{name}: {len(t)} takeovers, kill -> health: median {statistics.median(t):.2f}s, max {max(t):.2f}s;"
        f" reported by the standbys: median {statistics.median(result.reported):.2f}s;"
        f" {len(result.book.acks)} acknowledged commands, {result.size} entries;"
        f" {result.due_in_outage} lots due during the outage closed after it; each, s: "
        + " ".join(f"{x:.2f}" for x in t)
        + "; start-ups (entries: checked + restored): "
        + ", ".join(result.restored)
    )


def test_standby_takes_over_after_kill_nine_under_load(postgres_server: PgCluster, tmp_path: Path) -> None:  # noqa: F811
    url = postgres_server.url(schema=postgres_server.new_schema())
    result = failover_loop(tmp_path, url, cycles=4, bidders_n=20, standbys_n=2, seed=1)
    _report("standby takeover", result)
    assert max(result.takeovers) <= TAKEOVER_LIMIT_S, result.takeovers
    assert result.due_in_outage == 4  # each kill came just before a lot's deadline, the takeover after it
    assert len(result.book.acks) >= 200 and result.book.retried > 0


@pytest.mark.slow
def test_standby_takeover_soak(postgres_server: PgCluster, tmp_path: Path) -> None:  # noqa: F811
    url = postgres_server.url(schema=postgres_server.new_schema())
    result = failover_loop(tmp_path, url, cycles=30, bidders_n=40, standbys_n=2, seed=2)
    _report("standby takeover soak", result)
    assert max(result.takeovers) <= TAKEOVER_LIMIT_S, result.takeovers
    assert result.due_in_outage == 30
    assert result.book.retried > 10 and result.book.recorded_before_kill > 0


# -- waiting, refusing, stopping ------------------------------------------------------------------------


def test_sigterm_while_waiting_exits_cleanly(postgres_server: PgCluster, tmp_path: Path) -> None:  # noqa: F811
    url = postgres_server.url(schema=postgres_server.new_schema())
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    holder = PostgresStore(url)  # the writer: holds the lock
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "auction_engine", "serve", "--db", url, "--key", str(key), "--port", "0",
             "--operator-token", OP_TOKEN, "--standby"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        line = proc.stderr.readline()
        waiting = WAITING.search(line)
        assert waiting, line + proc.stderr.read()
        assert waiting.group(1).startswith(f"backend pid {holder_pid(holder)} (application 'auction-engine-ledger'")
        assert refuses(int(waiting.group(2)))  # bound, not listening
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        rest = proc.stderr.read()
        assert rest == "standby: stopped while waiting for the writer lock\n", rest
        watch = WriterLockWatch(url)
        assert watch.holder() == waiting.group(1).split(" on postgresql://")[0]  # the writer's lock, untouched
        watch.close()
    finally:
        holder.close()


def holder_pid(store: PostgresStore) -> int:
    row = store._fetchone("pid", "SELECT pg_backend_pid()", ())
    assert row is not None
    return int(row[0])


def test_watch_sees_the_writer_come_and_go_and_never_takes_the_lock(postgres_server: PgCluster) -> None:  # noqa: F811
    url = postgres_server.url(schema=postgres_server.new_schema())
    watch = WriterLockWatch(url)
    try:
        assert watch.holder() is None
        writer = PostgresStore(url)  # the watch does not stand in its way
        try:
            held = watch.holder()
            assert held is not None and held.startswith(f"backend pid {holder_pid(writer)} ")
            with pytest.raises(WriterLocked, match="another writer has this ledger open"):
                PostgresStore(url)
        finally:
            writer.close()
        deadline = time.monotonic() + 5
        while watch.holder() is not None and time.monotonic() < deadline:
            time.sleep(0.02)  # the server ends the closed session
        assert watch.holder() is None
        PostgresStore(url).close()
        pid = postgres_server.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'auction-engine-standby'")
        assert len(pid) == 1  # the watch's session: read-only, holding nothing
        locks = postgres_server.sql(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", (pid[0][0],)
        )
        assert locks == [(0,)]
    finally:
        watch.close()


def test_standby_on_sqlite_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "market.key"
    key.write_text(signer().encode() + "\n")
    db = tmp_path / "ledger.db"
    done = subprocess.run(
        [sys.executable, "-m", "auction_engine", "serve", "--db", str(db), "--key", str(key), "--port", "0",
         "--operator-token", OP_TOKEN, "--standby"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: --standby needs a PostgreSQL ledger (a postgresql:// URL)"), done.stderr
    assert not db.exists()
